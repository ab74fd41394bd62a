/**
 * The ruleset portplane owns, as data, and the batch that turns one written
 * state into another. Design (after kube-proxy's nftables mode and netavark):
 *
 *   table inet <name>
 *     map l4 / l6   daddr . l4proto . dport : <counter id>   (mark; listen address given)
 *     map a4 / a6   l4proto . dport : <counter id>           (any address; local destinations only)
 *     chain lookup  `ct mark set <key> map @l4 goto fwd4` and the like: O(1)
 *                   in the number of rules and ports (a miss costs the port
 *                   lookups and nothing else); any-address hits go through
 *                   any4/any6 (`fib daddr type != local ct mark set 0 return`)
 *     chain fwd4 / fwd6   ONE chain shared by every rule, its per-rule parts as data:
 *                   `ct mark vmap @rules` (rules with a chain of their own),
 *                   SYN only, `jump cap`, `limit name ct mark map @lim` (the
 *                   rule's named limit), `jump srate<f>`,
 *                   `dnat ip addr . port to ct mark . th dport map @n4`
 *     map rules     <counter id> : goto r<counter id>        (only rules with their own chain)
 *     map lim       <counter id> : "lim<counter id>"         (each shared rule's named limit object)
 *     map n4 / n6   <counter id> . dport : target . port      (each shared rule's ports, offsets mapped)
 *     chain prerouting (nat, dstnat) and output (nat, -100): jump lookup
 *     chain postrouting (nat, srcnat): masquerade hairpin and loopback-sourced DNAT
 *     sets m_<N> / s_<rate>_<burst>, chains cap / srate4 / srate6   classes
 *                   (RuleClass): a shared-chain rule's `ct count` and
 *                   per-source meter, joined by its mark as an element; the
 *                   count per rule as the per-element statement of set cnt
 *     chain r<id>   per rule, only for rules with source filters (per-rule
 *                   interval sets): its statements and its dnat (a literal
 *                   target, or its own anonymous map dport : target port)
 *     sets c_ok, c_filter, c_cap, c_rate, c_srate   type mark with a counter per
 *                   element: one element per rule (its counter id), counted by a lookup
 *     sets src4 / src6   the per-source meters of every rule, keyed by ct mark . saddr
 *
 * Each port is one element (exclusions are simply absent), so the first
 * packet costs a few hash lookups whatever the number of rules. A port maps to
 * its rule's id (the ct mark, which sessions and counters are keyed by).
 * A rule of the shared chain adds no chain and no verdict element: the
 * kernel re-validates the table's jumps at every commit that adds either
 * (1,000 rule chains walked per one-rule change, ~1.3 ms), so a one-rule
 * change that is data only commits in a fraction of that. Shared sets
 * instead of per-rule ones (counters, meters, port maps as set elements)
 * keep the table's set count independent of the rule count (a shared-chain
 * rule's named limit is the exception, the price of its rate as data):
 * libnftables reads every set and named object of the table before each
 * batch (5,000 named counters cost it 15 ms), the netlink delta nothing.
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
import type { RuleChange } from '../../plan/model.js';

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

/** How a refused first packet is answered: like a closed port (as the sockets backend does). */
export type Refusal = 'tcp-reset' | 'icmpx-port-unreachable';

/**
 * One statement of a rule's chain, as data: rendered as nft text for
 * libnftables (statementText) and as netlink expressions for a delta sent
 * directly (netlink-batch.ts), so both transports write the same chain.
 * `counter` names the counter set a matching packet is counted in.
 */
export type ChainStatement =
  /** Only a TCP SYN may open a NAT binding; anything else is reset. */
  | { kind: 'syn-only' }
  /** Source lookup in a filter set: a hit refuses (deny) or, `invert`, a miss refuses (allow). */
  | { kind: 'filter'; family: 4 | 6; set: string; invert: boolean; counter: string; refuse: Refusal }
  | { kind: 'cap'; count: number; counter: string; refuse: Refusal }
  | { kind: 'rate'; rate: number; burst: number; counter: string; refuse: Refusal }
  | { kind: 'source-rate'; family: 4 | 6; set: string; rate: number; burst: number; counter: string; refuse: Refusal }
  /** The accept count and the DNAT to the rule's target. */
  | { kind: 'dnat'; protocol: 'tcp' | 'udp'; family: 4 | 6; target: DnatTarget; counter: string; comment: string };

