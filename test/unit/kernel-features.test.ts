/**
 * KernelDataPlane features on real loopback sockets, driven as the control
 * layer drives it (normalised configs, computePlan, applyConfig): UDP flows,
 * source filters and their re-evaluation, limits, drain policies, and the
 * sessions, deltas and counters the neutral contracts expose.
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { defaultRuleOptions, type ForwardingConfig, type ForwardRule, type Table } from '../../src/config/model.js';
import { normalizeConfig } from '../../src/config/normalize.js';
import type { DrainPolicy } from '../../src/config/model.js';
import type { SessionDelta } from '../../src/dataplane/session-deltas.js';
import { KernelDataPlane } from '../../src/dataplane/kernel/index.js';
import { computePlan } from '../../src/plan/compute-plan.js';
import { ruleId } from '../../src/plan/identity.js';
import { freePortBlock, startEchoServer, type EchoServer } from '../helpers/tcp.js';

const logger = pino({ level: 'silent' });

function rule(over: Partial<ForwardRule> & Pick<ForwardRule, 'ports' | 'targetPort'>): ForwardRule {
  return {
    name: 'r',
    protocol: 'tcp',
    listenAddress: '127.0.0.1',
    interface: '',
    exclude: [],
    targetAddress: '127.0.0.1',
    weak: false,
    ...defaultRuleOptions(),
    ...over,
  };
}

class Harness {
  readonly dp = new KernelDataPlane({ logger });
  running: ForwardingConfig = { tables: [] };
  generation = 0;
  private nextCounter = 1;
  private counters: Record<string, number> = {};

  async apply(tables: Table[], drain?: DrainPolicy): Promise<void> {
    const desired = normalizeConfig({ tables });
    const plan = computePlan(this.running, desired, this.generation);
    const counterIds: Record<string, number> = {};
    for (const change of plan.rules) {
      if (change.action === 'removed') continue;
      counterIds[change.ruleId] = change.action === 'unchanged' ? (this.counters[change.ruleId] ?? 0) : this.nextCounter++;
    }
    const outcome = await this.dp.applyConfig({
      generation: this.generation + 1,
      config: desired,
      plan,
      ...(drain && { drain }),
      counterIds,
    });
    if (outcome.outcome !== 'committed') throw new Error(`apply failed: ${JSON.stringify(outcome.failures)}`);
    this.running = desired;
    this.generation++;
    // Committed at once, as the controller does once the apply is saved.
    this.dp.settle(this.generation, 'committed');
    this.counters = counterIds;
  }
}

const harnesses: Harness[] = [];
const closers: (() => unknown)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
  for (const h of harnesses.splice(0)) await h.dp.teardown();
});

function harness(): Harness {
  const h = new Harness();
  harnesses.push(h);
  return h;
}

async function echo(host = '127.0.0.1'): Promise<EchoServer> {
  const server = await startEchoServer(host);
  closers.push(() => server.close());
  return server;
}

async function waitUntil(condition: () => boolean, what: string, ms = 10_000): Promise<void> {
  for (let waited = 0; !condition(); waited += 10) {
    if (waited >= ms) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** An open TCP connection through the forwarder, with what it received and how it ended. */
interface Conn {
  socket: Socket;
  data: () => string;
  ended: () => string | undefined;
}

async function open(port: number, host = '127.0.0.1', localAddress?: string): Promise<Conn> {
  const socket = connect({ host, port, allowHalfOpen: true, ...(localAddress && { localAddress }) });
  closers.push(() => socket.destroy());
  let data = '';
  let ended: string | undefined;
  socket.on('data', (c: Buffer) => (data += c.toString()));
  socket.on('error', (err: NodeJS.ErrnoException) => (ended ??= err.code ?? 'error'));
  socket.on('end', () => (ended ??= 'end'));
  socket.on('close', () => (ended ??= 'closed'));
  // A refused attempt may be reset before the client even sees its connect complete.
  await new Promise((resolve) => {
    socket.once('connect', resolve);
    socket.once('error', resolve);
  });
  return { socket, data: () => data, ended: () => ended };
}

