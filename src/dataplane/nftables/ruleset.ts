/**
 * The ruleset portplane owns, as data, and the batch that turns one written
 * state into another. Design (after kube-proxy's nftables mode and netavark):
 *
 *   table inet <name>
 *     map l4 / l6   daddr . l4proto . dport : goto r<counter id>   (listen address given)
 *     map a4 / a6   l4proto . dport : goto r<counter id>           (any address; local destinations only)
 *     map n4 / n6, na4 / na6   the same keys : target address . target port (the DNAT)
 *     chain lookup  the four vmap lookups: O(1) in the number of rules and ports
 *                   (a miss costs two hash lookups and nothing else)
 *     chain prerouting (nat, dstnat) and output (nat, -100): jump lookup
 *     chain postrouting (nat, srcnat): masquerade hairpin and loopback-sourced DNAT
 *     chain r<id>   per rule: ct mark, filters, ct count, limits, dnat through n/na;
 *                   only the statements that can act (a rule pays for what it uses)
 *     sets c_ok, c_filter, c_cap, c_rate, c_srate   type mark with a counter per
 *                   element: one element per rule (its counter id), counted by a lookup
 *     sets src4 / src6   the per-source meters of every rule, keyed by ct mark . saddr
 *
 * Each port is one element (exclusions are simply absent), so the first
 * packet costs one hash lookup whatever the number of rules. Shared objects
 * instead of per-rule ones (counters, meters, port maps as set elements)
 * keep the table's object count independent of the rule count: libnftables
 * reads every set and named object of the table before each batch, and
 * 5,000 named counters alone cost it 15 ms per apply.
 *
 * Identity for the incremental diff: a rule's objects and elements are named
 * after its counter id (which changes exactly when the rule's content does),
 * so the diff works rule by rule: O(rules) to compare ids, O(changed ports)
 * to write.
 */
import { parseIp, ipText } from '../../config/ip.js';
import type { ForwardingConfig, ForwardRule } from '../../config/model.js';
import { mapTargetPort, portIntervals } from '../../config/ports.js';
import { ruleId } from '../../plan/identity.js';

/** Drop reasons counted per rule (a counter set each, see COUNTER_SETS). */
export const COUNTED_DROPS = ['filter', 'cap', 'rate', 'source_rate'] as const;
export type CountedDrop = (typeof COUNTED_DROPS)[number];

const DROP_SUFFIX: Record<CountedDrop, string> = { filter: 'filter', cap: 'cap', rate: 'rate', source_rate: 'srate' };

export function ruleChain(counterId: number): string {
  return `r${counterId}`;
}
/** Names of a rule's counts, as counterValues() keys them. */
export function acceptCounter(counterId: number): string {
  return `r${counterId}_ok`;
}
export function dropCounter(counterId: number, reason: CountedDrop): string {
  return `r${counterId}_${DROP_SUFFIX[reason]}`;
}

/** What one rule puts in the table. */
export interface RuleObjects {
  counterId: number;
  table: string;
  ruleId: string;
  ruleName: string;
  rule: ForwardRule;
  /** Commands creating the rule's sets, counter elements, chain and chain rules. */
  create: string[];
  /** Commands removing them (after the elements that jump to the chain are gone). */
  remove: string[];
  /** The rule's elements in the shared maps (`{ set, element }`, element as `key : value`). */
  elements: { set: string; element: string }[];
  /** Ports left out (conflicts), as a key: objects are reused only while it is unchanged. */
  excludedKey: string;
  /** `<source> . <target>` hairpin pair, with its set. */
  hairpin?: { set: string; element: string };
}

/**
 * What the rule chains depend on besides the rules: `conntrackMax` is the
 * conntrack table's capacity (nf_conntrack_max). A `max_sessions` at or above
 * it can never refuse (the rule's entries are a part of a table that holds
 * at most that many), so such a rule gets no `ct count`, the dearest
 * statement of the first packet (a list walk with conntrack lookups).
 */
export interface RulesetOptions {
  conntrackMax: number;
}

/** Everything portplane wrote, as the next diff needs it: rules by counter id, and the options their chains were built with. */
export interface WrittenState {
  rules: Map<number, RuleObjects>;
  options: RulesetOptions;
}

/** Every statement emitted: what to assume when the conntrack capacity is unknown. */
export const UNBOUNDED: RulesetOptions = { conntrackMax: Infinity };

export function emptyState(options: RulesetOptions = UNBOUNDED): WrittenState {
  return { rules: new Map(), options };
}

