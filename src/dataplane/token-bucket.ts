/**
 * Token buckets: new-session rates (one per rule and one per client address
 * of a rule) and the per-caller apply rate (src/auth/caller-quotas.ts).
 * Refilled lazily from a monotonic clock on each take, so an idle bucket
 * costs nothing.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly rate: number,
    private readonly burst: number,
    now = performance.now(),
  ) {
    this.tokens = burst;
    this.last = now;
  }

  /** Takes one token if there is one. */
  take(now = performance.now()): boolean {
    if (!this.peek(now)) return false;
    this.tokens -= 1;
    return true;
  }

  /** Whether take() would succeed; takes nothing (refilling changes no outcome). */
  peek(now = performance.now()): boolean {
    this.refill(now);
    return this.tokens >= 1;
  }

  /** Milliseconds until a token is there (0 if one is; Infinity at rate 0). */
  msUntilToken(now = performance.now()): number {
    this.refill(now);
    if (this.tokens >= 1) return 0;
    return this.rate > 0 ? ((1 - this.tokens) * 1000) / this.rate : Infinity;
  }

  /** Whether the bucket is full again, i.e. forgetting it changes nothing. */
  full(now = performance.now()): boolean {
    this.refill(now);
    return this.tokens >= this.burst;
  }

  private refill(now: number): void {
    const elapsed = now - this.last;
    if (elapsed <= 0) return;
    this.tokens = Math.min(this.burst, this.tokens + (elapsed * this.rate) / 1000);
    this.last = now;
  }
}

/**
 * Buckets per client address, bounded: when `maxSources` addresses are
 * tracked, full buckets (which would admit anyway) are forgotten first, then
 * the oldest. A spoofed-source flood can thus cost memory only up to the bound.
 */
export class SourceBuckets {
  /** By client address: text, or a number/string key of its bytes (see config/ip.ts addressKey). */
  private readonly buckets = new Map<string | number, TokenBucket>();

  constructor(
    private readonly rate: number,
    private readonly burst: number,
    private readonly maxSources = 65_536,
  ) {}

  take(source: string | number, now = performance.now()): boolean {
    let bucket = this.buckets.get(source);
    if (!bucket) {
      if (this.buckets.size >= this.maxSources) this.evict(now);
      bucket = new TokenBucket(this.rate, this.burst, now);
      this.buckets.set(source, bucket);
    }
    return bucket.take(now);
  }

  /** Whether take() would succeed; an untracked source has a full bucket. Changes nothing. */
  peek(source: string | number, now = performance.now()): boolean {
    return this.buckets.get(source)?.peek(now) ?? this.burst >= 1;
  }

  get size(): number {
    return this.buckets.size;
  }

  private evict(now: number): void {
    for (const [source, bucket] of this.buckets) if (bucket.full(now)) this.buckets.delete(source);
    // Every tracked source is mid-burst: drop the oldest quarter (Map keeps insertion order).
    if (this.buckets.size >= this.maxSources) {
      let n = Math.ceil(this.maxSources / 4);
      for (const source of this.buckets.keys()) {
        if (n-- <= 0) break;
        this.buckets.delete(source);
      }
    }
  }
}
