/**
 * Side-effect-free validation of parsed tables: names, port bounds, target
 * mapping, addresses and interface scoping, backend capabilities, conflicts
 * and limits. parse.ts checks shape and types, this file checks values, and
 * checks that depend on a field parsing could not read (unparsedFields) are
 * skipped: each problem is reported once, on the field that has to change.
 */
import type { Capabilities, Feature } from '../dataplane/capabilities.js';
import { supports, unsupportedReason } from '../dataplane/capabilities.js';
import { parseAddress, type ParsedAddress } from './address.js';
import { LIMIT_NAMES, type DrainPolicy, type ForwardRule, type Limits, type PortRange, type Protocol, type Table, type Violation } from './model.js';
import { ruleLabel, tablePath, unparsedFields } from './parse.js';
import { countPorts, mapTargetPort, portIntervals } from './ports.js';
import { checkSelfProtection, type ReservedEndpoint, type RuleListener, type TargetingRule } from './self-protection.js';
import { normalizeRule } from './normalize.js';
import { checkRequestDrain, checkRuleOptions, type OptionChecks } from './validate-options.js';
import { cut, quote } from './quote.js';

export interface ValidationInput {
  /** Tables named in the request, in request order (parseTables output). */
  requestTables: Table[];
  /** Running tables that stay in force next to them (not named in the request, and not removed by replace_all). */
  otherTables: Table[];
  limits: Limits;
  capabilities: Capabilities;
  /** Prefix of every path; default 'tables'. */
  basePath?: string;
  /** The daemon's own listening sockets: rules may neither listen on nor forward into them. */
  reserved?: ReservedEndpoint[];
  /**
   * Addresses of this host besides loopback, which an any-address listener
   * accepts (loop detection); a function is called only when a target is
   * not a loopback address (reading the interfaces costs a system call).
   */
  localAddresses?: readonly string[] | (() => readonly string[]);
  /**
   * The running tables, normalised. A request rule that normalises to a
   * rule its table runs is unchanged: conflict and loop checks pair it only
   * with changed rules (see checkedSets()). The violations are the same.
   */
  running?: readonly Table[];
}

const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
const NAME_RULE = 'a letter or digit, then up to 62 letters, digits, ".", "_" or "-"';
const MAX_PORT = 65535;

/** A listen address reduced to what the overlap relation of address.ts (listenAddressesOverlap) compares. */
export type ListenScope = { kind: 'dual' } | { kind: 'any'; family: 4 | 6 } | { kind: 'host'; family: 4 | 6; key: string };

/**
 * The overlap relation as buckets: a span is stored in `storedIn` buckets
 * and meets the spans of its `metIn` buckets, which are exactly those whose
 * scopes overlap its own (dual-stack any meets everything, an any-address
 * its family, a host the same host and its family's any-address). No span is
 * stored in two buckets that one scope meets.
 */
export function storedIn(scope: ListenScope): string[] {
  if (scope.kind === 'dual') return ['dual'];
  if (scope.kind === 'any') return [`any${scope.family}`];
  return [`host${scope.family}`, `host${scope.family}:${scope.key}`];
}

export function metIn(scope: ListenScope): string[] {
  if (scope.kind === 'dual') return ['dual', 'any4', 'any6', 'host4', 'host6'];
  if (scope.kind === 'any') return ['dual', `any${scope.family}`, `host${scope.family}`];
  return ['dual', `any${scope.family}`, `host${scope.family}:${scope.key}`];
}

/** A rule that takes part in conflict checks. */
interface ConflictEntry {
  /** Running rules come first, then request rules in request order; a conflict is reported on the later rule. */
  order: number;
  inRequest: boolean;
  path: string;
  /** How messages name the rule, e.g. `tables[a].rules[0] ("web")`. */
  label: string;
  protocol: Protocol;
  /** Listen address with its effective zone, for messages. */
  listenText: string;
  scope: ListenScope;
  intervals: PortRange[];
  /** Set once the entry has its conflict violation. */
  flagged: boolean;
}

interface Context {
  caps: Capabilities;
  out: Violation[];
  /** parseAddress, memoised per call: configs repeat a handful of addresses across many rules. */
  parseAddress(text: string): ParsedAddress | undefined;
}

function memoParseAddress(): (text: string) => ParsedAddress | undefined {
  const cache = new Map<string, ParsedAddress | undefined>();
  return (text) => {
    if (!cache.has(text)) cache.set(text, parseAddress(text));
    return cache.get(text);
  };
}

function fail(ctx: Context, path: string, message: string): undefined {
  ctx.out.push({ path, message });
  return undefined;
}

function overLimit(ctx: Context, path: string, limit: keyof typeof LIMIT_NAMES, message: string): void {
  ctx.out.push({ path, message, limit });
}

