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
  /** Stable, opaque, unique for the backend epoch; increases with creation order. */
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

export const CLOSE_REASONS = ['client', 'target', 'idle', 'deleted', 'filter', 'drain', 'terminate', 'error', 'shutdown'] as const;

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
}

/** Orders session ids: ids are decimal strings of a counter, so compare by length, then text. */
export function compareSessionIds(a: string, b: string): number {
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
}
