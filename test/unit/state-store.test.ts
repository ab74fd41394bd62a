/**
 * StateStore durability: a process killed with SIGKILL at arbitrary moments
 * while saving never leaves a torn or unreadable state file, and never loses
 * a save that had returned.
 */
import { spawn } from 'node:child_process';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CounterMap } from '../../src/control/counter-map.js';
import { StateStore } from '../../src/control/state-store.js';
import { REPO, removeDir, tempStateDir } from '../helpers/daemon-process.js';

const WRITER = join(REPO, 'test/fixtures/state-writer.ts');

describe('StateStore', () => {
  let dir = '';
  afterEach(async () => {
    await removeDir(dir);
  });

  it('round-trips state and rejects a damaged file instead of guessing', async () => {
    dir = await tempStateDir();
    const store = new StateStore(dir);
    await store.init();
    expect(await store.load()).toBeUndefined();
    const counters = { r_1: { counterId: 3 }, r_2: { counterId: 7 } };
    const state = { generation: 4, tables: [], nextCounterId: 9, counters: CounterMap.fromRecord(counters) };
    await store.save(state);
    const loaded = await store.load();
    expect({ ...loaded, counters: loaded?.counters.toRecord() }).toEqual({ ...state, counters });
    const text = await readFile(store.path, 'utf8');
    await writeFile(store.path, text.replace('"generation":4', '"generation":5'));
    await expect(store.load()).rejects.toThrow(/checksum/);
  });

  it('kill -9 at random moments during saves: always the last returned save or a newer one, never torn', async () => {
    dir = await tempStateDir();
    let lastReturned = 0;
    for (let round = 0; round < 12; round++) {
      const child = spawn(process.execPath, ['--import', 'tsx', WRITER, dir], { cwd: REPO, stdio: ['ignore', 'pipe', 'inherit'] });
      let confirmed = lastReturned;
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
        for (const line of chunk.split('\n')) if (line) confirmed = Math.max(confirmed, Number(line));
      });
      const exited = new Promise((res) => child.once('exit', res));
      // Wait until this writer has saved at least once, then kill it at a random point.
      const deadline = Date.now() + 30_000;
      while (confirmed === lastReturned && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
      await new Promise((r) => setTimeout(r, Math.random() * 40));
      child.kill('SIGKILL');
      await exited;
      const store = new StateStore(dir);
      const state = await store.load();
      expect(state).toBeDefined();
      expect(state!.generation).toBeGreaterThanOrEqual(confirmed);
      expect(state!.tables[0]!.rules.length).toBe(50 + (state!.generation % 200));
      lastReturned = state!.generation;
      await store.init();
      expect((await readdir(dir)).filter((f) => f.includes('.tmp-'))).toEqual([]);
    }
    expect(lastReturned).toBeGreaterThan(12);
  });
});
