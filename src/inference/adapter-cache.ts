export interface AdapterCacheStats {
  size: number;
  capacity: number;
  pinned: number;
  hits: number;
  misses: number;
  evictions: number;
}

interface Entry<V> {
  value: V;
  pins: number;
}

/**
 * Least-recently-used cache of parsed adapters with pinning: an adapter acquired for a queued
 * generation stays loaded until that generation is done, however many others come and go, so the
 * cache may exceed its capacity while many distinct adapters are in use at once.
 */
export class AdapterCache<V> {
  private readonly entries = new Map<string, Entry<V>>();
  private hits = 0;
  private misses = 0;
  private evictions = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError('capacity must be a positive integer');
  }

  /** Looks the key up, pinning it when found; counts a hit or a miss. */
  acquire(key: string): V | undefined {
    const entry = this.entries.get(key);
    if (!entry) {
      this.misses += 1;
      return undefined;
    }
    this.hits += 1;
    entry.pins += 1;
    this.touch(key, entry);
    return entry.value;
  }

  /** Adds a value already pinned once (the caller acquired it by loading it). */
  insertPinned(key: string, value: V): void {
    const existing = this.entries.get(key);
    this.entries.delete(key);
    this.entries.set(key, { value, pins: (existing?.pins ?? 0) + 1 });
    this.evict();
  }

  /** Reads a value without changing pins or counters (it must be pinned to be relied on). */
  peek(key: string): V | undefined {
    return this.entries.get(key)?.value;
  }

  release(key: string): void {
    const entry = this.entries.get(key);
    if (!entry) return;
    entry.pins = Math.max(0, entry.pins - 1);
    this.evict();
  }

  stats(): AdapterCacheStats {
    let pinned = 0;
    for (const entry of this.entries.values()) if (entry.pins > 0) pinned += 1;
    return { size: this.entries.size, capacity: this.capacity, pinned, hits: this.hits, misses: this.misses, evictions: this.evictions };
  }

  private touch(key: string, entry: Entry<V>): void {
    this.entries.delete(key);
    this.entries.set(key, entry);
  }

  private evict(): void {
    if (this.entries.size <= this.capacity) return;
    // Map order is recency order: the first unpinned entries are the least recently used.
    for (const [key, entry] of this.entries) {
      if (this.entries.size <= this.capacity) break;
      if (entry.pins > 0) continue;
      this.entries.delete(key);
      this.evictions += 1;
    }
  }
}
