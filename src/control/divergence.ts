/**
 * Ports the running record says listen but the dataplane does not. They are
 * left by an undo that could not re-open what an unsaved apply had closed,
 * by a backend rollback that lost a port it closed to make room, and by a
 * restore or rollback that could not bind a port of a strict (non-weak)
 * rule. A divergence is never silent: the apply's result and error,
 * GetConfig, LastApplyResult, the portplane_dataplane_diverged gauge, a log
 * line and the dataplane health status report it; the next apply (an
 * unchanged one too) tries each port again (see repairs()).
 */
import type { ForwardingConfig } from '../config/model.js';
import { portIntervals } from '../config/ports.js';
import type { DivergedPort } from '../dataplane/apply-result.js';
import type { PortBindFailure } from '../dataplane/config-sink.js';
import { ruleId } from '../plan/identity.js';
import { listenerKey, routeOf } from '../plan/listeners.js';
import type { Plan, PortChange, Route } from '../plan/model.js';

export class Divergence {
  private readonly ports = new Map<string, DivergedPort>();
  private readonly watchers = new Set<(count: number) => void>();

  get size(): number {
    return this.ports.size;
  }

  /** Diverged ports, in listener-key order. */
  list(): DivergedPort[] {
    return [...this.ports.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([, p]) => ({ ...p }));
  }

  /** Called with the number of diverged ports whenever it changes. */
  watch(fn: (count: number) => void): void {
    this.watchers.add(fn);
  }

  add(ports: readonly PortBindFailure[], now = Date.now()): void {
    if (ports.length === 0) return;
    const before = this.ports.size;
    for (const port of ports) {
      const key = listenerKey(port);
      this.ports.set(key, diverged(port, this.ports.get(key)?.since ?? now));
    }
    this.changed(before);
  }

  /**
   * 'keep' entries that re-open every diverged port `config` still routes
   * the same way and `plan` does not list already. They are retries: a
   * port that still cannot bind stays diverged instead of failing the apply.
   */
  repairs(config: ForwardingConfig, plan: Plan): PortChange[] {
    if (this.ports.size === 0) return [];
    const listed = new Set(plan.ports.map((p) => p.key));
    const out: PortChange[] = [];
    for (const [key, port] of this.ports) {
      if (listed.has(key)) continue;
      const route = routeIn(config, port);
      if (route) out.push({ protocol: port.protocol, listenAddress: port.listenAddress, port: port.port, key, action: 'keep', route, previous: route, retry: true });
    }
    return out;
  }

  /**
   * After the dataplane executed `executed` (a plan's ports plus its
   * repairs) and committed: a port it closed is no longer in the record,
   * a port it opened, kept or retargeted without failure listens again.
   */
  settle(executed: readonly PortChange[], failures: readonly PortBindFailure[]): void {
    if (this.ports.size === 0) return;
    const before = this.ports.size;
    const actions = new Map(executed.map((p) => [p.key, p.action]));
    const failed = new Map(failures.map((f) => [listenerKey(f), f]));
    for (const [key, port] of this.ports) {
      const action = actions.get(key);
      if (action === undefined) continue;
      const failure = failed.get(key);
      if (action !== 'close' && failure) this.ports.set(key, diverged(failure, port.since));
      else this.ports.delete(key);
    }
    this.changed(before);
  }

  private changed(before: number): void {
    if (this.ports.size === before) return;
    for (const fn of this.watchers) fn(this.ports.size);
  }
}

/** The route `config` gives the diverged port, if its rule is still there and covers it. */
function routeIn(config: ForwardingConfig, port: PortBindFailure): Route | undefined {
  const table = config.tables.find((t) => t.name === port.table);
  const rule = table?.rules.find((r) => ruleId(table.name, r) === port.ruleId);
  if (!table || !rule || rule.protocol !== port.protocol || rule.listenAddress !== port.listenAddress) return undefined;
  if (!portIntervals(rule).some((i) => i.first <= port.port && port.port <= i.last)) return undefined;
  return routeOf(table.name, rule, port.ruleId, port.port);
}

function diverged(p: PortBindFailure, since: number): DivergedPort {
  return { table: p.table, ruleId: p.ruleId, protocol: p.protocol, listenAddress: p.listenAddress, port: p.port, errno: p.errno, message: p.message, since };
}

/**
 * Failures of ports whose rule is strict in `plan`: after a best-effort
 * apply (restore, rollback) the record says they listen, so they diverge.
 * A weak rule's port may fail by its contract.
 */
export function strictFailures(plan: Plan, failures: readonly PortBindFailure[]): PortBindFailure[] {
  if (failures.length === 0) return [];
  const weak = new Set(plan.ports.flatMap((p) => (p.route?.weak ? [p.key] : [])));
  return failures.filter((f) => !weak.has(listenerKey(f)));
}
