/**
 * portplane.v1.TraceService: wire request -> checked TraceRequest -> the
 * backend's tracer -> wire response. Reads only; bad input gets
 * INVALID_ARGUMENT with a field violation per problem.
 */
import type * as grpc from '@grpc/grpc-js';
import type { Protocol, Violation } from '../config/model.js';
import { InvalidRequestError } from '../control/errors.js';
import { parseIp } from '../config/ip.js';
import type { TraceRequest, TraceResult, Tracer } from '../dataplane/tracer.js';
import { unary } from './unary.js';
import { quote } from '../config/quote.js';
import type { Endpoint__Output } from '../generated/types/portplane/v1/Endpoint.js';
import type { TcpFlags__Output } from '../generated/types/portplane/v1/TcpFlags.js';
import type { TraceRequest__Output } from '../generated/types/portplane/v1/TraceRequest.js';

/** As decoded; every field optional, so a missing one is reported rather than assumed. */
type WireTraceRequest = Partial<TraceRequest__Output>;

const PROTOCOLS: Record<string, Protocol> = { PROTOCOL_TCP: 'tcp', PROTOCOL_UDP: 'udp' };

const VERDICT = { forward: 'TRACE_VERDICT_FORWARD', drop: 'TRACE_VERDICT_DROP' } as const;
const FILTER = { allow: 'FILTER_VERDICT_ALLOW', deny: 'FILTER_VERDICT_DENY', not_evaluated: 'FILTER_VERDICT_NOT_EVALUATED' } as const;
const LIMIT = {
  allow: 'LIMIT_VERDICT_ALLOW',
  cap: 'LIMIT_VERDICT_CAP',
  rate: 'LIMIT_VERDICT_RATE',
  not_evaluated: 'LIMIT_VERDICT_NOT_EVALUATED',
} as const;
const SESSION = { hit: 'SESSION_LOOKUP_HIT', miss: 'SESSION_LOOKUP_MISS' } as const;

/** The request as the tracer takes it, or every problem with its field path. */
export function parseTraceRequest(req: WireTraceRequest): TraceRequest {
  const violations: Violation[] = [];
  const protocol = PROTOCOLS[req.protocol ?? ''];
  if (!protocol) violations.push({ path: 'protocol', message: 'use PROTOCOL_TCP or PROTOCOL_UDP' });
  const endpoint = (name: 'source' | 'destination', minPort: number): { address: string; port: number; family?: 4 | 6 } => {
    const e: Partial<Endpoint__Output> = req[name] ?? {};
    const address = e.address ?? '';
    const port = e.port ?? 0;
    const ip = parseIp(address);
    if (!ip || address.includes('%')) violations.push({ path: `${name}.address`, message: `${quote(address)} is not an IPv4 or IPv6 address without a zone` });
    if (port < minPort || port > 65535) violations.push({ path: `${name}.port`, message: `${port} is not within ${minPort}-65535` });
    return { address, port, family: ip?.family };
  };
  const source = endpoint('source', 0);
  const destination = endpoint('destination', 1);
  if (source.family && destination.family && source.family !== destination.family) {
    violations.push({ path: 'destination.address', message: `IPv${destination.family} destination for an IPv${source.family} source` });
  }
  if (violations.length > 0) throw new InvalidRequestError('trace request', violations);
  const f: Partial<TcpFlags__Output> = req.tcp_flags ?? {};
  return {
    protocol: protocol!,
    source: { address: source.address, port: source.port },
    destination: { address: destination.address, port: destination.port },
    tcpFlags: { syn: f.syn ?? false, ack: f.ack ?? false, fin: f.fin ?? false, rst: f.rst ?? false },
  };
}

export function wireTraceResult(r: TraceResult): object {
  return {
    generation: String(r.generation),
    backend: r.backend,
    verdict: VERDICT[r.verdict],
    drop_reason: r.dropReason ?? '',
    match: r.match
      ? { table: r.match.table, rule_name: r.match.ruleName, rule_id: r.match.ruleId, counter_id: String(r.match.counterId) }
      : null,
    filter: FILTER[r.filter.verdict],
    filter_detail: r.filter.detail,
    limit: LIMIT[r.limit.verdict],
    limit_detail: r.limit.detail,
    nat: r.nat ? { source: r.nat.source ?? null, destination: r.nat.destination } : null,
    session: SESSION[r.session.lookup],
    session_id: r.session.id ?? '',
    steps: [...r.steps],
  };
}

export function traceServiceHandlers(tracer: Tracer): grpc.UntypedServiceImplementation {
  return {
    Trace: unary<WireTraceRequest>((req) => wireTraceResult(tracer.trace(parseTraceRequest(req)))),
  };
}
