/**
 * Replaying a plan: the rule-level changes rebuild the desired configuration
 * from the running one, and the port operations rebuild the desired
 * listeners. Both throw when the plan was not computed against `running`,
 * rather than produce a configuration nobody asked for.
 */
import { canonicalRule } from '../config/canonical.js';
import type { ForwardingConfig, ForwardRule } from '../config/model.js';
import { normalizeConfig } from '../config/normalize.js';
import { ruleIdentity } from './identity.js';
import type { Plan, Route } from './model.js';

interface TableEdit {
  /** Running rules to take out by content ('unchanged', 'removed'); counts pair duplicates up. */
  byContent: Map<string, number>;
  /** Running rules to take out by identity ('changed': the plan has only the new content). */
  byIdentity: Map<string, number>;
  /** Desired rules: every change but 'removed'. */
  add: ForwardRule[];
}

function mismatch(message: string): Error {
  return new Error(`plan does not apply to this configuration: ${message}`);
}

function bump(counts: Map<string, number>, key: string): void {
  counts.set(key, (counts.get(key) ?? 0) + 1);
}

/** Takes `key` out of `counts` if it is there; false when it is not. */
function take(counts: Map<string, number>, key: string): boolean {
  const n = counts.get(key) ?? 0;
  if (n > 0) counts.set(key, n - 1);
  return n > 0;
}

function assertConsumed(counts: Map<string, number>, what: string): void {
  for (const [key, n] of counts) if (n > 0) throw mismatch(`no running rule ${key} (${what})`);
}

/**
 * `running` with the plan's table and rule changes applied, normalised. Every
 * running rule the plan lists is replaced by its desired version; content
 * matches go first, so a 'changed' identity match can never take a running
 * rule that an 'unchanged' entry accounts for (only possible when an invalid
 * table repeats an identity).
 */
export function applyPlan(running: ForwardingConfig, plan: Plan): ForwardingConfig {
  const edits = new Map<string, TableEdit>();
  for (const change of plan.rules) {
    let edit = edits.get(change.table);
    if (!edit) {
      edit = { byContent: new Map(), byIdentity: new Map(), add: [] };
      edits.set(change.table, edit);
    }
    if (change.action === 'changed') bump(edit.byIdentity, ruleIdentity(change.table, change.rule));
    else if (change.action !== 'added') bump(edit.byContent, canonicalRule(change.rule));
    if (change.action !== 'removed') edit.add.push(change.rule);
  }

  const tables = new Map(running.tables.map((t) => [t.name, t.rules]));
  for (const name of plan.tables?.added ?? []) {
    if (tables.has(name)) throw mismatch(`table "${name}" already exists`);
    tables.set(name, []);
  }
  for (const [name, edit] of edits) {
    const rules = tables.get(name);
    if (!rules) throw mismatch(`no table "${name}"`);
    const left = rules
      .filter((rule) => !take(edit.byContent, canonicalRule(rule)))
      .filter((rule) => !take(edit.byIdentity, ruleIdentity(name, rule)));
    assertConsumed(edit.byContent, 'to keep or remove');
    assertConsumed(edit.byIdentity, 'to change');
    tables.set(name, [...left, ...edit.add]);
  }
  for (const name of plan.tables?.removed ?? []) {
    if (!tables.delete(name)) throw mismatch(`no table "${name}" to remove`);
  }
  return normalizeConfig({ tables: [...tables].map(([name, rules]) => ({ name, rules })) });
}

/**
 * `listeners` (key -> route) after the plan's port operations; the input is
 * not modified. Sockets the plan does not list (those of unchanged rules)
 * stay as they are, and so do 'keep' ones.
 */
export function applyPortPlan(listeners: Map<string, Route>, plan: Plan): Map<string, Route> {
  const result = new Map(listeners);
  for (const change of plan.ports) {
    // Only an open may target a missing socket, and it must be missing.
    if (result.has(change.key) === (change.action === 'open')) throw mismatch(`${change.action} ${change.key}`);
    if (change.action === 'close') result.delete(change.key);
    else if (change.action !== 'keep' && change.route) result.set(change.key, change.route);
  }
  return result;
}