/** Reports `what` on `path` unless the backend supports `feature`. */
function requireFeature(ctx: Context, feature: Feature, path: string, what: string): void {
  if (supports(ctx.caps, feature)) return;
  const reason = unsupportedReason(ctx.caps, feature) ?? 'not listed in its capabilities';
  fail(ctx, path, `${what} needs feature ${feature}, which the ${ctx.caps.backend} backend does not support: ${reason}`);
}

function optionChecks(ctx: Context): OptionChecks {
  return {
    fail: (path, message) => fail(ctx, path, message),
    requireFeature: (feature, path, what) => requireFeature(ctx, feature, path, what),
  };
}

/** Violations of an apply's own drain policy (paths relative to the request). */
export function validateRequestDrain(
  drain: DrainPolicy | undefined,
  terminateRemoved: boolean,
  capabilities: Capabilities,
): Violation[] {
  const ctx: Context = { caps: capabilities, out: [], parseAddress: memoParseAddress() };
  checkRequestDrain(drain, terminateRemoved, optionChecks(ctx));
  return ctx.out;
}

function formatRange(r: PortRange): string {
  return r.first === r.last ? `port ${r.first}` : `range ${r.first}-${r.last}`;
}

function rangeProblem(r: PortRange): string | undefined {
  if (r.first < 1 || r.first > MAX_PORT || r.last < 1 || r.last > MAX_PORT) {
    return `${formatRange(r)} is not within 1-${MAX_PORT}`;
  }
  if (r.last < r.first) return `${formatRange(r)} is reversed: last must be >= first`;
  return undefined;
}

/** Linux dev_valid_name(): shorter than IFNAMSIZ (16), not "." or "..", no '/', ':' or whitespace. */
function isInterfaceName(name: string): boolean {
  return name.length >= 1 && name.length <= 15 && name !== '.' && name !== '..' && !/[/:\s]/.test(name);
}

function isLinkLocal6(a: ParsedAddress): boolean {
  return a.family === 6 && a.isLinkLocal;
}

function describeListen(text: string): string {
  return text === '' ? 'dual-stack any' : text;
}

/** The rule's port set, or undefined after reporting why it has none. */
function checkPorts(ctx: Context, rule: ForwardRule, path: string): PortRange[] | undefined {
  const portsProblem = rangeProblem(rule.ports);
  if (portsProblem) fail(ctx, `${path}.ports`, portsProblem);
  else if (rule.ports.last > rule.ports.first) {
    requireFeature(ctx, 'port_ranges', `${path}.ports`, `port ${formatRange(rule.ports)}`);
  }
  let excludeOk = true;
  rule.exclude.forEach((ex, i) => {
    const inside = ex.first >= rule.ports.first && ex.last <= rule.ports.last;
    const problem =
      rangeProblem(ex) ??
      (portsProblem || inside ? undefined : `exclusion ${formatRange(ex)} is not inside ports ${formatRange(rule.ports)}`);
    if (problem) {
      excludeOk = false;
      fail(ctx, `${path}.exclude[${i}]`, problem);
    }
  });
  if (portsProblem || !excludeOk) return undefined;
  const intervals = portIntervals(rule);
  if (intervals.length === 0) {
    return fail(ctx, `${path}.exclude`, `exclusions remove every port of ${formatRange(rule.ports)}`);
  }
  return intervals;
}

function checkTargetPort(ctx: Context, rule: ForwardRule, path: string, intervals: PortRange[] | undefined): void {
  if (rule.targetPort > MAX_PORT) {
    fail(ctx, `${path}.target_port`, `${rule.targetPort} is not within 0-${MAX_PORT} (0 keeps the listening port)`);
    return;
  }
  const highestPort = intervals?.at(-1)?.last;
  if (rule.targetPort === 0 || highestPort === undefined) return;
  const highestTarget = mapTargetPort(rule, highestPort);
  if (highestTarget > MAX_PORT) {
    fail(
      ctx,
      `${path}.target_port`,
      `target_port ${rule.targetPort} maps port ${highestPort} to ${highestTarget}, beyond ${MAX_PORT}`,
    );
  }
}

/** A listen or target address literal, parsed; undefined after reporting why it is unusable. */
function checkAddress(
  ctx: Context,
  text: string,
  path: string,
  role: 'listen' | 'target',
): ParsedAddress | undefined {
  const a = ctx.parseAddress(text);
  if (!a) {
    const hint = text.includes('%') ? ' (only a link-local IPv6 address takes a %zone)' : '';
    return fail(ctx, path, `${quote(text)} is not an IPv4 or IPv6 address${hint}`);
  }
  if (a.isMulticast) {
    const want = role === 'listen' ? 'listen on a unicast or any-address' : 'forward to a unicast address';
    return fail(ctx, path, `${a.address} is a multicast address; ${want}`);
  }
  if (role === 'target' && a.isAny) {
    return fail(ctx, path, `${cut(text)} is an any-address; forward to a concrete host such as 127.0.0.1 or ::1`);
  }
  requireFeature(ctx, a.family === 4 ? 'ipv4' : 'ipv6', path, `IPv${a.family} address ${cut(text)}`);
  return a;
}

