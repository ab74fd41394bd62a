/**
 * computePlan: the structural diff of two normalised configurations, at rule
 * level (what operators read) and at port level (what a backend executes).
 * Sockets of unchanged rules are counted, not diffed (see Plan.ports), so a
 * one-rule edit of a large configuration costs O(rules) cheap steps plus
 * O(ports of the rules that changed), not O(all ports).
 */
import { listenAddressesOverlap } from '../config/address.js';
import { canonicalRule } from '../config/canonical.js';
import type { ForwardingConfig, ForwardRule, Table } from '../config/model.js';
import { countPorts, portIntervals } from '../config/ports.js';
import { editBetween, tableEdit } from '../config/table-delta.js';
import { changedFields, ruleId } from './identity.js';
import { listenerKey, routeOf, routesEqual } from './listeners.js';
import type { Plan, PortAction, PortChange, Route, RuleAction, RuleChange } from './model.js';

interface RuleEntry {
  table: string;
  index: number;
  rule: ForwardRule;
  canonical: string;
  id: string;
  /** Numeric socket ids of the rule's ports, filled in by claimSockets(). */
  sockets: number[];
  /** For a rule 'unchanged' in diffTable(): its counterpart on the other side. */
  partner?: RuleEntry;
  /** Set by markQuiet(): the rule's sockets are all kept and left out of the diff. */
  quiet?: boolean;
}

function ruleEntry(table: Table, index: number, rule: ForwardRule): RuleEntry {
  const canonical = canonicalRule(rule);
  return { table: table.name, index, rule, canonical, id: ruleId(table.name, rule, canonical), sockets: [] };
}

/** Entries of the rules of `table` (those `keep` accepts), with their index in the table. */
function ruleEntries(table: Table | undefined, keep?: (rule: ForwardRule) => boolean): RuleEntry[] {
  if (!table) return [];
  const entries: RuleEntry[] = [];
  table.rules.forEach((rule, index) => {
    if (keep && !keep(rule)) return;
    entries.push(ruleEntry(table, index, rule));
  });
  return entries;
}

// Ties on index are a removed running rule and a desired rule at the same
// position; showing the old one first reads as "replaced by".
const ACTION_RANK: Record<RuleAction, number> = { removed: 0, changed: 1, unchanged: 1, added: 1 };

/** Rule-level diff of one table. */
function diffTable(running: RuleEntry[], desired: RuleEntry[]): RuleChange[] {
  const change = (entry: RuleEntry, action: RuleAction, fields: string[] = []): RuleChange => ({
    table: entry.table,
    name: entry.rule.name,
    ruleId: entry.id,
    action,
    changedFields: fields,
    index: entry.index,
    rule: entry.rule,
  });
  // Within one table the identity (see ruleIdentity()) is the name, or the
  // content of an unnamed rule: two Maps keep the kinds apart without
  // building identity strings. Identities are unique in a valid table; a
  // queue per identity still pairs duplicates one to one, so even an invalid
  // input diffs completely.
  const named = new Map<string, RuleEntry[]>();
  const unnamed = new Map<string, RuleEntry[]>();
  const queueOf = (entry: RuleEntry): [Map<string, RuleEntry[]>, string] =>
    entry.rule.name !== '' ? [named, entry.rule.name] : [unnamed, entry.canonical];
  for (const entry of running) {
    const [pending, key] = queueOf(entry);
    const queue = pending.get(key);
    if (queue) queue.push(entry);
    else pending.set(key, [entry]);
  }
  const changes: RuleChange[] = [];
  for (const entry of desired) {
    const [pending, key] = queueOf(entry);
    const old = pending.get(key)?.shift();
    if (!old) changes.push(change(entry, 'added'));
    else if (old.canonical === entry.canonical) {
      changes.push(change(entry, 'unchanged'));
      entry.partner = old;
      old.partner = entry;
    } else changes.push(change(entry, 'changed', changedFields(old.rule, entry.rule)));
  }
  for (const pending of [named, unnamed]) {
    for (const queue of pending.values()) for (const entry of queue) changes.push(change(entry, 'removed'));
  }
  return changes.sort((a, b) => a.index - b.index || ACTION_RANK[a.action] - ACTION_RANK[b.action]);
}

/**
 * The diff's Maps are keyed by a number, (address id, protocol, port), not
 * by listenerKey(): hashing some 20,000 fresh strings cost more than the rest
 * of planning. Key strings are built only for the changes emitted.
 */
