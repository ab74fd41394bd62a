/**
 * The TCP relays on real loopback sockets: a bare net.Server hands each
 * accepted socket to a relay, so these tests see the relay alone, not the
 * listener table around it. Every test runs against both relays: the
 * JavaScript one (TcpRelay) and the native splice engine (SpliceRelay),
 * which must behave the same.
 */
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { spawn } from 'node:child_process';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { defaultRuleOptions, type ForwardRule } from '../../src/config/model.js';
import type { Route } from '../../src/plan/model.js';
import { RuleRuntime } from '../../src/dataplane/kernel/rule-runtime.js';
import { KernelSessions } from '../../src/dataplane/kernel/sessions.js';
import { TcpRelay } from '../../src/dataplane/kernel/tcp-relay.js';
import type { SessionBase } from '../../src/dataplane/kernel/session.js';
import { spliceEngine } from '../../src/dataplane/kernel/splice-engine.js';
import { SpliceRelay } from '../../src/dataplane/kernel/splice-relay.js';

type Impl = 'javascript' | 'splice';
const splice = spliceEngine();

const HOST = '127.0.0.1';

interface Forwarder {
  port: number;
  sessions: KernelSessions;
  rule: RuleRuntime;
  relays: SessionBase[];
  /** Relays whose owner was told they closed, in order. */
  closed: SessionBase[];
}

/** Servers and sockets a test created, closed after it. */
const cleanup: (() => void)[] = [];
afterEach(() => {
  for (const fn of cleanup.splice(0)) fn();
});

async function listen(server: Server, host = HOST): Promise<number> {
  server.listen({ host, port: 0 });
  await once(server, 'listening');
  cleanup.push(() => server.close());
  return (server.address() as AddressInfo).port;
}

/** A target whose connections are handed to `onConnection`. */
async function startTarget(onConnection: (socket: Socket) => void): Promise<number> {
  const sockets = new Set<Socket>();
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    onConnection(socket);
  });
  cleanup.push(() => {
    for (const s of sockets) s.destroy();
  });
  return listen(server);
}

async function startForwarder(impl: Impl, targetPort: number, options: Partial<ForwardRule> = {}): Promise<Forwarder> {
  const route: Route = { table: 't', ruleId: 'r_test', ruleName: 'r', targetAddress: HOST, targetPort, weak: false };
  const rule: ForwardRule = {
    name: 'r',
    protocol: 'tcp',
    listenAddress: HOST,
    interface: '',
    ports: { first: 1, last: 1 },
    exclude: [],
    targetAddress: HOST,
    targetPort,
    weak: false,
    ...defaultRuleOptions(),
    ...options,
  };
  // As the kernel backend builds it: reads take in the engine's queued events first.
  const sessions = new KernelSessions(pino({ level: 'silent' }), () => splice.engine?.drain());
  const fwd: Forwarder = { port: 0, sessions, rule: new RuleRuntime('t', 'r_test', rule, 1), relays: [], closed: [] };
  const owner = { sessionClosed: (relay: SessionBase) => fwd.closed.push(relay) };
  const server = createServer({ allowHalfOpen: true, pauseOnConnect: impl === 'splice', noDelay: true }, (socket) => {
    const listener = { address: HOST, port: fwd.port };
    let relay: SessionBase;
    if (impl === 'splice') {
      const fd = (socket as unknown as { _handle: { fd: number } })._handle.fd;
      const client = { address: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 };
      const adopted = SpliceRelay.adopt(splice.engine!, { host: sessions, rule: fwd.rule, route, client, listener }, fd);
      if (!(adopted instanceof SpliceRelay)) throw new Error(`splice engine refused the connection: ${String(adopted)}`);
      socket.destroy();
      relay = adopted;
    } else {
      relay = new TcpRelay(sessions, fwd.rule, route, socket, listener);
    }
    relay.owner = owner;
    fwd.relays.push(relay);
  });
  cleanup.push(() => {
    for (const relay of fwd.relays) relay.close('shutdown');
  });
  fwd.port = await listen(server);
  return fwd;
}

async function connectTo(port: number): Promise<Socket> {
  const socket = connect({ host: HOST, port, allowHalfOpen: true });
  cleanup.push(() => socket.destroy());
  await once(socket, 'connect');
  return socket;
}

/** Everything `socket` receives until its 'end'. */
function readToEnd(socket: Socket): Promise<Buffer> {
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  return once(socket, 'end').then(() => Buffer.concat(chunks));
}

