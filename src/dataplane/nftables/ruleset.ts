/**
 * The ruleset portplane owns, as data, and the batch that turns one written
 * state into another. Design (after kube-proxy's nftables mode and netavark):
 *
 *   table inet <name>
 *     map l4 / l6   daddr . l4proto . dport : goto r<counter id>   (listen address given)
 *     map a4 / a6   l4proto . dport : goto r<counter id>           (any address; local destinations only)
 *     chain lookup  the four vmap lookups: O(1) in the number of rules and ports
 *     chain prerouting (nat, dstnat) and output (nat, -100): jump lookup
 *     chain postrouting (nat, srcnat): masquerade hairpin and loopback-sourced DNAT
 *     chain r<id>   per rule: filters, ct count, limits, counter, ct mark, dnat
 *
 * Each port is one element (exclusions are simply absent; the port offset is
 * an anonymous map in the rule's dnat), so the first packet costs one hash
 * lookup whatever the number of rules. Identity for the incremental diff: a
 * rule's objects are named after its counter id (which changes exactly when
 * the rule's content does), and elements are identified by value.
 */
import { parseIp, ipText } from '../../config/ip.js';
import type { ForwardingConfig, ForwardRule } from '../../config/model.js';
import { mapTargetPort, portIntervals } from '../../config/ports.js';
import { ruleId } from '../../plan/identity.js';

/** Drop reasons that have a named counter per rule. */
export const COUNTED_DROPS = ['filter', 'cap', 'rate', 'source_rate'] as const;
export type CountedDrop = (typeof COUNTED_DROPS)[number];

const DROP_SUFFIX: Record<CountedDrop, string> = { filter: 'filter', cap: 'cap', rate: 'rate', source_rate: 'srate' };

export function ruleChain(counterId: number): string {
  return `r${counterId}`;
}
export function acceptCounter(counterId: number): string {
  return `r${counterId}_ok`;
}
export function dropCounter(counterId: number, reason: CountedDrop): string {
  return `r${counterId}_${DROP_SUFFIX[reason]}`;
}

/** What one rule puts in the table besides its map elements. */
export interface RuleObjects {
  counterId: number;
  table: string;
  ruleId: string;
  ruleName: string;
  rule: ForwardRule;
  /** Commands creating the rule's sets, counters, chain and chain rules. */
  create: string[];
  /** Commands removing them (after the elements that jump to the chain are gone). */
  remove: string[];
}

/** Everything portplane wrote, as the next diff needs it. */
export interface WrittenState {
  rules: Map<number, RuleObjects>;
  /** `<set or map> <key>` -> element text (`key : value` for maps). */
  elements: Map<string, { set: string; element: string }>;
}

export function emptyState(): WrittenState {
  return { rules: new Map(), elements: new Map() };
}

export interface PortExclusions {
  /** Listener keys (see plan identity) left out of the maps: ports that failed their conflict check. */
  has(protocol: string, listenAddress: string, port: number): boolean;
}

function addressText(text: string): { family: 4 | 6; text: string } | undefined {
  const ip = parseIp(text);
  return ip && { family: ip.family, text: ipText(ip) };
}

function dnatTarget(family: 4 | 6, address: string, port: number): string {
  return family === 6 ? `[${address}]:${port}` : `${address}:${port}`;
}

