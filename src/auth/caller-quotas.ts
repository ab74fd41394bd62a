/**
 * Per-caller quotas: open calls (a slot held until the call ends) and the
 * apply rate (a token bucket). Keyed by the caller's id, so one caller's
 * flood leaves everyone else's budget alone.
 */
import { TokenBucket } from '../dataplane/token-bucket.js';
import type { ControlLimits } from './control-limits.js';
import { QuotaExceededError } from './errors.js';

/** How often buckets that have refilled completely are dropped, so the map stays bounded by recent callers. */
const SWEEP_EVERY_MS = 60_000;

export class CallerQuotas {
  private readonly open = new Map<string, number>();
  private readonly buckets = new Map<string, TokenBucket>();
  private sweptAt: number;

  constructor(
    private readonly limits: ControlLimits,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.sweptAt = now();
  }

  /** Takes one call slot for `caller`; the returned function gives it back (idempotent). */
  openCall(caller: string): () => void {
    const count = this.open.get(caller) ?? 0;
    if (count >= this.limits.maxStreamsPerCaller) {
      throw new QuotaExceededError(
        'max_streams_per_caller',
        `${caller} already has ${count} calls open; the limit max_streams_per_caller is ${this.limits.maxStreamsPerCaller}`,
      );
    }
    this.open.set(caller, count + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.open.get(caller) ?? 1) - 1;
      if (left > 0) this.open.set(caller, left);
      else this.open.delete(caller);
    };
  }

  /** Takes one apply token for `caller`. */
  takeApply(caller: string): void {
    const now = this.now();
    this.sweep(now);
    const { applyRatePerSecond: rate, applyBurst: burst } = this.limits;
    let bucket = this.buckets.get(caller);
    if (!bucket) {
      bucket = new TokenBucket(rate, burst, now);
      this.buckets.set(caller, bucket);
    }
    if (!bucket.take(now)) {
      const waitS = bucket.msUntilToken(now) / 1000;
      throw new QuotaExceededError(
        'apply_rate_per_second',
        `${caller} exceeded the apply rate: apply_rate_per_second ${rate}, apply_burst ${burst}; ` +
          `next apply possible in ${Number.isFinite(waitS) ? `${waitS.toFixed(1)} s` : 'never (rate 0)'}`,
      );
    }
  }

  private sweep(now: number): void {
    if (now - this.sweptAt < SWEEP_EVERY_MS) return;
    this.sweptAt = now;
    // A full bucket is what a new caller gets anyway: forgetting it changes nothing.
    for (const [caller, b] of this.buckets) if (b.full(now)) this.buckets.delete(caller);
  }
}
