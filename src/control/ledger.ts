/**
 * The ledger: everything durable about configurations behind one commit.
 * A committed apply costs what it changed: one checksummed, fsynced journal
 * record holds the new tables it put (their stored form, whose text is
 * cached per rule), for a table that ran before only the rules it put and
 * removed (with the digest the table must have after them), the names of
 * the tables it removed, the counter ids that moved, the result header and
 * the history entry. Every JOURNAL_COMPACT_RECORDS
 * records, in the background: a snapshot (state.json, tables by reference
 * into the table store), the history with its configuration snapshots,
 * then the journal files they cover are deleted and so are tables nothing
 * refers to, so the state directory stays bounded however many applies run.
 *
 * Pending applies, confirmations and rollbacks write a snapshot at once
 * (they are rare, and a snapshot is small): state.json is the truth of
 * what is pending. Restore = snapshot + the journal records after it.
 */
import type { Logger } from 'pino';
import { tableDigest } from '../config/canonical.js';
import type { ForwardRule, Table } from '../config/model.js';
import { normalizeTable } from '../config/normalize.js';
import { editBetween } from '../config/table-delta.js';
import type { ApplyResult } from '../dataplane/apply-result.js';
import { ruleId } from '../plan/identity.js';
import { HistoryStore, type HistoryEntry } from './history.js';
import { Journal, type JournalFile } from './journal.js';
import { SerialQueue } from './serial-queue.js';
import { CounterMap } from './counter-map.js';
import type { CommittedState } from './state-store.js';
import { StateStore } from './state-store.js';
import { restoreTables, storedRuleText, storedTableText } from '../config/stored-form.js';
import { TableStore } from './table-store.js';

/** Records per journal file before a snapshot is compacted from it. */
export const JOURNAL_COMPACT_RECORDS = 64;

/**
 * A running table changed in a few rules: its rules at the indexes `drop`
 * (in the normalised table before) go, the rules `put` (stored form) come,
 * and the result must have `digest` (see tableDigest()).
 */
interface TablePatch {
  name: string;
  drop: number[];
  put: ForwardRule[];
  digest: string;
}

/** One committed apply, relative to the state before it. */
interface JournalRecord {
  generation: number;
  /** Tables that are new, or changed in most of their rules, in stored form. */
  put: Table[];
  /** Running tables changed in a few of their rules (absent in records written before patches existed). */
  patch?: TablePatch[];
  removed: string[];
  nextCounterId: number;
  /** Counter ids that are new or changed, by rule id. */
  counters: Record<string, number>;
  /** Rule ids whose counter ids went away. */
  droppedCounters: string[];
  lastResult?: ApplyResult;
  entry?: HistoryEntry;
}

/** A journal record's history entry and, when it was replayed, the tables its configuration had. */
export interface JournaledEntry {
  entry: HistoryEntry;
  tables?: Table[];
}

export interface LoadedState {
  state: CommittedState | undefined;
  /** Entries of the journal records replayed, oldest first: the history may not have them yet. */
  journaled: JournaledEntry[];
}

export class Ledger {
  readonly store: StateStore;
  readonly tables: TableStore;
  readonly history: HistoryStore;
  private readonly journal: Journal<JournalRecord>;
  private readonly queue = new SerialQueue();
  /** The state the last durable write describes. */
  private current: CommittedState | undefined;

  constructor(
    readonly dir: string,
    historySize: number,
    private readonly logger: Logger,
  ) {
    this.tables = new TableStore(dir);
    this.store = new StateStore(dir, this.tables);
    this.history = new HistoryStore(dir, historySize, logger, this.tables);
    this.journal = new Journal(dir);
  }

  get path(): string {
    return this.store.path;
  }

  /** Creates the directories and removes what an interrupted write left. */
  async init(): Promise<void> {
    await this.store.init();
    await this.tables.init();
    await this.history.init();
  }

  /**
   * The committed state: the snapshot plus every intact journal record
   * after it (a torn tail is ignored). Call compact() once the history has
   * taken the journaled entries, so a restart starts from one snapshot.
   */
  async load(): Promise<LoadedState> {
    let state = await this.store.load();
    const read = await this.journal.read();
    if (read.tornAt) this.logger.warn(read.tornAt, 'journal ends in a torn record (a crash during its append); ignored it');
    const journaled: JournaledEntry[] = [];
    // Replayed in place: one copy of the tables for all records, not one per record (counter maps share what a record leaves).
    const tables = new Map((state?.tables ?? []).map((t) => [t.name, t]));
    for (const record of read.records) {
      // A record the snapshot covers stays only when the history could not be written: its entry still counts.
      if (record.generation <= (state?.generation ?? 0)) {
        if (record.entry) journaled.push({ entry: record.entry });
        continue;
      }
      state = replay(tables, state?.counters ?? CounterMap.EMPTY, record);
      if (record.entry) journaled.push({ entry: record.entry, tables: state.tables });
    }
    this.current = state;
    return { state, journaled };
  }