/**
 * Zone and interface scoping of one address field: a link-local IPv6 address
 * needs a scope (its %zone or the rule's interface, equal if both are given);
 * any other address takes no zone. False when the address has no usable scope.
 */
function checkScope(
  ctx: Context,
  rule: ForwardRule,
  path: string,
  key: 'listen_address' | 'target_address',
  a: ParsedAddress,
): boolean {
  const fieldPath = `${path}.${key}`;
  const text = key === 'listen_address' ? rule.listenAddress : rule.targetAddress;
  if (!isLinkLocal6(a)) {
    if (a.zone === '') return true;
    fail(ctx, fieldPath, `zone %${a.zone} is only allowed on a link-local IPv6 address (fe80::/10), not ${a.address}`);
    return false;
  }
  if (a.zone === '' && rule.interface === '') {
    fail(ctx, fieldPath, `link-local address ${a.address} needs a scope: append %<interface> or set interface`);
    return false;
  }
  if (a.zone !== '' && !isInterfaceName(a.zone)) {
    fail(ctx, fieldPath, `zone %${a.zone} is not an interface name`);
    return false;
  }
  if (a.zone !== '' && rule.interface !== '' && isInterfaceName(rule.interface) && rule.interface !== a.zone) {
    fail(ctx, `${path}.interface`, `interface ${quote(rule.interface)} differs from the zone of ${key} ${cut(text)}`);
  }
  requireFeature(ctx, 'link_local_scope', fieldPath, `scoped link-local address ${text}`);
  return true;
}

/** The %zone of a listen or target address: its own, else the rule's interface for a link-local IPv6 address. */
function effectiveZone(rule: ForwardRule, a: ParsedAddress): string {
  return a.zone || (isLinkLocal6(a) ? rule.interface : '');
}

/** Listen address as messages show it: with the zone that `interface` implies. */
function listenText(rule: ForwardRule, a: ParsedAddress | undefined): string {
  const zone = a && a.zone === '' ? effectiveZone(rule, a) : '';
  return zone ? `${rule.listenAddress}%${zone}` : rule.listenAddress;
}

function listenScope(rule: ForwardRule, a: ParsedAddress | undefined): ListenScope | undefined {
  if (rule.listenAddress === '') return { kind: 'dual' };
  if (!a) return undefined;
  if (a.isAny) return { kind: 'any', family: a.family };
  const zone = effectiveZone(rule, a);
  return { kind: 'host', family: a.family, key: zone ? `${a.address}%${zone}` : a.address };
}

/** The listen address, parsed (undefined for dual-stack any), and whether conflict checks can use it. */
function checkListen(
  ctx: Context,
  rule: ForwardRule,
  path: string,
  scopeKnown: boolean,
): { listen?: ParsedAddress; usable: boolean } {
  if (rule.listenAddress === '') {
    requireFeature(ctx, 'dual_stack', `${path}.listen_address`, 'dual-stack any (empty listen_address)');
    return { usable: true };
  }
  const listen = checkAddress(ctx, rule.listenAddress, `${path}.listen_address`, 'listen');
  return { listen, usable: listen !== undefined && scopeKnown && checkScope(ctx, rule, path, 'listen_address', listen) };
}

/** The parsed target address, or undefined when it is missing or unusable. */
function checkTarget(ctx: Context, rule: ForwardRule, path: string, scopeKnown: boolean): ParsedAddress | undefined {
  if (rule.targetAddress === '') {
    fail(ctx, `${path}.target_address`, 'target_address is required');
    return undefined;
  }
  const target = checkAddress(ctx, rule.targetAddress, `${path}.target_address`, 'target');
  if (target && scopeKnown) checkScope(ctx, rule, path, 'target_address', target);
  return target;
}

/** The SNAT source must be a concrete unicast address the target can reply to, in the target's family. */
function checkSnat(ctx: Context, rule: ForwardRule, path: string, target: ParsedAddress | undefined): void {
  const fieldPath = `${path}.snat_address`;
  requireFeature(ctx, 'snat', fieldPath, `SNAT to ${rule.snatAddress}`);
  const a = ctx.parseAddress(rule.snatAddress);
  if (!a || a.zone !== '') {
    fail(ctx, fieldPath, `${quote(rule.snatAddress)} is not an IPv4 or IPv6 address without a zone`);
    return;
  }
  if (a.isAny || a.isMulticast) {
    fail(ctx, fieldPath, `${a.address} is not a unicast host address; the target must be able to reply to it`);
    return;
  }
  if (target && target.family !== a.family) {
    fail(ctx, fieldPath, `IPv${a.family} address ${a.address} cannot be the source of connections to IPv${target.family} target ${rule.targetAddress}`);
  }
}

