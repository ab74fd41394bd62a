/**
 * Session limits of one rule: a cap on concurrent sessions and token-bucket
 * rates of new sessions, per rule and per source address. Shared by every
 * backend so a limit trips at the same point everywhere. Time is passed in
 * (milliseconds), so callers can batch clock reads and tests can drive it.
 */
export interface SessionLimits {
  /** Concurrent sessions; 0 = no cap. */
  maxSessions: number;
  /** New sessions per second for the rule; 0 = unlimited. Burst = one second's worth. */
  newSessionsPerSecond: number;
  /** New sessions per second per source address; 0 = unlimited. */
  newSessionsPerSecondPerSource: number;
}

export const NO_LIMITS: Readonly<SessionLimits> = Object.freeze({
  maxSessions: 0,
  newSessionsPerSecond: 0,
  newSessionsPerSecondPerSource: 0,
});

export type AdmissionVerdict = 'allow' | 'cap' | 'rate';

/** Tracked sources per rule before the oldest buckets are forgotten (a forgotten source starts full). */
const MAX_SOURCES = 65_536;

class TokenBucket {
  private tokens: number;
  private at: number;

  constructor(
    private readonly rate: number,
    now: number,
  ) {
    this.tokens = rate;
    this.at = now;
  }

  private refill(now: number): void {
    if (now > this.at) {
      this.tokens = Math.min(this.rate, this.tokens + ((now - this.at) * this.rate) / 1000);
      this.at = now;
    }
  }

  peek(now: number): boolean {
    this.refill(now);
    return this.tokens >= 1;
  }

  take(): void {
    this.tokens -= 1;
  }
}

export class Admission {
  private ruleBucket: TokenBucket | undefined;
  private readonly sourceBuckets = new Map<string, TokenBucket>();

  constructor(readonly limits: SessionLimits) {}

  get unlimited(): boolean {
    return this.limits.maxSessions === 0 && this.limits.newSessionsPerSecond === 0 && this.limits.newSessionsPerSecondPerSource === 0;
  }

  /**
   * Whether a new session from `source` may open while `active` sessions of
   * the rule are open. `commit` consumes the tokens; a dry run (Trace) does not.
   */
  admit(source: string, active: number, now: number, commit: boolean): { verdict: AdmissionVerdict; detail: string } {
    const { maxSessions, newSessionsPerSecond, newSessionsPerSecondPerSource } = this.limits;
    if (maxSessions > 0 && active >= maxSessions) return { verdict: 'cap', detail: `${active} sessions open, max_sessions ${maxSessions}` };
    let rule: TokenBucket | undefined;
    if (newSessionsPerSecond > 0) {
      rule = this.ruleBucket ??= new TokenBucket(newSessionsPerSecond, now);
      if (!rule.peek(now)) return { verdict: 'rate', detail: `rule rate ${newSessionsPerSecond}/s exceeded` };
    }
    let perSource: TokenBucket | undefined;
    if (newSessionsPerSecondPerSource > 0) {
      perSource = this.sourceBuckets.get(source);
      if (!perSource) {
        perSource = new TokenBucket(newSessionsPerSecondPerSource, now);
        if (commit) {
          if (this.sourceBuckets.size >= MAX_SOURCES) this.sourceBuckets.delete(this.sourceBuckets.keys().next().value as string);
          this.sourceBuckets.set(source, perSource);
        }
      }
      if (!perSource.peek(now)) {
        return { verdict: 'rate', detail: `source ${source} rate ${newSessionsPerSecondPerSource}/s exceeded` };
      }
    }
    if (commit) {
      rule?.take();
      perSource?.take();
    }
    return { verdict: 'allow', detail: this.unlimited ? 'no limits' : 'within limits' };
  }
}
