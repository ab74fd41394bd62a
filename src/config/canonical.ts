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

/** sha256 over a normalised table's name and its rules' digests in order. */
export function tableDigest(table: Table): string {
  let digest = tableDigestCache.get(table);
  if (digest === undefined) {
    digest = sha256Hex(`${JSON.stringify(table.name)}:${table.rules.map(ruleDigest).join(',')}`);
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