interface CheckedRule {
  /** Port set when ports and exclusions are valid. */
  intervals?: PortRange[];
  /** Parsed listen address; undefined for dual-stack any or an unusable address. */
  listen?: ParsedAddress;
  /** Whether protocol and listen address are usable for conflict checks. */
  comparable: boolean;
}

/** Checks one request rule, skipping whatever depends on a field parsing already reported. */
function checkRule(ctx: Context, rule: ForwardRule, path: string): CheckedRule {
  const unread = unparsedFields(rule);
  const known = (key: string): boolean => !unread.has(key);

  if (known('name') && rule.name !== '' && !NAME_PATTERN.test(rule.name)) {
    fail(ctx, `${path}.name`, `invalid rule name ${quote(rule.name)}: use ${NAME_RULE}`);
  }
  if (known('protocol')) requireFeature(ctx, rule.protocol, `${path}.protocol`, `protocol ${rule.protocol}`);
  if (known('weak') && rule.weak) requireFeature(ctx, 'weak_rules', `${path}.weak`, 'a weak rule');

  const intervals = known('ports') && known('exclude') ? checkPorts(ctx, rule, path) : undefined;
  if (known('target_port')) checkTargetPort(ctx, rule, path, intervals);

  // Scoping reads `interface`, so it is only checked when `interface` parsed.
  const scopeKnown = known('interface');
  const interfaceOk = scopeKnown && (rule.interface === '' || isInterfaceName(rule.interface));
  if (scopeKnown && !interfaceOk) {
    fail(
      ctx,
      `${path}.interface`,
      `${quote(rule.interface)} is not a Linux interface name: 1-15 characters, not "." or "..", no "/", ":" or whitespace`,
    );
  }

  const { listen, usable: listenOk } = known('listen_address')
    ? checkListen(ctx, rule, path, scopeKnown)
    : { usable: false };
  const target = known('target_address') ? checkTarget(ctx, rule, path, scopeKnown) : undefined;
  if (known('snat_address') && rule.snatAddress !== '') checkSnat(ctx, rule, path, target);

  // On a link-local listen address `interface` is its scope; anywhere else it binds the listener to a device.
  if (rule.interface !== '' && interfaceOk && listenOk && !(listen && isLinkLocal6(listen))) {
    requireFeature(
      ctx,
      'interface_binding',
      `${path}.interface`,
      `binding ${describeListen(rule.listenAddress)} to interface "${rule.interface}"`,
    );
  }

  checkRuleOptions(optionChecks(ctx), rule, path, known);

  return { intervals, listen: listenOk ? listen : undefined, comparable: listenOk && known('protocol') };
}

interface Span {
  first: number;
  last: number;
  entry: ConflictEntry;
}

interface Conflict {
  later: ConflictEntry;
  earlier: ConflictEntry;
  first: number;
  last: number;
}

/** Binary heap; `before(a, b)` says whether a belongs nearer the top. */
class Heap<T> {
  private readonly items: T[] = [];

  constructor(private readonly before: (a: T, b: T) => boolean) {}

  peek(): T | undefined {
    return this.items[0];
  }

  push(item: T): void {
    const items = this.items;
    let i = items.push(item) - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.before(item, items[parent]!)) break;
      items[i] = items[parent]!;
      i = parent;
    }
    items[i] = item;
  }

  pop(): void {
    const items = this.items;
    const last = items.pop();
    if (last === undefined || items.length === 0) return;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= items.length) break;
      const right = left + 1;
      const child = right < items.length && this.before(items[right]!, items[left]!) ? right : left;
      if (!this.before(items[child]!, last)) break;
      items[i] = items[child]!;
      i = child;
    }
    items[i] = last;
  }
}

/**
 * Spans seen so far whose scope falls in one bucket. Both heaps drop a span
 * lazily, once it surfaces after its end (the sweep only moves forward) or,
 * in `unflagged`, after its rule was flagged.
 */
interface Bucket {
  /** Earliest rule on top: the partner named when a later rule arrives. */
  earliest: Heap<Span>;
  /** Request rules without a violation yet, latest rule on top. */
  unflagged: Heap<Span>;
}

/**
 * Sweep per protocol over port intervals sorted by start. Each request rule
 * that overlaps an earlier rule gets one violation, for its lowest
 * conflicting port (spans are visited in order of where an overlap starts).
 * Every heap entry is pushed and popped at most once, so the sweep costs
 * O(n log n) for n intervals however many rules overlap.
 */