export interface PortExclusions {
  /** Listener keys (see plan identity) left out of the maps: ports that failed their conflict check. */
  has(protocol: string, listenAddress: string, port: number): boolean;
  /** Whether nothing is excluded (the common case: skips the per-port checks). */
  readonly empty?: boolean;
}

function addressText(text: string): { family: 4 | 6; text: string } | undefined {
  const ip = parseIp(text);
  return ip && { family: ip.family, text: ipText(ip) };
}

/** The counter sets, by what they count. */
const COUNTER_SET: Record<'ok' | CountedDrop, string> = { ok: 'c_ok', filter: 'c_filter', cap: 'c_cap', rate: 'c_rate', source_rate: 'c_srate' };
export const COUNTER_SETS = Object.entries(COUNTER_SET) as ['ok' | CountedDrop, string][];

/** The commands of one rule's chain and its objects (without its map elements). */
function ruleCommands(tableName: string, table: string, rule: ForwardRule, counterId: number, options: RulesetOptions): Pick<RuleObjects, 'create' | 'remove'> {
  const t = `inet ${tableName}`;
  const chain = ruleChain(counterId);
  const target = addressText(rule.targetAddress);
  if (!target) throw new Error(`rule ${table}/${rule.name || '(unnamed)'}: target ${rule.targetAddress} is not an IP address`);
  const family = target.family;
  const create: string[] = [];
  const remove: string[] = [];
  for (const [, set] of COUNTER_SETS) {
    create.push(`add element ${t} ${set} { ${counterId} }`);
    remove.push(`delete element ${t} ${set} { ${counterId} }`);
  }
  const count = (reason: 'ok' | CountedDrop): string => `ct mark @${COUNTER_SET[reason]}`;
  const sets: string[] = [];
  const key = family === 4 ? 'ip' : 'ip6';
  const type = family === 4 ? 'ipv4_addr' : 'ipv6_addr';
  create.push(`add chain ${t} ${chain}`);
  // Refusals answer like a closed port (TCP reset, ICMP port unreachable), as the sockets backend does,
  // so a refused client fails at once instead of retrying into a silent drop.
  const refuse = rule.protocol === 'tcp' ? 'reject with tcp reset' : 'reject with icmpx port-unreachable';
  const rules: string[] = [];
  const listen = rule.listenAddress === '' ? undefined : addressText(rule.listenAddress);
  const anyAddress = listen === undefined || listen.text === '0.0.0.0' || listen.text === '::';
  // Any-address rules forward local destinations only; checked here, after the map hit, so a
  // connection no rule forwards pays no route lookup.
  if (anyAddress) rules.push('fib daddr type != local return');
  // Only a SYN may open a NAT binding: a mid-stream segment of a deleted session (conntrack's loose
  // pickup) is reset instead of being translated again, so deleting the entry ends the flow.
  if (rule.protocol === 'tcp') rules.push('tcp flags & (fin|syn|rst|ack) != syn reject with tcp reset');
  // The mark first: the counter sets and the meters are keyed by it (a refused packet's entry is never confirmed).
  rules.push(`ct mark set ${counterId}`);
  const cidrs = (list: string[]): string[] => list.filter((c) => (family === 4) === !c.includes(':'));
  const filterSet = (kind: 'deny' | 'allow', list: string[]): string => {
    const name = `${chain}_${kind}${family}`;
    const elements = cidrs(list);
    sets.push(name);
    create.push(`add set ${t} ${name} { type ${type}; flags interval; auto-merge;${elements.length ? ` elements = { ${elements.join(', ')} };` : ''} }`);
    return name;
  };
  if (rule.deny.length > 0) rules.push(`${key} saddr @${filterSet('deny', rule.deny)} ${count('filter')} ${refuse}`);
  if (rule.allow.length > 0) rules.push(`${key} saddr != @${filterSet('allow', rule.allow)} ${count('filter')} ${refuse}`);
  const limits = rule.limits;
  const cap = rule.protocol === 'udp' ? Math.min(limits.maxSessions, limits.maxUdpFlows) : limits.maxSessions;
  if (cap < options.conntrackMax) rules.push(`ct count over ${cap} ${count('cap')} ${refuse}`);
  rules.push(`limit rate over ${limits.sessionRate}/second burst ${limits.sessionBurst} packets ${count('rate')} ${refuse}`);
  // The per-source bucket runs after the rule's: a source's admissions are a subset of the rule's, so a
  // source bucket at least as fast and as deep as the rule's is never emptier and can never refuse.
  if (limits.sourceRate < limits.sessionRate || limits.sourceBurst < limits.sessionBurst) {
    rules.push(
      `update @src${family} { ct mark . ${key} saddr limit rate over ${limits.sourceRate}/second burst ${limits.sourceBurst} packets } ${count('source_rate')} ${refuse}`,
    );
  }
  const natKey = anyAddress ? 'meta l4proto . th dport' : `${key} daddr . meta l4proto . th dport`;
  const natMap = `${anyAddress ? 'na' : 'n'}${family}`;
  rules.push(
    `meta l4proto ${rule.protocol} ${count('ok')} dnat ${key} addr . port to ${natKey} map @${natMap} comment "${tagOf(table, rule)}"`,
  );
  for (const r of rules) create.push(`add rule ${t} ${chain} ${r}`);
  // A chain must be empty before it goes; its objects are free once the chain is.
  remove.unshift(`flush chain ${t} ${chain}`, `delete chain ${t} ${chain}`);
  for (const set of sets) remove.push(`delete set ${t} ${set}`);
  return { create, remove };
}

