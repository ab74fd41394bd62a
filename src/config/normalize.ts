/**
 * Normalised form: canonical addresses, tables sorted by name, rules sorted
 * by (name, canonical content). Rule order carries no meaning (overlapping
 * rules are rejected, so there is no precedence), so two tables that differ
 * only in order normalise to the same thing and plan as empty.
 */
import { canonicalAddress, parseAddress } from './address.js';
import { canonicalRule } from './canonical.js';
import { canonicalCidr } from './cidr.js';
import { defaultRuleOptions, type ForwardingConfig, type ForwardRule, type PortRange, type Table } from './model.js';

/** Canonical CIDRs, sorted and without duplicates: filter lists are sets. */
function normalizeFilter(list: readonly string[] | undefined): string[] {
  return [...new Set((list ?? []).map(canonicalCidr))].sort();
}

/**
 * A link-local address scoped by the rule's `interface` carries that scope as
 * its zone, so every layer below sees one self-contained bind/connect address.
 */
function scoped(address: string, iface: string): string {
  if (address === '' || iface === '' || address.includes('%')) return address;
  const parsed = parseAddress(address);
  return parsed?.family === 6 && parsed.isLinkLocal ? `${address}%${iface}` : address;
}

/**
 * Normalised form by rule object, each normalised rule its own: model rules
 * are never mutated, and a rule the request decoder reused is normalised
 * once, so an unchanged rule keeps one object (and its cached canonical
 * text) from apply to apply.
 */
const normalized = new WeakMap<ForwardRule, ForwardRule>();

/**
 * Also completes a rule stored before the per-rule options existed (an old
 * state file), so every layer below sees complete rules.
 */
export function normalizeRule(rule: ForwardRule): ForwardRule {
  let out = normalized.get(rule);
  if (!out) {
    out = computeNormalizedRule(rule);
    normalized.set(rule, out);
    normalized.set(out, out);
  }
  return out;
}

function computeNormalizedRule(rule: ForwardRule): ForwardRule {
  const defaults = defaultRuleOptions();
  const exclude = rule.exclude
    .map((r): PortRange => ({ first: r.first, last: r.last }))
    .sort((a, b) => a.first - b.first || a.last - b.last);
  return {
    name: rule.name,
    protocol: rule.protocol,
    listenAddress: scoped(canonicalAddress(rule.listenAddress), rule.interface),
    interface: rule.interface,
    ports: { first: rule.ports.first, last: rule.ports.last },
    exclude,
    targetAddress: scoped(canonicalAddress(rule.targetAddress), rule.interface),
    targetPort: rule.targetPort,
    weak: rule.weak,
    allow: normalizeFilter(rule.allow),
    deny: normalizeFilter(rule.deny),
    onFilterChange: rule.onFilterChange ?? defaults.onFilterChange,
    proxyProtocol: rule.proxyProtocol ?? defaults.proxyProtocol,
    limits: { ...defaults.limits, ...rule.limits },
    udpIdleTimeoutMs: rule.udpIdleTimeoutMs ?? defaults.udpIdleTimeoutMs,
    connectTimeoutMs: rule.connectTimeoutMs ?? defaults.connectTimeoutMs,
    drain: { ...(rule.drain ?? defaults.drain) },
    snatAddress: canonicalAddress(rule.snatAddress ?? defaults.snatAddress),
  };
}

function compareRules(a: { rule: ForwardRule; key: string }, b: { rule: ForwardRule; key: string }): number {
  if (a.rule.name !== b.rule.name) {
    // Named rules first, by name.
    if (a.rule.name === '') return 1;
    if (b.rule.name === '') return -1;
    return a.rule.name < b.rule.name ? -1 : 1;
  }
  return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
}

/** Tables normalizeTable() returned: normalised already, taken as they are. */
const normalizedTables = new WeakSet<Table>();

export function normalizeTable(table: Table): Table {
  if (normalizedTables.has(table)) return table;
  const keyed = table.rules.map((r) => {
    const rule = normalizeRule(r);
    return { rule, key: canonicalRule(rule) };
  });
  keyed.sort(compareRules);
  const out = { name: table.name, rules: keyed.map((k) => k.rule) };
  normalizedTables.add(out);
  return out;
}

/**
 * normalizeTable() of a table that differs from the one `before` (normalised)
 * was made of in a few rules: `before` without the normalised rules
 * `removed`, with those of `added` in their sorted places, without sorting
 * the rest again. Undefined when a removed rule is not in `before` or an
 * added one sorts equal to a rule next to it (then only a whole sort knows
 * their order): the caller normalises the whole table.
 */
export function normalizeTableEdit(before: Table, removed: readonly ForwardRule[], added: readonly ForwardRule[]): Table | undefined {
  const rules = before.rules.slice();
  for (const r of removed) {
    const at = rules.indexOf(normalizeRule(r));
    if (at < 0) return undefined;
    rules.splice(at, 1);
  }
  for (const r of added) {
    const item = { rule: normalizeRule(r), key: canonicalRule(normalizeRule(r)) };
    let lo = 0;
    let hi = rules.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const order = compareRules({ rule: rules[mid]!, key: canonicalRule(rules[mid]!) }, item);
      if (order === 0) return undefined;
      if (order < 0) lo = mid + 1;
      else hi = mid;
    }
    rules.splice(lo, 0, item.rule);
  }
  const out = { name: before.name, rules };
  normalizedTables.add(out);
  return out;
}

/**
 * `running`: the configuration in force. A table that normalises to exactly
 * the running table's rules (the same rule objects) is that running table,
 * so everything cached by table (its digest) carries over.
 */
export function normalizeConfig(config: ForwardingConfig, running?: ForwardingConfig): ForwardingConfig {
  const before = new Map(running?.tables.map((t) => [t.name, t]));
  const tables = config.tables.map((t) => {
    const table = normalizeTable(t);
    const old = before.get(table.name);
    return old && old !== table && sameRules(old, table) ? old : table;
  });
  tables.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { tables };
}

function sameRules(a: Table, b: Table): boolean {
  return a.rules.length === b.rules.length && a.rules.every((r, i) => r === b.rules[i]);
}
