/**
 * The stored form of tables (state file, history snapshots): per-rule options
 * equal to their defaults are left out, which makes a 1,000-rule state file
 * about a third as large and an apply correspondingly cheaper to persist.
 * Reading it back through `restoreTables` puts the defaults back
 * (normalizeRule completes any missing option), so the model stays complete.
 */
import { defaultRuleOptions, type ForwardRule, type RuleOptions, type Table } from './model.js';
import { normalizeTable } from './normalize.js';

const DEFAULTS = defaultRuleOptions();
const OPTION_KEYS = Object.keys(DEFAULTS) as (keyof RuleOptions)[];

/** Options are scalars, lists (empty by default) or flat records of scalars. */
function sameAsDefault(key: keyof RuleOptions, value: unknown): boolean {
  const fallback: unknown = DEFAULTS[key];
  if (Array.isArray(fallback)) return Array.isArray(value) && value.length === 0;
  if (typeof fallback !== 'object' || fallback === null) return value === fallback;
  if (typeof value !== 'object' || value === null) return false;
  const a = value as Record<string, unknown>;
  const b = fallback as Record<string, unknown>;
  const keys = Object.keys(b);
  return Object.keys(a).length === keys.length && keys.every((k) => a[k] === b[k]);
}

function storedRule(rule: ForwardRule): Partial<ForwardRule> {
  const stored: Partial<ForwardRule> = { ...rule };
  for (const key of OPTION_KEYS) if (sameAsDefault(key, rule[key])) delete stored[key];
  return stored;
}

// Rules are never mutated; a table re-stored after a one-rule change
// serialises one rule.
const ruleText = new WeakMap<ForwardRule, string>();

/** JSON of one normalised rule in stored form. */
export function storedRuleText(rule: ForwardRule): string {
  let text = ruleText.get(rule);
  if (text === undefined) {
    text = JSON.stringify(storedRule(rule));
    ruleText.set(rule, text);
  }
  return text;
}

/** JSON of one normalised table in stored form, as storedTables() would serialise it. */
export function storedTableText(table: Table): string {
  return `{"name":${JSON.stringify(table.name)},"rules":[${table.rules.map(storedRuleText).join(',')}]}`;
}

export function storedTables(tables: readonly Table[]): Table[] {
  // The stored form is only ever serialised; restoreTables() makes it complete again.
  return tables.map((t) => ({ name: t.name, rules: t.rules.map(storedRule) as ForwardRule[] }));
}

/** Complete, normalised tables from their stored form (or an older, complete one). */
export function restoreTables(tables: readonly Table[]): Table[] {
  return tables.map(normalizeTable);
}
