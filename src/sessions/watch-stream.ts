/**
 * One WatchSessions stream, independent of the transport: a snapshot (or a
 * replay from a resume point), then the hub's events as they come. Sending
 * is self-clocked: the next batch is read from the hub only once the
 * transport took the previous one, so a stream holds at most one batch; a
 * consumer that falls further behind than the hub's ring reaches RESYNC and
 * a fresh snapshot instead of buffering.
 *
 * The snapshot is read in id order a batch at a time while events keep
 * flowing, so events after it may repeat what it showed (an open of a
 * session it already held) or concern sessions it never showed (a close of
 * one that ended while it was read). Apply events by session id: upsert on
 * open/update, remove on close.
 */
import type { DeltaKind } from '../dataplane/session-deltas.js';
import type { CloseReason, SessionInfo, SessionStore } from '../dataplane/session-store.js';
import { matchesQuery, type SessionQuery } from './query.js';
import type { SessionWatchHub } from './watch-hub.js';

export type WatchEvent =
  | { kind: 'snapshot'; sequence: number; session: SessionInfo }
  | { kind: 'snapshot_end'; sequence: number }
  | { kind: DeltaKind; sequence: number; session: SessionInfo; reason?: CloseReason }
  | { kind: 'resync'; sequence: number; detail: string };

export interface WatchSink {
  /** Resolves once the transport has taken the events (back-pressure). */
  send(events: WatchEvent[]): Promise<void>;
  /** The stream ended (cancelled, deadline, disconnect). */
  readonly closed: boolean;
  /** Resolves when the stream ends. */
  readonly ended: Promise<void>;
}

export interface WatchOptions {
  hub: SessionWatchHub;
  store: SessionStore;
  query: SessionQuery;
  resume?: { sequence: number; epoch: string };
  sink: WatchSink;
  /** Events per message. */
  batch?: number;
  now?: () => number;
}

/** Events per message: large enough to amortise framing, small enough to bound what one stream holds. */
export const WATCH_BATCH = 512;

export async function runWatch(options: WatchOptions): Promise<void> {
  const release = options.hub.track();
  try {
    await watch(options);
  } finally {
    release();
  }
}

async function watch(options: WatchOptions): Promise<void> {
  const { hub, store, query, sink } = options;
  const batch = options.batch ?? WATCH_BATCH;
  const now = options.now ?? Date.now;

  /** Sends RESYNC (when `why`) and the snapshot; returns the sequence the stream continues after. */
  const snapshot = async (why?: string): Promise<number> => {
    const at = hub.current();
    if (why !== undefined) {
      hub.noteResync();
      await sink.send([{ kind: 'resync', sequence: at, detail: why }]);
    }
    let after: string | undefined;
    for (;;) {
      if (sink.closed) return at;
      const events: WatchEvent[] = [];
      let last: string | undefined;
      let scanned = 0;
      const t = now();
      for (const session of store.iterate(after)) {
        last = session.id;
        if (matchesQuery(query, session, t)) events.push({ kind: 'snapshot', sequence: at, session });
        if (events.length === batch || ++scanned === batch * 8) break;
      }
      if (last === undefined) break;
      after = last;
      if (events.length > 0) await sink.send(events);
    }
    await sink.send([{ kind: 'snapshot_end', sequence: at }]);
    return at;
  };

  let cursor: number;
  const { resume } = options;
  if (resume === undefined) {
    cursor = await snapshot();
  } else if (resume.epoch !== '' && resume.epoch !== hub.epoch) {
    cursor = await snapshot(`backend epoch ${resume.epoch} is over (now ${hub.epoch}): the backend restarted`);
  } else {
    const probe = hub.eventsAfter(resume.sequence, 0);
    cursor = probe.ok ? resume.sequence : await snapshot(probe.why);
  }

  // One reaction on `ended` for the whole stream, not one per wait.
  let wake: (() => void) | undefined;
  void sink.ended.then(() => wake?.());
  while (!sink.closed) {
    const next = hub.eventsAfter(cursor, batch);
    if (!next.ok) {
      cursor = await snapshot(`consumer too slow: ${next.why}`);
      continue;
    }
    if (next.events.length === 0) {
      await new Promise<void>((resolve) => {
        const off = hub.onEvents(() => wake?.());
        wake = () => {
          wake = undefined;
          off();
          resolve();
        };
      });
      continue;
    }
    const t = now();
    const out: WatchEvent[] = [];
    for (const event of next.events) {
      if (!matchesQuery(query, event.session, t)) continue;
      const e: WatchEvent = { kind: event.kind, sequence: event.sequence, session: event.session };
      if (event.reason !== undefined) e.reason = event.reason;
      out.push(e);
    }
    cursor = next.events[next.events.length - 1]!.sequence;
    if (out.length > 0) await sink.send(out);
  }
}