/** The rule's elements in the lookup and DNAT maps, leaving out excluded ports. */
function ruleElements(rule: ForwardRule, counterId: number, excluded: PortExclusions | undefined): { elements: RuleObjects['elements']; excludedKey: string } {
  const elements: RuleObjects['elements'] = [];
  const skipped: number[] = [];
  const target = addressText(rule.targetAddress);
  if (!target) return { elements, excludedKey: '' };
  const listen = rule.listenAddress === '' ? undefined : addressText(rule.listenAddress);
  const anyAddress = listen === undefined || listen.text === '0.0.0.0' || listen.text === '::';
  // NAT cannot cross address families: a listen address of the other family forwards nothing.
  if (listen && listen.family !== target.family) return { elements, excludedKey: '' };
  const f = target.family;
  const verdict = `goto ${ruleChain(counterId)}`;
  const to = `${target.text} . `;
  const check = excluded && !excluded.empty;
  for (const range of portIntervals(rule)) {
    for (let port = range.first; port <= range.last; port++) {
      if (check && excluded.has(rule.protocol, rule.listenAddress, port)) {
        skipped.push(port);
        continue;
      }
      const k = anyAddress ? `${rule.protocol} . ${port}` : `${listen!.text} . ${rule.protocol} . ${port}`;
      elements.push({ set: anyAddress ? `a${f}` : `l${f}`, element: `${k} : ${verdict}` });
      elements.push({ set: anyAddress ? `na${f}` : `n${f}`, element: `${k} : ${to}${mapTargetPort(rule, port)}` });
    }
  }
  return { elements, excludedKey: skipped.join(',') };
}