/** The commands of one rule's chain and its stateful objects. */
function ruleObjects(tableName: string, table: string, rule: ForwardRule, counterId: number): RuleObjects {
  const t = `inet ${tableName}`;
  const chain = ruleChain(counterId);
  const target = addressText(rule.targetAddress);
  if (!target) throw new Error(`rule ${table}/${rule.name || '(unnamed)'}: target ${rule.targetAddress} is not an IP address`);
  const families: (4 | 6)[] = [target.family];
  const create: string[] = [];
  const remove: string[] = [];
  const counters = [acceptCounter(counterId), ...COUNTED_DROPS.map((r) => dropCounter(counterId, r))];
  for (const c of counters) {
    create.push(`add counter ${t} ${c}`);
    remove.push(`delete counter ${t} ${c}`);
  }
  const sets: string[] = [];
  const set = (name: string, spec: string, elements: string[]): void => {
    sets.push(name);
    create.push(`add set ${t} ${name} { ${spec};${elements.length ? ` elements = { ${elements.join(', ')} };` : ''} }`);
  };
  const cidrs = (list: string[], family: 4 | 6): string[] =>
    list.filter((c) => (family === 4) === !c.includes(':'));
  const ipKey = (family: 4 | 6): string => (family === 4 ? 'ip' : 'ip6');
  create.push(`add chain ${t} ${chain}`);
  // Refusals answer like a closed port (TCP reset, ICMP port unreachable), as the sockets backend does,
  // so a refused client fails at once instead of retrying into a silent drop.
  const refuse = rule.protocol === 'tcp' ? 'reject with tcp reset' : 'reject with icmpx port-unreachable';
  const rules: string[] = [];
  // Only a SYN may open a NAT binding: a mid-stream segment of a deleted session (conntrack's loose
  // pickup) is reset instead of being translated again, so deleting the entry ends the flow.
  if (rule.protocol === 'tcp') rules.push('tcp flags & (fin|syn|rst|ack) != syn reject with tcp reset');
  for (const family of families) {
    const key = ipKey(family);
    const type = family === 4 ? 'ipv4_addr' : 'ipv6_addr';
    if (rule.deny.length > 0) {
      const name = `${chain}_deny${family}`;
      set(name, `type ${type}; flags interval; auto-merge`, cidrs(rule.deny, family));
      rules.push(`${key} saddr @${name} counter name ${dropCounter(counterId, 'filter')} ${refuse}`);
    }
    if (rule.allow.length > 0) {
      const name = `${chain}_allow${family}`;
      set(name, `type ${type}; flags interval; auto-merge`, cidrs(rule.allow, family));
      rules.push(`${key} saddr != @${name} counter name ${dropCounter(counterId, 'filter')} ${refuse}`);
    }
  }
  const limits = rule.limits;
  const cap = rule.protocol === 'udp' ? Math.min(limits.maxSessions, limits.maxUdpFlows) : limits.maxSessions;
  rules.push(`ct count over ${cap} counter name ${dropCounter(counterId, 'cap')} ${refuse}`);
  rules.push(`limit rate over ${limits.sessionRate}/second burst ${limits.sessionBurst} packets counter name ${dropCounter(counterId, 'rate')} ${refuse}`);
  for (const family of families) {
    const name = `${chain}_src${family}`;
    set(name, `type ${family === 4 ? 'ipv4_addr' : 'ipv6_addr'}; flags dynamic,timeout; timeout 60s; size 65536`, []);
    rules.push(
      `update @${name} { ${ipKey(family)} saddr limit rate over ${limits.sourceRate}/second burst ${limits.sourceBurst} packets } counter name ${dropCounter(counterId, 'source_rate')} ${refuse}`,
    );
  }
  const proto = rule.protocol;
  let to: string;
  if (rule.targetPort === 0) to = target.family === 6 ? `[${target.text}]` : target.text;
  else if (rule.ports.first === rule.ports.last) to = dnatTarget(target.family, target.text, rule.targetPort);
  else {
    const pairs: string[] = [];
    for (const range of portIntervals(rule)) {
      for (let p = range.first; p <= range.last; p++) pairs.push(`${p} : ${mapTargetPort(rule, p)}`);
    }
    to = `${target.family === 6 ? `[${target.text}]` : target.text} : ${proto} dport map { ${pairs.join(', ')} }`;
  }
  rules.push(
    `meta l4proto ${proto} ct mark set ${counterId} counter name ${acceptCounter(counterId)} dnat ${ipKey(target.family)} to ${to} comment "${tagOf(table, rule)}"`,
  );
  for (const r of rules) create.push(`add rule ${t} ${chain} ${r}`);
  // A chain must be empty before it goes; its objects are free once the chain is.
  remove.unshift(`flush chain ${t} ${chain}`, `delete chain ${t} ${chain}`);
  for (const s of sets) remove.push(`delete set ${t} ${s}`);
  return { counterId, table, ruleId: ruleId(table, rule), ruleName: rule.name, rule, create, remove };
}