/** A class's statement (RuleClass), written through libnftables only (a class is new rarely). */
export type ClassStatement =
  /** The cap of the rules whose mark is in `members`: a connection list per element of set cnt. */
  | { kind: 'class-cap'; members: string; count: number; counter: string; refuse: Refusal }
  /** The per-source meter of the rules whose mark is in `members`. */
  | { kind: 'class-source-rate'; members: string; family: 4 | 6; set: string; rate: number; burst: number; counter: string; refuse: Refusal };

/**
 * Where a rule's DNAT sends a port: the address with the port unchanged, one
 * port for every listening port, or the rule's own map of listening port to
 * target port (port offsets), anonymous, in the rule.
 */
export interface DnatTarget {
  address: string;
  port?: number;
  ports?: [listen: number, target: number][];
}

/** A rule's source filter: an interval set of CIDRs of one family. */
export interface FilterSet {
  name: string;
  family: 4 | 6;
  cidrs: string[];
}

/** A rule's chain with the sets only it uses. */
export interface RuleChain {
  name: string;
  sets: FilterSet[];
  statements: ChainStatement[];
}

/** A shared-chain rule's session rate: the named limit object `lim` maps its id to. */
export interface RuleLimit {
  name: string;
  rate: number;
  burst: number;
}

/**
 * Shared-chain rules with the same `ct count` cap (`m_<N>`) or per-source
 * meter (`s_<rate>_<burst>`): a set of marks, and one rule per protocol
 * (per family for a meter) in chain `cap` / `srate4` / `srate6` that runs
 * for its members. A rule joins its class by an element: data, no chain.
 */
export interface RuleClass {
  set: string;
  kind: 'cap' | 'source-rate';
  /** The cap (cap), or the rate and burst (source-rate). */
  count: number;
  rate: number;
  burst: number;
}

/** What one rule puts in the table (its counter elements are `counterId` in every COUNTER_SETS set). */
export interface RuleObjects {
  counterId: number;
  table: string;
  ruleId: string;
  ruleName: string;
  rule: ForwardRule;
  /** Its own chain and filter sets, for a rule the shared chain cannot serve (ownChainStatements). */
  chain?: RuleChain;
  /** Else its named limit object, in the shared chain. */
  limit?: RuleLimit;
  /** And the classes it is a member of (its `ct count` and per-source meter, as an element of each class's mark set). */
  classes?: RuleClass[];
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
  /** The hairpin pairs, shared by rules with the same target, with how many rules use each (kept across states, so a diff reads only the changed rules'). */
  hairpins: Map<string, { element: SetElement; rules: number }>;
  /** How many rules have ports left out (see PortExclusions): a state with none can be built from a plan's changes. */
  excludedRules: number;
  /**
   * Every class a shared-chain rule used since the table was last built from nothing, in the order
   * their rules were added: a class stays when its last member goes (deleting its rules needs their
   * handles; classes are few), so the delta and the whole rewrite of one state list the same table.
   */
  classes: Map<string, RuleClass>;
}

/** Every statement emitted: what to assume when the conntrack capacity is unknown. */
export const UNBOUNDED: RulesetOptions = { conntrackMax: Infinity };