function checkConflicts(entries: ConflictEntry[], out: Violation[]): void {
  const conflicts: Conflict[] = [];
  const flag = (later: ConflictEntry, earlier: ConflictEntry, first: number, last: number): void => {
    later.flagged = true;
    conflicts.push({ later, earlier, first, last });
  };
  for (const protocol of ['tcp', 'udp'] as const) {
    const spans = entries
      .filter((e) => e.protocol === protocol)
      .flatMap((entry) => entry.intervals.map((r): Span => ({ first: r.first, last: r.last, entry })));
    spans.sort((a, b) => a.first - b.first || a.entry.order - b.entry.order);
    const buckets = new Map<string, Bucket>();
    for (const span of spans) {
      const { entry } = span;
      // Every open span in these buckets overlaps `span` in scope, and in
      // ports too, since it starts no later. A rule's own intervals are
      // disjoint, so none of them is open here.
      const met = metIn(entry.scope).flatMap((name) => buckets.get(name) ?? []);
      if (entry.inRequest && !entry.flagged) {
        let partner: Span | undefined;
        for (const { earliest } of met) {
          let top = earliest.peek();
          while (top && top.last < span.first) {
            earliest.pop();
            top = earliest.peek();
          }
          if (top && top.entry.order < entry.order && (!partner || top.entry.order < partner.entry.order)) partner = top;
        }
        if (partner) flag(entry, partner.entry, span.first, Math.min(partner.last, span.last));
      }
      for (const { unflagged } of met) {
        for (let top = unflagged.peek(); top; top = unflagged.peek()) {
          if (!top.entry.flagged && top.last >= span.first) {
            if (top.entry.order < entry.order) break;
            flag(top.entry, entry, span.first, Math.min(top.last, span.last));
          }
          unflagged.pop();
        }
      }
      for (const name of storedIn(entry.scope)) {
        let bucket = buckets.get(name);
        if (!bucket) {
          bucket = {
            earliest: new Heap((a, b) => a.entry.order < b.entry.order),
            unflagged: new Heap((a, b) => a.entry.order > b.entry.order),
          };
          buckets.set(name, bucket);
        }
        bucket.earliest.push(span);
        if (entry.inRequest && !entry.flagged) bucket.unflagged.push(span);
      }
    }
  }
  conflicts.sort((a, b) => a.later.order - b.later.order);
  for (const { later, earlier, first, last } of conflicts) {
    const ports = first === last ? `port ${first}` : `ports ${first}-${last}`;
    const addresses =
      later.listenText === earlier.listenText
        ? ''
        : ` (${describeListen(later.listenText)} overlaps ${describeListen(earlier.listenText)})`;
    out.push({
      path: `${later.path}.ports`,
      message: `conflicts with ${earlier.label} on ${later.protocol} ${ports}${addresses}`,
    });
  }
}

function checkTableName(ctx: Context, name: string, path: string): void {
  if (name === '') fail(ctx, path, 'table name is required');
  else if (!NAME_PATTERN.test(name)) fail(ctx, path, `invalid table name ${quote(name)}: use ${NAME_RULE}`);
}

function checkNameUnique(
  ctx: Context,
  seen: Map<string, number>,
  name: string,
  index: number,
  path: () => string,
  kind: 'table' | 'rule',
): void {
  // An invalid name is reported as such, not as a duplicate; the path is spelled out only for a report.
  if (name === '') return;
  const first = seen.get(name);
  if (first === undefined) seen.set(name, index);
  else if (NAME_PATTERN.test(name)) fail(ctx, path(), `duplicate ${kind} name ${quote(name)}: ${kind === 'table' ? 'tables' : 'rules'}[${first}] has it too`);
}

/**
 * What conflict and loop checks need of a rule, computed once per rule
 * object (rules are never mutated): an unchanged rule costs its apply a
 * lookup, no strings and no objects.
 */
export interface RuleCore {
  intervals: PortRange[];
  /** Listen address with its effective zone, for messages. */
  listenText: string;
  /** Undefined when the listen address is unusable: the rule takes no part in conflicts. */
  scope?: ListenScope;
  /** Set on a request rule whose target fields are valid: it takes part in loop checks. */
  target?: { address: ParsedAddress; zone: string };
}

/** One rule as conflict and loop checks see it, built only for the rules they look at. */
interface RuleFacts extends RuleCore {
  rule: ForwardRule;
  /** Path of the rule's table, e.g. `tables[web]`, and the rule's index in it. */
  tablePath: string;
  index: number;
  inRequest: boolean;
  /** Not running as it is (see ValidationInput.running): conflict and loop checks pair it with everything. */
  changed: boolean;
  /** Running rules first, then request rules in request order. */
  order: number;
}

