/**
 * Durable committed state: one JSON file in the state directory, replaced
 * atomically (temp file, fsync, rename, fsync of the directory), so a crash
 * at any instant leaves either the old file or the new one, never a torn one.
 * A checksum over the payload catches a file damaged outside our control.
 */
import { mkdir, open, readdir, readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { sha256Hex } from '../config/canonical.js';
import type { Table } from '../config/model.js';
import type { ApplyResult } from '../dataplane/apply-result.js';

export const STATE_FILE = 'state.json';
const FORMAT = 'portplane.state.v1';

export interface CounterAssignment {
  counterId: number;
  /** canonicalRule() of the rule the counter was assigned to. */
  content: string;
}

export interface CommittedState {
  generation: number;
  tables: Table[];
  nextCounterId: number;
  /** By rule id. */
  counters: Record<string, CounterAssignment>;
  lastResult?: ApplyResult;
}

interface StateFile {
  format: string;
  checksum: string;
  state: CommittedState;
}

export class StateStore {
  private tempSeq = 0;

  constructor(readonly dir: string) {}

  get path(): string {
    return join(this.dir, STATE_FILE);
  }

  /** Creates the directory (mode 0700) and removes temp files a crash left. */
  async init(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    for (const entry of await readdir(this.dir)) {
      if (entry.startsWith(`${STATE_FILE}.tmp-`)) await unlink(join(this.dir, entry));
    }
  }

  /** The committed state, or undefined on a fresh directory. */
  async load(): Promise<CommittedState | undefined> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    let file: StateFile;
    try {
      file = JSON.parse(text) as StateFile;
    } catch (err) {
      throw new Error(`state file ${this.path} is not valid JSON: ${(err as Error).message}`);
    }
    if (file.format !== FORMAT) throw new Error(`state file ${this.path} has unknown format ${JSON.stringify(file.format)}`);
    if (sha256Hex(JSON.stringify(file.state)) !== file.checksum) {
      throw new Error(`state file ${this.path} fails its checksum; refusing to guess what was committed`);
    }
    return file.state;
  }

  async save(state: CommittedState): Promise<void> {
    // The state is serialised once and spliced in: a 1,000-rule state costs
    // milliseconds to stringify, and the checksum must cover these exact bytes.
    const payload = JSON.stringify(state);
    const text = `{"format":${JSON.stringify(FORMAT)},"checksum":"${sha256Hex(payload)}","state":${payload}}`;
    const temp = join(this.dir, `${STATE_FILE}.tmp-${process.pid}-${++this.tempSeq}`);
    const handle = await open(temp, 'w', 0o600);
    try {
      await handle.writeFile(text);
      await handle.sync();
    } finally {
      await handle.close();
    }
    try {
      await rename(temp, this.path);
    } catch (err) {
      await unlink(temp).catch(() => undefined);
      throw err;
    }
    // The rename is durable only once the directory entry is.
    const dirHandle = await open(this.dir, 'r');
    try {
      await dirHandle.sync();
    } finally {
      await dirHandle.close();
    }
  }
}
