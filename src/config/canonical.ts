/**
 * Canonical text of rules and configurations: stable key order, defaults
 * filled in. Rule identity (unnamed rules), change detection and the config
 * digest all compare this text, so they agree by construction.
 */
import { createHash } from 'node:crypto';
import type { ForwardingConfig, ForwardRule, Table } from './model.js';

// Model rules are never mutated after parsing, and one apply asks for the
// same rule's canonical text in normalisation, planning, counter assignment
// and the digest; running rules are asked again on every later apply.
const canonicalCache = new WeakMap<ForwardRule, string>();

/** Canonical JSON of one rule's content, name included. */
export function canonicalRule(rule: ForwardRule): string {
  let text = canonicalCache.get(rule);
  if (text === undefined) {
    text = computeCanonicalRule(rule);
    canonicalCache.set(rule, text);
  }
  return text;
}

function computeCanonicalRule(rule: ForwardRule): string {
  return JSON.stringify([
    rule.name,
    rule.protocol,
    rule.listenAddress,
    rule.interface,
    [rule.ports.first, rule.ports.last],
    rule.exclude.map((r) => [r.first, r.last]),
    rule.targetAddress,
    rule.targetPort,
    rule.weak,
    rule.allow,
    rule.deny,
    rule.onFilterChange,
    rule.proxyProtocol,
    [
      rule.limits.maxSessions,
      rule.limits.sessionRate,
      rule.limits.sessionBurst,
      rule.limits.sourceRate,
      rule.limits.sourceBurst,
      rule.limits.maxUdpFlows,
    ],
    rule.udpIdleTimeoutMs,
    rule.connectTimeoutMs,
    [rule.drain.mode, rule.drain.timeoutMs],
    // Appended only when set, so digests of configurations without SNAT stay what they were.
    ...(rule.snatAddress === '' ? [] : [rule.snatAddress]),
  ]);
}

/** Canonical JSON of a normalised table (see normalize.ts). */
export function canonicalTable(table: Table): string {
  return `[${JSON.stringify(table.name)},[${table.rules.map(canonicalRule).join(',')}]]`;
}

/** Canonical JSON of a normalised configuration. */
export function canonicalConfig(config: ForwardingConfig): string {
  return `[${config.tables.map(canonicalTable).join(',')}]`;
}

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

// Rules and normalised tables are never mutated either: an apply that
// changes one rule of a large table hashes that rule and the table's list
// of rule digests, and an apply that changes one table of many hashes no
// other table.
const ruleDigestCache = new WeakMap<ForwardRule, string>();
const tableDigestCache = new WeakMap<Table, string>();

function ruleDigest(rule: ForwardRule): string {
  let digest = ruleDigestCache.get(rule);
  if (digest === undefined) {
    digest = sha256Hex(canonicalRule(rule));
    ruleDigestCache.set(rule, digest);
  }
  return digest;
}

/** Characters of one rule's digest in a digest list: 64 hex digits and the comma after them. */
const LISTED_DIGEST = 65;

/**
 * The text a table's digest hashes after its name: its rules' digests in
 * order, comma-separated. Kept for the newest table of an edit chain only
 * (digestFrom()): the next edit splices it instead of gathering and joining
 * 1,000 digests again.
 */
const digestLists = new WeakMap<Table, string>();
/** Tables made from another by an edit: that table (held weakly) and the rules the edit took out of it. */
const digestSources = new WeakMap<Table, { from: WeakRef<Table>; removed: ReadonlySet<ForwardRule> }>();

/**
 * Notes that normalised `table` is `from` without the rules `removed` and
 * with some added (order kept): its digest then reuses `from`'s digest list
 * for the rules they share.
 */
export function digestFrom(table: Table, from: Table, removed: readonly ForwardRule[]): void {
  digestSources.set(table, { from: new WeakRef(from), removed: new Set(removed) });
}

function digestList(table: Table): string {
  let list = digestLists.get(table);
  if (list !== undefined) return list;
  const source = digestSources.get(table);
  const from = source?.from.deref();
  const fromList = from && digestLists.get(from);
  list = fromList === undefined ? table.rules.map(ruleDigest).join(',') : splicedList(from!.rules, fromList, table.rules, source!.removed);
  // The source's list has served its edit; a table edited twice computes its list again.
  if (from) digestLists.delete(from);
  digestLists.set(table, list);
  return list;
}

/**
 * `rules`' digest list from `fromRules`' (`fromList`): each rule that is
 * the very next rule of fromRules (after skipping removed ones) takes its
 * digest from fromList, a run at a time; any other takes its own. Every
 * digest listed is its rule's, whatever the edit was.
 */
function splicedList(fromRules: readonly ForwardRule[], fromList: string, rules: readonly ForwardRule[], removed: ReadonlySet<ForwardRule>): string {
  const parts: string[] = [];
  let j = 0;
  let run = -1;
  const flush = (): void => {
    if (run >= 0) parts.push(fromList.slice(run * LISTED_DIGEST, j * LISTED_DIGEST - 1));
    run = -1;
  };
  for (const rule of rules) {
    while (j < fromRules.length && fromRules[j] !== rule && removed.has(fromRules[j]!)) {
      flush();
      j++;
    }
    if (j < fromRules.length && fromRules[j] === rule) {
      if (run < 0) run = j;
      j++;
    } else {
      flush();
      parts.push(ruleDigest(rule));
    }
  }
  flush();
  return parts.join(',');
}

/** sha256 over a normalised table's name and its rules' digests in order. */
export function tableDigest(table: Table): string {
  let digest = tableDigestCache.get(table);
  if (digest === undefined) {
    digest = sha256Hex(`${JSON.stringify(table.name)}:${digestList(table)}`);
    tableDigestCache.set(table, digest);
  }
  return digest;
}

/**
 * sha256 over the tables' digests in order: equal exactly when configs are
 * structurally equal, and it costs the hashing of the changed tables only.
 */
export function configDigest(config: ForwardingConfig): string {
  return sha256Hex(config.tables.map(tableDigest).join(','));
}
