/**
 * Apply events: every apply, confirmation and rollback as it happens, for
 * WatchApplyResults and Transaction streams. Subscribers are called
 * synchronously, in order, after the change is durable.
 */
import type { ApplyResult } from '../dataplane/apply-result.js';
import type { HistoryEntry } from './history.js';

/**
 * applied: a configuration committed without confirmation (ApplyConfig,
 * RollbackTo); pending: one took effect and awaits confirmation; confirmed;
 * rolled_back: a pending one was undone (`restored` is the new generation
 * running the previous tables); rejected / failed: an attempt changed nothing.
 */
export type ApplyEventKind = 'applied' | 'pending' | 'confirmed' | 'rolled_back' | 'rejected' | 'failed';

/** What is pending, while something is. */
export interface PendingInfo {
  generation: number;
  baseGeneration: number;
  /** Epoch ms; absent when it waits for its Transaction stream instead. */
  deadline?: number;
  owner: 'confirm' | 'transaction';
  entry: HistoryEntry;
}

export interface ApplyEvent {
  kind: ApplyEventKind;
  /** The entry this event is about. */
  entry: HistoryEntry;
  /** rolled_back: the entry of the generation that restored the previous tables. */
  restored?: HistoryEntry;
  /** The result in force after the event (absent before the first apply). */
  result?: ApplyResult;
  pending?: PendingInfo;
}

export type ApplyEventListener = (event: ApplyEvent) => void;

interface Subscriber {
  listener: ApplyEventListener;
  onClose?: () => void;
}

export class ApplyEvents {
  private readonly listeners = new Set<Subscriber>();
  private closed = false;

  /**
   * Returns the unsubscribe function. `onClose` is called once when no
   * more events will come (the daemon is shutting down); after that,
   * subscribing calls it at once.
   */
  subscribe(listener: ApplyEventListener, onClose?: () => void): () => void {
    const subscriber = { listener, ...(onClose && { onClose }) };
    if (this.closed) {
      onClose?.();
      return () => undefined;
    }
    this.listeners.add(subscriber);
    return () => this.listeners.delete(subscriber);
  }

  publish(event: ApplyEvent): void {
    for (const { listener } of [...this.listeners]) {
      // Each listener gets its own copy: none can alter what another sees.
      listener(structuredClone(event));
    }
  }

  /** Tells every subscriber that no more events will come. */
  close(): void {
    this.closed = true;
    const subscribers = [...this.listeners];
    this.listeners.clear();
    for (const { onClose } of subscribers) onClose?.();
  }

  get size(): number {
    return this.listeners.size;
  }
}
