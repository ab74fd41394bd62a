/**
 * The parts of the session and telemetry contracts that SessionService,
 * TelemetryService, WatchSessions and /metrics rely on, against every
 * backend: ordered iteration that starts after any id, a delete that is
 * done (and its one close delta emitted) when it returns, close reasons,
 * the generation counters are read under, flood counters by source prefix,
 * and the gRPC services on top of them. Skips only where a backend declares
 * a needed feature unsupported, printing the declared reason.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { sessionIdNumber } from '../../src/dataplane/session-store.js';
import { ServiceClient } from '../helpers/daemon-process.js';
import { deltas as watchDeltas, Watch, type WireSession } from '../helpers/watch.js';
import { declaredCapabilities, requires, rule, startHarness, VARIANTS, type Flow, type Harness } from './harness.js';

for (const { backend, nativeFastPath } of VARIANTS) {
  describe(`session and telemetry contract: ${backend} backend${backend === 'userspace' ? (nativeFastPath ? ' (native fast path)' : ' (JavaScript path)') : ''}`, () => {
    let h: Harness;
    let started: Harness | undefined;
    const clients: ServiceClient[] = [];

    const start = async (): Promise<Harness> => {
      h = started = await startHarness(backend, nativeFastPath);
      return h;
    };
    const apply = (tables: unknown[]) => h.config.call<{ result: { rules: { table: string; rule_id: string; counter_id: string }[] } }>('ApplyConfig', { tables });
    const client = (service: string): ServiceClient => {
      const c = new ServiceClient(service, h.daemon.target);
      clients.push(c);
      return c;
    };
    /** `n` flows through `port`, each with one exchange, so every backend tracks them as established. */
    const flows = async (port: number, n: number): Promise<Flow[]> => {
      const out: Flow[] = [];
      for (let i = 0; i < n; i++) {
        const flow = await h.connect(port);
        await flow.exchange(Buffer.from(`f${i}`));
        out.push(flow);
      }
      return out;
    };
    const ids = (it: Iterable<{ id: string }>): string[] => [...it].map((s) => s.id);

    afterEach(async () => {
      for (const c of clients.splice(0)) c.close();
      await started?.stop();
      started = undefined;
    });

    it('iterate() returns sessions in increasing id order and starts after any id, also one that closed', async (ctx) => {
      requires(ctx, backend, ['sessions']);
      await start();
      const port = await h.listenPorts(1);
      await apply([{ name: 'web', rules: [rule('http', port, h.targetPort)] }]);
      await flows(port, 5);
      const store = h.dataplane.sessions();
      const all = ids(store.iterate());
      expect(all).toHaveLength(5);
      const numbers = all.map((id) => sessionIdNumber(id));
      for (let i = 1; i < numbers.length; i++) expect(numbers[i]!).toBeGreaterThan(numbers[i - 1]!);
      expect(ids(store.iterate(all[1]))).toEqual(all.slice(2));
      expect(store.deleteWithCompanions(all[2]!, 'deleted')).toBe(true);
      // The id a pager stopped at may have closed since: the next page still starts right after it.
      expect(ids(store.iterate(all[2]))).toEqual(all.slice(3));
      expect(ids(store.iterate(all[4]))).toEqual([]);
      // A session opened later sorts after every earlier one.
      await flows(port, 1);
      const newer = ids(store.iterate(all[4]));
      expect(newer).toHaveLength(1);
      expect(sessionIdNumber(newer[0]!)!).toBeGreaterThan(numbers[4]!);
      // Iterating while sessions close (a snapshot being read) skips those that went.
      const seen: string[] = [];
      for (const s of store.iterate()) {
        seen.push(s.id);
        if (s.id === all[0]) store.deleteWithCompanions(all[3]!, 'deleted');
      }
      expect(seen).toEqual([all[0], all[1], all[4], newer[0]]);
      expect(store.count()).toBe(4);
    });

    it('deleteWithCompanions: when it returns the session is gone and exactly one close delta, with its reason, is emitted', async (ctx) => {
      requires(ctx, backend, ['sessions', 'session_deltas']);
      await start();
      const port = await h.listenPorts(1);
      await apply([{ name: 'web', rules: [rule('http', port, h.targetPort)] }]);
      const deltas = h.dataplane.sessionDeltas();
      expect(deltas.drain(1000).deltas).toEqual([]);
      const [flow] = await flows(port, 1);
      const store = h.dataplane.sessions();
      const [id] = ids(store.iterate());
      expect(deltas.drain(1000).deltas.filter((d) => d.kind === 'open').map((d) => d.session.id)).toEqual([id]);
      expect(store.deleteWithCompanions(id!, 'deleted')).toBe(true);
      // Same turn: no socket event or GC has run yet.
      expect(store.get(id!)).toBeUndefined();
      expect(ids(store.iterate())).toEqual([]);
      expect(store.count()).toBe(0);
      const closes = deltas.drain(1000).deltas.filter((d) => d.kind === 'close');
      expect(closes).toHaveLength(1);
      expect(closes[0]).toMatchObject({ kind: 'close', reason: 'deleted', session: { id, table: 'web', ruleName: 'http' } });
      await expect(flow!.exchange(Buffer.from('gone'))).rejects.toThrow();
      await h.settle();
      // Whatever the legs report later closes nothing twice.
      expect(deltas.drain(1000).deltas.filter((d) => d.session.id === id)).toEqual([]);
      expect(store.deleteWithCompanions(id!, 'deleted')).toBe(false);
    });

    it('every removal path emits one close delta per session with its own reason', async (ctx) => {
      requires(ctx, backend, ['sessions', 'session_deltas', 'terminate_removed']);
      await start();
      const port = await h.listenPorts(3);
      const tables = (ports: number[]) => [{ name: 'web', rules: ports.map((p) => rule(`r${p}`, p, h.targetPort)) }];
      await apply(tables([port, port + 1, port + 2]));
      const deltas = h.dataplane.sessionDeltas();
      deltas.drain(1000);
      const [toReconcile] = await flows(port, 1);
      await flows(port + 1, 1);
      const [byClient] = await flows(port + 2, 1);
      const store = h.dataplane.sessions();
      const [reconciledId, terminatedId, clientId] = ids(store.iterate());
      // HA resync without the first session.
      expect(deltas.reconcileBulk([...store.iterate()].slice(1))).toBe(1);
      // The second one's port is removed with terminate_removed.
      await h.config.call('ApplyConfig', { tables: tables([port, port + 2]), terminate_removed: true });
      // The third ends from the client side.
      await byClient!.close();
      await h.settle();
      expect(store.count()).toBe(0);
      const closes = new Map<string, string[]>();
      for (let i = 0; i < 100; i++) {
        const batch = deltas.drain(1000);
        for (const d of batch.deltas) if (d.kind === 'close') closes.set(d.session.id, [...(closes.get(d.session.id) ?? []), d.reason ?? 'none']);
        if (!batch.truncated) break;
      }
      expect(Object.fromEntries(closes)).toEqual({ [reconciledId!]: ['reconcile'], [terminatedId!]: ['terminate'], [clientId!]: ['client'] });
      await expect(toReconcile!.exchange(Buffer.from('x'))).rejects.toThrow();
    });

    it('Telemetry.generation() is the running generation, and rule counters carry name and protocol', async (ctx) => {
      requires(ctx, backend, ['telemetry']);
      await start();
      const telemetry = h.dataplane.telemetry();
      expect(telemetry.generation()).toBe(0);
      const port = await h.listenPorts(2);
      const { result } = await apply([{ name: 'web', rules: [rule('http', port, h.targetPort)] }]);
      expect(telemetry.generation()).toBe(1);
      expect(telemetry.rules()).toEqual([
        expect.objectContaining({ table: 'web', ruleId: result.rules[0]!.rule_id, ruleName: 'http', protocol: 'tcp', counterId: Number(result.rules[0]!.counter_id) }),
      ]);
      await apply([{ name: 'web', rules: [rule('http', port, h.targetPort), rule('', port + 1, h.targetPort)] }]);
      expect(telemetry.generation()).toBe(2);
      expect(telemetry.rules().map((r) => [r.ruleName, r.protocol]).sort()).toEqual([
        ['', 'tcp'],
        ['http', 'tcp'],
      ]);
    });

    it('flood() counts refusals per rule and reason, with the heaviest source prefixes', async (ctx) => {
      requires(ctx, backend, ['telemetry', 'source_filters', 'session_limits']);
      await start();
      const port = await h.listenPorts(2);
      const { result } = await apply([
        {
          name: 'web',
          rules: [rule('guarded', port, h.targetPort, { deny: ['127.0.0.0/8'] }), rule('capped', port + 1, h.targetPort, { limits: { max_sessions: 1 } })],
        },
      ]);
      for (let i = 0; i < 3; i++) await expect(h.connect(port).then((f) => f.exchange(Buffer.from('no')))).rejects.toThrow();
      await flows(port + 1, 1);
      await expect(h.connect(port + 1).then((f) => f.exchange(Buffer.from('no')))).rejects.toThrow();
      const floods = h.dataplane.telemetry().flood(5);
      const byName = new Map(floods.map((f) => [f.ruleName, f]));
      const guarded = result.rules.find((r) => r.counter_id === String(byName.get('guarded')?.counterId));
      expect(guarded).toBeDefined();
      // Without flood_sources a backend names no source prefix (its declared reason says why).
      const withSources = declaredCapabilities(backend).supported.includes('flood_sources');
      expect(byName.get('guarded')).toEqual({
        table: 'web',
        ruleId: guarded!.rule_id,
        ruleName: 'guarded',
        counterId: Number(guarded!.counter_id),
        refused: 3,
        byReason: { filter: 3, rate: 0, source_rate: 0, cap: 0 },
        sources: withSources ? [{ prefix: '127.0.0.0/24', refused: 3, byReason: { filter: 3 } }] : [],
        sourceError: 0,
      });
      expect(byName.get('capped')).toMatchObject({
        refused: 1,
        byReason: { cap: 1 },
        sources: withSources ? [{ prefix: '127.0.0.0/24', refused: 1, byReason: { cap: 1 } }] : [],
      });
      expect(h.dataplane.telemetry().flood(0).every((f) => f.sources.length === 0)).toBe(true);
    });

    it('over gRPC: ListSessions pages in id order, DeleteSessions is a close event on WatchSessions, counters agree', async (ctx) => {
      requires(ctx, backend, ['sessions', 'session_deltas', 'telemetry']);
      await start();
      const port = await h.listenPorts(1);
      await apply([{ name: 'web', rules: [rule('http', port, h.targetPort)] }]);
      const sessions = client('SessionService');
      const watch = new Watch(sessions, {});
      try {
        await watch.until((e) => e.some((x) => x.kind === 'SESSION_EVENT_KIND_SNAPSHOT_END'), 'the (empty) snapshot');
        await flows(port, 5);
        const listed: string[] = [];
        let token = '';
        for (let page = 0; page < 10; page++) {
          const res = await sessions.call<{ sessions: WireSession[]; next_page_token: string }>('ListSessions', { page_size: 2, page_token: token });
          listed.push(...res.sessions.map((s) => s.id));
          token = res.next_page_token;
          if (!token) break;
        }
        const all = ids(h.dataplane.sessions().iterate());
        expect(listed).toEqual(all);
        const victim = all[1]!;
        expect(await sessions.call('DeleteSessions', { ids: [victim] })).toMatchObject({ deleted: '1' });
        await watch.until((e) => watchDeltas(e).some((x) => x.kind === 'SESSION_EVENT_KIND_CLOSE'), 'the close event');
        const events = watchDeltas(watch.events);
        expect(events.filter((x) => x.kind === 'SESSION_EVENT_KIND_OPEN').map((x) => x.session!.id)).toEqual(all);
        expect(events.filter((x) => x.kind === 'SESSION_EVENT_KIND_CLOSE')).toEqual([
          expect.objectContaining({ close_reason: 'CLOSE_REASON_DELETED', session: expect.objectContaining({ id: victim }) }),
        ]);
        const sequences = events.map((x) => Number(x.sequence));
        for (let i = 1; i < sequences.length; i++) expect(sequences[i]!).toBeGreaterThan(sequences[i - 1]!);
        const counters = await client('TelemetryService').call<{ generation: string; backend: string; rules: { rule_name: string; protocol: string; generation: string; traffic: { sessions_active: string; sessions_opened: string } }[] }>(
          'GetCounters',
          {},
        );
        expect(counters).toMatchObject({ generation: '1', backend });
        expect(counters.rules).toEqual([
          expect.objectContaining({ rule_name: 'http', protocol: 'PROTOCOL_TCP', generation: '1', traffic: expect.objectContaining({ sessions_opened: '5', sessions_active: '4' }) }),
        ]);
      } finally {
        watch.cancel();
      }
    });
  });
}
