/**
 * KernelDataPlane on real loopback sockets, driven the way the control layer
 * drives it: normalised configs, plans from computePlan, applyConfig. Socket
 * identity is checked twice: by fd inside the process and by inode as the
 * kernel reports it.
 */
import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { defaultRuleOptions, type DrainPolicy, type ForwardingConfig, type ForwardRule, type Table } from '../../src/config/model.js';
import { normalizeConfig } from '../../src/config/normalize.js';
import { supports } from '../../src/dataplane/capabilities.js';
import type { SinkApplyOutcome } from '../../src/dataplane/config-sink.js';
import { createKernelDataPlane, KernelDataPlane } from '../../src/dataplane/kernel/index.js';
import { spliceEngine } from '../../src/dataplane/kernel/splice-engine.js';
import { computePlan } from '../../src/plan/compute-plan.js';
import { ruleId } from '../../src/plan/identity.js';
import { listenerKey } from '../../src/plan/listeners.js';
import type { Plan } from '../../src/plan/model.js';
import { listeningSocketInodes } from '../helpers/proc-net.js';
import { freePort, freePortBlock, roundTrip, startEchoServer, type EchoServer } from '../helpers/tcp.js';

const logger = pino({ level: 'silent' });
/** Below the kernel's ephemeral range, so outgoing connections never hold these ports. */
const PORTS_LOW = 30000;
const PORTS_HIGH = 32700;

function tcp(name: string, listenAddress: string, first: number, last: number, targetAddress: string, targetPort: number, weak = false): ForwardRule {
  return { name, protocol: 'tcp', listenAddress, interface: '', ports: { first, last }, exclude: [], targetAddress, targetPort, weak, ...defaultRuleOptions() };
}

const key = (listenAddress: string, port: number): string => listenerKey({ protocol: 'tcp', listenAddress, port });

/** A dataplane plus the running config the control layer would keep for it. */
class Harness {
  readonly dp = new KernelDataPlane({ logger });
  running: ForwardingConfig = { tables: [] };
  generation = 0;
  lastPlan: Plan | undefined;

  async apply(tables: Table[], drain?: DrainPolicy): Promise<SinkApplyOutcome> {
    const desired = normalizeConfig({ tables });
    const plan = computePlan(this.running, desired, this.generation);
    this.lastPlan = plan;
    const outcome = await this.dp.applyConfig({ generation: this.generation + 1, config: desired, plan, ...(drain && { drain }), counterIds: {} });
    if (outcome.outcome === 'committed') {
      this.running = desired;
      this.generation++;
      // Committed at once, as the controller does once the apply is saved.
      this.dp.settle(this.generation, 'committed');
    }
    return outcome;
  }
}

/** A long-lived client connection and everything it has received. */
interface Conn {
  socket: Socket;
  received(): string;
  until(fragment: string): Promise<void>;
}

const sockets: Socket[] = [];
const servers: Server[] = [];

async function openConn(port: number, host = '127.0.0.1'): Promise<Conn> {
  const socket = connect({ host, port, allowHalfOpen: true });
  sockets.push(socket);
  let data = '';
  socket.on('data', (c: Buffer) => (data += c.toString()));
  // Tests look at how a socket ended, not at its error event.
  socket.on('error', () => undefined);
  await once(socket, 'connect');
  return { socket, received: () => data, until: (fragment) => waitUntil(() => data.includes(fragment), `"${fragment}"`) };
}

/** A foreign process's socket, holding 127.0.0.1:port. */
async function occupy(port: number): Promise<Server> {
  const server = createServer();
  servers.push(server);
  server.listen({ host: '127.0.0.1', port, exclusive: true });
  await once(server, 'listening');
  return server;
}

