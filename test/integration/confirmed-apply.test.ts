/**
 * Acceptance: confirmed applies against a daemon process. An apply with a
 * confirm_timeout takes effect at once and, unconfirmed, rolls back by
 * itself: the previous tables come back as a new generation, ports of
 * unchanged rules keep their listening sockets throughout, and clients
 * looping on them through the apply and the rollback see zero refusals.
 * Also: other applies are refused while pending, ConfirmApply keeps it,
 * CancelApply undoes it, and every step is in the history and the watch.
 *
 * The daemon runs as its own process: in-process clients share its event
 * loop and could never connect inside a close-then-reopen gap.
 */
import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeStatusDetails } from '../../src/server/status-details.js';
import { EventWatch, type WireEntry } from '../helpers/apply-streams.js';
import { ServiceClient, callError, removeDir, startDaemon, stopDaemon, tempStateDir, type DaemonProcess } from '../helpers/daemon-process.js';
import { listeningSocketInodes } from '../helpers/proc-net.js';
import { freePortBlock, roundTrip, startEchoServer, type EchoServer } from '../helpers/tcp.js';
import { singlePortRule } from '../helpers/wire-rules.js';

interface ApplyResponse {
  result: { generation: string; outcome: string; config_digest: string };
  pending: { generation: string; owner: string; deadline: { seconds: string; nanos: number } | null } | null;
}
interface GetConfigResponse {
  generation: string;
  config_digest: string;
  tables: unknown[];
  pending: { generation: string } | null;
}

const rule = singlePortRule;

