/**
 * SessionDeltaSource: the open/update/close stream of a backend's sessions,
 * drained in batches, for watchers and for HA sync. `backendEpoch` changes
 * whenever the backend restarts, so a consumer knows its view is void.
 */
import type { CloseReason, SessionInfo } from './session-store.js';

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
   * Deltas dropped since the previous drain because the backend's bounded
   * buffer overflowed; when non-zero, re-read the SessionStore. Absent means 0.
   */
  lost?: number;
}

export interface SessionDeltaSource {
  readonly backendEpoch: string;
  /** Up to `max` deltas, oldest first; each is returned once. */
  drain(max: number): DrainResult;
  /** Invoked (at most once per event-loop turn) when deltas become available. */
  onDeltas(listener: () => void): () => void;
}
