/**
 * Apply history over gRPC: ListApplyHistory (bounded, newest first, with
 * outcome, caller and comment), RollbackTo (a new generation whose digest
 * equals the old entry's) and its refusals, and WatchApplyResults (the
 * current result first, then every apply as it happens).
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { decodeStatusDetails } from '../../src/server/status-details.js';
import { EventWatch, type WireEntry } from '../helpers/apply-streams.js';
import { ServiceClient, callError } from '../helpers/daemon-process.js';
import { startTestDaemon, type TestDaemon } from '../helpers/in-process-daemon.js';
import { freePortBlock, roundTrip, startEchoServer, type EchoServer } from '../helpers/tcp.js';
import { singlePortRule } from '../helpers/wire-rules.js';

const rule = singlePortRule;

interface ApplyResponse {
  result: { generation: string; config_digest: string; outcome: string };
}

describe('apply history, RollbackTo and WatchApplyResults', () => {
  let d: TestDaemon;
  let client: ServiceClient;
  let echoes: EchoServer[];
  let base: number;

  beforeAll(async () => {
    echoes = [await startEchoServer('127.0.0.1', 'A:'), await startEchoServer('127.0.0.1', 'B:'), await startEchoServer('127.0.0.1', 'C:')];
  });
  afterAll(async () => {
    await Promise.all(echoes.map((e) => e.close()));
  });
  beforeEach(async () => {
    d = await startTestDaemon({ historySize: 6 });
    client = new ServiceClient('ConfigService', d.target);
    base = await freePortBlock(6);
  });
  afterEach(async () => {
    client.close();
    await d.stop();
  });

  const applyTarget = (i: number, extra: object = {}): Promise<ApplyResponse> =>
    client.call<ApplyResponse>('ApplyConfig', { tables: [{ name: 'web', rules: [rule('r', base, echoes[i]!.port)] }], ...extra });
  const history = async (limit = 0): Promise<{ entries: WireEntry[]; capacity: number }> => client.call('ListApplyHistory', { limit });

  it('RollbackTo re-applies a committed configuration as a new generation with the same digest', async () => {
    const g1 = await applyTarget(0, { comment: 'to A' });
    await client.call('ApplyConfig', { tables: [{ name: 'extra', rules: [rule('x', base + 1, echoes[2]!.port)] }] });
    await applyTarget(1, { comment: 'to B' });
    expect((await roundTrip(base, 'q')).toString()).toBe('B:q');

    const back = await client.call<ApplyResponse & { plan: { summary: { ports_closed: number } } }>('RollbackTo', { generation: 1, comment: 'back to A' });
    expect(back.result).toMatchObject({ generation: '4', outcome: 'APPLY_OUTCOME_APPLIED', config_digest: g1.result.config_digest });
    // Whole configuration: the table added later is gone too.
    expect(back.plan.summary.ports_closed).toBe(1);
    expect((await roundTrip(base, 'q')).toString()).toBe('A:q');
    const running = await client.call<{ config_digest: string; generation: string }>('GetConfig');
    expect(running).toMatchObject({ generation: '4', config_digest: g1.result.config_digest });
    const [latest] = (await history(1)).entries;
    expect(latest).toMatchObject({
      generation: '4',
      outcome: 'APPLY_HISTORY_OUTCOME_COMMITTED',
      trigger: 'APPLY_TRIGGER_ROLLBACK_TO',
      restored_generation: '1',
      comment: 'back to A',
      config_digest: g1.result.config_digest,
      caller: { kind: 'CALLER_KIND_UNIX', id: `uid:${process.getuid?.()}` },
    });

    const missing = await callError(client.call('RollbackTo', { generation: 99 }));
    expect(missing.code).toBe(grpc.status.NOT_FOUND);
    const invalid = await callError(client.call('RollbackTo', { generation: 0 }));
    expect(invalid.code).toBe(grpc.status.INVALID_ARGUMENT);
    const stale = await callError(client.call('RollbackTo', { generation: 2, expected_generation: 3 }));
    expect(stale.code).toBe(grpc.status.ABORTED);
    expect(decodeStatusDetails(stale.metadata).find((x) => x.type === 'ErrorInfo')).toMatchObject({ reason: 'GENERATION_MISMATCH' });

    // A rolled-back generation is not a rollback target.
    const pending = await applyTarget(2, { confirm_timeout: { seconds: 600 } });
    await client.call('CancelApply', { generation: pending.result.generation });
    const notCommitted = await callError(client.call('RollbackTo', { generation: pending.result.generation }));
    expect(notCommitted.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(notCommitted.details).toContain('rolled back');
  });

  it('keeps the last N committed entries and, apart, the last N others, newest first, and only the snapshots they refer to', async () => {
    for (let i = 0; i < 9; i++) await applyTarget(i % 3);
    const bad = await callError(client.call('ApplyConfig', { tables: [{ name: 'web', rules: [rule('r', 0, echoes[0]!.port)] }], comment: 'typo' }));
    expect(bad.code).toBe(grpc.status.INVALID_ARGUMENT);
    const { entries, capacity } = await history();
    expect(capacity).toBe(6);
    // Six committed configurations, and the refused attempt in its own log.
    expect(entries).toHaveLength(7);
    expect(entries[0]).toMatchObject({ generation: '0', outcome: 'APPLY_HISTORY_OUTCOME_REJECTED', comment: 'typo', config_digest: '' });
    expect(entries[0]!.detail).toContain('tables[web].rules[0].ports');
    expect(entries.slice(1).map((e) => e.generation)).toEqual(['9', '8', '7', '6', '5', '4']);
    expect((await history(2)).entries).toHaveLength(2);
    // Three distinct configurations alternate: at most three snapshots, each one an entry refers to
    // (commits write them with the journal's compaction, so some may still be in the journal).
    const snapshots = (await readdir(join(d.stateDir, 'configs'))).filter((f) => f.endsWith('.json'));
    const referenced = new Set(entries.slice(1).map((e) => `${e.config_digest}.json`));
    expect(referenced.size).toBe(3);
    for (const file of snapshots) expect(referenced.has(file)).toBe(true);
    const trimmed = await callError(client.call('RollbackTo', { generation: 2 }));
    expect(trimmed.code).toBe(grpc.status.NOT_FOUND);
  });

  it('WatchApplyResults sends the current result, then applies, pending, confirmations, rollbacks and refusals in order', async () => {
    await applyTarget(0);
    const watch = new EventWatch(client);
    const current = await watch.waitFor(() => true);
    expect(current).toMatchObject({ kind: 'APPLY_EVENT_KIND_CURRENT', generation: '1', result: { generation: '1' } });

    await applyTarget(1);
    const pending = await applyTarget(2, { confirm_timeout: { seconds: 600 } });
    await client.call('ConfirmApply', { generation: pending.result.generation });
    const again = await applyTarget(0, { confirm_timeout: { seconds: 600 } });
    await client.call('CancelApply', { generation: again.result.generation });
    await callError(client.call('ApplyConfig', { tables: [], expected_generation: 1 }));
    await watch.waitFor((e) => e.kind === 'APPLY_EVENT_KIND_REJECTED');
    watch.close();

    expect(watch.events.map((e) => [e.kind, e.generation])).toEqual([
      ['APPLY_EVENT_KIND_CURRENT', '1'],
      ['APPLY_EVENT_KIND_APPLIED', '2'],
      ['APPLY_EVENT_KIND_PENDING', '3'],
      ['APPLY_EVENT_KIND_CONFIRMED', '3'],
      ['APPLY_EVENT_KIND_PENDING', '4'],
      ['APPLY_EVENT_KIND_ROLLED_BACK', '5'],
      ['APPLY_EVENT_KIND_REJECTED', '5'],
    ]);
    expect(watch.events[2]!.pending).toMatchObject({ generation: '3', owner: 'PENDING_OWNER_CONFIRM' });
    expect(watch.events[5]).toMatchObject({ entry: { generation: '4' }, restored: { generation: '5', restored_generation: '3' } });
  });

  it('a watch ends when the daemon shuts down instead of holding it open', async () => {
    const watch = new EventWatch(client);
    await watch.waitFor(() => true);
    const stopped = d.daemon.shutdown('test');
    await stopped;
    const deadline = Date.now() + 10_000;
    while (!watch.error && !watch.ended && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(watch.error?.code).toBe(grpc.status.UNAVAILABLE);
  });
});