const factsPath = (f: RuleFacts): string => `${f.tablePath}.rules[${f.index}]`;
const factsLabel = (f: RuleFacts): string => `${f.inRequest ? '' : 'running rule '}${ruleLabel(f.tablePath, f.index, f.rule.name)}`;

/**
 * Every rule of one validation, as parallel arrays (no object per rule):
 * most rules of a large configuration are unchanged and only a few of them
 * meet a changed one.
 */
class RuleList {
  readonly rules: ForwardRule[] = [];
  readonly cores: RuleCore[] = [];
  readonly tablePaths: string[] = [];
  readonly indexes: number[] = [];
  readonly inRequest: boolean[] = [];
  readonly changed: boolean[] = [];

  push(rule: ForwardRule, core: RuleCore, tablePath: string, index: number, inRequest: boolean, changed: boolean): void {
    this.rules.push(rule);
    this.cores.push(core);
    this.tablePaths.push(tablePath);
    this.indexes.push(index);
    this.inRequest.push(inRequest);
    this.changed.push(changed);
  }

  get length(): number {
    return this.rules.length;
  }

  facts(i: number): RuleFacts {
    return {
      ...this.cores[i]!,
      rule: this.rules[i]!,
      tablePath: this.tablePaths[i]!,
      index: this.indexes[i]!,
      inRequest: this.inRequest[i]!,
      changed: this.changed[i]!,
      order: i,
    };
  }
}

/** What checkRule() found about a rule it reported nothing on. */
interface CleanCheck {
  checked: CheckedRule;
  /** For a rule with valid ports and a usable protocol and listen address. */
  core?: RuleCore;
}

/**
 * checkRule() of rules without violations, by rule object and backend
 * capabilities (the only other input): a rule the request decoder reused is
 * checked once. Parsed rules are never mutated.
 */
const cleanChecks = new Map<string, WeakMap<ForwardRule, CleanCheck>>();

function capabilitiesKey(caps: Capabilities): string {
  return `${caps.backend}|${caps.supported.join(',')}`;
}

/** Conflict facts of a running rule (valid already), by rule object. */
const runningCores = new WeakMap<ForwardRule, RuleCore>();

function coreOfRunning(parse: (text: string) => ParsedAddress | undefined, rule: ForwardRule): RuleCore {
  let core = runningCores.get(rule);
  if (!core) {
    const listen = rule.listenAddress === '' ? undefined : parse(rule.listenAddress);
    core = { intervals: portIntervals(rule), listenText: listenText(rule, listen), scope: listenScope(rule, listen) };
    runningCores.set(rule, core);
  }
  return core;
}

/** Ports of a rule's intervals, by interval list (each core's list is its own). */
const portCounts = new WeakMap<readonly PortRange[], number>();

function portsOf(intervals: readonly PortRange[]): number {
  let n = portCounts.get(intervals);
  if (n === undefined) portCounts.set(intervals, (n = countPorts(intervals)));
  return n;
}

/** Rules of each running table, as sets, by table object. */
const runningSets = new WeakMap<Table, ReadonlySet<ForwardRule>>();

function rulesOf(table: Table): ReadonlySet<ForwardRule> {
  let set = runningSets.get(table);
  if (!set) {
    set = new Set(table.rules);
    runningSets.set(table, set);
  }
  return set;
}

function scopesMeet(a: ListenScope, b: ListenScope): boolean {
  const met = metIn(a);
  return storedIn(b).some((name) => met.includes(name));
}

function intervalsMeet(a: readonly PortRange[], b: readonly PortRange[]): boolean {
  return a.some((x) => b.some((y) => x.first <= y.last && y.first <= x.last));
}

/** Whether a target of `t` (its ports mapped) falls in `intervals`. */
function targetsMeet(rule: ForwardRule, t: RuleCore, intervals: readonly PortRange[]): boolean {
  return t.intervals.some((i) => {
    const first = mapTargetPort(rule, i.first);
    const last = mapTargetPort(rule, i.last);
    return intervals.some((y) => first <= y.last && y.first <= last);
  });
}

/**
 * The rules conflict and loop checks must look at. Unchanged rules were
 * checked together when they were applied, so a violation needs a changed
 * rule on one side: a check over the changed rules plus the unchanged ones
 * that meet one of them finds exactly what a check over all would. A large
 * change (over a quarter of the rules) checks everything, which then costs
 * less than the filtering. Cheap numeric tests come first: nearly every
 * unchanged rule fails them.
 */