/** Sends `text` and waits for the echo. */
async function ping(conn: Conn, text: string): Promise<void> {
  const before = conn.data().length;
  conn.socket.write(text);
  await waitUntil(() => conn.data().length >= before + text.length || conn.ended() !== undefined, `echo of ${text}`);
  expect(conn.data().slice(before)).toBe(text);
}

/** A UDP echo target that prefixes each reply with the sender's port, so clients can tell flows apart. */
async function udpEcho(host = '127.0.0.1'): Promise<{ port: number; sources: Set<number> }> {
  const socket = createSocket(host.includes(':') ? 'udp6' : 'udp4');
  const sources = new Set<number>();
  socket.on('message', (msg, rinfo) => {
    sources.add(rinfo.port);
    socket.send(Buffer.concat([Buffer.from(`${rinfo.port}:`), msg]), rinfo.port, rinfo.address);
  });
  socket.bind({ address: host, port: 0 });
  await once(socket, 'listening');
  closers.push(() => socket.close());
  return { port: socket.address().port, sources };
}

interface UdpClient {
  socket: UdpSocket;
  replies: string[];
  /** Sends and waits for one more reply. */
  ask(text: string): Promise<string>;
}

async function udpClient(port: number, host = '127.0.0.1', bindAddress = host): Promise<UdpClient> {
  const socket = createSocket(bindAddress.includes(':') ? 'udp6' : 'udp4');
  const replies: string[] = [];
  socket.on('message', (msg, rinfo) => {
    // Replies must come from the port the client sent to.
    if (rinfo.port === port) replies.push(msg.toString());
  });
  socket.bind({ address: bindAddress, port: 0 });
  await once(socket, 'listening');
  closers.push(() => socket.close());
  return {
    socket,
    replies,
    async ask(text) {
      const before = replies.length;
      // Datagrams may be lost under load: resend a few times.
      for (let attempt = 0; attempt < 20 && replies.length === before; attempt++) {
        socket.send(text, port, host);
        const deadline = Date.now() + 250;
        while (Date.now() < deadline && replies.length === before) await new Promise((r) => setTimeout(r, 5));
      }
      if (replies.length === before) throw new Error(`no UDP reply to ${text}`);
      return replies[replies.length - 1] as string;
    },
  };
}

describe('UDP forwarding', () => {
  it('gives each client source port its own flow, replies to the right client, expires idle flows', async () => {
    const target = await udpEcho();
    const base = await freePortBlock(1);
    const h = harness();
    await h.apply([
      { name: 'dns', rules: [rule({ protocol: 'udp', ports: { first: base, last: base }, targetPort: target.port, udpIdleTimeoutMs: 400 })] },
    ]);
    const clients = await Promise.all([udpClient(base), udpClient(base), udpClient(base)]);
    const replies = await Promise.all(clients.map((c, i) => c.ask(`hello ${i}`)));
    // Three flows: three distinct upstream source ports at the target, and each client got its own answer.
    expect(target.sources.size).toBe(3);
    replies.forEach((reply, i) => expect(reply).toMatch(new RegExp(`^\\d+:hello ${i}$`)));
    const upstreamPorts = replies.map((r) => r.split(':')[0]);
    expect(new Set(upstreamPorts).size).toBe(3);
    // The same client keeps its flow (same upstream port) while it is active.
    expect((await clients[0]!.ask('again')).split(':')[0]).toBe(upstreamPorts[0]);

    const sessions = [...h.dp.sessions().iterate()];
    expect(sessions).toHaveLength(3);
    expect(sessions.every((s) => s.protocol === 'udp' && s.state === 'active' && s.upstreamLocal !== undefined)).toBe(true);
    expect(sessions.map((s) => s.client.port).sort()).toEqual(clients.map((c) => c.socket.address().port).sort());

    await waitUntil(() => h.dp.sessions().count() === 0, 'idle flows expire', 10_000);
    // A new datagram after expiry opens a new flow.
    await clients[0]!.ask('after expiry');
    expect(h.dp.sessions().count()).toBe(1);
    expect(target.sources.size).toBe(4);
  });

  it('forwards IPv6 and dual-stack any, and caps flows per rule', async () => {
    const target6 = await udpEcho('::1');
    const base = await freePortBlock(2);
    const h = harness();
    await h.apply([
      {
        name: 'u',
        rules: [
          rule({ name: 'v6', protocol: 'udp', listenAddress: '::1', ports: { first: base, last: base }, targetAddress: '::1', targetPort: target6.port }),
          rule({
            name: 'dual',
            protocol: 'udp',
            listenAddress: '',
            ports: { first: base + 1, last: base + 1 },
            targetAddress: '::1',
            targetPort: target6.port,
            limits: { ...defaultRuleOptions().limits, maxUdpFlows: 2 },
          }),
        ],
      },
    ]);
    expect(await (await udpClient(base, '::1')).ask('six')).toMatch(/:six$/);
    expect(await (await udpClient(base + 1, '127.0.0.1')).ask('four via dual')).toMatch(/:four via dual$/);
    expect(await (await udpClient(base + 1, '::1')).ask('six via dual')).toMatch(/:six via dual$/);
    // The third flow on the capped rule is dropped and counted.
    const third = await udpClient(base + 1, '::1');
    await expect(third.ask('over the cap')).rejects.toThrow(/no UDP reply/);
    const dual = h.dp.telemetry().rules().find((r) => r.ruleId === ruleId('u', h.running.tables[0]!.rules[0]!));
    expect(dual?.drops.cap).toBeGreaterThan(0);
    expect(dual?.sessionsActive).toBe(2);
  });
});

