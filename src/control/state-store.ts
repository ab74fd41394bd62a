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
import type { HistoryEntry } from './history.js';

export const STATE_FILE = 'state.json';
const FORMAT = 'portplane.state.v1';

export interface CounterAssignment {
  counterId: number;
}

/** One configuration as it ran: tables, generation, counters, result. */
export interface ConfigState {
  generation: number;
  tables: Table[];
  nextCounterId: number;
  /** By rule id. */
  counters: Record<string, CounterAssignment>;
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

export class StateStore {
  private readonly file: ChecksummedFile<CommittedState>;

  constructor(readonly dir: string) {
    this.file = new ChecksummedFile(dir, STATE_FILE, FORMAT);
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
    let state: CommittedState | undefined;
    try {
      state = await this.file.load();
    } catch (err) {
      throw new Error(`state file: ${(err as Error).message}`, { cause: err });
    }
    if (!state) return undefined;
    const { pending } = state;
    return {
      ...state,
      tables: restoreTables(state.tables),
      ...(pending && { pending: { ...pending, tables: restoreTables(pending.tables) } }),
    };
  }

  save(state: CommittedState): Promise<void> {
    const { pending } = state;
    return this.file.save({
      ...state,
      tables: storedTables(state.tables),
      ...(pending && { pending: { ...pending, tables: storedTables(pending.tables) } }),
    });
  }
}