function checkedSets(list: RuleList, incremental: boolean): { conflicts: RuleFacts[]; listeners: RuleFacts[]; targeting: RuleFacts[] } {
  const conflicts: RuleFacts[] = [];
  const listeners: RuleFacts[] = [];
  const targeting: RuleFacts[] = [];
  const changed: number[] = [];
  if (incremental) for (let i = 0; i < list.length; i++) if (list.changed[i]) changed.push(i);
  for (let i = 0; i < list.length; i++) {
    const core = list.cores[i]!;
    const rule = list.rules[i]!;
    let conflict = core.scope !== undefined;
    let listener = true;
    let target = core.target !== undefined;
    if (incremental && !list.changed[i]) {
      conflict &&= changed.some((c) => {
        const other = list.cores[c]!;
        return (
          list.rules[c]!.protocol === rule.protocol && other.scope !== undefined && intervalsMeet(other.intervals, core.intervals) && scopesMeet(other.scope, core.scope!)
        );
      });
      listener = changed.some((c) => list.cores[c]!.target !== undefined && list.rules[c]!.protocol === rule.protocol && targetsMeet(list.rules[c]!, list.cores[c]!, core.intervals));
      target &&= changed.some((c) => list.rules[c]!.protocol === rule.protocol && targetsMeet(rule, core, list.cores[c]!.intervals));
    }
    if (!conflict && !listener && !target) continue;
    const facts = list.facts(i);
    if (conflict) conflicts.push(facts);
    if (listener) listeners.push(facts);
    if (target) targeting.push(facts);
  }
  return { conflicts, listeners, targeting };
}

/** Conflict and loop checks over the rules checkedSets() picked. */
function checkMeetings(
  sets: { conflicts: RuleFacts[]; listeners: RuleFacts[]; targeting: RuleFacts[] },
  input: Pick<ValidationInput, 'reserved' | 'localAddresses'>,
  out: Violation[],
): void {
  const entries = sets.conflicts.map(
    (f): ConflictEntry => ({
      order: f.order,
      inRequest: f.inRequest,
      path: factsPath(f),
      label: factsLabel(f),
      protocol: f.rule.protocol,
      listenText: f.listenText,
      scope: f.scope!,
      intervals: f.intervals,
      flagged: false,
    }),
  );
  checkConflicts(entries, out);
  const listeners = sets.listeners.map(
    (f): RuleListener => ({
      protocol: f.rule.protocol,
      listen: f.listenText,
      intervals: f.intervals,
      label: factsLabel(f),
    }),
  );
  const targeting = sets.targeting.map(
    (f): TargetingRule => ({
      rule: f.rule,
      path: factsPath(f),
      listen: f.listenText,
      intervals: f.intervals,
      target: f.target!.address,
      targetZone: f.target!.zone,
    }),
  );
  checkSelfProtection({ listeners, targeting, reserved: input.reserved ?? [], localAddresses: input.localAddresses ?? [] }, out);
}

/**
 * checkRule() of a request rule, from `clean` when it passed before; what
 * it found is cached there when it reported nothing and every field parsed.
 */
function checkRequestRule(ctx: Context, clean: WeakMap<ForwardRule, CleanCheck>, rule: ForwardRule, path: string): CleanCheck {
  const known = clean.get(rule);
  if (known) return known;
  const reported = ctx.out.length;
  const checked = checkRule(ctx, rule, path);
  const unread = unparsedFields(rule);
  // Loop checks need a target that parsed and passed its own checks.
  const targetReported = ctx.out
    .slice(reported)
    .some((v) => v.path === `${path}.target_address` || v.path === `${path}.target_port` || v.path === `${path}.interface`);
  const target = ctx.parseAddress(rule.targetAddress);
  const targetOk = target && !targetReported && !['target_address', 'target_port', 'interface'].some((f) => unread.has(f));
  const { intervals, listen, comparable } = checked;
  const core: RuleCore | undefined =
    intervals && comparable
      ? {
          intervals,
          listenText: listenText(rule, listen),
          scope: listenScope(rule, listen),
          ...(targetOk && { target: { address: target, zone: effectiveZone(rule, target) } }),
        }
      : undefined;
  const check = { checked, ...(core && { core }) };
  if (ctx.out.length === reported && unread.size === 0) clean.set(rule, check);
  return check;
}

function cleanChecksOf(caps: Capabilities): WeakMap<ForwardRule, CleanCheck> {
  const key = capabilitiesKey(caps);
  let clean = cleanChecks.get(key);
  if (!clean) cleanChecks.set(key, (clean = new WeakMap()));
  return clean;
}

/**
 * What conflict and loop checks need of a request rule, when checkRule()
 * reports nothing on it; undefined when it reports something.
 */
export function cleanRuleCore(rule: ForwardRule, capabilities: Capabilities): RuleCore | undefined {
  const clean = cleanChecksOf(capabilities);
  const ctx: Context = { caps: capabilities, out: [], parseAddress: memoParseAddress() };
  const check = checkRequestRule(ctx, clean, rule, 'rule');
  return clean.has(rule) ? check.core : undefined;
}