describe('source filters', () => {
  it('admits and refuses by v4 and v6 CIDR at accept, counting refusals', async () => {
    const target = await echo();
    const base = await freePortBlock(2);
    const h = harness();
    await h.apply([
      {
        name: 'f',
        rules: [
          rule({ name: 'v4', ports: { first: base, last: base }, targetPort: target.port, allow: ['127.0.0.0/8'], deny: ['127.0.0.2/32'] }),
          rule({ name: 'v6', listenAddress: '', ports: { first: base + 1, last: base + 1 }, targetPort: target.port, deny: ['::1/128'] }),
        ],
      },
    ]);
    await ping(await open(base, '127.0.0.1', '127.0.0.1'), 'allowed');
    const denied = await open(base, '127.0.0.1', '127.0.0.2');
    await waitUntil(() => denied.ended() !== undefined, 'denied connection closed');
    expect(denied.ended()).toBe('ECONNRESET');
    // Dual-stack: IPv4 passes (the v6 deny does not match it), ::1 is refused.
    await ping(await open(base + 1, '127.0.0.1'), 'v4 via dual');
    const denied6 = await open(base + 1, '::1');
    await waitUntil(() => denied6.ended() !== undefined, 'denied v6 connection closed');
    expect(h.dp.telemetry().global().drops.filter).toBe(2);
  });

  it('re-evaluates established sessions when filters change (REEVALUATE), leaves them with KEEP', async () => {
    const target = await echo();
    const base = await freePortBlock(2);
    const h = harness();
    const tables = (deny: string[]): Table[] => [
      {
        name: 'f',
        rules: [
          rule({ name: 're', ports: { first: base, last: base }, targetPort: target.port, deny }),
          rule({ name: 'keep', ports: { first: base + 1, last: base + 1 }, targetPort: target.port, deny, onFilterChange: 'keep' }),
        ],
      },
    ];
    await h.apply(tables([]));
    const fromOne = await open(base, '127.0.0.1', '127.0.0.1');
    const fromThree = await open(base, '127.0.0.1', '127.0.0.3');
    const keptFromThree = await open(base + 1, '127.0.0.1', '127.0.0.3');
    await Promise.all([ping(fromOne, 'a'), ping(fromThree, 'b'), ping(keptFromThree, 'c')]);

    await h.apply(tables(['127.0.0.3/32']));
    await waitUntil(() => fromThree.ended() !== undefined, 'refused session closed');
    expect(fromThree.ended()).toBe('ECONNRESET');
    // The others survive and still relay.
    await ping(fromOne, 'still here');
    await ping(keptFromThree, 'kept');
    expect(fromOne.ended()).toBeUndefined();
    // New connections see the new filter on both rules.
    const fresh = await open(base + 1, '127.0.0.1', '127.0.0.3');
    await waitUntil(() => fresh.ended() !== undefined, 'new connection refused');
    expect(h.dp.sessions().count()).toBe(2);
  });
});

