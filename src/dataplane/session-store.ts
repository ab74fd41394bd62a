/**
 * SessionStore: the live flows of a backend, backend-neutral. A session is
 * one TCP connection or one UDP flow; its parts (the downstream and upstream
 * legs on the kernel backend; forward entry, reverse entry and NAT binding on
 * the userspace backend) are companions, and `deleteWithCompanions` is the
 * only way any of them is removed on request.
 */
import type { Protocol } from '../config/model.js';

export interface Endpoint {
  address: string;
  port: number;
}

export interface FlowCounters {
  bytes: number;
  /** Datagrams (UDP), segments (userspace TCP) or reads (kernel TCP). */
  packets: number;
}

export interface SessionInfo {
  /** Unique for the backend epoch: the decimal value of a counter that increases with creation order (see sessionIdNumber). */
  id: string;
  table: string;
  ruleId: string;
  ruleName: string;
  protocol: Protocol;
  client: Endpoint;
  listener: Endpoint;
  /** Local end of the upstream leg; absent until it exists. */
  upstreamLocal?: Endpoint;
  target: Endpoint;
  /** Backend-specific state name, lower case (e.g. "established", "syn_sent", "active"). */
  state: string;
  /** Milliseconds since the epoch. */
  createdAt: number;
  lastActivityAt: number;
  /** Client to target. */
  fromClient: FlowCounters;
  /** Target to client. */
  toClient: FlowCounters;
  /** Generation of the configuration the session was opened under. */
  generation: number;
}

export const CLOSE_REASONS = [
  'client',
  'target',
  'idle',
  'deleted',
  'filter',
  'drain',
  'terminate',
  'error',
  'shutdown',
  // An HA resync no longer contained the session (SessionDeltaSource.reconcileBulk).
  'reconcile',
] as const;

export type CloseReason = (typeof CLOSE_REASONS)[number];

export interface SessionStore {
  /**
   * Sessions in id order, starting after `afterId` when given (which need not
   * exist any more). Lazy: safe to stop early; costs O(log n) to start, so a
   * pager can resume from its last id without rescanning what it has seen.
   */
  iterate(afterId?: string): Iterable<SessionInfo>;
  get(id: string): SessionInfo | undefined;
  /**
   * Closes the session and every companion of it; false if it was not there.
   * When it returns true the session is gone: get() no longer finds it,
   * iterate() skips it, and its close delta has been emitted.
   */
  deleteWithCompanions(id: string, reason: CloseReason): boolean;
  count(): number;
  /** Closes every session; returns how many. */
  clear(reason: CloseReason): number;
  /**
   * A store that mirrors sessions another part holds (nftables: conntrack)
   * re-reads them now. A delete by filter calls it first, so it also ends a
   * session opened since the mirror's last read. Stores that hold their own
   * sessions have nothing to catch up and leave it out.
   */
  syncWithSource?(): void;
}

/**
 * The counter value a session id stands for: every backend issues ids as
 * decimal strings of one increasing counter, so id order is numeric order.
 * Undefined for anything else (a leading zero, a sign, text), which no
 * backend ever issued.
 */
export function sessionIdNumber(id: string | number): number | undefined {
  if (typeof id === 'number') return Number.isSafeInteger(id) && id >= 0 ? id : undefined;
  if (!/^(0|[1-9][0-9]{0,15})$/.test(id)) return undefined;
  const n = Number(id);
  return Number.isSafeInteger(n) ? n : undefined;
}
