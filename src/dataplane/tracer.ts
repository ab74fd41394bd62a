/**
 * Tracer: the decision path a backend would take for a synthetic packet,
 * computed without changing any state (no session, no counter, no token).
 * Every backend answers; a part it does not evaluate says "not_evaluated"
 * (kernel: limits, NAT source) or "not_tracked" (a backend without sessions).
 */
import type { Protocol } from '../config/model.js';
import type { Endpoint } from './session-store.js';

export interface TcpFlags {
  syn: boolean;
  ack: boolean;
  fin: boolean;
  rst: boolean;
}

export interface TraceRequest {
  protocol: Protocol;
  source: Endpoint;
  destination: Endpoint;
  /** Ignored for UDP. */
  tcpFlags: TcpFlags;
}

export interface TraceMatch {
  table: string;
  ruleId: string;
  ruleName: string;
  counterId: number;
}

export interface TraceResult {
  /** The generation whose configuration decided. */
  generation: number;
  backend: string;
  verdict: 'forward' | 'drop';
  /** Set when dropped: a DropReason or PacketDropReason of telemetry.ts. */
  dropReason?: string;
  match?: TraceMatch;
  filter: { verdict: 'allow' | 'deny' | 'not_evaluated'; detail: string };
  limit: { verdict: 'allow' | 'cap' | 'rate' | 'not_evaluated'; detail: string };
  /** The packet as it would leave: translated source and destination. Source absent where the OS picks it. */
  nat?: { source?: Endpoint; destination: Endpoint };
  session: { lookup: 'hit' | 'miss' | 'not_tracked'; id?: string };
  /** Human-readable decision path, in order. */
  steps: string[];
}

export interface Tracer {
  trace(request: TraceRequest): TraceResult;
}
