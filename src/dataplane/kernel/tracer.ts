/**
 * Trace on the kernel backend: the rule lookup and the filter verdict, from
 * the same neutral route table and policy code the packet backend uses. The
 * kernel owns no sessions table of its own here and the OS picks the
 * upstream source, so limits, SNAT source and session lookup are reported as
 * not evaluated.
 */
import { mapTargetPort } from '../../config/ports.js';
import { parseIp } from '../policy/ip.js';
import type { RouteTable } from '../route-lookup.js';
import type { TraceRequest, TraceResult, Tracer } from '../tracer.js';
import { KERNEL_BACKEND_NAME } from './capabilities.js';

export class KernelTracer implements Tracer {
  private routes: RouteTable;
  private generation = 0;

  constructor(routes: RouteTable) {
    this.routes = routes;
  }

  /** Called after each successful apply. */
  install(routes: RouteTable, generation: number): void {
    this.routes = routes;
    this.generation = generation;
  }

  trace(request: TraceRequest): TraceResult {
    const steps: string[] = [];
    const result: TraceResult = {
      generation: this.generation,
      backend: KERNEL_BACKEND_NAME,
      verdict: 'drop',
      filter: { verdict: 'not_evaluated', detail: '' },
      limit: { verdict: 'not_evaluated', detail: 'the kernel backend does not report limits in a trace' },
      session: { lookup: 'not_tracked' },
      steps,
    };
    const src = parseIp(request.source.address);
    const dst = parseIp(request.destination.address);
    if (!src || !dst) throw new Error('trace: source and destination must be IP addresses');
    const rule = this.routes.lookup(request.protocol, dst, request.destination.port);
    if (!rule) {
      result.dropReason = 'no_rule';
      steps.push(`no listener for ${request.protocol} ${request.destination.address} port ${request.destination.port}: connection refused`);
      return result;
    }
    result.match = { table: rule.table, ruleId: rule.ruleId, ruleName: rule.ruleName, counterId: rule.counterId };
    steps.push(`listener of rule ${rule.table}/${rule.ruleName || rule.ruleId} accepts ${request.protocol} ${request.destination.address} port ${request.destination.port}`);
    const filter = rule.filter.evaluate(src);
    result.filter = { verdict: filter.allowed ? 'allow' : 'deny', detail: filter.detail };
    steps.push(`filter: ${result.filter.verdict} (${filter.detail})`);
    if (!filter.allowed) {
      result.dropReason = 'filter';
      return result;
    }
    const port = mapTargetPort(rule.rule, request.destination.port);
    result.nat = { destination: { address: rule.rule.targetAddress, port } };
    result.verdict = 'forward';
    steps.push(`relay to ${rule.rule.targetAddress}:${port} from a host address the OS picks`);
    return result;
  }
}