/** The rule's tag in its comment: table and name (or the rule id of an unnamed rule), for operators reading `nft list`. */
function tagOf(table: string, rule: ForwardRule): string {
  return `portplane ${table}/${rule.name || ruleId(table, rule)}`.replace(/["\\]/g, '_').slice(0, 120);
}

/**
 * The desired state of `config`, leaving out the ports `excluded` names.
 * A rule whose counter id (so content) and exclusions are those of
 * `previous` reuses its objects: an apply costs O(rules) plus its changes.
 */
export function desiredState(
  tableName: string,
  config: ForwardingConfig,
  counterIds: Record<string, number>,
  excluded?: PortExclusions,
  previous: WrittenState = emptyState(),
  options: RulesetOptions = previous.options,
): WrittenState {
  const state = emptyState(options);
  // Chains built under other options differ under the same counter id: nothing of them is reused.
  if (!sameOptions(previous.options, options)) previous = emptyState(options);
  for (const table of config.tables) {
    for (const rule of table.rules) {
      const id = ruleId(table.name, rule);
      const counterId = counterIds[id];
      if (counterId === undefined) throw new Error(`rule ${id} has no counter id`);
      const prior = previous.rules.get(counterId);
      if (prior && prior.excludedKey === '' && (!excluded || excluded.empty)) {
        state.rules.set(counterId, prior);
        continue;
      }
      const { elements, excludedKey } = ruleElements(rule, counterId, excluded);
      if (prior && prior.excludedKey === excludedKey) {
        state.rules.set(counterId, prior);
        continue;
      }
      const target = addressText(rule.targetAddress);
      state.rules.set(counterId, {
        counterId,
        table: table.name,
        ruleId: id,
        ruleName: rule.name,
        rule,
        ...ruleCommands(tableName, table.name, rule, counterId, options),
        elements,
        excludedKey,
        hairpin: target && { set: `hairpin${target.family}`, element: `${target.text} . ${target.text}` },
      });
    }
  }
  return state;
}

export function sameOptions(a: RulesetOptions, b: RulesetOptions): boolean {
  return a.conntrackMax === b.conntrackMax;
}

/** The fixed part of the table: maps, counter sets, meters, base chains, hairpin and loopback SNAT. */
export function baseCommands(tableName: string): string[] {
  const t = `inet ${tableName}`;
  return [
    `add table ${t} { comment "portplane: managed, do not edit"; }`,
    `add map ${t} l4 { type ipv4_addr . inet_proto . inet_service : verdict; }`,
    `add map ${t} l6 { type ipv6_addr . inet_proto . inet_service : verdict; }`,
    `add map ${t} a4 { type inet_proto . inet_service : verdict; }`,
    `add map ${t} a6 { type inet_proto . inet_service : verdict; }`,
    `add map ${t} n4 { type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service; }`,
    `add map ${t} n6 { type ipv6_addr . inet_proto . inet_service : ipv6_addr . inet_service; }`,
    `add map ${t} na4 { type inet_proto . inet_service : ipv4_addr . inet_service; }`,
    `add map ${t} na6 { type inet_proto . inet_service : ipv6_addr . inet_service; }`,
    ...COUNTER_SETS.map(([, set]) => `add set ${t} ${set} { type mark; counter; }`),
    // Every rule's per-source meter; the mark keeps rules apart. Full: new sources are not rate limited.
    `add set ${t} src4 { type mark . ipv4_addr; flags dynamic,timeout; timeout 60s; size 262144; }`,
    `add set ${t} src6 { type mark . ipv6_addr; flags dynamic,timeout; timeout 60s; size 262144; }`,
    `add set ${t} hairpin4 { type ipv4_addr . ipv4_addr; }`,
    `add set ${t} hairpin6 { type ipv6_addr . ipv6_addr; }`,
    `add chain ${t} lookup`,
    `add rule ${t} lookup ip daddr . meta l4proto . th dport vmap @l4`,
    `add rule ${t} lookup ip6 daddr . meta l4proto . th dport vmap @l6`,
    `add rule ${t} lookup meta nfproto ipv4 meta l4proto . th dport vmap @a4`,
    `add rule ${t} lookup meta nfproto ipv6 meta l4proto . th dport vmap @a6`,
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

/** The hairpin pairs of a state (shared by rules with the same target). */
function hairpins(state: WrittenState): Map<string, { set: string; element: string }> {
  const out = new Map<string, { set: string; element: string }>();
  for (const r of state.rules.values()) if (r.hairpin) out.set(`${r.hairpin.set} ${r.hairpin.element}`, r.hairpin);
  return out;
}

/** Commands that build `desired` from nothing, replacing whatever table of that name exists, in one batch. */
export function fullBatch(tableName: string, desired: WrittenState): string {
  const t = `inet ${tableName}`;
  const out = [`add table ${t}`, `delete table ${t}`, ...baseCommands(tableName)];
  const elements: { set: string; element: string }[] = [];
  for (const r of desired.rules.values()) {
    out.push(...r.create);
    elements.push(...r.elements);
  }
  appendElements(out, t, 'add', [...elements, ...hairpins(desired).values()]);
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

/**
 * The commands that turn `from` into `to`: new rules' objects, the removed
 * rules' elements deleted and the new rules' added, then removed rules'
 * objects. Rule by rule (a counter id is a content), so its cost follows the
 * change. Empty when equal. Both must be built with the same options (else
 * fullBatch).
 */
export function diffBatch(tableName: string, from: WrittenState, to: WrittenState): string {
  if (!sameOptions(from.options, to.options)) throw new Error('diffBatch: states built with different ruleset options need a full batch');
  const t = `inet ${tableName}`;
  const out: string[] = [];
  const removed: { set: string; element: string }[] = [];
  const added: { set: string; element: string }[] = [];
  const gone: RuleObjects[] = [];
  for (const [id, r] of to.rules) {
    const prior = from.rules.get(id);
    if (prior === r) continue;
    if (!prior) out.push(...r.create);
    if (prior) removed.push(...prior.elements);
    added.push(...r.elements);
  }
  for (const [id, r] of from.rules) {
    if (to.rules.has(id)) continue;
    removed.push(...r.elements);
    gone.push(r);
  }
  if (out.length > 0 || removed.length > 0 || added.length > 0) {
    const before = hairpins(from);
    const after = hairpins(to);
    for (const [k, e] of before) if (!after.has(k)) removed.push(e);
    for (const [k, e] of after) if (!before.has(k)) added.push(e);
  }
  appendElements(out, t, 'delete', removed);
  appendElements(out, t, 'add', added);
  for (const r of gone) out.push(...r.remove);
  return out.join('\n');
}
