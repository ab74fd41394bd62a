/**
 * The standby's end of the session sync: connects to the active, applies
 * what it sends to the local backend (SessionReplica), acknowledges every
 * message with the sequence applied so far, and reconnects with backoff,
 * resuming after that sequence (the active replays whatever came later, or
 * sends a fresh snapshot when it no longer can or its backend restarted).
 * A watchdog ends a connection that stays silent for several heartbeat
 * intervals: a peer that died without closing, or a link that went
 * one-directional.
 */
import type { Logger } from 'pino';
import type { SessionReplica } from './session-replica.js';
import type { SyncBatch, SyncHello } from './sync-source.js';
import { DEGRADED_AFTER, LatenessWindow, idleSyncStatus, type SyncStatus, LATE_FACTOR, LATE_WINDOW_FACTOR } from './sync-status.js';

export interface SyncConnection {
  /** Sends the standby's acknowledgement (every event up to `sequence` is applied). */
  ack(sequence: number): void;
  /** Ends the connection; `onEnd` follows. */
  close(): void;
}

export interface SyncConnectHandlers {
  onBatch(batch: SyncBatch): void;
  /** The connection ended (error, peer gone, closed); called once. */
  onEnd(error: Error | undefined): void;
}

/** Opens one sync stream to the active and sends `hello` first. */
export type SyncConnect = (hello: SyncHello, handlers: SyncConnectHandlers) => SyncConnection;

export interface SyncFollowerOptions {
  replica: SessionReplica;
  connect: SyncConnect;
  /** The active's address, for status. */
  peer: string;
  node: string;
  heartbeatMs: number;
  logger: Logger;
  now?: () => number;
}

/** Silence longer than this many heartbeat intervals ends the connection. */
const SILENCE_FACTOR = 5;
const BACKOFF_MIN_MS = 100;
const BACKOFF_MAX_MS = 2000;

export class SyncFollower {
  private connection: SyncConnection | undefined;
  private running = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private watchdog: NodeJS.Timeout | undefined;
  private backoffMs = BACKOFF_MIN_MS;
  private lastBatchAt = 0;
  private lastSentAt = 0;
  private epoch = '';
  private applied = 0;
  private head = 0;
  private readonly status: SyncStatus;
  private readonly late: LatenessWindow;
  private readonly now: () => number;

  constructor(private readonly options: SyncFollowerOptions) {
    this.now = options.now ?? Date.now;
    this.status = { ...idleSyncStatus('not following: this node is active'), peer: options.peer };
    this.late = new LatenessWindow(options.heartbeatMs * LATE_WINDOW_FACTOR);
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.status.state = 'connecting';
    this.status.detail = `connecting to ${this.options.peer}`;
    this.open();
  }

  stop(detail = 'not following: this node is active'): void {
    this.running = false;
    clearTimeout(this.retryTimer);
    clearInterval(this.watchdog);
    this.watchdog = undefined;
    const connection = this.connection;
    this.connection = undefined;
    connection?.close();
    this.status.state = 'idle';
    this.status.detail = detail;
  }

  snapshot(): SyncStatus {
    const t = this.now();
    const { replica } = this.options;
    const status: SyncStatus = {
      ...this.status,
      peerEpoch: this.epoch,
      appliedSequence: this.applied,
      lagEvents: Math.max(0, this.head - this.applied),
      lagMillis: this.lastSentAt === 0 ? 0 : Math.max(0, t - this.lastSentAt),
      lastBulkSyncAt: replica.counters.lastBulkSyncAt,
      bulkSyncs: replica.counters.bulkSyncs,
      sessionsImported: replica.counters.imported,
      sessionsRejected: replica.counters.rejected,
    };
    if (status.state === 'in_sync' || status.state === 'degraded') {
      const recent = this.late.recent(t);
      if (recent >= DEGRADED_AFTER) {
        status.state = 'degraded';
        status.detail = `${recent} heartbeats arrived late in the last ${(this.options.heartbeatMs * LATE_WINDOW_FACTOR) / 1000} s (a lossy or congested sync link)`;
      } else {
        status.state = 'in_sync';
        status.detail = replica.counters.rejected > 0 ? `${replica.counters.rejected} sessions not imported; last: ${replica.counters.lastRejection}` : '';
      }
    }
    return status;
  }

  private open(): void {
    this.options.replica.abandonSnapshot();
    const hello: SyncHello = { node: this.options.node, ...(this.epoch && { resume: { sequence: this.applied, epoch: this.epoch } }) };
    this.lastBatchAt = this.now();
    let ended = false;
    const connection = this.options.connect(hello, {
      onBatch: (batch) => {
        if (ended) return;
        this.receive(batch);
        connection.ack(this.applied);
      },
      onEnd: (error) => {
        if (ended) return;
        ended = true;
        this.lost(connection, error?.message ?? 'the active ended the stream');
      },
    });
    this.connection = connection;
    clearInterval(this.watchdog);
    this.watchdog = setInterval(() => {
      const silent = this.now() - this.lastBatchAt;
      if (silent > this.options.heartbeatMs * SILENCE_FACTOR && this.connection === connection && !ended) {
        // Reported before the close, whose own end ("closed") would say less.
        ended = true;
        this.lost(connection, `no heartbeat from the active for ${silent} ms`);
        connection.close();
      }
    }, this.options.heartbeatMs);
    this.watchdog.unref();
  }

  private receive(batch: SyncBatch): void {
    const t = this.now();
    if (this.status.state !== 'connecting' && t - this.lastBatchAt > this.options.heartbeatMs * LATE_FACTOR) {
      this.status.lateHeartbeats++;
      this.late.record(t);
    }
    this.lastBatchAt = t;
    this.lastSentAt = batch.sentAt;
    this.head = batch.headSequence;
    if (batch.epoch !== this.epoch) {
      if (this.epoch) this.options.logger.info({ from: this.epoch, to: batch.epoch }, 'HA peer backend epoch changed: resyncing');
      this.epoch = batch.epoch;
      this.applied = 0;
    }
    const { replica } = this.options;
    for (const event of batch.events) {
      replica.apply(event);
      // A snapshot counts only once whole: a connection lost in the middle of one resumes from before it.
      if (!replica.receivingSnapshot && event.kind !== 'snapshot') this.applied = event.sequence;
    }
    this.backoffMs = BACKOFF_MIN_MS;
    if (!replica.receivingSnapshot && this.status.state === 'connecting') {
      this.status.state = 'in_sync';
      this.options.logger.info({ peer: this.options.peer, sequence: this.applied }, 'HA session sync in sync');
    }
  }

  private lost(connection: SyncConnection, why: string): void {
    if (this.connection !== connection) return;
    this.connection = undefined;
    clearInterval(this.watchdog);
    this.watchdog = undefined;
    if (!this.running) return;
    this.status.state = 'down';
    this.status.detail = why;
    this.status.reconnects++;
    this.options.logger.warn({ peer: this.options.peer, why, retryInMs: this.backoffMs }, 'HA session sync lost; reconnecting');
    this.retryTimer = setTimeout(() => {
      if (!this.running) return;
      this.status.state = 'connecting';
      this.open();
    }, this.backoffMs);
    this.retryTimer.unref();
    this.backoffMs = Math.min(BACKOFF_MAX_MS, this.backoffMs * 2);
  }
}