describe('limits', () => {
  it('caps concurrent sessions and rate-limits per source and per rule, counting each reason', async () => {
    const target = await echo();
    const base = await freePortBlock(3);
    const h = harness();
    const limits = defaultRuleOptions().limits;
    await h.apply([
      {
        name: 'l',
        rules: [
          rule({ name: 'cap', ports: { first: base, last: base }, targetPort: target.port, limits: { ...limits, maxSessions: 2 } }),
          // Rates of 1 per second with bursts of 2: the third attempt in quick succession is over.
          rule({ name: 'src', ports: { first: base + 1, last: base + 1 }, targetPort: target.port, limits: { ...limits, sourceRate: 1, sourceBurst: 2 } }),
          rule({ name: 'rule', ports: { first: base + 2, last: base + 2 }, targetPort: target.port, limits: { ...limits, sessionRate: 1, sessionBurst: 2 } }),
        ],
      },
    ]);
    const attempt = async (port: number, local: string): Promise<string | undefined> => {
      const conn = await open(port, '127.0.0.1', local);
      await Promise.race([ping(conn, 'x').catch(() => undefined), waitUntil(() => conn.ended() !== undefined, 'end')]);
      return conn.ended();
    };
    expect(await attempt(base, '127.0.0.1')).toBeUndefined();
    expect(await attempt(base, '127.0.0.1')).toBeUndefined();
    expect(await attempt(base, '127.0.0.1')).toBe('ECONNRESET');

    expect(await attempt(base + 1, '127.0.0.1')).toBeUndefined();
    expect(await attempt(base + 1, '127.0.0.1')).toBeUndefined();
    expect(await attempt(base + 1, '127.0.0.1')).toBe('ECONNRESET');
    // Another source has its own bucket: one client's flood does not lock others out.
    expect(await attempt(base + 1, '127.0.0.4')).toBeUndefined();

    expect(await attempt(base + 2, '127.0.0.1')).toBeUndefined();
    expect(await attempt(base + 2, '127.0.0.5')).toBeUndefined();
    expect(await attempt(base + 2, '127.0.0.6')).toBe('ECONNRESET');

    const byName = new Map(h.running.tables[0]!.rules.map((r) => [ruleId('l', r), r.name]));
    const drops = Object.fromEntries(h.dp.telemetry().rules().map((r) => [byName.get(r.ruleId), r.drops]));
    expect(drops).toEqual({ cap: { cap: 1 }, src: { source_rate: 1 }, rule: { rate: 1 } });
    expect(h.dp.telemetry().global().drops).toEqual({ cap: 1, source_rate: 1, rate: 1 });
  });
});

