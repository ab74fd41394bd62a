/**
 * Apply history: the last N committed configurations (default 50) and, in a
 * log of their own, the last N other attempts (pending, rolled back,
 * rejected, failed) with their outcome, caller and comment, in
 * `<state-dir>/history.json`. Only a newer commit evicts a committed entry:
 * a flood of refused applies never costs RollbackTo its targets. The
 * configuration of every entry that took effect is in
 * `<state-dir>/configs/<digest>.json`, as references to the table store's
 * content-addressed tables (or, from older versions and without a table
 * store, inline), so RollbackTo can re-apply it and entries share tables.
 *
 * state.json stays the single truth of what is committed: it carries the
 * entries of its confirmed and pending configurations, and reconcile() makes
 * the history agree with it after a crash at any point.
 */
import { mkdir, readdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Table } from '../config/model.js';
import { restoreTables, storedTables } from '../config/stored-form.js';
import type { PlanSummary } from '../plan/model.js';
import { tableDigest } from '../config/canonical.js';
import { ChecksummedFile, removeTempFiles } from './atomic-file.js';
import type { TableRef, TableStore } from './table-store.js';
import type { CallerIdentity } from './caller.js';
import { SerialQueue } from './serial-queue.js';

export const HISTORY_FILE = 'history.json';
export const CONFIGS_DIR = 'configs';
export const DEFAULT_HISTORY_SIZE = 50;

/**
 * pending: runs, awaiting confirmation; committed: confirmed (or applied
 * without confirmation); rolled_back: ran, then undone; rejected: refused
 * before anything ran (invalid, generation mismatch, another apply pending);
 * failed: the dataplane or the disk refused it, nothing changed.
 */
export type HistoryOutcome = 'pending' | 'committed' | 'rolled_back' | 'rejected' | 'failed';

/**
 * apply: ApplyConfig; transaction: a Transaction stream's APPLY; rollback:
 * the previous tables restored after a pending apply was cancelled, timed
 * out, lost its stream or its daemon; rollback_to: RollbackTo.
 */
export type HistoryTrigger = 'apply' | 'transaction' | 'rollback' | 'rollback_to';

export interface HistoryEntry {
  /** Orders every entry, including those without a generation. */
  seq: number;
  /** The generation it took effect as; 0 for rejected and failed entries. */
  generation: number;
  /** The running generation it was applied onto. */
  baseGeneration: number;
  /** Digest of the whole configuration it produced (or would have); '' when it was not valid. */
  configDigest: string;
  /** Epoch ms of the attempt. */
  time: number;
  /** Epoch ms a pending entry was confirmed or rolled back. */
  resolvedAt?: number;
  /** Epoch ms a pending entry rolls back unless confirmed. */
  confirmDeadline?: number;
  outcome: HistoryOutcome;
  trigger: HistoryTrigger;
  caller?: CallerIdentity;
  comment: string;
  /** Why it was rejected, failed or rolled back. */
  detail: string;
  /** rollback and rollback_to: the generation whose configuration was re-applied. */
  restoredGeneration?: number;
  /** rollback: the pending generation that was undone. */
  rolledBackGeneration?: number;
  planSummary?: PlanSummary;
}

interface HistoryFile {
  entries: HistoryEntry[];
}

interface ConfigSnapshot {
  digest: string;
  /** References into the table store; inline tables in files of older versions. */
  tables: TableRef[] | Table[];
}

/** What state.json and the journal say is committed (see reconcile()). */
export interface CommittedEntries {
  confirmed?: HistoryEntry;
  pending?: HistoryEntry;
  confirmedGeneration: number;
  /** Entries of journal records, oldest first, with their tables where the journal replayed them. */
  journaled?: { entry: HistoryEntry; tables?: Table[] }[];
}

function isRefs(tables: TableRef[] | Table[]): tables is TableRef[] {
  return tables.length > 0 && Array.isArray(tables[0]);
}

/** Committed entries have a log of their own (see the file comment). */
function logOf(entry: HistoryEntry): 'committed' | 'attempts' {
  return entry.outcome === 'committed' ? 'committed' : 'attempts';
}

export class HistoryStore {
  private entries: HistoryEntry[] = [];
  private nextSeq = 1;
  private readonly file: ChecksummedFile<HistoryFile>;
  private readonly configsDir: string;
  /** Digests with a snapshot on disk, with the tables it refers to (none for inline ones). */
  private readonly snapshots = new Map<string, TableRef[]>();
  /** Snapshots recorded but not yet written. */
  private readonly unsaved = new Map<string, Table[] | TableRef[]>();
  private readonly writer = new SerialQueue();
  private dirty = false;

