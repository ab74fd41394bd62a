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
import { digestFrom } from './canonical.js';
import type { ForwardRule, Table } from './model.js';
import { normalizeRule, normalizeTable, normalizeTableEdit } from './normalize.js';

/** Changed names an edited name set keeps beside its base before it is flattened into a new base. */
const MAX_NAME_CHANGES = 64;

/**
 * The rule names of a table, as the names of an earlier table plus and
 * minus a few: an edit of one rule of a 1,000-rule table no longer copies
 * the 1,000 names of its running table on every apply. Immutable; edit()
 * gives the names after removing and adding some.
 */
export class RuleNames {
  private constructor(
    private readonly base: ReadonlySet<string>,
    /** Names of `base` that are gone. */
    private readonly removed: ReadonlySet<string>,
    /** Names not in `base` (or in `removed`) that were added. */
    private readonly added: ReadonlySet<string>,
  ) {}

  static of(rules: readonly ForwardRule[]): RuleNames {
    const names = new Set<string>();
    for (const r of rules) if (r.name !== '') names.add(r.name);
    return new RuleNames(names, new Set(), new Set());
  }

  /**
   * These names without `out` (each present) and then with `into`, or
   * undefined when a name of `into` is already there (names must stay unique).
   */
  edit(out: readonly string[], into: readonly string[]): RuleNames | undefined {
    const removed = new Set(this.removed);
    const added = new Set(this.added);
    const has = (name: string): boolean => added.has(name) || (this.base.has(name) && !removed.has(name));
    for (const name of out) {
      if (!added.delete(name)) removed.add(name);
    }
    for (const name of into) {
      if (has(name)) return undefined;
      if (!removed.delete(name)) added.add(name);
    }
    if (removed.size + added.size <= MAX_NAME_CHANGES) return new RuleNames(this.base, removed, added);
    const flat = new Set<string>(added);
    for (const name of this.base) if (!removed.has(name)) flat.add(name);
    return new RuleNames(flat, new Set(), new Set());
  }
}

/** How a normalised table was requested. */
interface RequestForm {
  /** Parsed rules in request order. */
  rules: readonly ForwardRule[];
  /** Their names ('' left out); the table had no duplicate. */
  names: RuleNames;
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
  names?: RuleNames;
}

const forms = new WeakMap<Table, RequestForm>();
/**
 * Edits by the table they made. The source table is held weakly: a strong
 * reference chained every table to the one before it, so a daemon kept
 * every generation's table of an edited table alive (some 37 KB per
 * one-rule apply of a 1,000-rule table). Whoever compares with the source
 * holds it anyway.
 */
const edits = new WeakMap<Table, { from: WeakRef<Table>; removed: readonly ForwardRule[]; added: readonly ForwardRule[] }>();

/** The edit a normalised table was made by, if normalizeRequestTable() made it and its source table is still alive. */
export function tableEdit(table: Table): TableEdit | undefined {
  const edit = edits.get(table);
  const from = edit?.from.deref();
  return from && { from, removed: edit!.removed, added: edit!.added };
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
  if (edit?.from.deref() !== before) return undefined;
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

/**
 * normalizeTable() of a valid request table, remembering its request form;
 * with a delta, as an edit of the running table (the result is the same).
 * `running` (the running table of its name) itself when the rules are the same.
 */
export function normalizeRequestTable(request: Table, running: Table | undefined, delta?: TableDelta): Table {
  let table: Table | undefined;
  let edit: { from: WeakRef<Table>; removed: readonly ForwardRule[]; added: readonly ForwardRule[] } | undefined;
  if (delta) {
    const removed = delta.changed.map((i) => normalizeRule(delta.form.rules[i]!));
    const added = delta.changed.map((i) => normalizeRule(request.rules[i]!));
    table = normalizeTableEdit(delta.running, removed, added);
    if (table) {
      edit = { from: new WeakRef(delta.running), removed, added };
      digestFrom(table, delta.running, removed);
    }
  }
  table ??= normalizeTable(request);
  if (running && sameRules(running, table)) table = running;
  else if (edit) edits.set(table, edit);
  if (!forms.has(table)) forms.set(table, { rules: request.rules, names: delta?.names ?? RuleNames.of(request.rules) });
  return table;
}

function sameRules(a: Table, b: Table): boolean {
  return a.rules.length === b.rules.length && a.rules.every((r, i) => r === b.rules[i]);
}
