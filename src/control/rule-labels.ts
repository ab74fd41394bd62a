/**
 * Names of rules in user-facing texts about an apply (bind failures): where
 * the request put them and by their name, `tables[api].rules[0] ("api")`, the
 * form validation errors use, never only the rule id (a hash nobody wrote).
 */
import type { Table } from '../config/model.js';
import { normalizeRule } from '../config/normalize.js';
import { ruleLabel, tablePath } from '../config/parse.js';
import { ruleId } from '../plan/identity.js';

/** The label of each rule of `tables` (request order) whose id is in `ids`. */
export function requestRuleLabels(tables: readonly Table[], ids: ReadonlySet<string>): Map<string, string> {
  const labels = new Map<string, string>();
  if (ids.size === 0) return labels;
  tables.forEach((table, t) => {
    table.rules.forEach((rule, i) => {
      // Ids are of normalised rules (what the plan holds); normalizeRule is memoised.
      const id = ruleId(table.name, normalizeRule(rule));
      if (ids.has(id) && !labels.has(id)) labels.set(id, ruleLabel(tablePath('tables', table.name, t), i, rule.name));
    });
  });
  return labels;
}

/** A rule the request did not carry (a running table's): its table and name, or its id when unnamed. */
export function fallbackRuleLabel(table: string, name: string, id: string): string {
  return `running rule ${tablePath('tables', table, 0)}${name === '' ? ` rule ${id}` : ` (${JSON.stringify(name)})`}`;
}
