/**
 * Validation of request tables that are edits of running tables
 * (table-delta.ts), in the cost of the edit. It proves the request clean:
 * the changed rules pass their own checks, their names stay unique, the
 * limits hold with the totals the port index keeps, no running rule that
 * stays meets a changed one (the port index, with the rules the edit
 * removes taken out), and the changed rules neither conflict nor loop among
 * themselves. Then a whole validateConfig() finds nothing either: its
 * conflict and loop checks look only at changed rules and the unchanged
 * rules meeting one (checkedSets() in validate.ts). Whenever the proof
 * fails, the whole validation runs, so the violations, their paths and their
 * order are exactly validateConfig()'s (test/unit/validate-delta.test.ts).
 */
import type { ForwardRule, Table, Violation } from './model.js';
import { tablePath, unparsedFields } from './parse.js';
import { countPorts, mapTargetRanges } from './ports.js';
import { normalizeRule } from './normalize.js';
import { ANY_LISTENER, PortCounts, PortIndex, TARGETS, type IndexedRule } from './port-index.js';
import type { TableDelta } from './table-delta.js';
import {
  checkAmong,
  cleanRuleCore,
  metIn,
  runningRuleCore,
  storedIn,
  validateConfig,
  type ChangedRule,
  type ValidationInput,
} from './validate.js';

/** What the port index keeps of a running (normalised, valid) rule. */
function indexedRule(rule: ForwardRule): IndexedRule {
  const core = runningRuleCore(rule);
  return {
    protocol: rule.protocol,
    buckets: core.scope ? storedIn(core.scope) : [],
    intervals: core.intervals,
    // Every rule's targets, not only those loop checks take: a superset only sends more requests down the whole path.
    targets: mapTargetRanges(rule, core.intervals),
    ports: countPorts(core.intervals),
  };
}

/** Keeps the port index of the running tables between applies. */
export class DeltaValidator {
  private readonly index = new PortIndex(indexedRule);
  /** Backend capabilities the remembered request forms were validated with. */
  private capabilities: string | undefined;

  /**
   * validateConfig(input), where `deltas` (one per request table, in
   * request order) are the request tables as edits of the running tables
   * `running`. Sets each delta's `names` when the request is valid.
   */
  validate(input: ValidationInput, deltas: TableDelta[], running: readonly Table[]): Violation[] {
    const caps = `${input.capabilities.backend}|${input.capabilities.supported.join(',')}`;
    this.capabilities ??= caps;
    if (caps === this.capabilities && input.otherTables.length + input.requestTables.length === running.length && this.proveClean(input, deltas, running)) {
      return [];
    }
    for (const d of deltas) delete d.names;
    return validateConfig(input);
  }

  private proveClean(input: ValidationInput, deltas: TableDelta[], running: readonly Table[]): boolean {
    const { limits } = input;
    const basePath = input.basePath ?? 'tables';
    const index = this.index;
    index.sync(running);
    // Rules the edits take out of the running tables, and moved rules that stay: the index as the unchanged rules see it.
    const overlay = new PortCounts(indexedRule);
    const changed: ChangedRule[] = [];
    let ports = index.ports;
    const tableNames = new Set<string>();
    for (const [ti, delta] of deltas.entries()) {
      const { request, form } = delta;
      if (request !== input.requestTables[ti] || tableNames.has(request.name) || unparsedFields(request).size > 0) return false;
      tableNames.add(request.name);
      if (request.rules.length > limits.maxRulesPerTable) return false;
      const tp = tablePath(basePath, request.name, ti);
      // Running rules the edit takes out: a changed position may bring one back (once).
      const out = new Set<ForwardRule>();
      for (const i of delta.changed) out.add(normalizeRule(form.rules[i]!));
      // Rule names: each changed position takes its old name away and brings its new one.
      const names = form.names.edit(
        delta.changed.map((i) => form.rules[i]!.name).filter((n) => n !== ''),
        delta.changed.map((i) => request.rules[i]!.name).filter((n) => n !== ''),
      );
      if (!names) return false;
      for (const i of delta.changed) {
        const rule = request.rules[i]!;
        const core = cleanRuleCore(rule, input.capabilities);
        if (!core) return false;
        const old = normalizeRule(form.rules[i]!);
        ports -= overlay.add(old, -1).ports;
        ports += countPorts(core.intervals);
        const normal = normalizeRule(rule);
        // A rule its table runs as it is counts as unchanged, as validateConfig() counts it; one
        // that also stays at an unchanged position is a repeat, changed.
        if (out.delete(normal)) overlay.add(normal, 1);
        else changed.push({ rule, core, tablePath: tp, index: i });
      }
      delta.names = names;
    }
    if (index.tableCount > limits.maxTables || index.rules > limits.maxRules || ports > limits.maxPorts) return false;
    // validateConfig() checks every rule against every other beyond a quarter changed.
    if (changed.length * 4 > index.rules) return false;
    for (const { rule, core } of changed) {
      const { protocol } = rule;
      if (core.scope && metIn(core.scope).some((bucket) => index.meets(protocol, bucket, core.intervals, overlay))) return false;
      if (core.target) {
        if (index.meets(protocol, ANY_LISTENER, mapTargetRanges(rule, core.intervals), overlay)) return false;
      }
      if (index.meets(protocol, TARGETS, core.intervals, overlay)) return false;
    }
    return checkAmong(changed, input).length === 0;
  }
}