const PORTS = 65536;

class SocketIds {
  private readonly addresses = new Map<string, number>();

  /** Socket id of port 0 of `rule`; add the port. */
  base(rule: ForwardRule): number {
    let address = this.addresses.get(rule.listenAddress);
    if (address === undefined) {
      address = this.addresses.size;
      this.addresses.set(rule.listenAddress, address);
    }
    return (address * 2 + (rule.protocol === 'udp' ? 1 : 0)) * PORTS;
  }
}

/**
 * Socket id -> owning rule for one side, in config order so a doubly mapped
 * socket goes to the last rule, as in listenerMap().
 */
function claimSockets(entries: readonly RuleEntry[], ids: SocketIds): Map<number, RuleEntry> {
  const owners = new Map<number, RuleEntry>();
  for (const entry of entries) {
    const base = ids.base(entry.rule);
    for (const range of portIntervals(entry.rule)) {
      for (let port = range.first; port <= range.last; port++) {
        entry.sockets.push(base + port);
        owners.set(base + port, entry);
      }
    }
  }
  return owners;
}

function portChange(entry: RuleEntry, port: number, action: PortAction, route?: Route, previous?: Route): PortChange {
  const { protocol, listenAddress } = entry.rule;
  const change: PortChange = { protocol, listenAddress, port, key: listenerKey({ protocol, listenAddress, port }), action };
  if (route) change.route = route;
  if (previous) change.previous = previous;
  return change;
}

function routeAt(entry: RuleEntry, port: number): Route {
  return routeOf(entry.table, entry.rule, entry.id, port);
}

function compareBindings(a: PortChange, b: PortChange): number {
  if (a.protocol !== b.protocol) return a.protocol < b.protocol ? -1 : 1;
  if (a.listenAddress !== b.listenAddress) return a.listenAddress < b.listenAddress ? -1 : 1;
  return a.port - b.port;
}

/**
 * listenAddressesOverlap() parses both addresses on every call; moving a
 * large range to another address asks the same question once per port.
 */
function memoOverlap(): (a: string, b: string) => boolean {
  const memo = new Map<string, Map<string, boolean>>();
  return (a, b) => {
    let row = memo.get(a);
    if (!row) memo.set(a, (row = new Map()));
    let result = row.get(b);
    if (result === undefined) row.set(b, (result = listenAddressesOverlap(a, b)));
    return result;
  };
}

/**
 * Marks `quiet` both rules of every unchanged pair whose range overlaps no
 * other rule's range on either side, and returns how many sockets those
 * pairs hold. Such a pair owns each of its sockets on both sides with the
 * same route, so the sockets are kept and need no per-port work at all; only
 * invalid (overlapping) input leaves a pair unquiet. Exclusions are ignored,
 * which can only keep a pair out, never let a wrong one in.
 */
function markQuiet(running: readonly RuleEntry[], desired: readonly RuleEntry[], ids: SocketIds): number {
  const spans: { lo: number; hi: number; entry: RuleEntry }[] = [];
  const add = (entry: RuleEntry): void => {
    const base = ids.base(entry.rule);
    spans.push({ lo: base + entry.rule.ports.first, hi: base + entry.rule.ports.last, entry });
  };
  // A pair covers the same sockets on both sides, so its desired rule stands for both.
  for (const entry of desired) add(entry);
  for (const entry of running) if (!entry.partner) add(entry);
  spans.sort((a, b) => a.lo - b.lo);
  let kept = 0;
  // Sweep clusters of transitively overlapping spans; a lone span overlaps nothing.
  let start = 0;
  let hi = -1;
  for (let i = 0; i <= spans.length; i++) {
    const span = spans[i];
    if (span && span.lo <= hi) {
      hi = Math.max(hi, span.hi);
      continue;
    }
    const lone = i - start === 1 ? spans[start]?.entry : undefined;
    if (lone?.partner) {
      lone.quiet = lone.partner.quiet = true;
      kept += countPorts(portIntervals(lone.rule));
    }
    if (span) {
      start = i;
      hi = span.hi;
    }
  }
  return kept;
}

/**
 * Port-level diff in execution order (see Plan.ports), and the number of
 * kept sockets left out of it: those whose owner is an unchanged rule on
 * both sides.
 */
