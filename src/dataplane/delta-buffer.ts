/**
 * The bounded delta queue every backend feeds: deltas queue up to
 * `capacity`; past it the oldest are dropped and counted in `lost`, which
 * tells the consumer to re-read the SessionStore rather than trust its view.
 * Recording starts with the first drain() or onDeltas() call: until someone
 * consumes deltas, the SessionStore alone is the view, and sessions cost no
 * delta entries. An entry is whatever the backend can snapshot cheaply later
 * (a SessionInfo, or a session object turned into one at drain time).
 */
import { randomUUID } from 'node:crypto';
import type { DeltaKind, DrainResult, SessionDelta, SessionDeltaQueue } from './session-deltas.js';
import type { CloseReason, SessionInfo } from './session-store.js';

interface Pending<T> {
  kind: DeltaKind;
  entry: T;
  reason: CloseReason | undefined;
}

export class DeltaBuffer<T = SessionInfo> implements SessionDeltaQueue {
  private epoch = randomUUID();
  private queue: Pending<T>[] = [];
  /** Index of the oldest undelivered delta in `queue` (a ring would be faster; drains compact instead). */
  private head = 0;
  private lost = 0;
  private readonly listeners = new Set<() => void>();
  private notifyScheduled = false;
  private consumed = false;

  constructor(
    private readonly capacity = 65_536,
    // Entries that are SessionInfo already need no snapshot.
    private readonly snapshot: (entry: T) => SessionInfo = (entry) => entry as unknown as SessionInfo,
  ) {}

  get backendEpoch(): string {
    return this.epoch;
  }

  /** A new epoch: the backend restarted and every consumer's view is void. */
  restart(): void {
    this.epoch = randomUUID();
  }

  /** Whether push() keeps deltas; callers skip building a snapshot when it does not. */
  get recording(): boolean {
    return this.consumed;
  }

  /** `reason` goes with a close. */
  push(kind: DeltaKind, entry: T, reason?: CloseReason): void {
    if (!this.consumed) return;
    if (this.queue.length - this.head >= this.capacity) {
      this.head++;
      this.lost++;
      if (this.head >= this.capacity) this.compact();
    }
    this.queue.push({ kind, entry, reason });
    if (this.listeners.size > 0 && !this.notifyScheduled) {
      this.notifyScheduled = true;
      setImmediate(() => {
        this.notifyScheduled = false;
        for (const listener of this.listeners) listener();
      });
    }
  }

  drain(max: number): DrainResult {
    this.consumed = true;
    const end = Math.min(this.queue.length, this.head + Math.max(0, max));
    const deltas = this.queue.slice(this.head, end).map(({ kind, entry, reason }): SessionDelta => {
      const session = this.snapshot(entry);
      return reason === undefined ? { kind, session } : { kind, session, reason };
    });
    this.head = end;
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
    } else if (this.head > 4096) {
      this.compact();
    }
    const lost = this.lost;
    this.lost = 0;
    return { deltas, truncated: this.head < this.queue.length, lost };
  }

  onDeltas(listener: () => void): () => void {
    this.consumed = true;
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private compact(): void {
    this.queue = this.queue.slice(this.head);
    this.head = 0;
  }

  /** Deltas waiting. */
  get pending(): number {
    return this.queue.length - this.head;
  }
}
