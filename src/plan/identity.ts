/**
 * Rule identity: a named rule is (table, name), so editing its content is a
 * change of the same rule; an unnamed rule is (table, content), so any edit
 * makes it a different rule (removed + added).
 */
import { canonicalRule, sha256Hex } from '../config/canonical.js';
import type { ForwardRule, PortRange } from '../config/model.js';

/**
 * Identity text of a rule. The second element is a JSON string for a named
 * rule and a JSON array (the canonical content) for an unnamed one, so the
 * two kinds can never collide whatever a name contains. `canonical` lets a
 * caller that already has canonicalRule(rule) skip recomputing it.
 */
export function ruleIdentity(table: string, rule: ForwardRule, canonical?: string): string {
  return rule.name !== ''
    ? JSON.stringify([table, rule.name])
    : `[${JSON.stringify(table)},${canonical ?? canonicalRule(rule)}]`;
}

// Every plan recomputes the ids of all running and desired rules, nearly all
// seen before; hashing them was a third of planning time. Looked up by
// (table, name) or (table, canonical content) rather than by the identity
// text, which would be a fresh string to build and hash per rule per plan.
// Sized for two full configurations at the default limits and emptied when
// full: ids are pure, so a miss only costs time.
const ID_CACHE_LIMIT = 32_768;
interface TableIds {
  named: Map<string, string>;
  unnamed: Map<string, string>;
}
const idCache = new Map<string, TableIds>();
let idCacheSize = 0;

/**
 * Stable short id of a rule: 'r_' + 16 hex chars of sha256(identity).
 * `canonical` as in ruleIdentity().
 */
export function ruleId(table: string, rule: ForwardRule, canonical?: string): string {
  if (idCacheSize >= ID_CACHE_LIMIT) {
    idCache.clear();
    idCacheSize = 0;
  }
  let ids = idCache.get(table);
  if (!ids) idCache.set(table, (ids = { named: new Map(), unnamed: new Map() }));
  const content = rule.name !== '' ? undefined : (canonical ?? canonicalRule(rule));
  const map = content === undefined ? ids.named : ids.unnamed;
  const key = content ?? rule.name;
  let id = map.get(key);
  if (id === undefined) {
    id = `r_${sha256Hex(ruleIdentity(table, rule, content)).slice(0, 16)}`;
    map.set(key, id);
    idCacheSize++;
  }
  return id;
}

function rangeEqual(a: PortRange, b: PortRange): boolean {
  return a.first === b.first && a.last === b.last;
}

function rangesEqual(a: readonly PortRange[], b: readonly PortRange[]): boolean {
  return a.length === b.length && a.every((r, i) => rangeEqual(r, b[i] as PortRange));
}

function stringsEqual(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((s, i) => s === b[i]);
}

/** Proto field names that differ between two rules, in proto field order. */
export function changedFields(a: ForwardRule, b: ForwardRule): string[] {
  const fields: string[] = [];
  if (a.name !== b.name) fields.push('name');
  if (a.protocol !== b.protocol) fields.push('protocol');
  if (a.listenAddress !== b.listenAddress) fields.push('listen_address');
  if (a.interface !== b.interface) fields.push('interface');
  if (!rangeEqual(a.ports, b.ports)) fields.push('ports');
  if (!rangesEqual(a.exclude, b.exclude)) fields.push('exclude');
  if (a.targetAddress !== b.targetAddress) fields.push('target_address');
  if (a.targetPort !== b.targetPort) fields.push('target_port');
  if (a.weak !== b.weak) fields.push('weak');
  if (!stringsEqual(a.allow, b.allow)) fields.push('allow');
  if (!stringsEqual(a.deny, b.deny)) fields.push('deny');
  if (a.onFilterChange !== b.onFilterChange) fields.push('on_filter_change');
  if (a.proxyProtocol !== b.proxyProtocol) fields.push('proxy_protocol');
  if (JSON.stringify(a.limits) !== JSON.stringify(b.limits)) fields.push('limits');
  if (a.udpIdleTimeoutMs !== b.udpIdleTimeoutMs) fields.push('udp_idle_timeout_ms');
  if (a.connectTimeoutMs !== b.connectTimeoutMs) fields.push('connect_timeout_ms');
  if (a.drain.mode !== b.drain.mode || a.drain.timeoutMs !== b.drain.timeoutMs) fields.push('drain');
  if (a.snatAddress !== b.snatAddress) fields.push('snat_address');
  return fields;
}
