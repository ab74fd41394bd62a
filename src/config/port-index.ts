/**
 * Ports of the running rules, counted per protocol and listen bucket, kept
 * in step with the running tables: a table the running configuration did
 * not change since the last sync costs a pointer check, a table made by an
 * edit (table-delta.ts) costs its removed and added rules. Delta validation
 * asks it whether any running rule meets a changed one, instead of walking
 * every other table's rules on each apply.
 */
import type { ForwardRule, PortRange, Protocol, Table } from './model.js';
import { tableEdit } from './table-delta.js';

/** What the index keeps of one rule. */
export interface IndexedRule {
  protocol: Protocol;
  /** Listen buckets the rule is stored in (validate.ts storedIn()); none when its listen address takes no part in conflicts. */
  buckets: readonly string[];
  intervals: readonly PortRange[];
  /** Its target ports (listening ports mapped). */
  targets: readonly PortRange[];
  ports: number;
}

/** Key of every listener of a protocol, whatever its bucket. */
export const ANY_LISTENER = '*';
/** Key of the target ports of a protocol. */
export const TARGETS = '>';

/** Counts per (protocol, key) and port; an overlay adds signed counts to an index without changing it. */
export class PortCounts {
  private readonly counts = new Map<string, Map<number, number>>();

  constructor(protected readonly factsOf: (rule: ForwardRule) => IndexedRule) {}

  /** Adds (sign 1) or takes away (sign -1) a rule. */
  add(rule: ForwardRule, sign: 1 | -1): IndexedRule {
    const facts = this.factsOf(rule);
    for (const bucket of facts.buckets) this.addRanges(facts.protocol, bucket, facts.intervals, sign);
    this.addRanges(facts.protocol, ANY_LISTENER, facts.intervals, sign);
    this.addRanges(facts.protocol, TARGETS, facts.targets, sign);
    return facts;
  }

  /** Whether any port of `ranges` has a positive count under `key`, with `overlay` added. */
  meets(protocol: Protocol, key: string, ranges: readonly PortRange[], overlay?: PortCounts): boolean {
    const mine = this.counts.get(`${protocol}${key}`);
    const theirs = overlay?.counts.get(`${protocol}${key}`);
    if (!mine && !theirs) return false;
    for (const r of ranges) {
      for (let p = r.first; p <= r.last; p++) {
        if ((mine?.get(p) ?? 0) + (theirs?.get(p) ?? 0) > 0) return true;
      }
    }
    return false;
  }

  private addRanges(protocol: Protocol, key: string, ranges: readonly PortRange[], sign: 1 | -1): void {
    const name = `${protocol}${key}`;
    let counts = this.counts.get(name);
    if (!counts) this.counts.set(name, (counts = new Map()));
    for (const r of ranges) {
      for (let p = r.first; p <= r.last; p++) {
        const n = (counts.get(p) ?? 0) + sign;
        if (n === 0) counts.delete(p);
        else counts.set(p, n);
      }
    }
  }
}

/** PortCounts of the running tables, with their rule and port totals. */
export class PortIndex extends PortCounts {
  private tables = new Map<string, Table>();
  rules = 0;
  ports = 0;

  get tableCount(): number {
    return this.tables.size;
  }

  /** Brings the index to `tables` (the running ones). */
  sync(tables: readonly Table[]): void {
    const next = new Map<string, Table>();
    let kept = 0;
    for (const table of tables) {
      next.set(table.name, table);
      const before = this.tables.get(table.name);
      if (before) kept++;
      if (before === table) continue;
      const edit = before && tableEdit(table);
      if (edit && edit.from === before) {
        for (const rule of edit.removed) this.count(rule, -1);
        for (const rule of edit.added) this.count(rule, 1);
      } else {
        for (const rule of before?.rules ?? []) this.count(rule, -1);
        for (const rule of table.rules) this.count(rule, 1);
      }
    }
    // Every table indexed before still runs unless fewer of them were found.
    if (kept !== this.tables.size) {
      for (const [name, table] of this.tables) if (!next.has(name)) for (const rule of table.rules) this.count(rule, -1);
    }
    this.tables = next;
  }

  private count(rule: ForwardRule, sign: 1 | -1): void {
    const facts = this.add(rule, sign);
    this.rules += sign;
    this.ports += sign * facts.ports;
  }
}