  /** Writes a snapshot of the committed state and removes the journal files and tables it no longer needs. */
  compact(): Promise<void> {
    return this.queue.run(() => this.compactNow());
  }

  /**
   * Makes `state` (no pending apply) durable as the next commit: one
   * journal record of what differs from the last one.
   */
  commit(state: CommittedState): Promise<void> {
    return this.queue.run(async () => {
      const before = this.current;
      if (!before || before.pending || state.pending) {
        await this.writeSnapshot(state);
        return;
      }
      const { record, json } = this.recordOf(before, state);
      await this.journal.append(record, json);
      this.current = state;
      if (this.journal.size >= JOURNAL_COMPACT_RECORDS) this.compactLater();
    });
  }

  /** Makes `state` durable as a whole snapshot (pending applies, confirmations, rollbacks). */
  snapshot(state: CommittedState): Promise<void> {
    return this.queue.run(() => this.writeSnapshot(state));
  }

  /**
   * Waits for background compaction. With `compact`, a stop also folds the
   * journal into the snapshot: the state directory then holds no rule
   * patches, which builds before them would replay as "unchanged" (they
   * ignore the field), so a downgrade after a clean stop reads the truth.
   */
  async close(options: { compact?: boolean } = {}): Promise<void> {
    await this.queue.idle();
    if (options.compact && this.journal.size > 0) {
      await this.compact().catch((err: unknown) =>
        this.logger.error({ err, dir: this.dir }, 'journal not compacted at stop; the next start replays it (only this build or a newer one can)'),
      );
    }
    await this.journal.close();
  }

  /** Journal records since the last snapshot, and table files (for tests and the soak benchmark). */
  get sizes(): { journalRecords: number; tableFiles: number } {
    return { journalRecords: this.journal.size, tableFiles: this.tables.size };
  }

  /** The record of `state` after `before`, and its JSON (rules from their cached stored text). */
  private recordOf(before: CommittedState, state: CommittedState): { record: JournalRecord; json: string } {
    const old = new Map(before.tables.map((t) => [t.name, t]));
    const changed = state.tables.filter((t) => old.get(t.name) !== t && old.get(t.name)?.rules !== t.rules);
    const kept = new Set(state.tables.map((t) => t.name));
    const counters: Record<string, number> = {};
    const droppedCounters: string[] = [];
    const put: Table[] = [];
    const patches: { table: Table; drop: number[]; put: ForwardRule[] }[] = [];
    const countersOf = (table: string, rules: readonly ForwardRule[]): void => {
      for (const rule of rules) {
        const id = ruleId(table, rule);
        const now = state.counters.get(id)?.counterId;
        if (now !== undefined && before.counters.get(id)?.counterId !== now) counters[id] = now;
      }
    };
    const droppedOf = (table: string, rules: readonly ForwardRule[]): void => {
      for (const rule of rules) {
        const id = ruleId(table, rule);
        if (!state.counters.has(id)) droppedCounters.push(id);
      }
    };
    // Counter ids move only with the rules put and removed: an unchanged
    // rule (the same normalised object) keeps its id.
    for (const table of changed) {
      const previous = old.get(table.name);
      const patch = previous && rulePatch(previous, table);
      if (patch) {
        patches.push({ table, ...patch });
        countersOf(table.name, patch.put);
        droppedOf(table.name, patch.drop.map((i) => previous.rules[i]!));
      } else {
        put.push(table);
        countersOf(table.name, table.rules);
        if (previous) droppedOf(table.name, previous.rules);
      }
    }
    for (const table of before.tables) if (!kept.has(table.name)) droppedOf(table.name, table.rules);
    const rest = {
      removed: before.tables.filter((t) => !kept.has(t.name)).map((t) => t.name),
      nextCounterId: state.nextCounterId,
      counters,
      droppedCounters,
      ...(state.lastResult && { lastResult: state.lastResult }),
      ...(state.entry && { entry: state.entry }),
    };
    const patchText = patches.map(
      (p) =>
        `{"name":${JSON.stringify(p.table.name)},"drop":${JSON.stringify(p.drop)},"put":[${p.put.map(storedRuleText).join(',')}],"digest":"${tableDigest(p.table)}"}`,
    );
    const json = `{"generation":${state.generation},"put":[${put.map(storedTableText).join(',')}],"patch":[${patchText.join(',')}],${JSON.stringify(rest).slice(1)}`;
    const patch = patches.map((p) => ({ name: p.table.name, drop: p.drop, put: p.put, digest: tableDigest(p.table) }));
    return { record: { generation: state.generation, put, patch, ...rest }, json };
  }

