/**
 * The commit journal: one line per committed apply, appended and fsynced,
 * in `<state-dir>/journal-<first seq>.log` files. A line is
 * `<json>\t<sha256 of json>\n` (JSON text holds no raw tab or newline), so a
 * torn or damaged tail (a crash during an append) is recognised and ignored:
 * the record it held was never acknowledged. Compaction starts a new file,
 * writes a snapshot covering every record of the older files, then deletes
 * them (see ledger.ts).
 */
import { open, readdir, readFile, truncate, unlink, type FileHandle } from 'node:fs/promises';
import { constants } from 'node:fs';
import { join } from 'node:path';
import { sha256Hex } from '../config/canonical.js';

const PREFIX = 'journal-';
const SUFFIX = '.log';
/** Appends whose every write is durable on return (data and the size that reaches it, as fdatasync). */
const APPEND_DURABLY = constants.O_WRONLY | constants.O_CREAT | constants.O_APPEND | constants.O_DSYNC;

export interface JournalFile {
  name: string;
  /** Sequence number of its first record. */
  first: number;
}

export interface JournalRead<R> {
  records: R[];
  /** Set when a torn or damaged tail was cut off, for the log. */
  tornAt?: { file: string; offset: number };
}

/** The journal file whose first record has sequence number `first` (a fresh directory starts at 1). */
export function journalFileName(first: number): string {
  return `${PREFIX}${String(first).padStart(12, '0')}${SUFFIX}`;
}

export class Journal<R> {
  private handle: FileHandle | undefined;
  private current: JournalFile | undefined;
  /** Records in the file being appended to. */
  private count = 0;
  /** Bytes of whole records in the file being appended to. */
  private bytes = 0;
  private nextSeq = 1;

  constructor(readonly dir: string) {}

  /** Journal files present, oldest first. */
  async files(): Promise<JournalFile[]> {
    const names = (await readdir(this.dir)).filter((n) => n.startsWith(PREFIX) && n.endsWith(SUFFIX));
    return names.map((name) => ({ name, first: Number(name.slice(PREFIX.length, -SUFFIX.length)) })).sort((a, b) => a.first - b.first);
  }

  /**
   * Every intact record, oldest first. A damaged line ends its file: what
   * follows it was written after the crash that tore it, which cannot be,
   * or is the torn write itself. The damaged tail is cut off so appends
   * continue after the last good record.
   */
  async read(): Promise<JournalRead<R>> {
    const out: JournalRead<R> = { records: [] };
    const files = await this.files();
    for (const file of files) {
      const path = join(this.dir, file.name);
      const text = await readFile(path, 'latin1');
      let offset = 0;
      while (offset < text.length) {
        const end = text.indexOf('\n', offset);
        const line = end < 0 ? '' : text.slice(offset, end);
        const tab = line.lastIndexOf('\t');
        // latin1 keeps byte offsets; the JSON is UTF-8.
        const json = tab < 0 ? '' : Buffer.from(line.slice(0, tab), 'latin1').toString('utf8');
        if (end < 0 || tab < 0 || sha256Hex(json) !== line.slice(tab + 1)) {
          out.tornAt = { file: file.name, offset };
          await truncate(path, offset);
          break;
        }
        out.records.push(JSON.parse(json) as R);
        offset = end + 1;
      }
    }
    this.nextSeq = (files.at(-1)?.first ?? 0) + out.records.length + 1;
    return out;
  }

  /** Appends one record durably; `json` is its JSON text when the caller has it already. */
  async append(record: R, json = JSON.stringify(record)): Promise<void> {
    if (!this.handle) await this.startFile();
    const line = `${json}\t${sha256Hex(json)}\n`;
    try {
      // O_DSYNC: the write returns once the record is durable, as write + fdatasync did, in one threadpool trip instead of two.
      await this.handle!.write(line);
    } catch (err) {
      await this.abandonFile();
      throw err;
    }
    this.count++;
    this.nextSeq++;
    this.bytes += Buffer.byteLength(line);
  }

  /** Records appended to the current file. */
  get size(): number {
    return this.count;
  }

  /**
   * Continues in a new file and returns the older ones, which the caller
   * removes with drop() once a snapshot covers them.
   */
  async rotate(): Promise<JournalFile[]> {
    const older = await this.files();
    await this.closeFile();
    await this.startFile();
    const current = this.current!;
    return older.filter((f) => f.name !== current.name);
  }

  async drop(files: readonly JournalFile[]): Promise<void> {
    for (const f of files) await unlink(join(this.dir, f.name)).catch(() => undefined);
  }

  async close(): Promise<void> {
    await this.closeFile();
  }

  /** A new file named by the next record's sequence number. */
  private async startFile(): Promise<void> {
    this.current = { name: journalFileName(this.nextSeq), first: this.nextSeq };
    const path = join(this.dir, this.current.name);
    this.handle = await open(path, APPEND_DURABLY, 0o600);
    this.count = 0;
    const st = await this.handle.stat();
    if (!st.isFile()) {
      // O_DSYNC makes a write durable only on a file: a FIFO or device there would take records and keep none.
      await this.closeFile();
      throw new Error(`journal ${path} is not a regular file; nothing is appended to it`);
    }
    this.bytes = st.size;
    // The new file's directory entry must be durable before a record in it counts.
    await this.syncDir();
  }

  /**
   * After a failed append: cut what it may have written (so no torn record
   * sits before later ones) and let the next append start a file afresh.
   */
  private async abandonFile(): Promise<void> {
    const handle = this.handle;
    this.handle = undefined;
    this.count = 0;
    await handle?.truncate(this.bytes).catch(() => undefined);
    await handle?.close().catch(() => undefined);
  }

  private async closeFile(): Promise<void> {
    await this.handle?.close();
    this.handle = undefined;
    this.count = 0;
  }

  private async syncDir(): Promise<void> {
    const dir = await open(this.dir, 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  }
}