function diffPorts(running: readonly RuleEntry[], desired: readonly RuleEntry[]): { ports: PortChange[]; unlisted: number } {
  const ids = new SocketIds();
  let unlisted = markQuiet(running, desired, ids);
  // A quiet pair shares no socket with the rest, so leaving it out changes
  // no other socket's owner.
  const loud = (entries: readonly RuleEntry[]): RuleEntry[] => entries.filter((e) => !e.quiet);
  const [runningLoud, desiredLoud] = [loud(running), loud(desired)];
  const before = claimSockets(runningLoud, ids);
  const after = claimSockets(desiredLoud, ids);
  const opens: PortChange[] = [];
  const retargets: PortChange[] = [];
  const keeps: PortChange[] = [];
  for (const entry of desiredLoud) {
    for (const socket of entry.sockets) {
      if (after.get(socket) !== entry) continue; // a later rule owns it (invalid input)
      const old = before.get(socket);
      // An unchanged pair that owns the socket on both sides, only found on
      // invalid input: left out like a quiet pair's, so the plan does not
      // depend on how the pair was found.
      if (old !== undefined && old === entry.partner) {
        unlisted++;
        continue;
      }
      const port = socket % PORTS;
      const route = routeAt(entry, port);
      if (!old) {
        opens.push(portChange(entry, port, 'open', route));
        continue;
      }
      const previous = routeAt(old, port);
      if (routesEqual(previous, route)) keeps.push(portChange(entry, port, 'keep', route, previous));
      else retargets.push(portChange(entry, port, 'retarget', route, previous));
    }
  }
  const closes: PortChange[] = [];
  // Closes by (protocol, port): only those can hold an address an open needs.
  const closesByPort = new Map<number, PortChange[]>();
  const slotOf = (change: PortChange): number => (change.protocol === 'udp' ? PORTS : 0) + change.port;
  for (const entry of runningLoud) {
    for (const socket of entry.sockets) {
      if (after.has(socket) || before.get(socket) !== entry) continue;
      const port = socket % PORTS;
      const close = portChange(entry, port, 'close', undefined, routeAt(entry, port));
      closes.push(close);
      const slot = slotOf(close);
      const list = closesByPort.get(slot);
      if (list) list.push(close);
      else closesByPort.set(slot, [close]);
    }
  }
  const freeOpens: PortChange[] = [];
  const blockedOpens: PortChange[] = [];
  const overlaps = memoOverlap();
  for (const open of opens) {
    const candidates = closesByPort.get(slotOf(open)) ?? [];
    open.needsRoomFrom = candidates
      .filter((c) => overlaps(c.listenAddress, open.listenAddress))
      .map((c) => c.key)
      .sort();
    (open.needsRoomFrom.length > 0 ? blockedOpens : freeOpens).push(open);
  }
  const ordered: PortChange[] = [];
  for (const group of [freeOpens, closes, blockedOpens, retargets, keeps]) {
    for (const change of group.sort(compareBindings)) ordered.push(change);
  }
  return { ports: ordered, unlisted };
}

const portCounts = new WeakMap<Table | ForwardRule, number>();

/** Ports of a (never mutated) rule, cached by rule. */
function rulePorts(rule: ForwardRule): number {
  let n = portCounts.get(rule);
  if (n === undefined) portCounts.set(rule, (n = countPorts(portIntervals(rule))));
  return n;
}

/** Ports of a normalised (never mutated) table, cached by table; an edit's from its source table's. */
function tablePorts(table: Table): number {
  let n = portCounts.get(table);
  if (n === undefined) {
    const edit = tableEdit(table);
    n =
      edit && portCounts.has(edit.from)
        ? portCounts.get(edit.from)! - edit.removed.reduce((sum, rule) => sum + rulePorts(rule), 0) + edit.added.reduce((sum, rule) => sum + rulePorts(rule), 0)
        : table.rules.reduce((sum, rule) => sum + rulePorts(rule), 0);
    portCounts.set(table, n);
  }
  return n;
}

/** Rules of a running table as a set, by table: the next plan against it needs the same set. */
const ruleSets = new WeakMap<Table, ReadonlySet<ForwardRule>>();

function ruleSet(table: Table): ReadonlySet<ForwardRule> {
  let set = ruleSets.get(table);
  if (!set) ruleSets.set(table, (set = new Set(table.rules)));
  return set;
}

