/**
 * Tables by content address: `<state-dir>/tables/<table digest>.json`, one
 * checksummed file per distinct table content, written once. The state
 * snapshot, journal records and history snapshots name tables by digest, so
 * a configuration that changes one table of many stores that one table, and
 * RollbackTo targets share every table they have in common.
 */
import { mkdir, readdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { tableDigest } from '../config/canonical.js';
import type { Table } from '../config/model.js';
import { restoreTables, storedTableText } from '../config/stored-form.js';
import { ChecksummedFile, removeTempFiles } from './atomic-file.js';

export const TABLES_DIR = 'tables';
const FORMAT = 'portplane.table.v1';

/** A table named by the digest of its content (see tableDigest()). */
export type TableRef = [name: string, digest: string];

export class TableStore {
  readonly dir: string;
  /** Digests with a durable file. */
  private readonly stored = new Set<string>();

  constructor(stateDir: string) {
    this.dir = join(stateDir, TABLES_DIR);
  }

  async init(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    await removeTempFiles(this.dir);
    for (const name of await readdir(this.dir)) if (name.endsWith('.json')) this.stored.add(name.slice(0, -'.json'.length));
  }

  /** References of normalised `tables`; their files are durable once this resolves. */
  async put(tables: readonly Table[]): Promise<TableRef[]> {
    const refs = tables.map((t): TableRef => [t.name, tableDigest(t)]);
    await Promise.all(
      tables.map(async (table, i) => {
        const digest = refs[i]![1];
        if (this.stored.has(digest)) return;
        await this.file(digest).saveText(storedTableText(table));
        this.stored.add(digest);
      }),
    );
    return refs;
  }

  /** Complete, normalised tables of `refs`; throws when one is missing or damaged. */
  async get(refs: readonly TableRef[]): Promise<Table[]> {
    const tables = await Promise.all(
      refs.map(async ([name, digest]) => {
        const table = await this.file(digest).load();
        if (!table || table.name !== name) throw new Error(`table ${JSON.stringify(name)} (${digest}) is missing from ${this.dir}`);
        return table;
      }),
    );
    return restoreTables(tables);
  }

  /** Removes every table file whose digest `keep` does not hold. */
  async retain(keep: ReadonlySet<string>): Promise<void> {
    for (const digest of [...this.stored]) {
      if (keep.has(digest)) continue;
      this.stored.delete(digest);
      await unlink(join(this.dir, `${digest}.json`)).catch(() => undefined);
    }
  }

  /** How many table files are stored (for the soak benchmark and tests). */
  get size(): number {
    return this.stored.size;
  }

  private file(digest: string): ChecksummedFile<Table> {
    if (!/^[0-9a-f]{64}$/.test(digest)) throw new Error(`not a table digest: ${JSON.stringify(digest)}`);
    return new ChecksummedFile(this.dir, `${digest}.json`, FORMAT);
  }
}
