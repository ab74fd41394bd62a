/**
 * Durable committed state: one checksummed JSON file in the state directory,
 * replaced atomically (see atomic-file.ts). The top level is the last
 * confirmed configuration; `pending` is an apply that runs but awaits its
 * confirmation, which a restart rolls back (see pending-apply.ts).
 */
import { mkdir } from 'node:fs/promises';
import type { Table } from '../config/model.js';
import { restoreTables, storedTables } from '../config/stored-form.js';
import type { ApplyResult } from '../dataplane/apply-result.js';
import { ChecksummedFile, removeTempFiles } from './atomic-file.js';
import { CounterMap } from './counter-map.js';
import type { HistoryEntry } from './history.js';
import type { TableRef, TableStore } from './table-store.js';

export const STATE_FILE = 'state.json';
/** v2 names tables by content address (table-store.ts); v1 held them inline. */
const FORMAT = 'portplane.state.v2';
const FORMAT_V1 = 'portplane.state.v1';

export interface CounterAssignment {
  counterId: number;
}

/** One configuration as it ran: tables, generation, counters, result. */
export interface ConfigState {
  generation: number;
  tables: Table[];
  nextCounterId: number;
  /** By rule id; stored as a plain record (CounterMap.toJSON). */
  counters: CounterMap;
  lastResult?: ApplyResult;
  /**
   * The history entry of this configuration, so a restart can put it into
   * the history even if the daemon died before history.json was written.
   */
  entry?: HistoryEntry;
}

export interface PendingState extends ConfigState {
  entry: HistoryEntry;
  /** Epoch ms after which the apply rolls back; absent: until its owner ends. */
  deadline?: number;
}

export interface CommittedState extends ConfigState {
  pending?: PendingState;
}

/** On disk: tables inline (v1, and without a table store) or by reference (v2); counters as a record. */
type Stored<S extends ConfigState> = Omit<S, 'tables' | 'counters'> & { tables: Table[] | TableRef[]; counters: Record<string, CounterAssignment> };
type StoredState = Stored<ConfigState> & { pending?: Stored<PendingState> };

export class StateStore {
  private readonly file: ChecksummedFile<StoredState>;

  /** `tables`: where table contents go; without one they are stored inline. */
  constructor(
    readonly dir: string,
    private readonly tables?: TableStore,
  ) {
    this.file = new ChecksummedFile(dir, STATE_FILE, tables ? FORMAT : FORMAT_V1, [FORMAT_V1]);
  }

  get path(): string {
    return this.file.path;
  }

  /** Creates the directory (mode 0700) and removes temp files a crash left. */
  async init(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    await removeTempFiles(this.dir);
  }

  /** The committed state, or undefined on a fresh directory. */
  async load(): Promise<CommittedState | undefined> {
    try {
      const state = await this.file.load();
      if (!state) return undefined;
      const { pending, ...confirmed } = state;
      return {
        ...confirmed,
        tables: await this.restore(state.tables),
        counters: CounterMap.fromRecord(state.counters),
        ...(pending && { pending: { ...pending, tables: await this.restore(pending.tables), counters: CounterMap.fromRecord(pending.counters) } }),
      };
    } catch (err) {
      throw new Error(`state file: ${(err as Error).message}`, { cause: err });
    }
  }

  async save(state: CommittedState): Promise<void> {
    const { pending, ...confirmed } = state;
    await this.file.save({
      ...confirmed,
      tables: await this.store(state.tables),
      counters: state.counters.toRecord(),
      ...(pending && { pending: { ...pending, tables: await this.store(pending.tables), counters: pending.counters.toRecord() } }),
    });
  }

  private store(tables: Table[]): Promise<Table[] | TableRef[]> {
    return this.tables ? this.tables.put(tables) : Promise.resolve(storedTables(tables));
  }

  private async restore(tables: Table[] | TableRef[]): Promise<Table[]> {
    if (!isRefs(tables)) return restoreTables(tables);
    if (!this.tables) throw new Error(`${this.path} names its tables by digest, but no table store is open`);
    return this.tables.get(tables);
  }
}

function isRefs(tables: Table[] | TableRef[]): tables is TableRef[] {
  return tables.length > 0 && Array.isArray(tables[0]);
}