/** Conflict facts of a running (normalised, valid) rule. */
export function runningRuleCore(rule: ForwardRule): RuleCore {
  return coreOfRunning(parseAddress, rule);
}

/** A changed request rule, for checkAmong(). */
export interface ChangedRule {
  rule: ForwardRule;
  core: RuleCore;
  tablePath: string;
  index: number;
}

/**
 * Conflict and loop checks of `rules` among themselves only: what a full
 * validation checks when these are its only changed rules and none of them
 * meets an unchanged rule (see checkedSets()).
 */
export function checkAmong(rules: readonly ChangedRule[], input: Pick<ValidationInput, 'reserved' | 'localAddresses'>): Violation[] {
  const list = new RuleList();
  for (const r of rules) list.push(r.rule, r.core, r.tablePath, r.index, true, true);
  const out: Violation[] = [];
  checkMeetings(checkedSets(list, false), input, out);
  return out;
}

/** Every problem of the request tables, each once with its field path; [] when the request is valid. */
export function validateConfig(input: ValidationInput): Violation[] {
  const { requestTables, otherTables, limits } = input;
  const basePath = input.basePath ?? 'tables';
  const ctx: Context = { caps: input.capabilities, out: [], parseAddress: memoParseAddress() };
  const clean = cleanChecksOf(input.capabilities);
  const running = input.running ? new Map(input.running.map((t) => [t.name, t])) : undefined;
  const list = new RuleList();
  let changedCount = 0;
  let totalPorts = 0;

  // Running rules are valid already: they only take part in conflicts and limits.
  otherTables.forEach((table, ti) => {
    const tp = tablePath(basePath, table.name, ti);
    table.rules.forEach((rule, index) => {
      const core = coreOfRunning(ctx.parseAddress, rule);
      totalPorts += portsOf(core.intervals);
      list.push(rule, core, tp, index, false, false);
    });
  });

  const tableIndexByName = new Map<string, number>();
  requestTables.forEach((table, ti) => {
    const tp = tablePath(basePath, table.name, ti);
    if (!unparsedFields(table).has('name')) checkTableName(ctx, table.name, `${tp}.name`);
    checkNameUnique(ctx, tableIndexByName, table.name, ti, () => `${tp}.name`, 'table');
    if (table.rules.length > limits.maxRulesPerTable) {
      overLimit(
        ctx,
        `${tp}.rules`,
        'max_rules_per_table',
        `${table.rules.length} rules exceed the limit max_rules_per_table = ${limits.maxRulesPerTable}`,
      );
    }
    const runningRules = running?.get(table.name);
    const ruleIndexByName = new Map<string, number>();
    // A rule object the request repeats runs once at most: its repeats are changed (and conflict with it).
    const unchanged = new Set<ForwardRule>();
    table.rules.forEach((rule, ri) => {
      checkNameUnique(ctx, ruleIndexByName, rule.name, ri, () => `${tp}.rules[${ri}].name`, 'rule');
      const wasClean = clean.has(rule);
      const check = checkRequestRule(ctx, clean, rule, `${tp}.rules[${ri}]`);
      const { intervals } = check.checked;
      if (!intervals) return;
      totalPorts += portsOf(intervals);
      // A rule whose protocol or listen address was reported takes no part in conflicts.
      if (!check.core) return;
      // Only a rule without violations can be running as it is.
      const normal = runningRules && (wasClean || clean.has(rule)) ? normalizeRule(rule) : undefined;
      const changed = !(normal && rulesOf(runningRules!).has(normal) && !unchanged.has(normal));
      if (!changed) unchanged.add(normal!);
      if (changed) changedCount++;
      list.push(rule, check.core, tp, ri, true, changed);
    });
  });

  const incremental = running !== undefined && changedCount * 4 <= list.length;
  checkMeetings(checkedSets(list, incremental), input, ctx.out);

  const count = (tables: Table[]): number => tables.reduce((n, t) => n + t.rules.length, 0);
  const requestRules = count(requestTables);
  const runningRules = count(otherTables);
  const tableCount = requestTables.length + otherTables.length;
  if (tableCount > limits.maxTables) {
    overLimit(
      ctx,
      basePath,
      'max_tables',
      `${tableCount} tables (${requestTables.length} in the request, ${otherTables.length} running) exceed the limit max_tables = ${limits.maxTables}`,
    );
  }
  if (requestRules + runningRules > limits.maxRules) {
    overLimit(
      ctx,
      basePath,
      'max_rules',
      `${requestRules + runningRules} rules (${requestRules} in the request, ${runningRules} running) exceed the limit max_rules = ${limits.maxRules}`,
    );
  }
  if (totalPorts > limits.maxPorts) {
    overLimit(ctx, basePath, 'max_ports', `${totalPorts} ports in total exceed the limit max_ports = ${limits.maxPorts}`);
  }
  return ctx.out;
}
