/**
 * The active's end of a session sync stream, independent of the transport:
 * a snapshot (or a replay from the standby's acknowledged sequence, which is
 * how whatever was not acknowledged before a reconnect is sent again), then
 * the session events as they happen, with a heartbeat whenever nothing else
 * was sent for a heartbeat interval. It is one WatchSessions stream over
 * every session (runWatch), so back-pressure, the shared ring and RESYNC
 * work exactly as they do for watchers.
 */
import type { SessionStore } from '../dataplane/session-store.js';
import { runWatch, type WatchEvent } from '../sessions/watch-stream.js';
import type { SessionWatchHub } from '../sessions/watch-hub.js';
import { DEGRADED_AFTER, LatenessWindow, idleSyncStatus, type SyncStatus, LATE_FACTOR, LATE_WINDOW_FACTOR } from './sync-status.js';

export interface SyncBatch {
  events: WatchEvent[];
  /** The active's newest sequence when sent. */
  headSequence: number;
  epoch: string;
  /** Milliseconds since the epoch. */
  sentAt: number;
}

export interface SyncHello {
  resume?: { sequence: number; epoch: string };
  node: string;
}

export interface SyncTransport {
  /** Resolves once the transport took the batch (back-pressure). */
  send(batch: SyncBatch): Promise<void>;
  readonly closed: boolean;
  readonly ended: Promise<void>;
}

export interface SyncSourceOptions {
  hub: SessionWatchHub;
  store: SessionStore;
  hello: SyncHello;
  /** Who the standby is, for status (its node name and address). */
  peer: string;
  transport: SyncTransport;
  heartbeatMs: number;
  now?: () => number;
}


export class SyncSource {
  private readonly status: SyncStatus;
  private readonly late: LatenessWindow;
  private sentSequence = 0;
  private lastAckAt: number;
  private waitingSince: number | undefined;
  private readonly now: () => number;

  constructor(private readonly options: SyncSourceOptions) {
    this.now = options.now ?? Date.now;
    this.lastAckAt = this.now();
    this.status = { ...idleSyncStatus(''), state: 'connecting', peer: options.peer, peerEpoch: options.hub.epoch };
    this.late = new LatenessWindow(options.heartbeatMs * LATE_WINDOW_FACTOR);
  }

  /** The standby applied every event up to `sequence`. */
  ack(sequence: number): void {
    const t = this.now();
    if (this.waitingSince !== undefined && t - this.waitingSince > this.options.heartbeatMs * LATE_FACTOR) {
      this.status.lateHeartbeats++;
      this.late.record(t);
    }
    this.waitingSince = sequence >= this.sentSequence ? undefined : this.waitingSince;
    this.lastAckAt = t;
    if (sequence > this.status.appliedSequence) this.status.appliedSequence = sequence;
  }

  snapshot(): SyncStatus {
    const t = this.now();
    const head = this.options.hub.stats().sequence;
    const status = { ...this.status, lagEvents: Math.max(0, head - this.status.appliedSequence), lagMillis: t - this.lastAckAt };
    if (status.state === 'in_sync' || status.state === 'degraded') {
      const recent = this.late.recent(t);
      const silentFor = this.waitingSince === undefined ? 0 : t - this.waitingSince;
      if (silentFor > this.options.heartbeatMs * LATE_FACTOR) {
        status.state = 'degraded';
        status.detail = `no acknowledgement from the standby for ${silentFor} ms`;
      } else if (recent >= DEGRADED_AFTER) {
        status.state = 'degraded';
        status.detail = `${recent} late acknowledgements in the last ${(this.options.heartbeatMs * LATE_WINDOW_FACTOR) / 1000} s`;
      } else {
        status.state = 'in_sync';
        status.detail = '';
      }
    }
    return status;
  }

  /** Runs until the transport ends. */
  async run(): Promise<void> {
    const { hub, store, hello, transport, heartbeatMs } = this.options;
    const resume = hello.resume && hello.resume.epoch === hub.epoch ? hello.resume : undefined;
    let inFlight: Promise<void> | undefined;
    let lastSentAt = 0;
    // A fresh stream starts with a snapshot; a resumed one replays (what the standby had not acknowledged) unless told to RESYNC.
    let snapshotting = resume === undefined;
    let replaying = resume !== undefined;
    const resumedHead = hub.current();
    const send = async (events: WatchEvent[]): Promise<void> => {
      const batch: SyncBatch = { events, headSequence: hub.stats().sequence, epoch: hub.epoch, sentAt: this.now() };
      for (const e of events) {
        if (e.kind === 'resync' || e.kind === 'snapshot') {
          snapshotting = true;
          replaying = false;
        } else if (e.kind === 'snapshot_end') {
          snapshotting = false;
          this.status.bulkSyncs++;
          this.status.lastBulkSyncAt = batch.sentAt;
        } else if (replaying && e.sequence <= resumedHead) {
          this.status.resentEvents++;
        }
        if (e.sequence > this.sentSequence) this.sentSequence = e.sequence;
      }
      if (!snapshotting && this.status.state === 'connecting') this.status.state = 'in_sync';
      this.waitingSince ??= batch.sentAt;
      lastSentAt = batch.sentAt;
      inFlight = transport.send(batch);
      await inFlight;
      inFlight = undefined;
    };
    const heartbeat = setInterval(() => {
      if (inFlight || transport.closed || this.now() - lastSentAt < heartbeatMs) return;
      void send([]);
    }, heartbeatMs);
    try {
      await runWatch({
        hub,
        store,
        query: {},
        ...(resume && { resume }),
        sink: { send, get closed() { return transport.closed; }, ended: transport.ended },
      });
      await transport.ended;
    } finally {
      clearInterval(heartbeat);
    }
  }
}