  /** `tables`: where snapshots' table contents live; without one they are stored inline. */
  constructor(
    readonly dir: string,
    readonly capacity: number,
    private readonly logger: Logger,
    private readonly tableStore?: TableStore,
  ) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) throw new Error(`history size must be a positive integer, got ${capacity}`);
    this.file = new ChecksummedFile(dir, HISTORY_FILE, 'portplane.history.v1');
    this.configsDir = join(dir, CONFIGS_DIR);
  }

  /** Loads history.json; a damaged file is logged and replaced, since state.json alone decides what runs. */
  async init(): Promise<void> {
    await mkdir(this.configsDir, { recursive: true, mode: 0o700 });
    await removeTempFiles(this.configsDir);
    try {
      this.entries = (await this.file.load())?.entries ?? [];
    } catch (err) {
      this.logger.error({ err, path: this.file.path }, 'apply history unreadable; starting a new one');
      this.entries = [];
      this.dirty = true;
    }
    this.nextSeq = this.entries.reduce((max, e) => Math.max(max, e.seq), 0) + 1;
    for (const name of await readdir(this.configsDir)) {
      if (!name.endsWith('.json')) continue;
      const digest = name.slice(0, -'.json'.length);
      const tables = this.tableStore ? ((await this.snapshotFile(digest).load().catch(() => undefined))?.tables ?? []) : [];
      this.snapshots.set(digest, isRefs(tables) ? tables : []);
    }
  }

  /**
   * Makes the history agree with state.json: the confirmed entry is
   * committed; a pending entry that state.json does not hold any more was
   * rolled back; an entry newer than state.json never became durable.
   */
  reconcile(state: CommittedEntries): void {
    const { confirmed, pending } = state;
    for (const { entry, tables } of state.journaled ?? []) {
      if (tables && entry.configDigest && !this.snapshots.has(entry.configDigest)) this.unsaved.set(entry.configDigest, tables);
    }
    for (const entry of [...(state.journaled ?? []).map((j) => j.entry), confirmed, pending]) {
      if (entry && !this.entries.some((e) => e.seq === entry.seq)) {
        this.entries.push(structuredClone(entry));
        this.nextSeq = Math.max(this.nextSeq, entry.seq + 1);
        this.dirty = true;
      }
    }
    this.entries.sort((a, b) => a.seq - b.seq);
    for (const e of this.entries) {
      if (e.generation === 0 || e.outcome === 'rolled_back') continue;
      let patch: Partial<HistoryEntry> | undefined;
      if (confirmed && e.seq === confirmed.seq) {
        if (e.outcome !== 'committed') patch = { outcome: 'committed', resolvedAt: confirmed.resolvedAt };
      } else if (pending && e.seq === pending.seq) {
        continue;
      } else if (e.generation > state.confirmedGeneration) {
        patch = {
          outcome: 'failed',
          generation: 0,
          detail: `the daemon stopped before generation ${e.generation} was durable; it never took effect`,
        };
      } else if (e.outcome === 'pending') {
        patch = { outcome: 'rolled_back', detail: 'rolled back: superseded before it was confirmed' };
      }
      if (patch) {
        Object.assign(e, patch);
        this.dirty = true;
      }
    }
    this.trim();
  }

  /** Newest first; at most `limit` (0: all). */
  list(limit = 0): HistoryEntry[] {
    const newest = [...this.entries].reverse();
    return structuredClone(limit > 0 ? newest.slice(0, limit) : newest);
  }

  /** The entry that took effect as `generation`, if still in the history. */
  find(generation: number): HistoryEntry | undefined {
    const entry = generation > 0 ? this.entries.find((e) => e.generation === generation) : undefined;
    return entry && structuredClone(entry);
  }

  /**
   * Adds an entry (its seq is assigned here) and, for one that took effect,
   * the snapshot of its tables. Durable only after flush().
   */
  record(entry: Omit<HistoryEntry, 'seq'>, tables?: readonly Table[]): HistoryEntry {
    const recorded: HistoryEntry = { seq: this.nextSeq++, ...structuredClone(entry) };
    this.entries.push(recorded);
    if (tables && recorded.configDigest && !this.snapshots.has(recorded.configDigest)) {
      this.unsaved.set(recorded.configDigest, [...tables]);
    }
    this.trim();
    this.dirty = true;
    return structuredClone(recorded);
  }

  /** Updates the entry with `seq` (e.g. pending -> committed); undefined if it was trimmed. */
  update(seq: number, patch: Partial<Omit<HistoryEntry, 'seq'>>): HistoryEntry | undefined {
    const entry = this.entries.find((e) => e.seq === seq);
    if (!entry) return undefined;
    Object.assign(entry, structuredClone(patch));
    // A confirmed entry moves to the committed log, which may now be over its size.
    this.trim();
    this.dirty = true;
    return structuredClone(entry);
  }

  /** Makes sure the snapshot of `digest` is on disk after the next flush(). */
  ensureSnapshot(digest: string, tables: readonly Table[]): void {
    if (!this.snapshots.has(digest)) this.unsaved.set(digest, [...tables]);
  }

  /** The tables of a configuration the history holds, by digest. */
  async tables(digest: string): Promise<Table[]> {
    const waiting = this.unsaved.get(digest);
    const tables = waiting ?? (await this.snapshotFile(digest).load().then((s) => (s?.digest === digest ? s.tables : undefined)));
    if (!tables) throw new Error(`no configuration snapshot ${digest} in ${this.configsDir}`);
    if (!isRefs(tables)) return waiting ? structuredClone(tables) : restoreTables(tables);
    if (!this.tableStore) throw new Error(`configuration snapshot ${digest} names its tables by digest, but no table store is open`);
    return this.tableStore.get(tables);
  }

  /** Digests of every table a snapshot the history keeps refers to (see Ledger's clean-up). */
  tableDigests(): Set<string> {
    const digests = new Set<string>();
    const add = (tables: TableRef[] | Table[]): void => {
      if (isRefs(tables)) for (const [, digest] of tables) digests.add(digest);
      else for (const table of tables) digests.add(tableDigest(table));
    };
    for (const tables of this.snapshots.values()) add(tables);
    for (const tables of this.unsaved.values()) add(tables);
    return digests;
  }

  /**
   * Writes history.json and new snapshots durably, then removes snapshots
   * no entry refers to any more. Concurrent calls coalesce into one write.
   */
  flush(): Promise<void> {
    return this.writer.run(async () => {
      if (!this.dirty && this.unsaved.size === 0) return;
      this.dirty = false;
      const writes = [...this.unsaved].map(async ([digest, tables]) => {
        const refs = isRefs(tables) ? tables : this.tableStore ? await this.tableStore.put(tables) : undefined;
        await this.snapshotFile(digest).save({ digest, tables: refs ?? storedTables(tables as Table[]) });
        this.snapshots.set(digest, refs ?? []);
        this.unsaved.delete(digest);
      });
      try {
        await Promise.all([this.file.save({ entries: this.entries }), ...writes]);
      } catch (err) {
        this.dirty = true;
        throw new Error(`writing the apply history to ${this.dir} failed: ${(err as Error).message}`, { cause: err });
      }
      const referenced = new Set(this.entries.map((e) => e.configDigest));
      for (const digest of [...this.snapshots.keys()]) {
        if (referenced.has(digest)) continue;
        this.snapshots.delete(digest);
        await unlink(join(this.configsDir, `${digest}.json`)).catch(() => undefined);
      }
    });
  }

  /** flush() in the background, for entries nothing waits on (rejected attempts). */
  flushLater(): void {
    this.flush().catch((err: unknown) => this.logger.error({ err }, 'apply history not written'));
  }

  /**
   * Keeps the newest `capacity` committed entries and the newest `capacity`
   * others; a pending entry is live and never dropped.
   */
  private trim(): void {
    const count = { committed: 0, attempts: 0 };
    for (const e of this.entries) count[logOf(e)]++;
    if (count.committed <= this.capacity && count.attempts <= this.capacity) return;
    const excess = { committed: count.committed - this.capacity, attempts: count.attempts - this.capacity };
    this.entries = this.entries.filter((e) => {
      const log = logOf(e);
      if (excess[log] <= 0 || e.outcome === 'pending') return true;
      excess[log]--;
      return false;
    });
  }

  private snapshotFile(digest: string): ChecksummedFile<ConfigSnapshot> {
    if (!/^[0-9a-f]{64}$/.test(digest)) throw new Error(`not a config digest: ${JSON.stringify(digest)}`);
    return new ChecksummedFile(this.configsDir, `${digest}.json`, 'portplane.config.v1');
  }
}
