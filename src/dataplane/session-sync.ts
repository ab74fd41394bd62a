/**
 * The parts of SessionDeltaSource every backend answers the same way from
 * its SessionStore: exporting sessions and the bulk reconcile of an HA
 * resync. A flow is identified by (protocol, client, listener), not by its
 * id: ids are local to one backend epoch.
 */
import type { FlowIdentity, ImportOptions, ImportResult, SessionDeltaQueue, SessionDeltaSource, SessionFilter } from './session-deltas.js';
import type { SessionInfo, SessionStore } from './session-store.js';

function flowIdentity(s: FlowIdentity): string {
  return `${s.protocol}|${s.client.address}|${s.client.port}|${s.listener.address}|${s.listener.port}`;
}

/** Every session of `store` matching `filter`, in id order. */
export function exportSessions(store: SessionStore, filter: SessionFilter = {}): SessionInfo[] {
  const out: SessionInfo[] = [];
  for (const s of store.iterate()) {
    if (filter.table !== undefined && s.table !== filter.table) continue;
    if (filter.ruleId !== undefined && s.ruleId !== filter.ruleId) continue;
    out.push(s);
  }
  return out;
}

/** Removes (with companions, reason "reconcile") every session whose flow is not among `received`; returns how many. */
export function reconcileSessions(store: SessionStore, received: readonly SessionInfo[]): number {
  const keep = new Set(received.map(flowIdentity));
  // Collected first: deleting while iterating the store would skip entries.
  const gone = [...store.iterate()].filter((s) => !keep.has(flowIdentity(s))).map((s) => s.id);
  for (const id of gone) store.deleteWithCompanions(id, 'reconcile');
  return gone.length;
}

/** The session of `store` tracking `flow`, by a scan: for backends without an index by flow. */
export function scanForFlow(store: SessionStore, flow: FlowIdentity): SessionInfo | undefined {
  const wanted = flowIdentity(flow);
  for (const s of store.iterate()) if (flowIdentity(s) === wanted) return s;
  return undefined;
}

/**
 * A backend's SessionDeltaSource: the delta queue, the store-based export
 * and reconcile above, and the backend's own import and flow lookup (a scan
 * of the store when it has none).
 */
export function sessionDeltaSource(
  buffer: SessionDeltaQueue,
  store: SessionStore,
  importSessions: (entries: readonly SessionInfo[], options?: ImportOptions) => ImportResult,
  findFlow: (flow: FlowIdentity) => SessionInfo | undefined = (flow) => scanForFlow(store, flow),
): SessionDeltaSource {
  return {
    get backendEpoch() {
      return buffer.backendEpoch;
    },
    drain: (max) => buffer.drain(max),
    onDeltas: (listener) => buffer.onDeltas(listener),
    exportSessions: (filter) => exportSessions(store, filter),
    importSessions,
    findFlow,
    reconcileBulk: (received) => reconcileSessions(store, received),
  };
}