  private async writeSnapshot(state: CommittedState): Promise<void> {
    // Everything journaled so far is in `state` and the history; the files go once both are durable.
    const covered = await this.journal.files();
    await this.journal.close();
    await this.store.save(state);
    this.current = state;
    await this.dropCovered(covered);
  }

  private compactLater(): void {
    this.queue
      .run(() => this.compactNow())
      .catch((err: unknown) => this.logger.error({ err, dir: this.dir }, 'journal compaction failed; the journal keeps growing until one succeeds'));
  }

  /**
   * A snapshot of the current state and the history (entries and
   * configuration snapshots of the journaled commits), then the journal
   * files they cover go.
   */
  private async compactNow(): Promise<void> {
    const state = this.current;
    if (!state) return;
    const covered = await this.journal.rotate();
    await this.store.save(state);
    await this.dropCovered(covered);
  }

  /**
   * Once the history is durable too, the journal files `covered` (their
   * state is in the snapshot) go. History writes never fail a commit: if it
   * cannot be written, the files stay, so a restart still finds the entries.
   */
  private async dropCovered(covered: readonly JournalFile[]): Promise<void> {
    try {
      await this.history.flush();
    } catch (err) {
      this.logger.error({ err }, 'apply history not written; keeping the journal files that hold its entries');
      return;
    }
    await this.journal.drop(covered);
    await this.collectTables();
  }

  /** Removes table files neither the snapshot nor the history refers to. */
  private async collectTables(): Promise<void> {
    const keep = this.history.tableDigests();
    const add = (tables: readonly Table[] | undefined): void => tables?.forEach((t) => keep.add(tableDigest(t)));
    add(this.current?.tables);
    add(this.current?.pending?.tables);
    await this.tables.retain(keep);
  }
}

/**
 * Applies `record` to `tables` (the tables before it, changed in place) and
 * `counters` (those before it) and returns the state after it.
 */
function replay(tables: Map<string, Table>, counters: CounterMap, record: JournalRecord): CommittedState {
  for (const name of record.removed) tables.delete(name);
  for (const table of restoreTables(record.put)) tables.set(table.name, table);
  for (const patch of record.patch ?? []) tables.set(patch.name, patched(tables.get(patch.name), patch, record.generation));
  const dropped = record.droppedCounters.map((id) => [id, undefined] as const);
  const moved = Object.entries(record.counters).map(([id, counterId]) => [id, { counterId }] as const);
  return {
    generation: record.generation,
    tables: [...tables.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
    nextCounterId: record.nextCounterId,
    counters: counters.with([...dropped, ...moved]),
    ...(record.lastResult && { lastResult: record.lastResult }),
    ...(record.entry && { entry: record.entry }),
  };
}

/**
 * The rules of normalised `after` that `before` lacks and the indexes of
 * those of `before` that `after` lacks; undefined when they are most of the
 * table, which a whole table records more simply. Unchanged rules are the
 * same objects in both (see normalizeConfig), so this costs pointer checks.
 */
function rulePatch(before: Table, after: Table): { drop: number[]; put: ForwardRule[] } | undefined {
  const edit = editBetween(before, after);
  if (edit) {
    const put = edit.added.map((r) => r.rule);
    const drop = edit.removed.map((r) => r.index);
    return (put.length + drop.length) * 2 < after.rules.length ? { drop, put } : undefined;
  }
  const had = new Set(before.rules);
  const put = after.rules.filter((r) => !had.has(r));
  const has = new Set(after.rules);
  const drop: number[] = [];
  before.rules.forEach((r, i) => {
    if (!has.has(r)) drop.push(i);
  });
  return (put.length + drop.length) * 2 < after.rules.length ? { drop, put } : undefined;
}

/** `before` with `patch` applied; throws when the result is not the table the record was written for. */
function patched(before: Table | undefined, patch: TablePatch, generation: number): Table {
  if (!before) throw new Error(`journal record of generation ${generation} patches table ${JSON.stringify(patch.name)}, which does not run before it`);
  const drop = new Set(patch.drop);
  const table = normalizeTable({ name: patch.name, rules: [...before.rules.filter((_, i) => !drop.has(i)), ...patch.put] });
  if (tableDigest(table) !== patch.digest) {
    throw new Error(`journal record of generation ${generation}: table ${JSON.stringify(patch.name)} patched has digest ${tableDigest(table)}, the record says ${patch.digest}`);
  }
  return table;
}
