/**
 * The same behavioural tests against every backend. A test is skipped for a
 * backend only when that backend declares a feature the test needs
 * unsupported; the skip prints the declared reason.
 */
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { journalFileName } from '../../src/control/journal.js';
import { noSessionEffects } from '../../src/dataplane/session-endings.js';
import { decodeStatusDetails } from '../../src/server/status-details.js';
import { callError } from '../helpers/daemon-process.js';
import { declaredCapabilities, missingFeature, requires, rule, startHarness, VARIANTS, type Harness } from './harness.js';
import type { ApplyResult__Output } from '../../src/generated/types/portplane/v1/ApplyResult.js';
import type { TraceResponse__Output } from '../../src/generated/types/portplane/v1/TraceResponse.js';

type WireResult = ApplyResult__Output;

type WireTrace = TraceResponse__Output;

for (const { backend, nativeFastPath } of VARIANTS) {
  describe(`conformance: ${backend} backend${backend === 'userspace' ? (nativeFastPath ? ' (native fast path)' : ' (JavaScript path)') : ''}`, () => {
    let h: Harness;
    /** The harness this test started, if any: a skipped test starts none. */
    let started: Harness | undefined;

    const start = async (): Promise<Harness> => {
      h = started = await startHarness(backend, nativeFastPath);
      return h;
    };
    const apply = (tables: unknown[], extra: Record<string, unknown> = {}) =>
      h.config.call<{ result: WireResult }>('ApplyConfig', { tables, ...extra });
    const trace = (port: number, flags: { syn?: boolean; ack?: boolean } = { syn: true }, source = '127.0.0.1') =>
      h.trace.call<WireTrace>('Trace', {
        protocol: 'PROTOCOL_TCP',
        source: { address: source, port: 45678 },
        destination: { address: '127.0.0.1', port },
        tcp_flags: flags,
      });

    afterEach(async () => {
      await started?.stop();
      started = undefined;
    });

    describe('apply, reject, rollback', () => {
      it('applies, stamps generation 1 and a digest GetConfig agrees with, and re-applying is UNCHANGED', async () => {
        await start();
        const port = await h.listenPorts(1);
        const { result } = await apply([{ name: 'web', rules: [rule('http', port, h.targetPort)] }]);
        expect(result).toMatchObject({ generation: '1', outcome: 'APPLY_OUTCOME_APPLIED', backend });
        const running = await h.config.call<{ generation: string; config_digest: string }>('GetConfig', {});
        expect(running).toMatchObject({ generation: '1', config_digest: result.config_digest });
        const again = await apply([{ name: 'web', rules: [rule('http', port, h.targetPort)] }]);
        expect(again.result).toMatchObject({ generation: '1', outcome: 'APPLY_OUTCOME_UNCHANGED', config_digest: result.config_digest });
        const changed = await apply([{ name: 'web', rules: [rule('http', port, h.targetPort + 1)] }]);
        expect(changed.result.generation).toBe('2');
        expect(changed.result.config_digest).not.toBe(result.config_digest);
      });

      it('rejects invalid tables with field paths and changes nothing', async () => {
        await start();
        const port = await h.listenPorts(2);
        await apply([{ name: 'web', rules: [rule('http', port, h.targetPort)] }]);
        const err = await callError(apply([{ name: 'web', rules: [rule('http', port + 1, h.targetPort), { ...rule('bad', 70000, 1) }] }]));
        expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
        const details = decodeStatusDetails(err.metadata);
        expect(details.flatMap((d) => (d.type === 'BadRequest' ? d.fieldViolations.map((v) => v.field) : []))).toContain('tables[web].rules[1].ports');
        const t = await trace(port + 1);
        expect(t).toMatchObject({ generation: '1', verdict: 'TRACE_VERDICT_DROP', drop_reason: 'no_rule' });
        expect((await trace(port)).match?.rule_name).toBe('http');
      });

      it('refuses a stale expected_generation with ABORTED', async () => {
        await start();
        const port = await h.listenPorts(1);
        await apply([{ name: 'web', rules: [rule('http', port, h.targetPort)] }]);
        const err = await callError(apply([{ name: 'web', rules: [] }], { expected_generation: 0 }));
        expect(err.code).toBe(grpc.status.ABORTED);
        expect((await trace(port)).verdict).toBe('TRACE_VERDICT_FORWARD');
      });

      it('rolls back when the state cannot be saved: the dataplane routes as before', async () => {
        await start();
        const port = await h.listenPorts(2);
        await apply([{ name: 'web', rules: [rule('http', port, h.targetPort)] }]);
        // The first commit wrote the snapshot; the next one appends to the first journal file. A
        // directory where that file goes makes the append fail, even for root.
        const journalPath = join(h.daemon.stateDir, journalFileName(1));
        await mkdir(join(journalPath, 'blocker'), { recursive: true });
        const err = await callError(apply([{ name: 'web', rules: [rule('http', port + 1, h.targetPort)] }]));
        // Not INTERNAL: nothing changed, and the caller may retry once the state directory can be written.
        expect(err.code).toBe(grpc.status.UNAVAILABLE);
        await rm(journalPath, { recursive: true });
        expect((await trace(port)).verdict).toBe('TRACE_VERDICT_FORWARD');
        expect((await trace(port + 1)).drop_reason).toBe('no_rule');
        expect((await h.config.call<{ generation: string }>('GetConfig', {})).generation).toBe('1');
      });

      it('rolls back on a port that cannot bind', async (ctx) => {
        requires(ctx, backend, ['bind_errors']);
        await start();
        const port = await h.listenPorts(2);
        await apply([{ name: 'web', rules: [rule('http', port, h.targetPort)] }]);
        const { createServer } = await import('node:net');
        const squatter = createServer();
        await new Promise<void>((r) => squatter.listen({ host: '127.0.0.1', port: port + 1 }, r));
        try {
          const err = await callError(apply([{ name: 'web', rules: [rule('http', port, h.targetPort), rule('b', port + 1, h.targetPort)] }]));
          expect(err.code).toBe(grpc.status.FAILED_PRECONDITION);
          expect((await h.config.call<{ generation: string }>('GetConfig', {})).generation).toBe('1');
        } finally {
          await new Promise((r) => squatter.close(r));
        }
      });
    });

    describe('capabilities', () => {
      it('GetCapabilities and ApplyResult declare every feature once, each unsupported one with a reason', async () => {
        await start();
        const caps = (await h.config.call<{ capabilities: WireResult['capabilities'] }>('GetCapabilities', {})).capabilities;
        expect(caps!.backend).toBe(backend);
        const declared = [...caps!.supported, ...caps!.unsupported.map((u) => u.feature)];
        expect(new Set(declared).size).toBe(declared.length);
        for (const u of caps!.unsupported) expect(u.reason.length).toBeGreaterThan(10);
        expect(caps).toEqual(JSON.parse(JSON.stringify({ ...declaredCapabilities(backend, nativeFastPath) })));
        const port = await h.listenPorts(1);
        const { result } = await apply([{ name: 'web', rules: [rule('http', port, h.targetPort)] }]);
        expect(result.capabilities).toEqual(caps);
      });

      it('snat_address applies where snat is supported and is rejected with the declared reason elsewhere', async () => {
        await start();
        const port = await h.listenPorts(1);
        const tables = [{ name: 'web', rules: [rule('http', port, h.targetPort, { snat_address: '127.0.0.9' })] }];
        const reason = missingFeature(backend, ['snat']);
        if (!reason) {
          expect((await apply(tables)).result.outcome).toBe('APPLY_OUTCOME_APPLIED');
          const t = await trace(port);
          expect(t.nat?.source?.address).toBe('127.0.0.9');
        } else {
          const err = await callError(apply(tables));
          expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
          const violation = decodeStatusDetails(err.metadata).flatMap((d) => (d.type === 'BadRequest' ? d.fieldViolations : []))[0];
          expect(violation?.field).toBe('tables[web].rules[0].snat_address');
          expect(violation?.description).toContain(declaredCapabilities(backend).unsupported.find((u) => u.feature === 'snat')!.reason);
        }
      });
    });

    describe('filters and limits', () => {
      it('a denied source is refused and counted; an allowed one passes', async (ctx) => {
        requires(ctx, backend, ['source_filters', 'trace', 'telemetry']);
        await start();
        const port = await h.listenPorts(2);
        // Table "guarded" refuses 10/8 and loopback clients; table "open" admits everyone.
        const { result } = await apply([
          { name: 'guarded', rules: [rule('http', port, h.targetPort, { deny: ['10.0.0.0/8', '127.0.0.0/8'] })] },
          { name: 'open', rules: [rule('http', port + 1, h.targetPort)] },
        ]);
        const denied = await trace(port, { syn: true }, '10.1.2.3');
        expect(denied).toMatchObject({ verdict: 'TRACE_VERDICT_DROP', drop_reason: 'filter', filter: 'FILTER_VERDICT_DENY' });
        expect((await trace(port + 1)).filter).toBe('FILTER_VERDICT_ALLOW');
        const telemetry = h.dataplane.telemetry();
        expect(telemetry.global().drops.filter ?? 0).toBe(0);
        await expect(h.connect(port).then((f) => f.exchange(Buffer.from('no')))).rejects.toThrow();
        const flow = await h.connect(port + 1);
        expect((await flow.exchange(Buffer.from('ok'))).toString()).toBe('ok');
        const guardedId = Number(result.rules.find((r) => r.table === 'guarded')!.counter_id);
        expect(telemetry.rules().find((r) => r.counterId === guardedId)).toMatchObject({ table: 'guarded', sessionsOpened: 0, drops: { filter: 1 } });
        expect(telemetry.global().drops.filter).toBe(1);
      });

      it('a changed filter closes the sessions it now refuses (REEVALUATE) and leaves them alone with KEEP', async (ctx) => {
        requires(ctx, backend, ['source_filters', 'sessions', 'telemetry']);
        await start();
        const port = await h.listenPorts(2);
        const tables = (extra: Record<string, unknown>) => [
          {
            name: 'web',
            rules: [rule('re', port, h.targetPort, extra), rule('keep', port + 1, h.targetPort, { ...extra, on_filter_change: 'ON_FILTER_CHANGE_KEEP' })],
          },
        ];
        await apply(tables({}));
        const re = await h.connect(port);
        const keep = await h.connect(port + 1);
        await re.exchange(Buffer.from('1'));
        await keep.exchange(Buffer.from('2'));
        await apply(tables({ deny: ['127.0.0.0/8'] }));
        await expect(re.exchange(Buffer.from('x'))).rejects.toThrow();
        expect((await keep.exchange(Buffer.from('kept'))).toString()).toBe('kept');
        expect(h.dataplane.sessions().count()).toBe(1);
        expect(h.dataplane.telemetry().global().drops.filter).toBe(1);
      });

      it('max_sessions refuses the next session and counts it as a cap drop', async (ctx) => {
        requires(ctx, backend, ['session_limits', 'sessions', 'telemetry', 'trace']);
        await start();
        const port = await h.listenPorts(1);
        await apply([{ name: 'web', rules: [rule('http', port, h.targetPort, { limits: { max_sessions: 1 } })] }]);
        const first = await h.connect(port);
        expect((await first.exchange(Buffer.from('a'))).toString()).toBe('a');
        expect((await trace(port)).limit).toBe('LIMIT_VERDICT_CAP');
        await expect(h.connect(port).then((f) => f.exchange(Buffer.from('b')))).rejects.toThrow();
        const rules = h.dataplane.telemetry().rules();
        expect(rules[0]?.drops.cap).toBe(1);
        expect(h.dataplane.sessions().count()).toBe(1);
      });

      it('max_sessions counts each rule on its own: two rules with the same cap each refuse their own third session', async (ctx) => {
        requires(ctx, backend, ['session_limits', 'sessions', 'telemetry']);
        await start();
        const port = await h.listenPorts(2);
        const limits = { max_sessions: 2 };
        await apply([{ name: 'web', rules: [rule('a', port, h.targetPort, { limits }), rule('b', port + 1, h.targetPort, { limits })] }]);
        for (const p of [port, port + 1]) {
          for (const payload of ['1', '2']) expect((await (await h.connect(p)).exchange(Buffer.from(payload))).toString()).toBe(payload);
        }
        for (const p of [port, port + 1]) await expect(h.connect(p).then((f) => f.exchange(Buffer.from('x')))).rejects.toThrow();
        expect(h.dataplane.telemetry().rules().map((r) => r.drops.cap)).toEqual([1, 1]);
        expect(h.dataplane.sessions().count()).toBe(4);
      });
    });

    describe('sessions', () => {
      it('a flow is one session with its endpoints, rule and generation; data passes both ways; closing removes it', async (ctx) => {
        requires(ctx, backend, ['sessions']);
        await start();
        const port = await h.listenPorts(1);
        const { result } = await apply([{ name: 'web', rules: [rule('http', port, h.targetPort)] }]);
        const flow = await h.connect(port);
        expect((await flow.exchange(Buffer.from('hello'))).toString()).toBe('hello');
        const store = h.dataplane.sessions();
        expect(store.count()).toBe(1);
        const [s] = [...store.iterate()];
        expect(s).toMatchObject({
          table: 'web',
          ruleId: result.rules[0]!.rule_id,
          ruleName: 'http',
          protocol: 'tcp',
          listener: { address: '127.0.0.1', port },
          target: { address: '127.0.0.1', port: h.targetPort },
          generation: 1,
        });
        expect(s!.client.address).toBe('127.0.0.1');
        expect(s!.fromClient.bytes).toBeGreaterThanOrEqual(5);
        expect(store.get(s!.id)).toEqual(s);
        await flow.close();
        await h.settle();
        expect(store.count()).toBe(0);
        expect(store.get(s!.id)).toBeUndefined();
      });

      it('deleteWithCompanions ends the flow: nothing passes afterwards, and a second delete finds nothing', async (ctx) => {
        requires(ctx, backend, ['sessions']);
        await start();
        const port = await h.listenPorts(1);
        await apply([{ name: 'web', rules: [rule('http', port, h.targetPort, missingFeature(backend, ['snat']) ? {} : { snat_address: '127.0.0.9' })] }]);
        const flow = await h.connect(port);
        await flow.exchange(Buffer.from('x'));
        const store = h.dataplane.sessions();
        const [s] = [...store.iterate()];
        expect(store.deleteWithCompanions(s!.id, 'deleted')).toBe(true);
        expect(store.count()).toBe(0);
        await expect(flow.exchange(Buffer.from('y'))).rejects.toThrow();
        expect(store.deleteWithCompanions(s!.id, 'deleted')).toBe(false);
      });

      it('terminate_removed closes the sessions of removed ports; without it they continue', async (ctx) => {
        requires(ctx, backend, ['sessions', 'terminate_removed']);
        await start();
        const port = await h.listenPorts(2);
        await apply([{ name: 'web', rules: [rule('a', port, h.targetPort), rule('b', port + 1, h.targetPort)] }]);
        const a = await h.connect(port);
        const b = await h.connect(port + 1);
        await apply([{ name: 'web', rules: [rule('b', port + 1, h.targetPort)] }]);
        expect((await a.exchange(Buffer.from('still'))).toString()).toBe('still');
        await apply([{ name: 'web', rules: [] }], { terminate_removed: true });
        await expect(b.exchange(Buffer.from('gone'))).rejects.toThrow();
      });
    });

    describe('an apply that is undone ends no session', () => {
      const effects = (r: WireResult) => ({ ...noSessionEffects(), ...r.session_effects });
      const PENDING = { confirm_timeout: { seconds: 60 } };
      /** A harness forwarding one port (rule "a" of table "web") with one flow through it. */
      const forwardOne = async () => {
        await start();
        const port = await h.listenPorts(1);
        const first = await apply([{ name: 'web', rules: [rule('a', port, h.targetPort)] }]);
        return { port, first, a: await h.connect(port) };
      };
      const pendingGeneration = (res: { pending?: { generation: string } | null }) => {
        expect(res.pending?.generation).toBeDefined();
        return res.pending!.generation;
      };

      it('a pending TERMINATE holds the sessions it ends; CancelApply restores them and says so', async (ctx) => {
        requires(ctx, backend, ['sessions', 'terminate_removed']);
        const { a } = await forwardOne();
        const res = await h.config.call<{ result: WireResult; pending: { generation: string } }>('ApplyConfig', {
          tables: [{ name: 'web', rules: [] }],
          terminate_removed: true,
          ...PENDING,
        });
        expect(effects(res.result)).toMatchObject({ ended: 0, held: 1 });
        expect((await a.exchange(Buffer.from('pending'))).toString()).toBe('pending');
        const cancelled = await h.config.call<{ result: WireResult; restored: { detail: string } }>('CancelApply', { generation: pendingGeneration(res) });
        expect(effects(cancelled.result)).toMatchObject({ ended: 0, restored: 1 });
        expect(cancelled.restored.detail).toContain('1 session(s) it would have ended continue');
        expect((await a.exchange(Buffer.from('restored'))).toString()).toBe('restored');
        // The restored rule is in effect for them too: a later TERMINATE of it ends them.
        const ended = await apply([{ name: 'web', rules: [] }], { terminate_removed: true });
        expect(effects(ended.result).ended).toBe(1);
        await expect(a.exchange(Buffer.from('gone'))).rejects.toThrow();
      });

      it('confirming the pending TERMINATE ends the sessions it held', async (ctx) => {
        requires(ctx, backend, ['sessions', 'terminate_removed']);
        const { a } = await forwardOne();
        const res = await h.config.call<{ pending: { generation: string } }>('ApplyConfig', { tables: [{ name: 'web', rules: [] }], terminate_removed: true, ...PENDING });
        expect((await a.exchange(Buffer.from('pending'))).toString()).toBe('pending');
        const confirmed = await h.config.call<{ result: WireResult }>('ConfirmApply', { generation: pendingGeneration(res) });
        expect(effects(confirmed.result)).toMatchObject({ ended: 1, held: 0 });
        await expect(a.exchange(Buffer.from('gone'))).rejects.toThrow();
      });

      it('CancelApply with terminate_removed ends the sessions of the ports the rollback closes, and only those', async (ctx) => {
        requires(ctx, backend, ['sessions', 'terminate_removed']);
        await start();
        const port = await h.listenPorts(2);
        await apply([{ name: 'web', rules: [rule('a', port, h.targetPort)] }]);
        const a = await h.connect(port);
        const res = await h.config.call<{ pending: { generation: string } }>('ApplyConfig', {
          tables: [{ name: 'web', rules: [rule('a', port, h.targetPort), rule('b', port + 1, h.targetPort)] }],
          ...PENDING,
        });
        const b = await h.connect(port + 1);
        const cancelled = await h.config.call<{ result: WireResult }>('CancelApply', { generation: pendingGeneration(res), terminate_removed: true });
        expect(effects(cancelled.result).ended).toBe(1);
        await expect(b.exchange(Buffer.from('gone'))).rejects.toThrow();
        expect((await a.exchange(Buffer.from('kept'))).toString()).toBe('kept');
      });

      it('CancelApply stops the drain deadline of the apply it undoes', async (ctx) => {
        requires(ctx, backend, ['sessions', 'drain_policy']);
        const { a } = await forwardOne();
        const res = await h.config.call<{ result: WireResult; pending: { generation: string } }>('ApplyConfig', {
          tables: [{ name: 'web', rules: [] }],
          drain: { mode: 'DRAIN_MODE_DRAIN', timeout_ms: 200 },
          ...PENDING,
        });
        expect(effects(res.result).held).toBe(1);
        const cancelled = await h.config.call<{ result: WireResult }>('CancelApply', { generation: pendingGeneration(res) });
        expect(effects(cancelled.result).restored).toBe(1);
        // Well past the cancelled deadline.
        await new Promise((resolve) => setTimeout(resolve, 700));
        expect((await a.exchange(Buffer.from('still here'))).toString()).toBe('still here');
      });

      it('a committed DRAIN whose rule a rollback puts back keeps its sessions', async (ctx) => {
        requires(ctx, backend, ['sessions', 'drain_policy']);
        const { a, first } = await forwardOne();
        const drained = await apply([{ name: 'web', rules: [] }], { drain: { mode: 'DRAIN_MODE_DRAIN', timeout_ms: 300 } });
        expect(effects(drained.result).draining).toBe(1);
        const back = await h.config.call<{ result: WireResult }>('RollbackTo', { generation: first.result.generation });
        expect(effects(back.result).restored).toBe(1);
        await new Promise((resolve) => setTimeout(resolve, 800));
        expect((await a.exchange(Buffer.from('kept'))).toString()).toBe('kept');
      });

      it('a pending filter change that refuses a session ends it only once confirmed (REEVALUATE)', async (ctx) => {
        requires(ctx, backend, ['sessions', 'source_filters']);
        const { a, port } = await forwardOne();
        const tightened = [{ name: 'web', rules: [rule('a', port, h.targetPort, { deny: ['127.0.0.0/8'] })] }];
        const res = await h.config.call<{ result: WireResult; pending: { generation: string } }>('ApplyConfig', { tables: tightened, ...PENDING });
        expect(effects(res.result).held).toBe(1);
        expect((await a.exchange(Buffer.from('pending'))).toString()).toBe('pending');
        await h.config.call('CancelApply', { generation: pendingGeneration(res) });
        expect((await a.exchange(Buffer.from('restored'))).toString()).toBe('restored');
        const again = await h.config.call<{ pending: { generation: string } }>('ApplyConfig', { tables: tightened, ...PENDING });
        const confirmed = await h.config.call<{ result: WireResult }>('ConfirmApply', { generation: pendingGeneration(again) });
        expect(effects(confirmed.result).ended).toBe(1);
        await expect(a.exchange(Buffer.from('refused'))).rejects.toThrow();
      });
    });

    describe('session deltas', () => {
      it('drains open and close deltas in batches, with truncated meaning "call again"', async (ctx) => {
        requires(ctx, backend, ['sessions', 'session_deltas']);
        await start();
        const port = await h.listenPorts(1);
        await apply([{ name: 'web', rules: [rule('http', port, h.targetPort)] }]);
        const deltas = h.dataplane.sessionDeltas();
        expect(deltas.backendEpoch).not.toBe('');
        // A consumer starts by draining: recording begins there.
        expect(deltas.drain(1000).deltas).toEqual([]);
        const f1 = await h.connect(port);
        const f2 = await h.connect(port);
        await f1.exchange(Buffer.from('1'));
        await f2.exchange(Buffer.from('2'));
        const first = deltas.drain(1);
        expect(first.deltas).toHaveLength(1);
        expect(first.truncated).toBe(true);
        expect(first.deltas[0]!.kind).toBe('open');
        const seen = [...first.deltas];
        for (let i = 0; i < 100; i++) {
          const next = deltas.drain(1000);
          seen.push(...next.deltas);
          if (!next.truncated) break;
        }
        const opens = new Set(seen.filter((d) => d.kind === 'open').map((d) => d.session.id));
        expect(opens.size).toBe(2);
        await f1.close();
        await h.settle();
        const closes = deltas.drain(1000).deltas.filter((d) => d.kind === 'close');
        expect(closes.map((d) => d.session.id)).toHaveLength(1);
        expect(closes[0]!.reason).toBe('client');
        expect(opens.has(closes[0]!.session.id)).toBe(true);
      });

      /** Tables a and b, one rule each (`extraA` on a's), and one flow through each. */
      const twoTables = async (extraA: Record<string, unknown> = {}) => {
        await start();
        const port = await h.listenPorts(2);
        await apply([
          { name: 'a', rules: [rule('http', port, h.targetPort, extraA)] },
          { name: 'b', rules: [rule('http', port + 1, h.targetPort)] },
        ]);
        return { deltas: h.dataplane.sessionDeltas(), store: h.dataplane.sessions(), fa: await h.connect(port), fb: await h.connect(port + 1) };
      };

      it('export and reconcileBulk: a resync without a session removes it with its companions', async (ctx) => {
        requires(ctx, backend, ['sessions', 'session_deltas']);
        const { deltas, store, fa, fb } = await twoTables();
        const exported = deltas.exportSessions({ table: 'a' });
        expect(exported.map((s) => s.table)).toEqual(['a']);
        expect(deltas.exportSessions({ ruleId: exported[0]!.ruleId })).toEqual(exported);
        // A resync that only carries table b's session: table a's goes.
        expect(deltas.reconcileBulk(deltas.exportSessions({ table: 'b' }))).toBe(1);
        expect(store.count()).toBe(1);
        await expect(fa.exchange(Buffer.from('x'))).rejects.toThrow();
        expect((await fb.exchange(Buffer.from('b'))).toString()).toBe('b');
        const reason = missingFeature(backend, ['session_import']);
        if (reason) {
          // Without session_import, every entry is rejected with the declared reason and nothing changes.
          const declared = declaredCapabilities(backend).unsupported.find((u) => u.feature === 'session_import')!.reason;
          expect(deltas.importSessions(exported)).toEqual({ imported: 0, rejected: [{ index: 0, reason: declared }] });
          expect(store.count()).toBe(1);
        }
      });

      it('importSessions: sessions come back with all their companions', async (ctx) => {
        requires(ctx, backend, ['sessions', 'session_deltas', 'session_import', 'snat']);
        const { deltas, store, fa, fb } = await twoTables({ snat_address: '127.0.0.9' });
        const exported = deltas.exportSessions({ table: 'a' });
        expect(deltas.reconcileBulk(deltas.exportSessions({ table: 'b' }))).toBe(1);
        await expect(fa.exchange(Buffer.from('x'))).rejects.toThrow();
        const imported = deltas.importSessions(exported);
        expect(imported).toEqual({ imported: 1, rejected: [] });
        expect((await fa.exchange(Buffer.from('back'))).toString()).toBe('back');
        expect((await fb.exchange(Buffer.from('b'))).toString()).toBe('b');
        // Importing a tracked flow again, or one whose rule is not running, changes nothing.
        const again = deltas.importSessions([...exported, { ...exported[0]!, ruleId: 'r_0000000000000000' }]);
        expect(again.imported).toBe(0);
        expect(again.rejected.map((r) => r.index)).toEqual([0, 1]);
        expect(store.count()).toBe(2);
      });

      it('the backend epoch changes when the backend restarts', async (ctx) => {
        requires(ctx, backend, ['session_deltas']);
        await start();
        const before = h.dataplane.sessionDeltas().backendEpoch;
        await h.dataplane.teardown();
        await h.dataplane.start();
        expect(h.dataplane.sessionDeltas().backendEpoch).not.toBe(before);
      });
    });

    describe('counters', () => {
      it('per-rule counters under the rule\'s counter id, kept across applies that leave the rule unchanged', async (ctx) => {
        requires(ctx, backend, ['telemetry', 'sessions']);
        await start();
        const port = await h.listenPorts(2);
        const { result } = await apply([{ name: 'web', rules: [rule('http', port, h.targetPort)] }]);
        const counterId = Number(result.rules[0]!.counter_id);
        const flow = await h.connect(port);
        await flow.exchange(Buffer.from('12345'));
        await apply([{ name: 'web', rules: [rule('http', port, h.targetPort), rule('other', port + 1, h.targetPort)] }]);
        await flow.exchange(Buffer.from('678'));
        const telemetry = h.dataplane.telemetry();
        const mine = telemetry.rules().find((r) => r.counterId === counterId)!;
        expect(mine).toMatchObject({ table: 'web', sessionsOpened: 1, sessionsActive: 1 });
        expect(telemetry.global()).toMatchObject({ sessionsOpened: 1 });
        // Without payload_bytes a backend counts IP packets, headers included: at least the payload.
        const bytes = declaredCapabilities(backend).supported.includes('payload_bytes') ? 8 : expect.toSatisfy((n: number) => n > 8);
        expect(mine).toMatchObject({ bytesFromClient: bytes, bytesToClient: bytes });
        expect(telemetry.global()).toMatchObject({ bytesFromClient: bytes, bytesToClient: bytes });
      });
    });

    describe('trace', () => {
      it('reports the matched rule, filter, NAT and session lookup without changing any state', async (ctx) => {
        requires(ctx, backend, ['trace']);
        await start();
        const port = await h.listenPorts(1);
        const { result } = await apply([{ name: 'web', rules: [rule('http', port, h.targetPort)] }]);
        const t = await trace(port);
        expect(t).toMatchObject({
          generation: '1',
          backend,
          verdict: 'TRACE_VERDICT_FORWARD',
          match: { table: 'web', rule_name: 'http', rule_id: result.rules[0]!.rule_id, counter_id: result.rules[0]!.counter_id },
          filter: 'FILTER_VERDICT_ALLOW',
          nat: { destination: { address: '127.0.0.1', port: h.targetPort } },
        });
        expect(t.steps.length).toBeGreaterThan(1);
        expect(t.session).toBe('SESSION_LOOKUP_MISS');
        const miss = await trace(port + 1);
        expect(miss).toMatchObject({ verdict: 'TRACE_VERDICT_DROP', drop_reason: 'no_rule', match: null });
        expect(h.dataplane.sessions().count()).toBe(0);
        expect(h.dataplane.telemetry().global().sessionsOpened).toBe(0);
        const bad = await callError(h.trace.call('Trace', { protocol: 'PROTOCOL_TCP', source: { address: 'nope' }, destination: { address: '::1', port: 0 } }));
        expect(bad.code).toBe(grpc.status.INVALID_ARGUMENT);
        const fieldsBad = decodeStatusDetails(bad.metadata).flatMap((d) => (d.type === 'BadRequest' ? d.fieldViolations.map((v) => v.field) : []));
        expect(fieldsBad).toEqual(['source.address', 'destination.port']);
      });

      it('a packet of a tracked session is a session hit', async (ctx) => {
        requires(ctx, backend, ['trace', 'sessions']);
        await start();
        const port = await h.listenPorts(1);
        await apply([{ name: 'web', rules: [rule('http', port, h.targetPort)] }]);
        await h.connect(port);
        const [s] = [...h.dataplane.sessions().iterate()];
        const t = await h.trace.call<WireTrace>('Trace', {
          protocol: 'PROTOCOL_TCP',
          source: s!.client,
          destination: s!.listener,
          tcp_flags: { ack: true },
        });
        expect(t).toMatchObject({ session: 'SESSION_LOOKUP_HIT', session_id: s!.id, verdict: 'TRACE_VERDICT_FORWARD' });
      });
    });
  });
}
