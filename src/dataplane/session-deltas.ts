/**
 * SessionDeltaSource: the open/update/close stream of a backend's sessions,
 * drained in batches, for watchers and for HA sync. `backendEpoch` changes
 * whenever the backend (re)starts, so a consumer knows its view is void.
 * Recording starts with the first drain() or onDeltas() call: a consumer
 * starts there, then reads the SessionStore (or exportSessions()) once.
 */
import type { CloseReason, Endpoint, SessionInfo } from './session-store.js';

export type DeltaKind = 'open' | 'update' | 'close';

export interface SessionDelta {
  kind: DeltaKind;
  session: SessionInfo;
  /** Why a session closed; set on every `close` delta. */
  reason?: CloseReason;
}

export interface DrainResult {
  deltas: SessionDelta[];
  /** More deltas are waiting: call again. */
  truncated: boolean;
  /**
   * Deltas discarded since the previous drain because the backend's bounded
   * queue was full; a consumer that sees this resyncs by re-reading the
   * SessionStore (or exportSessions()). Absent or 0 when nothing was lost.
   */
  lost?: number;
}

/** Which sessions exportSessions() returns; every given field must match. */
export interface SessionFilter {
  table?: string;
  ruleId?: string;
}

/**
 * What identifies a flow across backends and their epochs (ids do not):
 * protocol, client and the listener the client reached.
 */
export interface FlowIdentity {
  protocol: SessionInfo['protocol'];
  client: Endpoint;
  listener: Endpoint;
}

export interface ImportOptions {
  /**
   * An entry whose flow is tracked already replaces that session's state,
   * counters and last activity (an HA standby following the active's
   * updates) instead of being rejected.
   */
  update?: boolean;
}

/** Outcome of importSessions(): per entry, installed or why not. */
export interface ImportResult {
  imported: number;
  rejected: { index: number; reason: string }[];
}

/** The delta stream alone (what DeltaBuffer implements and a watcher consumes). */
export type SessionDeltaQueue = Pick<SessionDeltaSource, 'backendEpoch' | 'drain' | 'onDeltas'>;

export interface SessionDeltaSource {
  readonly backendEpoch: string;
  /** Up to `max` deltas, oldest first; each is returned once. */
  drain(max: number): DrainResult;
  /** Invoked (at most once per event-loop turn) when deltas become available. */
  onDeltas(listener: () => void): () => void;
  /** Every session matching `filter` (e.g. one owner's table, for an HA takeover). */
  exportSessions(filter?: SessionFilter): SessionInfo[];
  /**
   * Installs sessions exported elsewhere (feature "session_import"; a
   * backend without it rejects every entry with its declared reason). Each entry is installed with all of
   * its companions or not at all; entries are keyed by their flow (protocol,
   * client, listener), not by id, and get fresh ids here. An entry whose rule
   * is not running, or whose flow is already tracked, is rejected.
   */
  importSessions(entries: readonly SessionInfo[], options?: ImportOptions): ImportResult;
  /** The session tracking `flow`, if any (its id is local to this backend epoch). */
  findFlow(flow: FlowIdentity): SessionInfo | undefined;
  /**
   * After a bulk resync: removes (with companions, reason "reconcile") every
   * session whose flow is not among `received`. Returns how many went.
   */
  reconcileBulk(received: readonly SessionInfo[]): number;
}