describe('confirmed applies (daemon process)', () => {
  let stateDir: string;
  let daemon: DaemonProcess;
  let client: ServiceClient;
  let a: EchoServer;
  let b: EchoServer;
  let base: number;

  beforeAll(async () => {
    stateDir = await tempStateDir();
    daemon = await startDaemon(stateDir, ['--log-level', 'warn']);
    client = new ServiceClient('ConfigService', daemon.target);
    a = await startEchoServer('127.0.0.1', 'A:');
    b = await startEchoServer('127.0.0.1', 'B:');
    base = await freePortBlock(12);
  });
  afterAll(async () => {
    client.close();
    await stopDaemon(daemon);
    await a.close();
    await b.close();
    await removeDir(stateDir);
  });

  const kept = (): number[] => [base, base + 1, base + 2, base + 3];
  const stable = (): object => ({ name: 'stable', rules: kept().map((p, i) => rule(`k${i}`, p, a.port)) });
  const history = async (): Promise<WireEntry[]> =>
    (await client.call<{ entries: WireEntry[] }>('ListApplyHistory', {})).entries;

  it('rolls back by itself on timeout: same sockets and zero refusals on kept ports, previous tables as a new generation', async () => {
    const first = await client.call<ApplyResponse>('ApplyConfig', {
      tables: [stable(), { name: 'moving', rules: [rule('m', base + 5, a.port)] }],
      comment: 'baseline',
    });
    expect(first.result.generation).toBe('1');
    const before = await client.call<GetConfigResponse>('GetConfig');
    const inodesBefore = await Promise.all(kept().map((p) => listeningSocketInodes(p, daemon.pid)));
    expect(inodesBefore.every((i) => i.length === 1)).toBe(true);
    const watch = new EventWatch(client);
    await watch.waitFor((e) => e.kind === 'APPLY_EVENT_KIND_CURRENT');

    let looping = true;
    const stats = { ok: 0, refused: 0, other: [] as string[] };
    const loop = async (seed: number): Promise<void> => {
      const deadline = Date.now() + 60_000;
      let i = seed;
      while (looping && Date.now() < deadline) {
        const port = kept()[i++ % 4]!;
        const payload = randomBytes(256);
        try {
          const echoed = await roundTrip(port, payload);
          if (echoed.equals(Buffer.concat([Buffer.from('A:'), payload]))) stats.ok++;
          else stats.other.push(`${port}: wrong echo`);
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          if (code === 'ECONNREFUSED') stats.refused++;
          else stats.other.push(`${port}: ${String(code ?? err)}`);
        }
      }
    };
    const loops = [0, 1, 2].map(loop);

    // m is retargeted to B, n is new; the stable rules are untouched.
    const pendingApply = await client.call<ApplyResponse>('ApplyConfig', {
      tables: [stable(), { name: 'moving', rules: [rule('m', base + 5, b.port), rule('n', base + 6, b.port)] }],
      // Long enough for the checks below to run while it is pending, even on a loaded machine.
      confirm_timeout: { seconds: 6, nanos: 0 },
      comment: 'try B',
    });
    expect(pendingApply.result).toMatchObject({ generation: '2', outcome: 'APPLY_OUTCOME_PENDING' });
    expect(pendingApply.pending).toMatchObject({ generation: '2', owner: 'PENDING_OWNER_CONFIRM' });
    expect(Number(pendingApply.pending?.deadline?.seconds)).toBeGreaterThan(0);

    // While pending: the new tables run, and nothing else may apply.
    expect((await roundTrip(base + 5, 'x')).toString()).toBe('B:x');
    expect(await listeningSocketInodes(base + 6, daemon.pid)).toHaveLength(1);
    const refused = await callError(client.call('ApplyConfig', { tables: [{ name: 'other', rules: [rule('o', base + 8, a.port)] }] }));
    expect(refused.code).toBe(grpc.status.FAILED_PRECONDITION);
    const info = decodeStatusDetails(refused.metadata).find((d) => d.type === 'ErrorInfo');
    expect(info).toMatchObject({ reason: 'APPLY_PENDING', metadata: { pending_generation: '2', owner: 'confirm' } });
    const during = await client.call<GetConfigResponse>('GetConfig');
    expect(during.pending?.generation).toBe('2');
    expect(await Promise.all(kept().map((p) => listeningSocketInodes(p, daemon.pid)))).toEqual(inodesBefore);

    const rolledBack = await watch.waitFor((e) => e.kind === 'APPLY_EVENT_KIND_ROLLED_BACK');
    expect(rolledBack.entry).toMatchObject({ generation: '2', outcome: 'APPLY_HISTORY_OUTCOME_ROLLED_BACK' });
    expect(rolledBack.entry?.detail).toContain('confirm timeout');
    expect(rolledBack.restored).toMatchObject({ generation: '3', outcome: 'APPLY_HISTORY_OUTCOME_COMMITTED', trigger: 'APPLY_TRIGGER_ROLLBACK' });
    expect(rolledBack.result?.generation).toBe('3');
    expect(rolledBack.pending).toBeNull();
    // Let the clients run on a little after the rollback too.
    const okAtRollback = stats.ok;
    const deadline = Date.now() + 10_000;
    while (stats.ok < okAtRollback + 20 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    looping = false;
    await Promise.all(loops);
    watch.close();

    expect(stats.refused).toBe(0);
    expect(stats.other).toEqual([]);
    expect(stats.ok).toBeGreaterThan(okAtRollback);
    expect(await Promise.all(kept().map((p) => listeningSocketInodes(p, daemon.pid)))).toEqual(inodesBefore);
    const after = await client.call<GetConfigResponse>('GetConfig');
    expect(after).toMatchObject({ generation: '3', config_digest: before.config_digest, pending: null });
    expect(after.tables).toEqual(before.tables);
    expect((await roundTrip(base + 5, 'y')).toString()).toBe('A:y');
    expect(await listeningSocketInodes(base + 6, daemon.pid)).toEqual([]);

    const entries = await history();
    const byGeneration = (g: string): WireEntry | undefined => entries.find((e) => e.generation === g);
    expect(byGeneration('1')).toMatchObject({ outcome: 'APPLY_HISTORY_OUTCOME_COMMITTED', comment: 'baseline', caller: { kind: 'CALLER_KIND_UNIX' } });
    expect(byGeneration('2')).toMatchObject({ outcome: 'APPLY_HISTORY_OUTCOME_ROLLED_BACK', comment: 'try B' });
    expect(byGeneration('3')).toMatchObject({
      outcome: 'APPLY_HISTORY_OUTCOME_COMMITTED',
      trigger: 'APPLY_TRIGGER_ROLLBACK',
      restored_generation: '1',
      rolled_back_generation: '2',
      config_digest: before.config_digest,
    });
    expect(entries.some((e) => e.outcome === 'APPLY_HISTORY_OUTCOME_REJECTED' && e.detail.includes('pending'))).toBe(true);
  });

  it('ConfirmApply keeps a pending apply past its deadline; a repeated confirm succeeds; a wrong generation is refused', async () => {
    const start = await client.call<GetConfigResponse>('GetConfig');
    const next = String(Number(start.generation) + 1);
    const res = await client.call<ApplyResponse>('ApplyConfig', {
      tables: [{ name: 'confirmed', rules: [rule('c', base + 9, a.port)] }],
      confirm_timeout: { seconds: 1, nanos: 0 },
    });
    expect(res.pending?.generation).toBe(next);
    const wrong = await callError(client.call('ConfirmApply', { generation: Number(next) + 5 }));
    expect(wrong.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(decodeStatusDetails(wrong.metadata).find((d) => d.type === 'ErrorInfo')).toMatchObject({ reason: 'NOT_PENDING' });
    const confirmed = await client.call<{ result: { generation: string; outcome: string } }>('ConfirmApply', { generation: next });
    expect(confirmed.result).toEqual(expect.objectContaining({ generation: next, outcome: 'APPLY_OUTCOME_APPLIED' }));
    expect((await client.call<{ result: { generation: string } }>('ConfirmApply', { generation: next })).result.generation).toBe(next);
    // Past the deadline nothing rolls back.
    await new Promise((r) => setTimeout(r, 1500));
    const now = await client.call<GetConfigResponse>('GetConfig');
    expect(now).toMatchObject({ generation: next, pending: null });
    expect((await roundTrip(base + 9, 'c')).toString()).toBe('A:c');
    expect((await history()).find((e) => e.generation === next)?.outcome).toBe('APPLY_HISTORY_OUTCOME_COMMITTED');
  });

  it('CancelApply rolls back at once; confirming the undone generation says why', async () => {
    const start = await client.call<GetConfigResponse>('GetConfig');
    const res = await client.call<ApplyResponse>('ApplyConfig', {
      tables: [{ name: 'confirmed', rules: [] }],
      confirm_timeout: { seconds: 600, nanos: 0 },
    });
    const generation = res.pending?.generation;
    expect(await listeningSocketInodes(base + 9, daemon.pid)).toEqual([]);
    const cancelled = await client.call<{ result: { generation: string; config_digest: string }; rolled_back: WireEntry; restored: WireEntry }>(
      'CancelApply',
      { generation, reason: 'operator changed their mind' },
    );
    expect(cancelled.rolled_back).toMatchObject({ generation, outcome: 'APPLY_HISTORY_OUTCOME_ROLLED_BACK' });
    expect(cancelled.rolled_back.detail).toContain('operator changed their mind');
    expect(cancelled.result.config_digest).toBe(start.config_digest);
    expect(cancelled.restored.generation).toBe(String(Number(generation) + 1));
    expect((await roundTrip(base + 9, 'back')).toString()).toBe('A:back');
    const late = await callError(client.call('ConfirmApply', { generation }));
    expect(late.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(late.details).toContain('operator changed their mind');
    const invalid = await callError(client.call('ApplyConfig', { tables: [], confirm_timeout: { seconds: -5, nanos: 0 } }));
    expect(invalid.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(decodeStatusDetails(invalid.metadata).find((d) => d.type === 'BadRequest')).toMatchObject({
      fieldViolations: [expect.objectContaining({ field: 'confirm_timeout' })],
    });
  });
});