export function emptyState(options: RulesetOptions = UNBOUNDED): WrittenState {
  return { rules: new Map(), options, hairpins: new Map(), excludedRules: 0, classes: new Map() };
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

/** The session cap a `ct count` enforces, or undefined when it can never refuse (at or above the conntrack table's capacity). */
function capOf(rule: ForwardRule, options: RulesetOptions): number | undefined {
  const limits = rule.limits;
  const cap = rule.protocol === 'udp' ? Math.min(limits.maxSessions, limits.maxUdpFlows) : limits.maxSessions;
  return cap < options.conntrackMax ? cap : undefined;
}

/**
 * Whether the per-source bucket can refuse: it runs after the rule's, and a source's admissions are a
 * subset of the rule's, so one at least as fast and as deep as the rule's is never emptier.
 */
function sourceRateActs(rule: ForwardRule): boolean {
  const limits = rule.limits;
  return limits.sourceRate < limits.sessionRate || limits.sourceBurst < limits.sessionBurst;
}

/**
 * Whether a rule needs a chain of its own, else it runs in the shared chain
 * with its parts as data. Source filters (per-rule interval sets) are not
 * data of a shared statement; a `ct count` and a per-source meter are, by
 * class (RuleClass).
 */
export function needsOwnChain(rule: ForwardRule): boolean {
  return rule.allow.length > 0 || rule.deny.length > 0;
}

/** The classes a shared-chain rule belongs to: only the statements that can act on it. */
function classesOf(rule: ForwardRule, options: RulesetOptions): RuleClass[] {
  const out: RuleClass[] = [];
  const cap = capOf(rule, options);
  if (cap !== undefined) out.push({ set: `m_${cap}`, kind: 'cap', count: cap, rate: 0, burst: 0 });
  const l = rule.limits;
  if (sourceRateActs(rule)) out.push({ set: `s_${l.sourceRate}_${l.sourceBurst}`, kind: 'source-rate', count: 0, rate: l.sourceRate, burst: l.sourceBurst });
  return out;
}

/**
 * The rules of a class, per protocol (the refusal differs), after the rule's own:
 * `add @cnt { ct mark ct count over N }` keeps a connection list per element, so per rule
 * (the set's elements are marks); the meter's key holds the mark, so per rule and source.
 */
export function classStatements(c: RuleClass): { chain: string; statement: ClassStatement; protocol: 'tcp' | 'udp' }[] {
  const out: { chain: string; statement: ClassStatement; protocol: 'tcp' | 'udp' }[] = [];
  for (const protocol of ['tcp', 'udp'] as const) {
    const refuse: Refusal = protocol === 'tcp' ? 'tcp-reset' : 'icmpx-port-unreachable';
    if (c.kind === 'cap') out.push({ chain: 'cap', protocol, statement: { kind: 'class-cap', members: c.set, count: c.count, counter: COUNTER_SET.cap, refuse } });
    else {
      for (const family of [4, 6] as const) {
        out.push({ chain: `srate${family}`, protocol, statement: { kind: 'class-source-rate', members: c.set, family, set: `src${family}`, rate: c.rate, burst: c.burst, counter: COUNTER_SET.source_rate, refuse } });
      }
    }
  }
  return out;
}

/** Commands creating a class: its mark set and its rules. */
export function classCommands(tableName: string, c: RuleClass): string[] {
  const t = `inet ${tableName}`;
  return [`add set ${t} ${c.set} { type mark; }`, ...classStatements(c).map(({ chain, protocol, statement }) => `add rule ${t} ${chain} meta l4proto ${protocol} ${statementText(statement)}`)];
}

/** The classes `to` has and `from` has not (created before the elements that join them). */
export function newClasses(from: WrittenState, to: WrittenState): RuleClass[] {
  const out: RuleClass[] = [];
  for (const [name, c] of to.classes) if (!from.classes.has(name)) out.push(c);
  return out;
}

/** The chain of one rule: only the statements that can act on it. */
function ruleChainOf(table: string, rule: ForwardRule, counterId: number, options: RulesetOptions): RuleChain {
  const name = ruleChain(counterId);
  const target = addressText(rule.targetAddress);
  if (!target) throw new Error(`rule ${table}/${rule.name || '(unnamed)'}: target ${rule.targetAddress} is not an IP address`);
  const family = target.family;
  const sets: FilterSet[] = [];
  const statements: ChainStatement[] = [];
  // Refusals answer like a closed port (TCP reset, ICMP port unreachable), as the sockets backend does,
  // so a refused client fails at once instead of retrying into a silent drop.
  const refuse: Refusal = rule.protocol === 'tcp' ? 'tcp-reset' : 'icmpx-port-unreachable';
  // Only a SYN may open a NAT binding: a mid-stream segment of a deleted session (conntrack's loose
  // pickup) is reset instead of being translated again, so deleting the entry ends the flow.
  if (rule.protocol === 'tcp') statements.push({ kind: 'syn-only' });
  const filterSet = (kind: 'deny' | 'allow', list: string[]): string => {
    const set = { name: `${name}_${kind}${family}`, family, cidrs: list.filter((c) => (family === 4) === !c.includes(':')) };
    sets.push(set);
    return set.name;
  };
  if (rule.deny.length > 0) statements.push({ kind: 'filter', family, set: filterSet('deny', rule.deny), invert: false, counter: COUNTER_SET.filter, refuse });
  if (rule.allow.length > 0) statements.push({ kind: 'filter', family, set: filterSet('allow', rule.allow), invert: true, counter: COUNTER_SET.filter, refuse });
  const limits = rule.limits;
  const cap = capOf(rule, options);
  if (cap !== undefined) statements.push({ kind: 'cap', count: cap, counter: COUNTER_SET.cap, refuse });
  statements.push({ kind: 'rate', rate: limits.sessionRate, burst: limits.sessionBurst, counter: COUNTER_SET.rate, refuse });
  if (sourceRateActs(rule)) {
    statements.push({ kind: 'source-rate', family, set: `src${family}`, rate: limits.sourceRate, burst: limits.sourceBurst, counter: COUNTER_SET.source_rate, refuse });
  }
  statements.push({ kind: 'dnat', protocol: rule.protocol, family, target: dnatTarget(rule, target.text), counter: COUNTER_SET.ok, comment: tagOf(table, rule) });
  return { name, sets, statements };
}

/** The rule's DNAT target (exclusions need no care: their ports never reach the chain). */
function dnatTarget(rule: ForwardRule, address: string): DnatTarget {
  const ranges = portIntervals(rule);
  if (rule.targetPort === 0 || rule.targetPort === rule.ports.first) return { address };
  if (ranges.length === 1 && ranges[0]!.first === ranges[0]!.last) return { address, port: mapTargetPort(rule, ranges[0]!.first) };
  const ports: [number, number][] = [];
  for (const r of ranges) for (let p = r.first; p <= r.last; p++) ports.push([p, mapTargetPort(rule, p)]);
  return { address, ports };
}

/** A DNAT target as nft text: `to 10.0.0.1`, `to [::1]:80`, `to 10.0.0.1 : th dport map { 8000 : 9000, ... }`. */
function targetText(family: 4 | 6, t: DnatTarget): string {
  const address = family === 6 && (t.port !== undefined || t.ports) ? `[${t.address}]` : t.address;
  if (t.port !== undefined) return `${address}:${t.port}`;
  if (t.ports) return `${address} : th dport map { ${t.ports.map(([l, p]) => `${l} : ${p}`).join(', ')} }`;
  return address;
}

/** A statement as nft text (libnftables compiles it to what netlink-batch.ts encodes). */
export function statementText(s: ChainStatement | ClassStatement): string {
  const refuse = (r: Refusal): string => (r === 'tcp-reset' ? 'reject with tcp reset' : 'reject with icmpx port-unreachable');
  const ip = (family: 4 | 6): string => (family === 4 ? 'ip' : 'ip6');
  switch (s.kind) {
    case 'syn-only':
      return 'tcp flags & (fin|syn|rst|ack) != syn reject with tcp reset';
    case 'filter':
      return `${ip(s.family)} saddr ${s.invert ? '!= ' : ''}@${s.set} ct mark @${s.counter} ${refuse(s.refuse)}`;
    case 'cap':
      return `ct count over ${s.count} ct mark @${s.counter} ${refuse(s.refuse)}`;
    case 'rate':
      return `limit rate over ${s.rate}/second burst ${s.burst} packets ct mark @${s.counter} ${refuse(s.refuse)}`;
    case 'source-rate':
      return `update @${s.set} { ct mark . ${ip(s.family)} saddr limit rate over ${s.rate}/second burst ${s.burst} packets } ct mark @${s.counter} ${refuse(s.refuse)}`;
    case 'class-cap':
      return `ct mark @${s.members} add @cnt { ct mark ct count over ${s.count} } ct mark @${s.counter} ${refuse(s.refuse)}`;
    case 'class-source-rate':
      return `ct mark @${s.members} update @${s.set} { ct mark . ${ip(s.family)} saddr limit rate over ${s.rate}/second burst ${s.burst} packets } ct mark @${s.counter} ${refuse(s.refuse)}`;
    case 'dnat':
      return `meta l4proto ${s.protocol} ct mark @${s.counter} dnat ${ip(s.family)} to ${targetText(s.family, s.target)} comment "${s.comment}"`;
  }
}

/** Commands creating a rule's counter elements and its named limit, or its filter sets, chain and chain rules. */
export function createCommands(tableName: string, r: RuleObjects): string[] {
  const t = `inet ${tableName}`;
  const out = COUNTER_SETS.map(([, set]) => `add element ${t} ${set} { ${r.counterId} }`);
  if (r.limit) out.push(`add limit ${t} ${r.limit.name} { rate over ${r.limit.rate}/second burst ${r.limit.burst} packets }`);
  if (!r.chain) return out;
  out.push(`add chain ${t} ${r.chain.name}`);
  for (const set of r.chain.sets) {
    const type = set.family === 4 ? 'ipv4_addr' : 'ipv6_addr';
    out.push(`add set ${t} ${set.name} { type ${type}; flags interval; auto-merge;${set.cidrs.length ? ` elements = { ${set.cidrs.join(', ')} };` : ''} }`);
  }
  for (const s of r.chain.statements) out.push(`add rule ${t} ${r.chain.name} ${statementText(s)}`);
  return out;
}

/** Commands removing them (after the elements that refer to them are gone): a chain must be empty before it goes. */
export function removeCommands(tableName: string, r: RuleObjects): string[] {
  const t = `inet ${tableName}`;
  return [
    ...(r.chain ? [`flush chain ${t} ${r.chain.name}`, `delete chain ${t} ${r.chain.name}`] : []),
    ...COUNTER_SETS.map(([, set]) => `delete element ${t} ${set} { ${r.counterId} }`),
    ...(r.chain?.sets ?? []).map((set) => `delete set ${t} ${set.name}`),
    ...(r.limit ? [`delete limit ${t} ${r.limit.name}`] : []),
  ];
}

/** The name of a shared-chain rule's limit object. */
export function limitName(counterId: number): string {
  return `lim${counterId}`;
}

/**
 * The rule's elements in the lookup maps, leaving out excluded ports: with
 * `ownChain` its id's goto, else its limit's and its ports' DNAT targets.
 */
function ruleElements(rule: ForwardRule, counterId: number, excluded: PortExclusions | undefined, options: RulesetOptions): { elements: RuleObjects['elements']; excludedKey: string } {
  const ownChain = needsOwnChain(rule);
  const elements: RuleObjects['elements'] = [];
  const skipped: number[] = [];
  const target = addressText(rule.targetAddress);
  if (!target) return { elements, excludedKey: '' };
  const listen = rule.listenAddress === '' ? undefined : addressText(rule.listenAddress);
  const anyAddress = listen === undefined || listen.text === '0.0.0.0' || listen.text === '::';
  // NAT cannot cross address families: a listen address of the other family forwards nothing.
  if (listen && listen.family !== target.family) return { elements, excludedKey: '' };
  const f = target.family;
  const mark = String(counterId);
  // Its ports map to its id; the id to its own chain, or to its limit and (with the port) its target in the shared one.
  if (ownChain) elements.push({ set: 'rules', element: `${mark} : goto ${ruleChain(counterId)}` });
  else {
    elements.push({ set: 'lim', element: `${mark} : "${limitName(counterId)}"` });
    for (const c of classesOf(rule, options)) elements.push({ set: c.set, element: mark });
  }
  const check = excluded && !excluded.empty;
  for (const range of portIntervals(rule)) {
    for (let port = range.first; port <= range.last; port++) {
      if (check && excluded.has(rule.protocol, rule.listenAddress, port)) {
        skipped.push(port);
        continue;
      }
      const k = anyAddress ? `${rule.protocol} . ${port}` : `${listen!.text} . ${rule.protocol} . ${port}`;
      elements.push({ set: anyAddress ? `a${f}` : `l${f}`, element: `${k} : ${mark}` });
      if (!ownChain) elements.push({ set: `n${f}`, element: `${mark} . ${port} : ${target.text} . ${mapTargetPort(rule, port)}` });
    }
  }
  return { elements, excludedKey: skipped.join(',') };
}

/** The rule's tag in its comment: table and name (or the rule id of an unnamed rule), for operators reading `nft list`. */
function tagOf(table: string, rule: ForwardRule): string {
  return `portplane ${table}/${rule.name || ruleId(table, rule)}`.replace(/["\\]/g, '_').slice(0, 120);
}

/**
 * The rule changes an apply's plan lists, with the counter ids the previous
 * state was built with: enough to build the desired state from the previous
 * one in O(changes) (a plan lists the rules of unchanged tables and the
 * unchanged rule objects of changed ones only in its summary).
 */
export interface RuleDelta {
  changes: readonly RuleChange[];
  previousCounterIds: Record<string, number>;
}

/**
 * The desired state of `config`, leaving out the ports `excluded` names.
 * A rule whose counter id (so content) and exclusions are those of
 * `previous` reuses its objects: an apply costs O(rules) plus its changes,
 * or O(changes) with `delta` when nothing is or was excluded.
 */
export function desiredState(
  config: ForwardingConfig,
  counterIds: Record<string, number>,
  excluded?: PortExclusions,
  previous: WrittenState = emptyState(),
  options: RulesetOptions = previous.options,
  delta?: RuleDelta,
): WrittenState {
  // Chains built under other options differ under the same counter id: nothing of them is reused.
  if (!sameOptions(previous.options, options)) previous = emptyState(options);
  const noExclusions = (!excluded || excluded.empty) && previous.excludedRules === 0;
  if (delta && noExclusions && previous.rules.size > 0) {
    const state = fromDelta(config, counterIds, previous, options, delta);
    if (state) return state;
  }
  // Entries are replaced, never changed (countHairpin), so the previous state's stay as they were.
  const state: WrittenState = { ...emptyState(options), hairpins: new Map(previous.hairpins), classes: new Map(previous.classes) };
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
      const { elements, excludedKey } = ruleElements(rule, counterId, excluded, options);
      if (excludedKey !== '') state.excludedRules++;
      if (prior && prior.excludedKey === excludedKey) {
        state.rules.set(counterId, prior);
        continue;
      }
      const objects = ruleObjects(table.name, rule, id, counterId, elements, excludedKey, options);
      state.rules.set(counterId, objects);
      countHairpin(state, objects, 1);
      addClasses(state, objects);
    }
  }
  for (const [id, r] of previous.rules) if (state.rules.get(id) !== r) countHairpin(state, r, -1);
  return state;
}

/**
 * `previous` with the plan's changes made, or undefined when the result does
 * not account for every rule of `config` (a plan not computed against the
 * state written last): the caller then builds it rule by rule.
 */
function fromDelta(config: ForwardingConfig, counterIds: Record<string, number>, previous: WrittenState, options: RulesetOptions, delta: RuleDelta): WrittenState | undefined {
  const state: WrittenState = { rules: new Map(previous.rules), options, hairpins: new Map(previous.hairpins), excludedRules: 0, classes: new Map(previous.classes) };
  for (const change of delta.changes) {
    if (change.action === 'unchanged') continue;
    if (change.action !== 'added') {
      const old = delta.previousCounterIds[change.ruleId];
      const r = old === undefined ? undefined : state.rules.get(old);
      if (!r) return undefined;
      state.rules.delete(old!);
      countHairpin(state, r, -1);
    }
  }
  for (const change of delta.changes) {
    if (change.action !== 'added' && change.action !== 'changed') continue;
    const counterId = counterIds[change.ruleId];
    if (counterId === undefined) throw new Error(`rule ${change.ruleId} has no counter id`);
    const { elements } = ruleElements(change.rule, counterId, undefined, options);
    const objects = ruleObjects(change.table, change.rule, change.ruleId, counterId, elements, '', options);
    state.rules.set(counterId, objects);
    countHairpin(state, objects, 1);
    addClasses(state, objects);
  }
  let rules = 0;
  for (const table of config.tables) rules += table.rules.length;
  return state.rules.size === rules ? state : undefined;
}

function ruleObjects(table: string, rule: ForwardRule, id: string, counterId: number, elements: SetElement[], excludedKey: string, options: RulesetOptions): RuleObjects {
  const target = addressText(rule.targetAddress);
  if (!target) throw new Error(`rule ${table}/${rule.name || '(unnamed)'}: target ${rule.targetAddress} is not an IP address`);
  return {
    counterId,
    table,
    ruleId: id,
    ruleName: rule.name,
    rule,
    ...(needsOwnChain(rule)
      ? { chain: ruleChainOf(table, rule, counterId, options) }
      : { limit: { name: limitName(counterId), rate: rule.limits.sessionRate, burst: rule.limits.sessionBurst }, classes: classesOf(rule, options) }),
    elements,
    excludedKey,
    hairpin: { set: `hairpin${target.family}`, element: `${target.text} . ${target.text}` },
  };
}

function addClasses(state: WrittenState, r: RuleObjects): void {
  for (const c of r.classes ?? []) if (!state.classes.has(c.set)) state.classes.set(c.set, c);
}

function hairpinKey(h: SetElement): string {
  return `${h.set} ${h.element}`;
}

function countHairpin(state: WrittenState, r: RuleObjects, delta: 1 | -1): void {
  if (!r.hairpin) return;
  const key = hairpinKey(r.hairpin);
  // A new entry, not a changed one: the map's entries are shared with the state it was copied from.
  const rules = (state.hairpins.get(key)?.rules ?? 0) + delta;
  if (rules > 0) state.hairpins.set(key, { element: r.hairpin, rules });
  else state.hairpins.delete(key);
}

export function sameOptions(a: RulesetOptions, b: RulesetOptions): boolean {
  return a.conntrackMax === b.conntrackMax;
}

/**
 * The chains every rule of one family runs in: any<f> for any-address
 * rules, then fwd<f>, whose per-rule parts are data keyed by the ct mark.
 */
function sharedChainCommands(t: string, family: 4 | 6): string[] {
  const ip = family === 4 ? 'ip' : 'ip6';
  const fwd = `fwd${family}`;
  return [
    `add chain ${t} any${family}`,
    `add chain ${t} ${fwd}`,
    `add chain ${t} srate${family}`,
    // Any-address rules forward local destinations only; checked after the map hit, so a connection no
    // rule forwards pays no route lookup. A connection the rule does not forward is no session of it.
    `add rule ${t} any${family} fib daddr type != local ct mark set 0 return`,
    `add rule ${t} any${family} goto ${fwd}`,
    // Rules with a chain of their own leave here (a miss ends the rule, not the chain).
    `add rule ${t} ${fwd} ct mark vmap @rules`,
    // Only a SYN may open a NAT binding: a mid-stream segment of a deleted session (conntrack's loose
    // pickup) is reset instead of being translated again, so deleting the entry ends the flow.
    `add rule ${t} ${fwd} ${statementText({ kind: 'syn-only' })}`,
    // The classes' caps, then the rule's rate, then the classes' per-source meters: the order of an own chain.
    `add rule ${t} ${fwd} jump cap`,
    // Refusals answer like a closed port (TCP reset, ICMP port unreachable), as the sockets backend does.
    `add rule ${t} ${fwd} meta l4proto tcp limit name ct mark map @lim ct mark @${COUNTER_SET.rate} reject with tcp reset`,
    `add rule ${t} ${fwd} meta l4proto udp limit name ct mark map @lim ct mark @${COUNTER_SET.rate} reject with icmpx port-unreachable`,
    // nft maps a transport port only after a transport protocol match: one rule per protocol.
    `add rule ${t} ${fwd} jump srate${family}`,
    ...(['tcp', 'udp'] as const).map((p) => `add rule ${t} ${fwd} meta l4proto ${p} ct mark @${COUNTER_SET.ok} dnat ${ip} addr . port to ct mark . th dport map @n${family}`),
  ];
}

/** The fixed part of the table: maps, counter sets, meters, base chains, hairpin and loopback SNAT. */
export function baseCommands(tableName: string): string[] {
  const t = `inet ${tableName}`;
  return [
    `add table ${t} { comment "portplane: managed, do not edit"; }`,
    `add map ${t} l4 { type ipv4_addr . inet_proto . inet_service : mark; }`,
    `add map ${t} l6 { type ipv6_addr . inet_proto . inet_service : mark; }`,
    `add map ${t} a4 { type inet_proto . inet_service : mark; }`,
    `add map ${t} a6 { type inet_proto . inet_service : mark; }`,
    `add map ${t} rules { type mark : verdict; }`,
    `add map ${t} lim { type mark : limit; }`,
    `add map ${t} n4 { type mark . inet_service : ipv4_addr . inet_service; }`,
    `add map ${t} n6 { type mark . inet_service : ipv6_addr . inet_service; }`,
    ...COUNTER_SETS.map(([, set]) => `add set ${t} ${set} { type mark; counter; }`),
    // Every rule's per-source meter; the mark keeps rules apart. Full: new sources are not rate limited.
    `add set ${t} src4 { type mark . ipv4_addr; flags dynamic,timeout; timeout 60s; size 262144; }`,
    `add set ${t} src6 { type mark . ipv6_addr; flags dynamic,timeout; timeout 60s; size 262144; }`,
    // The shared-chain rules' `ct count` connection lists, one element per rule (its mark) while it has connections.
    `add set ${t} cnt { type mark; flags dynamic; size 262144; }`,
    `add set ${t} hairpin4 { type ipv4_addr . ipv4_addr; }`,
    `add set ${t} hairpin6 { type ipv6_addr . ipv6_addr; }`,
    `add chain ${t} lookup`,
    `add chain ${t} cap`,
    ...sharedChainCommands(t, 4),
    ...sharedChainCommands(t, 6),
    // The rule's id goes through the ct mark, which its counters, meters, limit, target and sessions are
    // keyed by (a miss sets nothing: the lookup ends the rule).
    `add rule ${t} lookup ct mark set ip daddr . meta l4proto . th dport map @l4 goto fwd4`,
    `add rule ${t} lookup ct mark set ip6 daddr . meta l4proto . th dport map @l6 goto fwd6`,
    `add rule ${t} lookup meta nfproto ipv4 ct mark set meta l4proto . th dport map @a4 goto any4`,
    `add rule ${t} lookup meta nfproto ipv6 ct mark set meta l4proto . th dport map @a6 goto any6`,
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
  for (const c of desired.classes.values()) out.push(...classCommands(tableName, c));
  const elements: { set: string; element: string }[] = [];
  for (const r of desired.rules.values()) {
    out.push(...createCommands(tableName, r));
    elements.push(...r.elements);
  }
  for (const h of desired.hairpins.values()) elements.push(h.element);
  appendElements(out, t, 'add', elements);
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

/** A set element as the batches write it: `key` or `key : value` in nft syntax. */
export interface SetElement {
  set: string;
  element: string;
}

/** What turns one written state into another, rule by rule (a counter id is a content), so its cost follows the change. */
export interface RuleDiff {
  /** Rules whose objects are new (created before any element refers to them). */
  created: RuleObjects[];
  /** Elements to delete, then elements to add (hairpin pairs included). */
  removed: SetElement[];
  added: SetElement[];
  /** Rules whose objects go (after the elements that jump to them). */
  gone: RuleObjects[];
}

export function diffRules(from: WrittenState, to: WrittenState): RuleDiff {
  if (!sameOptions(from.options, to.options)) throw new Error('diffRules: states built with different ruleset options need a full batch');
  const diff: RuleDiff = { created: [], removed: [], added: [], gone: [] };
  // Only a changed rule's hairpin pair can come or go.
  const pairs = new Map<string, SetElement>();
  const touched = (r: RuleObjects): void => {
    if (r.hairpin) pairs.set(hairpinKey(r.hairpin), r.hairpin);
  };
  for (const [id, r] of to.rules) {
    const prior = from.rules.get(id);
    if (prior === r) continue;
    if (!prior) diff.created.push(r);
    if (prior) {
      diff.removed.push(...prior.elements);
      touched(prior);
    }
    diff.added.push(...r.elements);
    touched(r);
  }
  for (const [id, r] of from.rules) {
    if (to.rules.has(id)) continue;
    diff.removed.push(...r.elements);
    diff.gone.push(r);
    touched(r);
  }
  for (const [k, e] of pairs) {
    const before = from.hairpins.has(k);
    const after = to.hairpins.has(k);
    if (before && !after) diff.removed.push(e);
    if (after && !before) diff.added.push(e);
  }
  return diff;
}

/**
 * The commands that turn `from` into `to` (diffRules): new rules' objects,
 * the elements deleted and added, then removed rules' objects. Empty when
 * equal. Both must be built with the same options (else fullBatch).
 */
export function diffBatch(tableName: string, from: WrittenState, to: WrittenState): string {
  const diff = diffRules(from, to);
  const t = `inet ${tableName}`;
  const out: string[] = [];
  for (const c of newClasses(from, to)) out.push(...classCommands(tableName, c));
  for (const r of diff.created) out.push(...createCommands(tableName, r));
  appendElements(out, t, 'delete', diff.removed);
  appendElements(out, t, 'add', diff.added);
  for (const r of diff.gone) out.push(...removeCommands(tableName, r));
  return out.join('\n');
}
