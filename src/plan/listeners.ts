/**
 * Listening sockets of a configuration, keyed by socket identity. Plain loops
 * over port intervals: a configuration can hold tens of thousands of ports.
 */
import type { ForwardingConfig, ForwardRule } from '../config/model.js';
import { mapTargetPort, portIntervals } from '../config/ports.js';
import { ruleId } from './identity.js';
import type { ListenerBinding, Route } from './model.js';

export interface Listener {
  binding: ListenerBinding;
  route: Route;
}

/**
 * `${protocol}|${listenAddress}|${port}`. The address is kept as written in
 * the normalised rule: '' (dual-stack any) and '::' (IPv6-only any) are
 * different sockets.
 */
export function listenerKey(b: ListenerBinding): string {
  return `${b.protocol}|${b.listenAddress}|${b.port}`;
}

/** The route of listening port `port` of `rule` (whose id is `id`). */
export function routeOf(table: string, rule: ForwardRule, id: string, port: number): Route {
  return {
    table,
    ruleId: id,
    ruleName: rule.name,
    targetAddress: rule.targetAddress,
    targetPort: mapTargetPort(rule, port),
    weak: rule.weak,
  };
}

/**
 * Every listening port of a normalised configuration, with its route. A
 * valid configuration never maps a socket twice; for an invalid one the last
 * rule in config order wins, deterministically (computePlan agrees).
 */
export function listenerMap(config: ForwardingConfig): Map<string, Listener> {
  const map = new Map<string, Listener>();
  for (const { name: table, rules } of config.tables) {
    for (const rule of rules) {
      const id = ruleId(table, rule);
      const { protocol, listenAddress } = rule;
      const prefix = `${protocol}|${listenAddress}|`; // listenerKey() without the port
      for (const range of portIntervals(rule)) {
        for (let port = range.first; port <= range.last; port++) {
          map.set(prefix + port, { binding: { protocol, listenAddress, port }, route: routeOf(table, rule, id, port) });
        }
      }
    }
  }
  return map;
}

export function routesEqual(a: Route, b: Route): boolean {
  return (
    a.table === b.table &&
    a.ruleId === b.ruleId &&
    a.ruleName === b.ruleName &&
    a.targetAddress === b.targetAddress &&
    a.targetPort === b.targetPort &&
    a.weak === b.weak
  );
}
