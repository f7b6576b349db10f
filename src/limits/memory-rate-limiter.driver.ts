import { RateDecision, RateLimiter } from './rate-limiter.port';

interface Bucket {
  tokens: number;
  at: number;
}

/** Buckets in this process's memory: right for one API process (the embedded default). */
export class MemoryRateLimiter extends RateLimiter {
  private readonly buckets = new Map<string, Bucket>();

  async take(key: string, perMinute: number, now = Date.now()): Promise<RateDecision> {
    const perMs = perMinute / 60_000;
    const bucket = this.buckets.get(key) ?? { tokens: perMinute, at: now };
    bucket.tokens = Math.min(perMinute, bucket.tokens + Math.max(0, now - bucket.at) * perMs);
    bucket.at = now;
    this.buckets.set(key, bucket);
    if (this.buckets.size > 100_000) this.dropFull(now);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return { allowed: true, retryAfterS: 0 };
    }
    return { allowed: false, retryAfterS: Math.max(1, Math.ceil((1 - bucket.tokens) / perMs / 1000)) };
  }

  /** Buckets that refilled completely carry no information: forget them. */
  private dropFull(now: number): void {
    for (const [key, bucket] of this.buckets) if (now - bucket.at > 60_000) this.buckets.delete(key);
  }
}