/**
 * The plan from `running` to `desired`, both normalised and complete (tables
 * the request leaves alone already merged in, or dropped for replace_all).
 */
export function computePlan(
  running: ForwardingConfig,
  desired: ForwardingConfig,
  baseGeneration: number,
  /**
   * `valid`: `desired` passed validation (no two rules overlap), so a table
   * that is the running table object itself, and a rule that is the running
   * rule object itself, is only counted, not diffed.
   */
  options: { valid?: boolean } = {},
): Plan {
  const runningTables = new Map(running.tables.map((t) => [t.name, t]));
  const desiredTables = new Map(desired.tables.map((t) => [t.name, t]));
  const names = [...new Set([...runningTables.keys(), ...desiredTables.keys()])].sort();

  const runningEntries: RuleEntry[] = [];
  const desiredEntries: RuleEntry[] = [];
  const rules: RuleChange[] = [];
  const tables = { added: [] as string[], removed: [] as string[] };
  const touched: string[] = [];
  // A table that is the very running object (see normalizeConfig) is
  // unchanged rule for rule; in a valid configuration its sockets overlap no
  // other rule's on either side, so they are only counted, like a quiet pair's
  // (and so are the rules a changed table shares with its running version).
  let untouchedRules = 0;
  let untouchedPorts = 0;
  for (const name of names) {
    const runningTable = runningTables.get(name);
    const desiredTable = desiredTables.get(name);
    if (options.valid && runningTable && runningTable === desiredTable) {
      untouchedRules += runningTable.rules.length;
      untouchedPorts += tablePorts(runningTable);
      continue;
    }
    if (!runningTable) tables.added.push(name);
    if (!desiredTable) tables.removed.push(name);
    let before: RuleEntry[];
    let after: RuleEntry[];
    if (options.valid && runningTable && desiredTable) {
      // A rule on both sides (the same normalised object) is unchanged, and
      // in valid configurations its sockets overlap no other rule's on
      // either side: counted like an untouched table's, never diffed. Only
      // the rules that differ cost anything.
      const edit = editBetween(runningTable, desiredTable);
      if (edit) {
        // An edit of the running table (table-delta.ts) names the rules that differ.
        before = edit.removed.map((r) => ruleEntry(runningTable, r.index, r.rule));
        after = edit.added.map((r) => ruleEntry(desiredTable, r.index, r.rule));
        untouchedRules += desiredTable.rules.length - after.length;
        untouchedPorts += tablePorts(desiredTable) - after.reduce((n, e) => n + rulePorts(e.rule), 0);
      } else {
        const had = ruleSet(runningTable);
        const has = new Set(desiredTable.rules);
        before = ruleEntries(runningTable, (rule) => !has.has(rule));
        after = ruleEntries(desiredTable, (rule) => {
          if (!had.has(rule)) return true;
          untouchedRules++;
          untouchedPorts += rulePorts(rule);
          return false;
        });
      }
    } else {
      before = ruleEntries(runningTable);
      after = ruleEntries(desiredTable);
    }
    runningEntries.push(...before);
    desiredEntries.push(...after);
    const changes = diffTable(before, after);
    rules.push(...changes);
    if (!runningTable || !desiredTable || changes.some((c) => c.action !== 'unchanged')) touched.push(name);
  }

  const { ports, unlisted } = diffPorts(runningEntries, desiredEntries);
  const rulesBy: Record<RuleAction, number> = { added: 0, removed: 0, changed: 0, unchanged: untouchedRules };
  for (const change of rules) rulesBy[change.action]++;
  const portsBy: Record<PortAction, number> = { open: 0, close: 0, retarget: 0, keep: 0 };
  for (const change of ports) portsBy[change.action]++;
  // Structural equality: no table or rule touched. Port changes follow from
  // rule changes, but are checked too so `empty` can never hide a socket move.
  const empty = touched.length === 0 && portsBy.keep === ports.length;
  return {
    baseGeneration,
    rules,
    ports,
    summary: {
      rulesAdded: rulesBy.added,
      rulesRemoved: rulesBy.removed,
      rulesChanged: rulesBy.changed,
      rulesUnchanged: rulesBy.unchanged,
      portsOpened: portsBy.open,
      portsClosed: portsBy.close,
      portsRetargeted: portsBy.retarget,
      portsKept: portsBy.keep + unlisted + untouchedPorts,
      tablesTouched: touched,
      empty,
    },
    empty,
    tables,
  };
}