/** How the peer left: the error code `socket` emits, else 'end' (FIN) or 'closed'. */
function outcome(socket: Socket): Promise<string> {
  return new Promise((resolve) => {
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    socket.once('end', () => resolve('end'));
    socket.once('close', () => resolve('closed'));
  });
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function waitUntil(condition: () => boolean, what: string, ms = 5000): Promise<void> {
  for (let waited = 0; !condition(); waited += 10) {
    if (waited >= ms) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe.each<Impl>(['javascript', 'splice'])('TCP relay (%s)', (impl) => {
  beforeEach(({ skip }) => {
    if (impl === 'splice' && !splice.engine) skip(`splice engine not available: ${splice.reason}`);
  });

  it('relays 1 MiB each way intact through slow readers', async () => {
    const MiB = 1 << 20;
    const up = randomBytes(MiB);
    const down = randomBytes(MiB);
    let targetReceived: Promise<Buffer> | undefined;
    const targetPort = await startTarget((socket) => {
      socket.pause();
      targetReceived = readToEnd(socket);
      setTimeout(() => socket.resume(), 200);
      socket.end(down);
    });
    const fwd = await startForwarder(impl, targetPort);
    const client = await connectTo(fwd.port);
    client.pause();
    const clientReceived = readToEnd(client);
    client.end(up);
    setTimeout(() => client.resume(), 200);
    expect((await withTimeout(clientReceived, 20_000, 'download')).equals(down)).toBe(true);
    await waitUntil(() => targetReceived !== undefined, 'target connection');
    expect((await withTimeout(targetReceived as Promise<Buffer>, 20_000, 'upload')).equals(up)).toBe(true);
    await waitUntil(() => fwd.closed.length === 1, 'relay closed');
  });

  it('back-pressure: stalled readers hold the writers back instead of filling the relay', async () => {
    // Large enough that loopback socket buffers cannot absorb it all.
    const size = 16 << 20;
    const up = randomBytes(size);
    const down = randomBytes(size);
    let target: Socket | undefined;
    const targetPort = await startTarget((socket) => {
      socket.pause();
      target = socket;
      socket.end(down);
    });
    const fwd = await startForwarder(impl, targetPort);
    const client = await connectTo(fwd.port);
    client.pause();
    client.end(up);
    await waitUntil(() => target !== undefined && fwd.relays.length === 1, 'target connection');
    const relay = fwd.relays[0] as SessionBase;
    const targetSocket = target as Socket;

    // The JavaScript relay's buffers are visible; the splice engine's are its
    // pipes, one per direction, bounded by their size.
    let maxBuffered = 0;
    const sampler = setInterval(() => {
      if (relay instanceof TcpRelay) maxBuffered = Math.max(maxBuffered, relay.client.writableLength, relay.upstream.writableLength);
    }, 2);
    try {
      // The relay stops reading: what it moved stays put while the readers
      // stall, short of the whole transfer in both directions. (How much of
      // the rest the kernel's socket buffers absorb depends on their
      // autotuning, not on the relay, so the writers' own buffers are not
      // checked.) Wait (bounded) until nothing moved for 300 ms: how soon
      // the buffers fill depends on the machine's load. A relay that does
      // not hold back moves everything and fails below.
      let stalled = relay.info();
      for (const until = Date.now() + 20_000; ; stalled = relay.info()) {
        await new Promise((r) => setTimeout(r, 300));
        const later = relay.info();
        if (later.fromClient.bytes === stalled.fromClient.bytes && later.toClient.bytes === stalled.toClient.bytes) break;
        if (Date.now() > until) throw new Error(`the relay still moved bytes after 20 s: ${JSON.stringify(later.fromClient)} ${JSON.stringify(later.toClient)}`);
      }
      expect(stalled.fromClient.bytes).toBeLessThan(size);
      expect(stalled.toClient.bytes).toBeLessThan(size);
      const clientReceived = readToEnd(client);
      const targetReceived = readToEnd(targetSocket);
      client.resume();
      targetSocket.resume();
      const [gotDown, gotUp] = await withTimeout(Promise.all([clientReceived, targetReceived]), 30_000, 'transfer');
      expect(gotDown.equals(down)).toBe(true);
      expect(gotUp.equals(up)).toBe(true);
    } finally {
      clearInterval(sampler);
    }
    // A write that returns false pauses its source: at most one high-water
    // mark plus one read's worth per direction.
    expect(maxBuffered).toBeLessThan(256 * 1024);
    await waitUntil(() => fwd.closed.length === 1, 'relay closed');
  });

  it('half-close from the client: the target sees end and can still answer', async () => {
    const targetPort = await startTarget((socket) => {
      const received = readToEnd(socket);
      void received.then((data) => socket.end(`late reply to ${data.toString()}`));
    });
    const fwd = await startForwarder(impl, targetPort);
    const client = await connectTo(fwd.port);
    const reply = readToEnd(client);
    client.end('question');
    expect((await withTimeout(reply, 5000, 'reply')).toString()).toBe('late reply to question');
    await waitUntil(() => fwd.closed.length === 1, 'relay closed');
  });

  it('half-close from the target: the client sees end and can still send', async () => {
    let targetReceived: Promise<Buffer> | undefined;
    const targetPort = await startTarget((socket) => {
      targetReceived = readToEnd(socket);
      socket.end('bye');
    });
    const fwd = await startForwarder(impl, targetPort);
    const client = await connectTo(fwd.port);
    expect((await withTimeout(readToEnd(client), 5000, 'client end')).toString()).toBe('bye');
    client.end('still talking');
    await waitUntil(() => targetReceived !== undefined, 'target connection');
    expect((await withTimeout(targetReceived as Promise<Buffer>, 5000, 'target end')).toString()).toBe('still talking');
    await waitUntil(() => fwd.closed.length === 1, 'relay closed');
  });

  it('resets the client when the target refuses', async () => {
    const refusing = createServer();
    const deadPort = await listen(refusing);
    await new Promise((r) => refusing.close(r));
    const fwd = await startForwarder(impl, deadPort);
    // Not waiting for 'connect': a fast relay's reset can beat it, failing the connect itself.
    const client = connect({ host: HOST, port: fwd.port });
    cleanup.push(() => client.destroy());
    expect(await withTimeout(outcome(client), 5000, 'client reset')).toBe('ECONNRESET');
    await waitUntil(() => fwd.closed.length === 1, 'relay closed');
    expect(fwd.rule.counters.drops).toEqual({ upstream_refused: 1 });
    expect(fwd.sessions.global.drops).toEqual({ upstream_refused: 1 });
  });

  it('resets the client when the target does not answer within the connect timeout', async (ctx) => {
    // A listener that never accepts, with a backlog of 0: once its queue is
    // full the kernel drops further SYNs, so a connect hangs until timed out.
    const python = spawn('python3', [
      '-c',
      'import socket,sys,time\ns=socket.socket()\ns.bind(("127.0.0.1",0))\ns.listen(0)\nprint(s.getsockname()[1],flush=True)\nsys.stdin.read()',
    ]);
    const spawned = await Promise.race([
      once(python.stdout, 'data').then(([chunk]) => Number(String(chunk).trim())),
      once(python, 'error').then(() => undefined),
    ]);
    if (spawned === undefined) {
      ctx.skip('python3 is not installed: cannot make a listener that never accepts');
      return;
    }
    cleanup.push(() => python.kill());
    const filler = [connect({ host: HOST, port: spawned }), connect({ host: HOST, port: spawned })];
    for (const f of filler) {
      f.on('error', () => undefined);
      cleanup.push(() => f.destroy());
    }
    // The first fills the accept queue; the second's SYN is already being dropped.
    await once(filler[0]!, 'connect');
    const fwd = await startForwarder(impl, spawned, { connectTimeoutMs: 300 });
    const client = await connectTo(fwd.port);
    expect(await withTimeout(outcome(client), 10_000, 'client reset')).toBe('ECONNRESET');
    await waitUntil(() => fwd.closed.length === 1, 'relay closed');
    expect(fwd.rule.counters.drops).toEqual({ upstream_timeout: 1 });
  });

  it('resets the client when the target resets mid-stream', async () => {
    const targetPort = await startTarget((socket) => {
      socket.once('data', () => socket.resetAndDestroy());
    });
    const fwd = await startForwarder(impl, targetPort);
    const client = await connectTo(fwd.port);
    const result = outcome(client);
    client.write('trigger');
    expect(await withTimeout(result, 5000, 'client reset')).toBe('ECONNRESET');
    await waitUntil(() => fwd.closed.length === 1, 'relay closed');
    expect(fwd.rule.counters.drops).toEqual({ upstream_reset: 1 });
  });

  it('closes the upstream when the client resets', async () => {
    let targetSide: Promise<string> | undefined;
    const targetPort = await startTarget((socket) => {
      targetSide = outcome(socket);
    });
    const fwd = await startForwarder(impl, targetPort);
    const client = await connectTo(fwd.port);
    await waitUntil(() => targetSide !== undefined, 'target connection');
    client.resetAndDestroy();
    expect(await withTimeout(targetSide as Promise<string>, 5000, 'upstream closed')).toMatch(/^(end|ECONNRESET)$/);
    await waitUntil(() => fwd.closed.length === 1, 'relay closed');
  });

  it('holds client bytes sent before the upstream connects and delivers them in order', async () => {
    let targetReceived: Promise<Buffer> | undefined;
    const targetPort = await startTarget((socket) => {
      targetReceived = readToEnd(socket);
      void targetReceived.then(() => socket.end());
    });
    const fwd = await startForwarder(impl, targetPort);
    const client = connect({ host: HOST, port: fwd.port, allowHalfOpen: true });
    cleanup.push(() => client.destroy());
    // Written before the client even connects: reaches the relay ahead of the upstream connect.
    client.end('early bytes');
    await withTimeout(readToEnd(client), 5000, 'client end');
    expect((await (targetReceived as Promise<Buffer>)).toString()).toBe('early bytes');
  });

  it('counts bytes exactly per direction, while open and once closed', async () => {
    const up = randomBytes(300_000);
    const down = randomBytes(200_000);
    let targetReceived: Promise<Buffer> | undefined;
    let targetSocket: Socket | undefined;
    const targetPort = await startTarget((socket) => {
      targetSocket = socket;
      const chunks: Buffer[] = [];
      socket.on('data', (c: Buffer) => chunks.push(c));
      targetReceived = new Promise((resolve) => {
        const check = (): void => {
          if (Buffer.concat(chunks).length >= up.length) resolve(Buffer.concat(chunks));
          else setTimeout(check, 5);
        };
        check();
      });
      socket.write(down);
    });
    const fwd = await startForwarder(impl, targetPort);
    const client = await connectTo(fwd.port);
    const received: Buffer[] = [];
    client.on('data', (c: Buffer) => received.push(c));
    client.write(up);
    await waitUntil(() => targetReceived !== undefined, 'target connection');
    expect((await withTimeout(targetReceived as Promise<Buffer>, 10_000, 'upload')).equals(up)).toBe(true);
    await waitUntil(() => Buffer.concat(received).length === down.length, 'download');

    // Open: the session and the counters it feeds see every byte. Read through the
    // store, which is exact as of the call: the session object alone learns its
    // state from the engine's next batch of events (up to 10 ms later, more under load).
    const open = fwd.sessions.get((fwd.relays[0] as SessionBase).id)!;
    expect(open.fromClient.bytes).toBe(up.length);
    expect(open.toClient.bytes).toBe(down.length);
    expect(open.fromClient.packets).toBeGreaterThan(0);
    expect(open.state).toBe('established');
    fwd.sessions.refreshCounters();
    expect(fwd.rule.counters.bytesFromClient).toBe(up.length);
    expect(fwd.sessions.global.bytesToClient).toBe(down.length);

    // Closed: totals stay exact, and nothing is counted twice.
    client.end();
    (targetSocket as Socket).end();
    await waitUntil(() => fwd.closed.length === 1, 'relay closed');
    fwd.sessions.refreshCounters();
    expect(fwd.rule.counters.bytesFromClient).toBe(up.length);
    expect(fwd.rule.counters.bytesToClient).toBe(down.length);
    expect(fwd.sessions.global.bytesFromClient).toBe(up.length);
    expect(fwd.sessions.global.sessionsActive).toBe(0);
  });

  it('close() ends both sides and reports the relay closed once', async () => {
    let targetSide: Promise<string> | undefined;
    const targetPort = await startTarget((socket) => {
      targetSide = outcome(socket);
    });
    const fwd = await startForwarder(impl, targetPort);
    const client = await connectTo(fwd.port);
    const clientSide = outcome(client);
    await waitUntil(() => targetSide !== undefined, 'target connection');
    fwd.relays[0]?.close('deleted');
    await withTimeout(Promise.all([clientSide, targetSide]), 5000, 'both sides closed');
    await waitUntil(() => fwd.closed.length === 1, 'relay closed');
    await new Promise((r) => setTimeout(r, 50));
    expect(fwd.closed).toHaveLength(1);
  });
});
