/**
 * The state of a session sync, as both ends report it (GetRole, /metrics):
 * the standby about the stream it follows, the active about the standby it
 * serves. Counters only grow; `state` and `detail` say what holds now.
 */

export const SYNC_STATES = ['idle', 'connecting', 'in_sync', 'degraded', 'down'] as const;

export type SyncState = (typeof SYNC_STATES)[number];

export interface SyncStatus {
  state: SyncState;
  detail: string;
  peer: string;
  lagEvents: number;
  lagMillis: number;
  peerEpoch: string;
  appliedSequence: number;
  /** Milliseconds since the epoch; 0 before the first. */
  lastBulkSyncAt: number;
  bulkSyncs: number;
  resentEvents: number;
  sessionsImported: number;
  sessionsRejected: number;
  lateHeartbeats: number;
  reconnects: number;
}

export function idleSyncStatus(detail: string): SyncStatus {
  return {
    state: 'idle',
    detail,
    peer: '',
    lagEvents: 0,
    lagMillis: 0,
    peerEpoch: '',
    appliedSequence: 0,
    lastBulkSyncAt: 0,
    bulkSyncs: 0,
    resentEvents: 0,
    sessionsImported: 0,
    sessionsRejected: 0,
    lateHeartbeats: 0,
    reconnects: 0,
  };
}

/**
 * Late heartbeats (or acknowledgements) within the last `windowMs` make a
 * connected sync "degraded" once there are DEGRADED_AFTER of them: a lossy
 * link delays TCP segments by at least a retransmission timeout, again and
 * again, while one slow turn of a busy event loop is not worth an alarm.
 */
export const DEGRADED_AFTER = 3;

/** A message later than this many heartbeat intervals after the previous one counts as late. */
export const LATE_FACTOR = 2;
/** Late messages are remembered this many heartbeat intervals. */
export const LATE_WINDOW_FACTOR = 50;

export class LatenessWindow {
  private readonly late: number[] = [];

  constructor(private readonly windowMs: number) {}

  record(now: number): void {
    this.late.push(now);
  }

  /** Late arrivals within the window ending at `now`. */
  recent(now: number): number {
    while (this.late.length > 0 && this.late[0]! < now - this.windowMs) this.late.shift();
    return this.late.length;
  }
}
