/** The outcome of taking one token. */
export interface RateDecision {
  allowed: boolean;
  /** Seconds until a token is available again (0 when allowed). */
  retryAfterS: number;
}

/**
 * Token buckets keyed by API key and bucket name: `perMinute` tokens refill evenly over a minute and
 * a bucket holds at most `perMinute` (the burst). In memory for one process, in Redis across replicas.
 */
export abstract class RateLimiter {
  abstract take(key: string, perMinute: number): Promise<RateDecision>;
  async close(): Promise<void> {}
}
