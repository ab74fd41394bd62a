/** Exponential backoff with jitter, whose wait a stop can cut short. */
export class Backoff {
  private delay: number;
  private timer: NodeJS.Timeout | undefined;
  private wake: (() => void) | undefined;

  constructor(
    private readonly initialMs: number,
    private readonly maxMs: number,
  ) {
    this.delay = initialMs;
  }

  reset(): void {
    this.delay = this.initialMs;
  }

  /** The next delay: doubles up to the maximum; jitter spreads many agents' retries. */
  next(): number {
    const ms = this.delay * (0.5 + Math.random() / 2);
    this.delay = Math.min(this.delay * 2, this.maxMs);
    return ms;
  }

  wait(): Promise<void> {
    return new Promise((resolve) => {
      this.wake = resolve;
      this.timer = setTimeout(resolve, this.next());
    });
  }

  cancel(): void {
    clearTimeout(this.timer);
    this.wake?.();
  }
}
