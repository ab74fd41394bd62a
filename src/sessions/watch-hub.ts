/**
 * The one consumer of a backend's SessionDeltaSource (each delta is drained
 * once), fanning it out to every WatchSessions stream and in-process
 * subscriber (the session log). Every delta gets the next sequence number
 * and lands in a ring of the last `capacity` events, shared by all watchers:
 * a watcher is only a cursor into it, so a watcher that stops reading costs
 * no memory; when the ring has moved past its cursor it is told to RESYNC.
 * The ring is also what a reconnecting client resumes from.
 *
 * Draining starts with the first watcher or subscriber: until then the
 * backend records no deltas (see DeltaBuffer) and sessions cost nothing
 * extra.
 */
import type { DeltaKind, SessionDeltaQueue } from '../dataplane/session-deltas.js';
import type { CloseReason, SessionInfo } from '../dataplane/session-store.js';

export interface HubEvent {
  sequence: number;
  kind: DeltaKind;
  session: SessionInfo;
  reason?: CloseReason;
}

export type EventsAfter = { ok: true; events: HubEvent[] } | { ok: false; why: string };

/** Default ring size: as many deltas as the kernel backend's own buffer holds. */
export const DEFAULT_WATCH_BUFFER = 65_536;
/** Deltas drained per batch, and batches per event-loop turn before yielding. */
const DRAIN_BATCH = 4096;
const BATCHES_PER_TURN = 16;

export interface WatchHubStats {
  /** Events in the ring now. */
  buffered: number;
  capacity: number;
  sequence: number;
  /** Deltas the backend dropped before the hub drained them. */
  lostDeltas: number;
  /** Watch streams open now. */
  watchers: number;
  /** RESYNC markers sent, over all streams. */
  resyncs: number;
}

export class SessionWatchHub {
  private readonly ring: (HubEvent | undefined)[];
  private sequence = 0;
  /** Oldest sequence still in the ring (sequence + 1 when the ring is empty). */
  private oldest = 1;
  private attached = false;
  private lostDeltas = 0;
  private watchers = 0;
  private resyncs = 0;
  private pumpScheduled = false;
  private readonly wakers = new Set<() => void>();
  private readonly subscribers = new Set<(events: readonly HubEvent[]) => void>();

  constructor(
    private readonly source: SessionDeltaQueue,
    readonly capacity = DEFAULT_WATCH_BUFFER,
  ) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) throw new Error(`watch buffer must hold at least 1 event, got ${capacity}`);
    this.ring = new Array<HubEvent | undefined>(capacity);
  }

  get epoch(): string {
    return this.source.backendEpoch;
  }

  /** Sequence of the newest event (0 before any). Drains what the backend has first, so it is current. */
  current(): number {
    this.attach();
    this.pump(Infinity);
    return this.sequence;
  }

  stats(): WatchHubStats {
    return {
      buffered: this.sequence - this.oldest + 1,
      capacity: this.capacity,
      sequence: this.sequence,
      lostDeltas: this.lostDeltas,
      watchers: this.watchers,
      resyncs: this.resyncs,
    };
  }

  /** Counts a watch stream as open until the returned function is called. */
  track(): () => void {
    this.watchers++;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.watchers--;
    };
  }

  noteResync(): void {
    this.resyncs++;
  }

  /**
   * Up to `max` events after `after`, oldest first; not ok when some of them
   * are no longer buffered (or `after` is from the future: another epoch).
   */
  eventsAfter(after: number, max: number): EventsAfter {
    this.attach();
    if (after > this.sequence) return { ok: false, why: `sequence ${after} was never issued in backend epoch ${this.epoch}` };
    if (after + 1 < this.oldest) {
      return { ok: false, why: `events after sequence ${after} are no longer buffered (oldest kept: ${this.oldest})` };
    }
    const events: HubEvent[] = [];
    const end = Math.min(this.sequence, after + max);
    for (let s = after + 1; s <= end; s++) events.push(this.ring[s % this.capacity] as HubEvent);
    return { ok: true, events };
  }

  /** Calls `wake` (once per batch of new events) until the returned function is called. */
  onEvents(wake: () => void): () => void {
    this.attach();
    this.wakers.add(wake);
    return () => this.wakers.delete(wake);
  }

  /** Every event, synchronously in order, for in-process consumers that must see all of them. */
  subscribe(listener: (events: readonly HubEvent[]) => void): () => void {
    this.attach();
    this.subscribers.add(listener);
    return () => this.subscribers.delete(listener);
  }

  private attach(): void {
    if (this.attached) return;
    this.attached = true;
    this.source.onDeltas(() => this.pump(BATCHES_PER_TURN));
    this.pump(BATCHES_PER_TURN);
  }

  /** Drains up to `batches` batches; schedules itself again when more wait. */
  private pump(batches: number): void {
    let added: HubEvent[] = [];
    let any = false;
    let truncated = true;
    for (let i = 0; i < batches && truncated; i++) {
      const result = this.source.drain(DRAIN_BATCH);
      truncated = result.truncated;
      for (const delta of result.deltas) {
        const event: HubEvent = { sequence: ++this.sequence, kind: delta.kind, session: delta.session };
        if (delta.reason !== undefined) event.reason = delta.reason;
        this.ring[event.sequence % this.capacity] = event;
        added.push(event);
      }
      if (result.lost) {
        // The backend's buffer overflowed before this batch: no view built
        // from earlier events is complete, so nobody may continue from a
        // point before the end of it; they RESYNC (a snapshot is taken after).
        this.lostDeltas += result.lost;
        this.oldest = this.sequence + 1;
        any = true;
      }
      if (this.sequence - this.oldest + 1 > this.capacity) this.oldest = this.sequence - this.capacity + 1;
      if (added.length > 0 && this.subscribers.size > 0) for (const listener of this.subscribers) listener(added);
      any ||= added.length > 0;
      added = [];
    }
    if (any) for (const wake of this.wakers) wake();
    if (truncated && !this.pumpScheduled) {
      this.pumpScheduled = true;
      setImmediate(() => {
        this.pumpScheduled = false;
        this.pump(BATCHES_PER_TURN);
      });
    }
  }
}
