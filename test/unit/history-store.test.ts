/**
 * HistoryStore on real files: bounded entries, snapshots by digest and
 * their clean-up, reconciliation with state.json after a crash at any
 * point, and a damaged history file. Also the shared atomic-file helper.
 */
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ChecksummedFile, removeTempFiles } from '../../src/control/atomic-file.js';
import { HistoryStore, type HistoryEntry } from '../../src/control/history.js';
import type { Table } from '../../src/config/model.js';

const silent = pino({ level: 'silent' });
const digestOf = (n: number): string => n.toString(16).padStart(64, '0');
const tablesOf = (n: number): Table[] => [{ name: `t${n}`, rules: [] }];

function entry(generation: number, outcome: HistoryEntry['outcome'], digest = digestOf(generation)): Omit<HistoryEntry, 'seq'> {
  return {
    generation,
    baseGeneration: Math.max(0, generation - 1),
    configDigest: digest,
    time: 1_700_000_000_000 + generation,
    outcome,
    trigger: 'apply',
    comment: '',
    detail: '',
  };
}

describe('HistoryStore', () => {
  let dir: string;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'portplane-history-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const open = async (capacity = 50): Promise<HistoryStore> => {
    const store = new HistoryStore(dir, capacity, silent);
    await store.init();
    return store;
  };

  it('keeps the last N entries, newest first, and the snapshots only they refer to', async () => {
    const store = await open(3);
    for (let g = 1; g <= 5; g++) store.record(entry(g, 'committed'), tablesOf(g));
    await store.flush();
    expect(store.list().map((e) => e.generation)).toEqual([5, 4, 3]);
    expect(store.list(2).map((e) => e.seq)).toEqual([5, 4]);
    expect(store.find(2)).toBeUndefined();
    expect(store.find(4)?.configDigest).toBe(digestOf(4));
    expect((await readdir(join(dir, 'configs'))).sort()).toEqual([3, 4, 5].map((g) => `${digestOf(g)}.json`));
    expect(await store.tables(digestOf(4))).toEqual(tablesOf(4));

    // A reopened store continues where the file left off.
    const again = await open(3);
    expect(again.list().map((e) => e.generation)).toEqual([5, 4, 3]);
    expect(again.record(entry(6, 'committed'), tablesOf(6)).seq).toBe(6);
  });

  it('writes a snapshot once per digest, however many entries share it', async () => {
    const store = await open();
    store.record(entry(1, 'committed', digestOf(77)), tablesOf(77));
    await store.flush();
    const first = await readFile(join(dir, 'configs', `${digestOf(77)}.json`), 'utf8');
    store.record(entry(2, 'committed', digestOf(77)), [{ name: 'ignored', rules: [] }]);
    await store.flush();
    expect(await readFile(join(dir, 'configs', `${digestOf(77)}.json`), 'utf8')).toBe(first);
  });

  it('reconciles with state.json: missing commit added, undurable entries failed, stale pending rolled back', async () => {
    const store = await open();
    store.record(entry(1, 'committed'));
    const stalePending = store.record(entry(2, 'pending'));
    store.record(entry(3, 'committed'));
    const notDurable = store.record(entry(5, 'committed'));
    store.record({ ...entry(0, 'rejected'), configDigest: '' });
    await store.flush();

    // state.json says: generation 4 confirmed (its entry never reached history.json), 6 pending.
    const confirmed: HistoryEntry = { ...entry(4, 'committed'), seq: 40 };
    const pending: HistoryEntry = { ...entry(6, 'pending'), seq: 41 };
    const reopened = await open();
    reopened.reconcile({ confirmed, pending, confirmedGeneration: 4 });
    const bySeq = new Map(reopened.list().map((e) => [e.seq, e]));
    expect(bySeq.get(stalePending.seq)?.outcome).toBe('rolled_back');
    expect(bySeq.get(notDurable.seq)).toMatchObject({ outcome: 'failed', generation: 0 });
    expect(bySeq.get(notDurable.seq)?.detail).toContain('generation 5');
    expect(bySeq.get(40)).toMatchObject({ outcome: 'committed', generation: 4 });
    expect(bySeq.get(41)).toMatchObject({ outcome: 'pending', generation: 6 });
    expect(reopened.list()[0]?.seq).toBe(41);
    expect(reopened.record(entry(7, 'committed')).seq).toBe(42);

    // A confirm that reached state.json but not history.json.
    const last = await open();
    last.reconcile({ confirmed: { ...pending, outcome: 'committed' }, confirmedGeneration: 6 });
    expect(last.find(6)?.outcome).toBe('committed');
  });

  it('starts a new history when history.json is damaged', async () => {
    const store = await open();
    store.record(entry(1, 'committed'));
    await store.flush();
    await writeFile(join(dir, 'history.json'), '{"format":"portplane.history.v1","checksum":"00","state":{"entries":[]}}');
    const reopened = await open();
    expect(reopened.list()).toEqual([]);
    reopened.reconcile({ confirmed: { ...entry(1, 'committed'), seq: 1 }, confirmedGeneration: 1 });
    await reopened.flush();
    expect((await open()).list().map((e) => e.generation)).toEqual([1]);
  });

  it('refuses a capacity below one and a digest that is not one', async () => {
    expect(() => new HistoryStore(dir, 0, silent)).toThrow(/positive integer/);
    const store = await open();
    await expect(store.tables('../state')).rejects.toThrow(/not a config digest/);
  });
});

describe('ChecksummedFile', () => {
  let dir: string;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'portplane-atomic-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('round-trips, detects damage and a foreign format, and leaves no temp file', async () => {
    const file = new ChecksummedFile<{ n: number; s: string }>(dir, 'x.json', 'test.v1');
    expect(await file.load()).toBeUndefined();
    await file.save({ n: 1, s: 'é"\\' });
    expect(await file.load()).toEqual({ n: 1, s: 'é"\\' });
    expect(await readdir(dir)).toEqual(['x.json']);
    const text = await readFile(file.path, 'utf8');
    await writeFile(file.path, text.replace('"n":1', '"n":2'));
    await expect(file.load()).rejects.toThrow(/checksum/);
    await expect(new ChecksummedFile(dir, 'x.json', 'other.v1').load()).rejects.toThrow(/unknown format/);
    await writeFile(join(dir, 'x.json.tmp-123-4'), 'partial');
    await removeTempFiles(dir);
    expect(await readdir(dir)).toEqual(['x.json']);
  });
});
