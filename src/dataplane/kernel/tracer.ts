/**
 * Trace on the kernel backend: the listener that would take the connection
 * (as the OS picks one), the session lookup in the kernel's SessionStore, and
 * the filter and limits verdicts of the rule's live admission (the same
 * object that admits real connections, asked without taking a token). It
 * reads the listener table as it is, so an apply costs the tracer nothing.
 * The OS picks the upstream source address of a new session, so that part
 * of NAT is not reported.
 */
import { parseAddress } from '../../config/address.js';
import { parseIp, unmapIp } from '../../config/ip.js';
import type { SessionInfo, SessionStore } from '../session-store.js';
import { initialTraceResult, traceAdmission, type TraceRequest, type TraceResult, type Tracer } from '../tracer.js';
import { KERNEL_BACKEND_NAME } from './capabilities.js';
import type { ListenerTable } from './listener-table.js';

/** Addresses as a socket reports them may be IPv4-mapped; compare what they carry. */
function sameAddress(a: string, b: string): boolean {
  const x = parseIp(a);
  const y = parseIp(b);
  if (!x || !y) return false;
  const bx = unmapIp(x).bytes;
  const by = unmapIp(y).bytes;
  return bx.length === by.length && bx.every((byte, i) => byte === by[i]);
}

export class KernelTracer implements Tracer {
  private generation = 0;

  constructor(
    private readonly listeners: ListenerTable,
    private readonly sessions: SessionStore,
  ) {}

  /** Called after each successful apply. */
  install(generation: number): void {
    this.generation = generation;
  }

  private findSession(request: TraceRequest): SessionInfo | undefined {
    for (const s of this.sessions.iterate()) {
      if (s.protocol !== request.protocol || s.client.port !== request.source.port || s.listener.port !== request.destination.port) continue;
      if (sameAddress(s.client.address, request.source.address) && sameAddress(s.listener.address, request.destination.address)) return s;
    }
    return undefined;
  }

  trace(request: TraceRequest): TraceResult {
    const result = initialTraceResult(this.generation, KERNEL_BACKEND_NAME);
    const steps = result.steps;
    const src = parseIp(request.source.address);
    const dst = parseAddress(request.destination.address);
    if (!src || !dst) throw new Error('trace: source and destination must be IP addresses');
    const session = this.findSession(request);
    if (session) {
      const reason = 'decided when the session opened';
      const rule = this.listeners.ruleRuntime(session.ruleId);
      result.session = { lookup: 'hit', id: session.id };
      result.match = { table: session.table, ruleId: session.ruleId, ruleName: session.ruleName, counterId: rule?.counters.counterId ?? 0 };
      result.filter = { verdict: 'allow', detail: reason };
      result.limit = { verdict: 'allow', detail: reason };
      result.nat = { destination: session.target, ...(session.upstreamLocal ? { source: session.upstreamLocal } : {}) };
      result.verdict = 'forward';
      steps.push(`session ${session.id} hit (state ${session.state}, generation ${session.generation})`);
      steps.push(`relayed to ${session.target.address}:${session.target.port}`);
      return result;
    }
    steps.push('session miss');
    const owner = this.listeners.accepting(request.protocol, dst.address, dst.family, request.destination.port);
    if (!owner) {
      result.dropReason = 'no_rule';
      steps.push(`no listener for ${request.protocol} ${request.destination.address} port ${request.destination.port}: connection refused`);
      return result;
    }
    const { route, rule } = owner;
    result.match = { table: route.table, ruleId: route.ruleId, ruleName: route.ruleName, counterId: rule.counters.counterId };
    steps.push(`listener of rule ${route.table}/${route.ruleName || route.ruleId} accepts ${request.protocol} ${request.destination.address} port ${request.destination.port}`);
    if (!traceAdmission(result, rule, src.bytes, request.protocol === 'udp')) return result;
    result.nat = { destination: { address: route.targetAddress, port: route.targetPort } };
    result.verdict = 'forward';
    steps.push(`relay to ${route.targetAddress}:${route.targetPort} from a host address the OS picks`);
    return result;
  }
}
