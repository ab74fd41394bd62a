/**
 * Tracer: the decision path a backend would take for a synthetic packet,
 * computed without changing any state (no session, no counter, no token).
 * Every backend answers; a part it does not evaluate says "not_evaluated"
 * (kernel: the NAT source, which the OS picks).
 */
import type { Protocol } from '../config/model.js';
import type { RuleAdmission } from './admission.js';
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
  session: { lookup: 'hit' | 'miss'; id?: string };
  /** Human-readable decision path, in order. */
  steps: string[];
}

export interface Tracer {
  trace(request: TraceRequest): TraceResult;
}

/** A result before any step: dropped, nothing evaluated, no session found. */
export function initialTraceResult(generation: number, backend: string): TraceResult {
  return {
    generation,
    backend,
    verdict: 'drop',
    filter: { verdict: 'not_evaluated', detail: '' },
    limit: { verdict: 'not_evaluated', detail: '' },
    session: { lookup: 'miss' },
    steps: [],
  };
}

/**
 * Records what `admission` would decide for a new session from `client`
 * (filter, then limits) in `result`, the same way on every backend, taking
 * no token. Returns whether the session would open; if not, `result` says
 * why (dropReason). `now` is the clock the backend admits with.
 */
export function traceAdmission(result: TraceResult, admission: RuleAdmission, client: Uint8Array, udp: boolean, now?: number): boolean {
  const decision = admission.explain(client, udp, now);
  result.filter = { verdict: decision.filter.allowed ? 'allow' : 'deny', detail: decision.filter.detail };
  result.steps.push(`filter: ${result.filter.verdict} (${decision.filter.detail})`);
  if (decision.limit) {
    result.limit = decision.limit;
    result.steps.push(`limits: ${decision.limit.verdict} (${decision.limit.detail})`);
  }
  if (decision.refused) result.dropReason = decision.refused;
  return decision.refused === undefined;
}
