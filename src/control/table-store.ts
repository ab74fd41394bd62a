/**
 * Tables by content address: `<state-dir>/tables/<table digest>.json`, one
 * checksummed file per distinct table content, written once. The state
 * snapshot, journal records and history snapshots name tables by digest, so
 * a configuration that changes one table of many stores that one table, and
 * RollbackTo targets share every table they have in common. A file's name
 * is its checksum: load re-computes the digest of what it read.
 */
import { mkdir, readdir, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { tableDigest } from '../config/canonical.js';
import type { Table } from '../config/model.js';
import { restoreTables, storedTableText } from '../config/stored-form.js';
import { removeTempFiles, writeFileAtomic } from './atomic-file.js';

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
        await writeFileAtomic(this.dir, this.fileName(digest), `{"format":"${FORMAT}","table":${storedTableText(table)}}`);
        this.stored.add(digest);
      }),
    );
    return refs;
  }

  /** Complete, normalised tables of `refs`; throws when one is missing or damaged. */
  async get(refs: readonly TableRef[]): Promise<Table[]> {
    return Promise.all(
      refs.map(async ([name, digest]) => {
        const path = join(this.dir, this.fileName(digest));
        let file: { format?: string; table?: Table };
        try {
          file = JSON.parse(await readFile(path, 'utf8')) as typeof file;
        } catch (err) {
          throw new Error(`table ${JSON.stringify(name)} (${path}) is missing or not JSON: ${(err as Error).message}`, { cause: err });
        }
        if (file.format !== FORMAT || !file.table) throw new Error(`${path} has unknown format ${JSON.stringify(file.format)}`);
        const [table] = restoreTables([file.table]);
        if (table!.name !== name || tableDigest(table!) !== digest) throw new Error(`${path} does not hold the table its name says; refusing to guess what it held`);
        return table!;
      }),
    );
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

  private fileName(digest: string): string {
    if (!/^[0-9a-f]{64}$/.test(digest)) throw new Error(`not a table digest: ${JSON.stringify(digest)}`);
    return `${digest}.json`;
  }
}