/** The rule's tag in its comment: table and name (or the rule id of an unnamed rule), for operators reading `nft list`. */
function tagOf(table: string, rule: ForwardRule): string {
  return `portplane ${table}/${rule.name || ruleId(table, rule)}`.replace(/["\\]/g, '_').slice(0, 120);
}

/** The desired state of `config`, leaving out the ports `excluded` names. */
export function desiredState(
  tableName: string,
  config: ForwardingConfig,
  counterIds: Record<string, number>,
  excluded?: PortExclusions,
): WrittenState {
  const state = emptyState();
  const element = (set: string, key: string, value?: string): void => {
    const text = value === undefined ? key : `${key} : ${value}`;
    state.elements.set(`${set} ${key}`, { set, element: text });
  };
  for (const table of config.tables) {
    for (const rule of table.rules) {
      const id = ruleId(table.name, rule);
      const counterId = counterIds[id];
      if (counterId === undefined) throw new Error(`rule ${id} has no counter id`);
      const objects = ruleObjects(tableName, table.name, rule, counterId);
      state.rules.set(counterId, objects);
      const target = addressText(rule.targetAddress);
      if (!target) continue;
      const listen = rule.listenAddress === '' ? undefined : addressText(rule.listenAddress);
      const anyAddress = listen === undefined || listen.text === '0.0.0.0' || listen.text === '::';
      // NAT cannot cross address families: a listen address of the other family forwards nothing.
      if (listen && listen.family !== target.family) continue;
      const verdict = `goto ${ruleChain(counterId)}`;
      for (const range of portIntervals(rule)) {
        for (let port = range.first; port <= range.last; port++) {
          if (excluded?.has(rule.protocol, rule.listenAddress, port)) continue;
          if (anyAddress) element(target.family === 4 ? 'a4' : 'a6', `${rule.protocol} . ${port}`, verdict);
          else element(target.family === 4 ? 'l4' : 'l6', `${listen!.text} . ${rule.protocol} . ${port}`, verdict);
        }
      }
      element(target.family === 4 ? 'hairpin4' : 'hairpin6', `${target.text} . ${target.text}`);
    }
  }
  return state;
}

/** The fixed part of the table: maps, base chains, hairpin and loopback SNAT. */
export function baseCommands(tableName: string): string[] {
  const t = `inet ${tableName}`;
  return [
    `add table ${t} { comment "portplane: managed, do not edit"; }`,
    `add map ${t} l4 { type ipv4_addr . inet_proto . inet_service : verdict; }`,
    `add map ${t} l6 { type ipv6_addr . inet_proto . inet_service : verdict; }`,
    `add map ${t} a4 { type inet_proto . inet_service : verdict; }`,
    `add map ${t} a6 { type inet_proto . inet_service : verdict; }`,
    `add set ${t} hairpin4 { type ipv4_addr . ipv4_addr; }`,
    `add set ${t} hairpin6 { type ipv6_addr . ipv6_addr; }`,
    `add chain ${t} lookup`,
    `add rule ${t} lookup ip daddr . meta l4proto . th dport vmap @l4`,
    `add rule ${t} lookup ip6 daddr . meta l4proto . th dport vmap @l6`,
    `add rule ${t} lookup fib daddr type local meta nfproto ipv4 meta l4proto . th dport vmap @a4`,
    `add rule ${t} lookup fib daddr type local meta nfproto ipv6 meta l4proto . th dport vmap @a6`,
    `add chain ${t} prerouting { type nat hook prerouting priority dstnat; policy accept; }`,
    `add rule ${t} prerouting jump lookup`,
    `add chain ${t} output { type nat hook output priority -100; policy accept; }`,
    `add rule ${t} output jump lookup`,
    `add chain ${t} postrouting { type nat hook postrouting priority srcnat; policy accept; }`,
    // Hairpin: a remote target reaching itself through the forwarded address must see replies come back
    // through NAT. A local target needs nothing (its replies pass conntrack here), and masquerading on lo fails.
    `add rule ${t} postrouting ct status dnat oifname != "lo" ip saddr . ip daddr @hairpin4 masquerade`,
    `add rule ${t} postrouting ct status dnat oifname != "lo" ip6 saddr . ip6 daddr @hairpin6 masquerade`,
    // A loopback client DNATed to a non-loopback target (needs route_localnet, docs/nftables.md).
    `add rule ${t} postrouting ct status dnat oifname != "lo" ip saddr 127.0.0.0/8 masquerade`,
  ];
}

/** Commands that build `desired` from nothing, replacing whatever table of that name exists, in one batch. */
export function fullBatch(tableName: string, desired: WrittenState): string {
  const t = `inet ${tableName}`;
  const out = [`add table ${t}`, `delete table ${t}`, ...baseCommands(tableName)];
  for (const r of desired.rules.values()) out.push(...r.create);
  appendElements(out, t, 'add', [...desired.elements.values()]);
  return out.join('\n');
}

function appendElements(out: string[], t: string, verb: 'add' | 'delete', elements: { set: string; element: string }[]): void {
  const bySet = new Map<string, string[]>();
  for (const e of elements) {
    const list = bySet.get(e.set) ?? [];
    // A delete names the key only.
    list.push(verb === 'delete' ? (e.element.split(' : ')[0] as string) : e.element);
    bySet.set(e.set, list);
  }
  for (const [set, list] of bySet) {
    for (let i = 0; i < list.length; i += 4096) out.push(`${verb} element ${t} ${set} { ${list.slice(i, i + 4096).join(', ')} }`);
  }
}

/** The commands that turn `from` into `to`: new rules' objects, element deletes and adds, then removed rules' objects. Empty when equal. */
export function diffBatch(tableName: string, from: WrittenState, to: WrittenState): string {
  const t = `inet ${tableName}`;
  const out: string[] = [];
  for (const [id, r] of to.rules) if (!from.rules.has(id)) out.push(...r.create);
  const removed: { set: string; element: string }[] = [];
  const added: { set: string; element: string }[] = [];
  for (const [key, e] of from.elements) {
    const next = to.elements.get(key);
    if (!next || next.element !== e.element) removed.push(e);
  }
  for (const [key, e] of to.elements) {
    const prior = from.elements.get(key);
    if (!prior || prior.element !== e.element) added.push(e);
  }
  appendElements(out, t, 'delete', removed);
  appendElements(out, t, 'add', added);
  for (const [id, r] of from.rules) if (!to.rules.has(id)) out.push(...r.remove);
  return out.join('\n');
}