async function waitUntil(condition: () => boolean, what: string, ms = 5000): Promise<void> {
  for (let waited = 0; !condition(); waited += 10) {
    if (waited >= ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const reply = async (port: number, payload: string, host = '127.0.0.1'): Promise<string> =>
  (await roundTrip(port, payload, host, 5000)).toString();

describe('KernelDataPlane', () => {
  let h: Harness;
  let a: EchoServer;
  let b: EchoServer;

  beforeEach(async () => {
    h = new Harness();
    a = await startEchoServer('127.0.0.1', 'A:');
    b = await startEchoServer('127.0.0.1', 'B:');
  });

  afterEach(async () => {
    await h.dp.teardown();
    for (const s of sockets.splice(0)) s.destroy();
    await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
    await Promise.all([a.close(), b.close()]);
  });

  describe('forwarding', () => {
    it('forwards IPv4', async () => {
      const port = await freePortBlock(1, PORTS_LOW, PORTS_HIGH);
      const outcome = await h.apply([{ name: 'web', rules: [tcp('r', '127.0.0.1', port, port, '127.0.0.1', a.port)] }]);
      expect(outcome).toMatchObject({ outcome: 'committed', failures: [], diverged: [] });
      expect(await reply(port, 'hello')).toBe('A:hello');
      expect(h.dp.listeningFd(key('127.0.0.1', port))).toBeTypeOf('number');
      expect(await listeningSocketInodes(port)).toHaveLength(1);
    });

    it('forwards IPv6', async () => {
      const a6 = await startEchoServer('::1', '6:');
      try {
        const port = await freePort('::1');
        await h.apply([{ name: 'web', rules: [tcp('r', '::1', port, port, '::1', a6.port)] }]);
        expect(await reply(port, 'hello', '::1')).toBe('6:hello');
      } finally {
        await a6.close();
      }
    });

    it("'' is one dual-stack socket serving IPv4 and IPv6", async () => {
      const port = await freePort('::');
      expect(await h.apply([{ name: 'web', rules: [tcp('r', '', port, port, '127.0.0.1', a.port)] }])).toMatchObject({ outcome: 'committed' });
      expect(await reply(port, 'v4')).toBe('A:v4');
      expect(await reply(port, 'v6', '::1')).toBe('A:v6');
      expect(await listeningSocketInodes(port)).toHaveLength(1);
    });

    it("'::' is IPv6 only", async () => {
      const port = await freePort('::');
      await h.apply([{ name: 'web', rules: [tcp('r', '::', port, port, '127.0.0.1', a.port)] }]);
      expect(await reply(port, 'v6', '::1')).toBe('A:v6');
      await expect(reply(port, 'v4')).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    });
  });

  describe('socket continuity', () => {
    it('retarget: the socket stays, established connections keep the old target, new ones take the new', async () => {
      const port = await freePortBlock(1, PORTS_LOW, PORTS_HIGH);
      await h.apply([{ name: 'web', rules: [tcp('r', '127.0.0.1', port, port, '127.0.0.1', a.port)] }]);
      const fd = h.dp.listeningFd(key('127.0.0.1', port));
      const inodes = await listeningSocketInodes(port);
      const old = await openConn(port);
      await old.until('A:');

      await h.apply([{ name: 'web', rules: [tcp('r', '127.0.0.1', port, port, '127.0.0.1', b.port)] }]);
      expect(h.lastPlan?.ports.map((p) => p.action)).toEqual(['retarget']);
      expect(h.dp.listeningFd(key('127.0.0.1', port))).toBe(fd);
      expect(await listeningSocketInodes(port)).toEqual(inodes);
      expect(await reply(port, 'new')).toBe('B:new');
      old.socket.write('still-a');
      await old.until('A:still-a');
      expect(a.sockets.size).toBe(1);
    });

    it('overlapping ranges: 0-10 -> 5-20 keeps the sockets of 5-10', async () => {
      const base = await freePortBlock(21, PORTS_LOW, PORTS_HIGH);
      const range = (first: number, last: number): Table[] => [
        { name: 'web', rules: [tcp('r', '127.0.0.1', base + first, base + last, '127.0.0.1', a.port)] },
      ];
      await h.apply(range(0, 10));
      const kept: string[][] = [];
      for (let p = base + 5; p <= base + 10; p++) kept.push(await listeningSocketInodes(p));
      expect(kept.every((inodes) => inodes.length === 1)).toBe(true);

      expect(await h.apply(range(5, 20))).toMatchObject({ outcome: 'committed', failures: [], diverged: [] });
      for (let p = base + 5; p <= base + 10; p++) expect(await listeningSocketInodes(p)).toEqual(kept[p - base - 5]);
      for (let p = base; p < base + 5; p++) expect(await listeningSocketInodes(p)).toEqual([]);
      for (let p = base + 11; p <= base + 20; p++) expect(await listeningSocketInodes(p)).toHaveLength(1);
      // The range moved, so port base+5 now maps to the first target port.
      expect(await reply(base + 5, 'moved')).toBe('A:moved');
    });

    it('no connection is refused on a kept port while applies run', async () => {
      const base = await freePortBlock(4, PORTS_LOW, PORTS_HIGH);
      const tables = (i: number): Table[] => [
        {
          name: 'web',
          rules: [
            tcp('steady', '127.0.0.1', base, base, '127.0.0.1', i % 2 === 0 ? a.port : b.port),
            tcp('churn', '127.0.0.1', base + 1 + (i % 3), base + 1 + (i % 3), '127.0.0.1', a.port),
          ],
        },
      ];
      await h.apply(tables(0));
      let applying = true;
      const errors: string[] = [];
      let answered = 0;
      const client = (async () => {
        for (let i = 0; i < 10_000 && applying; i++) {
          try {
            expect(await reply(base, `${i}`)).toMatch(/^[AB]:\d+$/);
            answered++;
          } catch (err) {
            errors.push((err as NodeJS.ErrnoException).code ?? String(err));
          }
        }
      })();
      for (let i = 1; i <= 30; i++) {
        expect((await h.apply(tables(i))).outcome).toBe('committed');
        await new Promise((r) => setTimeout(r, 5));
      }
      applying = false;
      await client;
      expect(errors).toEqual([]);
      expect(answered).toBeGreaterThan(0);
    });
  });

  describe('transactions', () => {
    it('rolls back on a failed non-weak rule: same sockets, opened ones closed, nothing retargeted', async () => {
      const base = await freePortBlock(7, PORTS_LOW, PORTS_HIGH);
      const keep = tcp('keep', '127.0.0.1', base, base + 1, '127.0.0.1', a.port);
      const gone = tcp('gone', '127.0.0.1', base + 2, base + 2, '127.0.0.1', a.port);
      const wide = tcp('wide', '0.0.0.0', base + 6, base + 6, '127.0.0.1', a.port);
      await h.apply([{ name: 'web', rules: [keep, gone, wide] }]);
      const before = [base, base + 1, base + 2].map((p) => h.dp.listeningFd(key('127.0.0.1', p)));
      const inodesBefore = await Promise.all([base, base + 1, base + 2].map((p) => listeningSocketInodes(p)));
      const throughWide = await openConn(base + 6);
      await throughWide.until('A:');
      await occupy(base + 5);

      const added = tcp('new', '127.0.0.1', base + 3, base + 5, '127.0.0.1', a.port);
      const narrow = tcp('narrow', '127.0.0.1', base + 6, base + 6, '127.0.0.1', b.port);
      const outcome = await h.apply([{ name: 'web', rules: [{ ...keep, targetPort: b.port }, added, narrow] }]);
      expect(outcome.outcome).toBe('restored');
      expect(outcome.failures).toEqual([
        {
          protocol: 'tcp',
          listenAddress: '127.0.0.1',
          port: base + 5,
          table: 'web',
          ruleId: ruleId('web', added),
          errno: 'EADDRINUSE',
          message: expect.stringContaining('EADDRINUSE'),
        },
      ]);
      // The failed apply did need room for 127.0.0.1:base+6 from 0.0.0.0:base+6.
      expect(h.lastPlan?.ports.find((p) => p.port === base + 6 && p.action === 'open')?.needsRoomFrom).toEqual([key('0.0.0.0', base + 6)]);

      expect([base, base + 1, base + 2].map((p) => h.dp.listeningFd(key('127.0.0.1', p)))).toEqual(before);
      expect(await Promise.all([base, base + 1, base + 2].map((p) => listeningSocketInodes(p)))).toEqual(inodesBefore);
      for (const p of [base + 3, base + 4]) {
        expect(await listeningSocketInodes(p)).toEqual([]);
        await expect(reply(p, 'x')).rejects.toMatchObject({ code: 'ECONNREFUSED' });
      }
      expect(await reply(base, 'not-retargeted')).toBe('A:not-retargeted');
      // The listener that made room is back, with its route, and its connection never noticed.
      expect(h.dp.listeningFd(key('0.0.0.0', base + 6))).toBeTypeOf('number');
      expect(h.dp.listeningFd(key('127.0.0.1', base + 6))).toBeUndefined();
      expect(await reply(base + 6, 'wide-again')).toBe('A:wide-again');
      throughWide.socket.write('alive');
      await throughWide.until('A:alive');
    });

    it('a weak rule with a blocked port passes, reports it, and binds it when the rule next changes', async () => {
      const base = await freePortBlock(4, PORTS_LOW, PORTS_HIGH);
      const blocker = await occupy(base + 1);
      const tables: Table[] = [{ name: 'web', rules: [tcp('w', '127.0.0.1', base, base + 2, '127.0.0.1', a.port, true)] }];
      const outcome = await h.apply(tables);
      expect(outcome.outcome).toBe('committed');
      expect(outcome.failures.map((f) => [f.port, f.errno])).toEqual([[base + 1, 'EADDRINUSE']]);
      expect(await reply(base, 'weak')).toBe('A:weak');
      expect(h.dp.listeningFd(key('127.0.0.1', base + 1))).toBeUndefined();
      expect(h.dp.listeningFd(key('127.0.0.1', base + 2))).toBeTypeOf('number');

      await new Promise((r) => blocker.close(r));
      // An unchanged rule's ports are not in the plan, so the retry waits for
      // a change; widening the range keeps base..base+2, the gap included.
      const widened: Table[] = [{ name: 'web', rules: [tcp('w', '127.0.0.1', base, base + 3, '127.0.0.1', a.port, true)] }];
      expect(await h.apply(widened)).toMatchObject({ outcome: 'committed', failures: [], diverged: [] });
      expect(h.lastPlan?.ports.map((p) => [p.action, p.port])).toEqual([
        ['open', base + 3],
        ['keep', base],
        ['keep', base + 1],
        ['keep', base + 2],
      ]);
      expect(h.dp.listeningFd(key('127.0.0.1', base + 1))).toBeTypeOf('number');
    });

    it('a weak rule fails when none of its ports binds', async () => {
      const port = await freePortBlock(1, PORTS_LOW, PORTS_HIGH);
      await occupy(port);
      const outcome = await h.apply([{ name: 'web', rules: [tcp('w', '127.0.0.1', port, port, '127.0.0.1', a.port, true)] }]);
      expect(outcome.outcome).toBe('restored');
      expect(outcome.failures.map((f) => f.errno)).toEqual(['EADDRINUSE']);
    });

    it('needs room: 0.0.0.0:P -> 127.0.0.1:P closes the wide socket first', async () => {
      const port = await freePortBlock(1, PORTS_LOW, PORTS_HIGH);
      await h.apply([{ name: 'web', rules: [tcp('r', '0.0.0.0', port, port, '127.0.0.1', a.port)] }]);
      expect(await h.apply([{ name: 'web', rules: [tcp('r', '127.0.0.1', port, port, '127.0.0.1', b.port)] }])).toMatchObject({
        outcome: 'committed',
        failures: [],
        diverged: [],
      });
      expect(h.lastPlan?.ports.map((p) => [p.action, p.key, p.needsRoomFrom])).toEqual([
        ['close', key('0.0.0.0', port), undefined],
        ['open', key('127.0.0.1', port), [key('0.0.0.0', port)]],
      ]);
      expect(await reply(port, 'narrow')).toBe('B:narrow');
      expect(h.dp.listeningFd(key('0.0.0.0', port))).toBeUndefined();
    });

    it('throws, changing nothing, on a plan that does not fit the running listeners', async () => {
      const port = await freePortBlock(1, PORTS_LOW, PORTS_HIGH);
      const desired = normalizeConfig({ tables: [{ name: 'web', rules: [tcp('r', '127.0.0.1', port, port, '127.0.0.1', a.port)] }] });
      const plan = computePlan({ tables: [] }, desired, 0);
      await h.dp.applyConfig({ generation: 1, config: desired, plan, counterIds: {} });
      const fd = h.dp.listeningFd(key('127.0.0.1', port));
      await expect(h.dp.applyConfig({ generation: 2, config: desired, plan, counterIds: {} })).rejects.toThrow(/already open/);
      expect(h.dp.listeningFd(key('127.0.0.1', port))).toBe(fd);
    });
  });

  describe('removed ports and shutdown', () => {
    async function removedWithConnection(drain?: DrainPolicy): Promise<{ conn: Conn; port: number }> {
      const port = await freePortBlock(1, PORTS_LOW, PORTS_HIGH);
      const rule = tcp('r', '127.0.0.1', port, port, '127.0.0.1', a.port);
      await h.apply([{ name: 'web', rules: [rule] }]);
      const conn = await openConn(port);
      await conn.until('A:');
      expect(h.dp.connectionCount({ ruleId: ruleId('web', rule) })).toBe(1);
      await h.apply([{ name: 'web', rules: [] }], drain);
      await expect(reply(port, 'x')).rejects.toMatchObject({ code: 'ECONNREFUSED' });
      return { conn, port };
    }

    it('no drain policy (KEEP): established connections of a removed port continue', async () => {
      const { conn, port } = await removedWithConnection();
      conn.socket.write('after');
      await conn.until('A:after');
      expect(h.dp.connectionCount({ key: key('127.0.0.1', port) })).toBe(1);
    });

    it('a TERMINATE drain (terminate_removed): established connections of a removed port are closed', async () => {
      const { conn } = await removedWithConnection({ mode: 'terminate', timeoutMs: 0 });
      await waitUntil(() => conn.socket.readableEnded || conn.socket.destroyed, 'connection closed');
      await waitUntil(() => h.dp.connectionCount() === 0, 'relay gone');
    });

    it('close(grace) stops listening at once and lets connections finish', async () => {
      const port = await freePortBlock(1, PORTS_LOW, PORTS_HIGH);
      await h.apply([{ name: 'web', rules: [tcp('r', '127.0.0.1', port, port, '127.0.0.1', a.port)] }]);
      const conn = await openConn(port);
      await conn.until('A:');
      const started = Date.now();
      const closing = h.dp.close(10_000);
      await expect(reply(port, 'x')).rejects.toMatchObject({ code: 'ECONNREFUSED' });
      conn.socket.write('finishing');
      await conn.until('A:finishing');
      conn.socket.end();
      await closing;
      expect(Date.now() - started).toBeLessThan(5000);
      await expect(h.dp.applyConfig({ generation: 9, config: { tables: [] }, plan: h.lastPlan as Plan, counterIds: {} })).rejects.toThrow(
        /stopped/,
      );
    });

    it('close(grace) ends connections still open when the grace period is over', async () => {
      const port = await freePortBlock(1, PORTS_LOW, PORTS_HIGH);
      await h.apply([{ name: 'web', rules: [tcp('r', '127.0.0.1', port, port, '127.0.0.1', a.port)] }]);
      const conn = await openConn(port);
      await conn.until('A:');
      await h.dp.close(100);
      await waitUntil(() => conn.socket.readableEnded || conn.socket.destroyed, 'connection closed');
    });

    it('teardown closes listeners and connections now', async () => {
      const port = await freePortBlock(1, PORTS_LOW, PORTS_HIGH);
      await h.apply([{ name: 'web', rules: [tcp('r', '127.0.0.1', port, port, '127.0.0.1', a.port)] }]);
      const conn = await openConn(port);
      await conn.until('A:');
      await h.dp.teardown();
      await waitUntil(() => conn.socket.readableEnded || conn.socket.destroyed, 'connection closed');
      expect(await listeningSocketInodes(port)).toEqual([]);
    });
  });

  it('with nobody watching, counters, lists and session ages are those of connections reported one by one', async () => {
    const port = await freePortBlock(1, PORTS_LOW, PORTS_HIGH);
    await h.apply([{ name: 'web', rules: [tcp('r', '127.0.0.1', port, port, '127.0.0.1', a.port)] }]);
    for (let i = 0; i < 20; i++) expect(await reply(port, 'hello')).toBe('A:hello');
    const opening = Date.now();
    const conn = await openConn(port);
    conn.socket.write('x');
    await conn.until('A:x');
    await new Promise((r) => setTimeout(r, 50));
    const telemetry = h.dp.telemetry();
    await waitUntil(() => telemetry.global().sessionsClosed === 20, '20 sessions closed');
    const expected = { sessionsOpened: 21, sessionsClosed: 20, sessionsActive: 1, bytesFromClient: 20 * 5 + 1, bytesToClient: 20 * 7 + 3 };
    expect(telemetry.global()).toMatchObject(expected);
    expect(telemetry.rules()).toEqual([expect.objectContaining(expected)]);
    const listed = [...h.dp.sessions().iterate()];
    expect(listed).toHaveLength(1);
    const [session] = listed;
    expect(session).toMatchObject({ state: 'established', fromClient: { bytes: 1 }, toClient: { bytes: 3 }, target: { port: a.port } });
    // Its age is the connection's, not when it was first listed.
    expect(session?.createdAt).toBeGreaterThanOrEqual(opening - 20);
    expect(session?.createdAt).toBeLessThanOrEqual(Date.now() - 40);
    conn.socket.end();
    await waitUntil(() => telemetry.global().sessionsClosed === 21, 'the last session closed');
    expect(telemetry.global()).toMatchObject({ sessionsOpened: 21, sessionsActive: 0, bytesFromClient: 101, bytesToClient: 143 });
    expect(h.dp.sessions().count()).toBe(0);
  });

  it('reports its name and capabilities', () => {
    const dp = createKernelDataPlane({ logger });
    expect(dp.name).toBe('kernel');
    const caps = dp.capabilities();
    expect(caps.backend).toBe('kernel');
    expect(caps.supported).toContain('socket_continuity');
    // splice_relay is supported wherever its native addon was built.
    const splice = spliceEngine();
    const unsupported = ['interface_binding', 'pcap_port', 'session_import', 'snat', 'tun_port'];
    expect(caps.unsupported.map((u) => u.feature).sort()).toEqual((splice.engine ? unsupported : [...unsupported, 'splice_relay']).sort());
    expect(supports(caps, 'splice_relay')).toBe(splice.engine !== undefined);
    expect(caps.supported).toEqual(expect.arrayContaining(['bind_errors', 'trace', 'sessions', 'session_deltas', 'telemetry', 'source_filters', 'session_limits']));
    caps.supported.length = 0;
    expect(dp.capabilities().supported).toContain('tcp');
  });
});
