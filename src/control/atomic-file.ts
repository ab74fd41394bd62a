/**
 * Durable files in the state directory. A file is replaced atomically (temp
 * file, fsync, rename, fsync of the directory), so a crash at any instant
 * leaves either the old file or the new one, never a torn one. Checksummed
 * files wrap their payload with a format tag and a sha256, which catches a
 * file damaged outside our control.
 */
import { open, readdir, readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { sha256Hex } from '../config/canonical.js';

let tempSeq = 0;

/** Temp files are `<name>.tmp-<pid>-<seq>`; see removeTempFiles(). */
const TEMP_MARK = '.tmp-';

/** Writes `content` to `dir/name` atomically and durably. */
export async function writeFileAtomic(dir: string, name: string, content: string): Promise<void> {
  const temp = join(dir, `${name}${TEMP_MARK}${process.pid}-${++tempSeq}`);
  const handle = await open(temp, 'w', 0o600);
  try {
    try {
      await handle.writeFile(content);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, join(dir, name));
  } catch (err) {
    // ENOSPC, EIO...: a partial temp file would only take more of the space that ran out.
    await unlink(temp).catch(() => undefined);
    throw err;
  }
  // The rename is durable only once the directory entry is.
  const dirHandle = await open(dir, 'r');
  try {
    await dirHandle.sync();
  } finally {
    await dirHandle.close();
  }
}

/** Removes the temp files an interrupted writeFileAtomic() left in `dir`. */
export async function removeTempFiles(dir: string): Promise<void> {
  for (const entry of await readdir(dir)) {
    if (entry.includes(TEMP_MARK)) await unlink(join(dir, entry)).catch(() => undefined);
  }
}

interface ChecksummedEnvelope<T> {
  format: string;
  checksum: string;
  state: T;
}

/** One JSON payload in `dir/name`, tagged with `format` and a checksum. */
export class ChecksummedFile<T> {
  constructor(
    readonly dir: string,
    readonly name: string,
    private readonly format: string,
    /** Older formats load() still reads; save() always writes `format`. */
    private readonly olderFormats: readonly string[] = [],
  ) {}

  get path(): string {
    return join(this.dir, this.name);
  }

  /** The payload, or undefined when the file does not exist; throws on a damaged file. */
  async load(): Promise<T | undefined> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    let file: ChecksummedEnvelope<T>;
    try {
      file = JSON.parse(text) as ChecksummedEnvelope<T>;
    } catch (err) {
      throw new Error(`${this.path} is not valid JSON: ${(err as Error).message}`);
    }
    if (file.format !== this.format && !this.olderFormats.includes(file.format)) throw new Error(`${this.path} has unknown format ${JSON.stringify(file.format)}`);
    if (sha256Hex(JSON.stringify(file.state)) !== file.checksum) {
      throw new Error(`${this.path} fails its checksum; refusing to guess what it held`);
    }
    return file.state;
  }

  async save(state: T): Promise<void> {
    const payload = JSON.stringify(state);
    // The payload text is spliced in as is, so the checksum covers exactly what load() re-serialises.
    const text = `{"format":${JSON.stringify(this.format)},"checksum":"${sha256Hex(payload)}","state":${payload}}`;
    await writeFileAtomic(this.dir, this.name, text);
  }
}
