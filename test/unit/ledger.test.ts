/**
 * Ledger journal records at rule granularity, on real files: a commit that
 * changes a few rules of a large table journals those rules (a patch), not
 * the table, and a fresh ledger replaying any sequence of such commits
 * restores exactly the last committed tables and counter ids.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { configDigest } from '../../src/config/canonical.js';
import type { ForwardingConfig } from '../../src/config/model.js';
import { normalizeConfig } from '../../src/config/normalize.js';
import { parseTables } from '../../src/config/parse.js';
import { CounterMap } from '../../src/control/counter-map.js';
import { Ledger } from '../../src/control/ledger.js';
import { assignCounters, type CounterTable } from '../../src/control/rule-status.js';
import type { CommittedState } from '../../src/control/state-store.js';

const silent = pino({ level: 'silent' });

/** A rule in wire form; the same frozen object for an unchanged rule, as the request decoder gives it. */
function wireRule(i: number, target: number, name = `rule-${i}`): object {
  return Object.freeze({
    name,
    protocol: 'PROTOCOL_TCP',
    listen_address: '127.0.0.1',
    interface: '',
    ports: { first: 20000 + i * 10, last: 20009 + i * 10 },
    exclude: [],
    target_address: '127.0.0.1',
    target_port: target,
    weak: false,
  });
}

type Edit = { kind: 'retarget' | 'remove' | 'add' | 'unname' | 'dropTable'; at: number };

class Committer {
  running: ForwardingConfig = { tables: [] };
  counters: CounterTable = { nextCounterId: 1, counters: CounterMap.EMPTY };
  generation = 0;
  /** Wire rules of each table, by slot. */
  readonly wire = new Map<string, (object | undefined)[]>();
  private nextSlot = 0;

  constructor(readonly ledger: Ledger) {}

  table(name: string, rules: number): void {
    this.wire.set(name, Array.from({ length: rules }, () => this.fresh()));
  }

  fresh(): object {
    const slot = this.nextSlot++;
    return wireRule(slot, 40000 + slot);
  }

  edit(edit: Edit): void {
    const names = [...this.wire.keys()];
    if (names.length === 0) return;
    const name = names[edit.at % names.length]!;
    const rules = this.wire.get(name)!;
    const live = rules.flatMap((r, i) => (r ? [i] : []));
    const at = live.length > 0 ? live[edit.at % live.length]! : -1;
    const rule = at >= 0 ? (rules[at] as Record<string, unknown>) : undefined;
    if (edit.kind === 'add' || !rule) rules.push(this.fresh());
    else if (edit.kind === 'remove') rules[at] = undefined;
    else if (edit.kind === 'retarget') rules[at] = Object.freeze({ ...rule, target_port: (rule.target_port as number) + 1 });
    else if (edit.kind === 'unname') rules[at] = Object.freeze({ ...rule, name: '' });
    else this.wire.delete(name);
  }

  async commit(): Promise<CommittedState> {
    const wireTables = [...this.wire].map(([name, rules]) => ({ name, rules: rules.filter(Boolean) }));
    const parsed = parseTables(wireTables);
    expect(parsed.violations).toEqual([]);
    const desired = normalizeConfig({ tables: parsed.tables }, this.running);
    const counters = assignCounters(desired, this.counters, this.running);
    this.generation++;
    const state: CommittedState = {
      generation: this.generation,
      tables: desired.tables,
      nextCounterId: counters.nextCounterId,
      counters: counters.counters,
    };
    await this.ledger.commit(state);
    this.running = desired;
    this.counters = counters;
    return state;
  }
}

describe('Ledger journal', () => {
  let dir: string;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'portplane-ledger-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function openLedger(): Promise<Ledger> {
    const ledger = new Ledger(dir, 16, silent);
    await ledger.init();
    await ledger.load();
    return ledger;
  }

  async function journalText(): Promise<string> {
    const files = (await readdir(dir)).filter((n) => n.startsWith('journal-')).sort();
    return (await Promise.all(files.map((f) => readFile(join(dir, f), 'utf8')))).join('');
  }

  it('journals the rules a commit put and removed, not the whole table, and replays them', async () => {
    const ledger = await openLedger();
    const committer = new Committer(ledger);
    committer.table('big', 500);
    committer.table('small', 3);
    await committer.commit();
    const before = (await journalText()).length;
    committer.edit({ kind: 'retarget', at: 0 });
    const last = await committer.commit();
    await ledger.close();
    const record = (await journalText()).slice(before);
    // One retargeted rule: its new text, the index of its old one and the table digest.
    // (Checked as booleans: a failure prints no 100 kB record.)
    expect(record.includes('"patch":[{"name":"big"')).toBe(true);
    expect(record.includes('"put":[]')).toBe(true);
    expect(record.length).toBeLessThan(2_000);

    const reopened = new Ledger(dir, 16, silent);
    await reopened.init();
    const { state } = await reopened.load();
    expect(configDigest({ tables: state!.tables })).toBe(configDigest({ tables: last.tables }));
    expect(state!.counters.toRecord()).toEqual(last.counters.toRecord());
    await reopened.close();
  });

  it('folds the journal into the snapshot at a clean stop, so no rule patch is left for an older build', async () => {
    const ledger = await openLedger();
    const committer = new Committer(ledger);
    committer.table('big', 50);
    await committer.commit();
    committer.edit({ kind: 'retarget', at: 3 });
    const last = await committer.commit();
    expect((await journalText()).includes('"patch":[{"name":"big"')).toBe(true);
    await ledger.close({ compact: true });
    expect(await journalText()).toBe('');

    const reopened = new Ledger(dir, 16, silent);
    await reopened.init();
    const { state } = await reopened.load();
    expect(state!.generation).toBe(last.generation);
    expect(configDigest({ tables: state!.tables })).toBe(configDigest({ tables: last.tables }));
    expect(state!.counters.toRecord()).toEqual(last.counters.toRecord());
    await reopened.close();
  });

  it('restores exactly the last commit after any sequence of rule edits', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({ kind: fc.constantFrom<Edit['kind']>('retarget', 'remove', 'add', 'unname', 'retarget', 'dropTable'), at: fc.nat(1000) }),
          { minLength: 1, maxLength: 12 },
        ),
        async (edits) => {
          await rm(dir, { recursive: true, force: true });
          const ledger = await openLedger();
          const committer = new Committer(ledger);
          committer.table('a', 12);
          committer.table('b', 4);
          let last = await committer.commit();
          for (const edit of edits) {
            committer.edit(edit);
            last = await committer.commit();
          }
          await ledger.close();
          const reopened = new Ledger(dir, 16, silent);
          await reopened.init();
          const { state } = await reopened.load();
          await reopened.close();
          expect(state!.generation).toBe(last.generation);
          expect(configDigest({ tables: state!.tables })).toBe(configDigest({ tables: last.tables }));
          expect(state!.tables.map((t) => t.name)).toEqual(last.tables.map((t) => t.name));
          expect(state!.counters.toRecord()).toEqual(last.counters.toRecord());
          expect(state!.nextCounterId).toBe(last.nextCounterId);
        },
      ),
      { numRuns: 40 },
    );
  });
});
