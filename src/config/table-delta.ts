/**
 * A request table as an edit of the running table of its name. A
 * controller re-sends whole tables, nearly all of whose rules are the very
 * rule objects of last time (the request decoder and the parser reuse
 * them), in the same order. Each normalised table remembers the request
 * order it was made from, so the next request for it is compared pointer by
 * pointer, and the rules at the positions that differ are all that
 * validation (validate-delta.ts) and normalisation look at; the port index
 * and the ledger follow the edit. Anything else (a new table, a changed
 * rule count, many changed rules) takes the whole-table path.
 */
import type { ForwardRule, Table } from './model.js';
import { normalizeRule, normalizeTable, normalizeTableEdit } from './normalize.js';

/** How a normalised table was requested. */
interface RequestForm {
  /** Parsed rules in request order. */
  rules: readonly ForwardRule[];
  /** Their names ('' left out); the table had no duplicate. */
  names: ReadonlySet<string>;
}

/** A normalised table made from `from` by removing and adding (normalised) rules. */
export interface TableEdit {
  from: Table;
  removed: readonly ForwardRule[];
  added: readonly ForwardRule[];
}

/** A request table that differs from the running table's request form at the indexes `changed`. */
export interface TableDelta {
  request: Table;
  running: Table;
  changed: readonly number[];
  /** The previous request form. */
  form: RequestForm;
  /** Rule names of `request`, once validation checked them. */
  names?: ReadonlySet<string>;
}

const forms = new WeakMap<Table, RequestForm>();
const edits = new WeakMap<Table, TableEdit>();

/** The edit a normalised table was made by, if normalizeDelta() made it. */
export function tableEdit(table: Table): TableEdit | undefined {
  return edits.get(table);
}

/** A rule of a table and its index there. */
export interface IndexedRule {
  rule: ForwardRule;
  index: number;
}

/**
 * The rules of `before` that `after` lacks and those `after` adds, each in
 * table order with its index, when `after` was made as an edit of that very
 * table (a rule the edit removed and added back is in neither); undefined
 * otherwise, and the caller compares the tables whole.
 */
export function editBetween(before: Table, after: Table): { removed: IndexedRule[]; added: IndexedRule[] } | undefined {
  const edit = edits.get(after);
  if (edit?.from !== before) return undefined;
  const indexed = (rules: readonly ForwardRule[], other: readonly ForwardRule[], table: Table): IndexedRule[] =>
    rules
      .filter((r) => !other.includes(r))
      .map((rule) => ({ rule, index: table.rules.indexOf(rule) }))
      .sort((a, b) => a.index - b.index);
  return { removed: indexed(edit.removed, edit.added, before), added: indexed(edit.added, edit.removed, after) };
}

/**
 * `request` as an edit of `running` (normalised): undefined unless running
 * remembers its request form, the rule counts are equal and at most
 * `maxChanged` positions hold other rule objects.
 */
export function tableDelta(request: Table, running: Table | undefined, maxChanged: number): TableDelta | undefined {
  const form = running && forms.get(running);
  if (!form || form.rules.length !== request.rules.length) return undefined;
  const changed: number[] = [];
  const rules = request.rules;
  for (let i = 0; i < rules.length; i++) {
    if (rules[i] !== form.rules[i] && changed.push(i) > maxChanged) return undefined;
  }
  return { request, running, changed, form };
}

function namesOf(rules: readonly ForwardRule[]): Set<string> {
  const names = new Set<string>();
  for (const r of rules) if (r.name !== '') names.add(r.name);
  return names;
}

/**
 * normalizeTable() of a valid request table, remembering its request form;
 * with a delta, as an edit of the running table (the result is the same).
 * `running` (the running table of its name) itself when the rules are the same.
 */
export function normalizeRequestTable(request: Table, running: Table | undefined, delta?: TableDelta): Table {
  let table: Table | undefined;
  let edit: TableEdit | undefined;
  if (delta) {
    const removed = delta.changed.map((i) => normalizeRule(delta.form.rules[i]!));
    const added = delta.changed.map((i) => normalizeRule(request.rules[i]!));
    table = normalizeTableEdit(delta.running, removed, added);
    if (table) edit = { from: delta.running, removed, added };
  }
  table ??= normalizeTable(request);
  if (running && sameRules(running, table)) table = running;
  else if (edit) edits.set(table, edit);
  if (!forms.has(table)) forms.set(table, { rules: request.rules, names: delta?.names ?? namesOf(request.rules) });
  return table;
}

function sameRules(a: Table, b: Table): boolean {
  return a.rules.length === b.rules.length && a.rules.every((r, i) => r === b.rules[i]);
}