describe('drain policy', () => {
  it('KEEP leaves, TERMINATE closes, DRAIN closes after its timeout; unchanged rules are never touched', async () => {
    const target = await echo();
    const other = await echo();
    const base = await freePortBlock(4);
    const h = harness();
    const keep = rule({ name: 'keep', ports: { first: base, last: base }, targetPort: target.port });
    const term = rule({ name: 'term', ports: { first: base + 1, last: base + 1 }, targetPort: target.port, drain: { mode: 'terminate', timeoutMs: 0 } });
    const drain = rule({ name: 'drain', ports: { first: base + 2, last: base + 2 }, targetPort: target.port, drain: { mode: 'drain', timeoutMs: 500 } });
    const stay = rule({ name: 'stay', ports: { first: base + 3, last: base + 3 }, targetPort: target.port });
    await h.apply([{ name: 'd', rules: [keep, term, drain, stay] }]);
    const conns = await Promise.all([base, base + 1, base + 2, base + 3].map((p) => open(p)));
    await Promise.all(conns.map((c, i) => ping(c, `before ${i}`)));

    // keep and term are removed; drain is retargeted; stay is unchanged.
    await h.apply([{ name: 'd', rules: [{ ...drain, targetPort: other.port }, stay] }]);
    const [keptConn, termConn, drainConn, stayConn] = conns as [Conn, Conn, Conn, Conn];
    await waitUntil(() => termConn.ended() !== undefined, 'terminated');
    await ping(keptConn, 'kept');
    await ping(drainConn, 'draining');
    await waitUntil(() => drainConn.ended() !== undefined, 'drained after its timeout');
    await ping(stayConn, 'untouched');
    await ping(keptConn, 'still kept');
    expect(keptConn.ended()).toBeUndefined();
    expect(stayConn.ended()).toBeUndefined();
  });

  it('an apply-level policy overrides the rules\' own', async () => {
    const target = await echo();
    const base = await freePortBlock(2);
    const h = harness();
    const a = rule({ name: 'a', ports: { first: base, last: base }, targetPort: target.port });
    const b = rule({ name: 'b', ports: { first: base + 1, last: base + 1 }, targetPort: target.port });
    await h.apply([{ name: 'x', rules: [a, b] }]);
    const [ca, cb] = await Promise.all([open(base), open(base + 1)]);
    await ping(ca!, 'a');
    await h.apply([{ name: 'x', rules: [b] }], { mode: 'terminate', timeoutMs: 0 });
    await waitUntil(() => ca!.ended() !== undefined, 'a terminated');
    await ping(cb!, 'b untouched');
  });
});

describe('sessions, deltas and telemetry', () => {
  it('describes each TCP session, emits open/update/close deltas, counts bytes per counter id, deletes with companions', async () => {
    const target = await echo();
    const base = await freePortBlock(1);
    const h = harness();
    await h.apply([{ name: 's', rules: [rule({ ports: { first: base, last: base }, targetPort: target.port })] }]);
    const deltas = h.dp.sessionDeltas();
    deltas.drain(10_000);
    const conn = await open(base);
    await ping(conn, 'hello');
    const [info] = [...h.dp.sessions().iterate()];
    expect(info).toMatchObject({
      table: 's',
      ruleName: 'r',
      protocol: 'tcp',
      client: { address: '127.0.0.1', port: conn.socket.localPort },
      listener: { address: '127.0.0.1', port: base },
      target: { address: '127.0.0.1', port: target.port },
      state: 'established',
      fromClient: { bytes: 5 },
      toClient: { bytes: 5 },
      generation: 1,
    });
    expect(info!.upstreamLocal?.port).toBeGreaterThan(0);
    expect(h.dp.sessions().get(info!.id)).toMatchObject({ id: info!.id });
    const counters = h.dp.telemetry().rules()[0]!;
    expect(counters).toMatchObject({ table: 's', counterId: 1, sessionsOpened: 1, sessionsActive: 1, bytesFromClient: 5, bytesToClient: 5 });

    expect(h.dp.sessions().deleteWithCompanions(info!.id, 'deleted')).toBe(true);
    await waitUntil(() => conn.ended() !== undefined && h.dp.sessions().count() === 0, 'both legs closed');
    expect(h.dp.sessions().deleteWithCompanions(info!.id, 'deleted')).toBe(false);
    const drained: SessionDelta[] = deltas.drain(100).deltas;
    expect(drained.map((d) => d.kind)).toEqual(['open', 'update', 'close']);
    expect(drained.every((d) => d.session.id === info!.id)).toBe(true);
    expect(deltas.backendEpoch).toMatch(/^[0-9a-f-]{36}$/);
    expect(h.dp.telemetry().global()).toMatchObject({ sessionsOpened: 1, sessionsClosed: 1, sessionsActive: 0 });
  });
});
