/**
 * One harness per backend for the conformance suite: an in-process daemon
 * (real gRPC server, real state files) on that backend, clients for its
 * services, and a traffic driver that opens real flows through it — real
 * loopback sockets on the kernel backend, real IP packets through a memory
 * port on the userspace backend (the test plays client and target).
 */
import { spawnSync } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { pino } from 'pino';
import type { TestContext } from 'vitest';
import type { BackendName } from '../../src/backends.js';
import type { Capabilities, Feature } from '../../src/dataplane/capabilities.js';
import { KernelDataPlane } from '../../src/dataplane/kernel/index.js';
import { NftablesDataPlane } from '../../src/dataplane/nftables/index.js';
import type { RuntimeDataPlane } from '../../src/dataplane/runtime.js';
import { MemoryPort, UserspaceDataPlane } from '../../src/dataplane/userspace/index.js';
import { TCP_ACK, TCP_FIN, TCP_SYN } from '../../src/dataplane/userspace/packet.js';
import { ServiceClient } from '../helpers/daemon-process.js';
import { startTestDaemon, type TestDaemon } from '../helpers/in-process-daemon.js';
import { fields, packet } from '../helpers/packets.js';
import { freePortBlock, startEchoServer, type EchoServer } from '../helpers/tcp.js';

/** A client flow through the dataplane to an echoing target. */
export interface Flow {
  /** Sends from the client; the target echoes; resolves with what the client received. Rejects if the flow no longer passes. */
  exchange(payload: Buffer): Promise<Buffer>;
  /** Ends the flow from the client side, orderly. */
  close(): Promise<void>;
}

export interface Harness {
  backend: BackendName;
  dataplane: RuntimeDataPlane;
  daemon: TestDaemon;
  config: ServiceClient;
  trace: ServiceClient;
  /** `count` consecutive ports to forward. */
  listenPorts(count: number): Promise<number>;
  /** The port of the echoing target. */
  targetPort: number;
  /** Opens a TCP flow from 127.0.0.1 to 127.0.0.1:`port`; resolves once the backend tracks it, rejects if refused. */
  connect(port: number): Promise<Flow>;
  /** Lets closed sessions go (the userspace backend's clock moves past every closing timeout and GC runs). */
  settle(): Promise<void>;
  stop(): Promise<void>;
}

/** A backend's declared capabilities, without starting it. */
export function declaredCapabilities(backend: BackendName, nativeFastPath = true): Capabilities {
  if (backend === 'nftables') return new NftablesDataPlane().capabilities();
  return backend === 'kernel' ? new KernelDataPlane().capabilities() : new UserspaceDataPlane({ nativeFastPath }).capabilities();
}

/** Why `backend` cannot run a test needing `features`, from its declared reasons; undefined when it can. */
export function missingFeature(backend: BackendName, features: Feature[]): string | undefined {
  const caps = declaredCapabilities(backend);
  for (const feature of features) {
    if (caps.supported.includes(feature)) continue;
    const reason = caps.unsupported.find((u) => u.feature === feature)?.reason ?? 'not declared';
    return `${backend} backend declares ${feature} unsupported: ${reason}`;
  }
  return undefined;
}

/** Skips the running test, printing the declared reason, when `backend` declares one of `features` unsupported. */
export function requires(ctx: TestContext, backend: BackendName, features: Feature[]): void {
  const missing = missingFeature(backend, features);
  if (missing) {
    console.info(`skipped: ${missing}`);
    ctx.skip(missing);
  }
}

/** A wire TCP rule forwarding 127.0.0.1:`port` to 127.0.0.1:`targetPort`. */
export function rule(name: string, port: number, targetPort: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name,
    protocol: 'PROTOCOL_TCP',
    listen_address: '127.0.0.1',
    ports: { first: port, last: port },
    target_address: '127.0.0.1',
    target_port: targetPort,
    ...extra,
  };
}

async function withDaemon(
  backend: BackendName,
  dataplane: RuntimeDataPlane,
  rest: Omit<Harness, 'backend' | 'dataplane' | 'daemon' | 'config' | 'trace' | 'stop'> & { cleanup(): Promise<void> },
): Promise<Harness> {
  const daemon = await startTestDaemon({ dataplane });
  const config = new ServiceClient('ConfigService', daemon.target);
  const trace = new ServiceClient('TraceService', daemon.target);
  const { cleanup, ...parts } = rest;
  return {
    backend,
    dataplane,
    daemon,
    config,
    trace,
    ...parts,
    stop: async () => {
      config.close();
      trace.close();
      await daemon.stop();
      await cleanup();
    },
  };
}

// --- kernel: real sockets ---

class SocketFlow implements Flow {
  private readonly chunks: Buffer[] = [];
  private failure: Error | undefined;

  constructor(private readonly socket: Socket) {
    socket.on('data', (c: Buffer) => this.chunks.push(c));
    socket.on('error', (err) => (this.failure = err));
    socket.on('close', () => (this.failure ??= new Error('connection closed')));
  }

  async exchange(payload: Buffer): Promise<Buffer> {
    this.chunks.length = 0;
    this.socket.write(payload);
    const deadline = Date.now() + 10_000;
    while (Buffer.concat(this.chunks).length < payload.length) {
      if (this.failure) throw this.failure;
      if (Date.now() > deadline) throw new Error('no echo within 10 s');
      await new Promise((r) => setTimeout(r, 10));
    }
    return Buffer.concat(this.chunks);
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.socket.once('close', () => resolve());
      this.socket.end();
    });
  }
}

/** Polls `done` every 10 ms for up to 10 s (generous: other suites load this machine too). */
async function until(done: () => boolean): Promise<boolean> {
  const deadline = Date.now() + 10_000;
  while (!done()) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 10));
  }
  return true;
}

/**
 * Real loopback sockets through a socket backend (kernel) or through
 * in-kernel NAT (nftables: the output hook DNATs 127.0.0.1:port to the
 * echo server; run only inside a network namespace of the test's own, see
 * nftables-netns.test.ts).
 */
async function socketHarness(backend: 'kernel' | 'nftables'): Promise<Harness> {
  const echo: EchoServer = await startEchoServer();
  const logger = pino({ level: 'silent' });
  const dataplane =
    backend === 'kernel' ? new KernelDataPlane({ logger }) : new NftablesDataPlane({ logger, tableName: `pp_conf_${process.pid}`, driftIntervalMs: 0 });
  const store = dataplane.sessions();
  /** Client sockets the tests have not closed. */
  const open = new Set<Socket>();
  /** Local ports of client sockets that closed. */
  const closedPorts = new Set<number>();
  return withDaemon(backend, dataplane, {
    listenPorts: (count) => freePortBlock(count, 30000, 32700),
    targetPort: echo.port,
    connect: async (port) => {
      const socket = connect({ host: '127.0.0.1', port });
      await new Promise<void>((resolve, reject) => {
        socket.once('connect', resolve);
        socket.once('error', reject);
      });
      // The OS completes the handshake before the backend accepts: wait for the session, or for the refusal (a reset).
      let closed = false;
      socket.once('close', () => (closed = true));
      const tracked = () => [...store.iterate()].some((s) => s.client.port === socket.localPort);
      await until(() => closed || tracked());
      if (!tracked()) {
        socket.destroy();
        throw new Error(`the ${backend} backend did not take the connection to port ${port}`);
      }
      open.add(socket);
      const clientPort = socket.localPort;
      socket.once('close', () => {
        open.delete(socket);
        if (clientPort !== undefined) closedPorts.add(clientPort);
      });
      return new SocketFlow(socket);
    },
    // Kernel: sessions of closed client sockets end once both relay legs have closed. nftables: a deleted
    // session's client socket stays open (nothing tells it), so wait for the closed sockets' sessions to go.
    settle: async () => {
      await until(() =>
        backend === 'kernel' ? store.count() <= open.size : ![...store.iterate()].some((s) => closedPorts.has(s.client.port)),
      );
    },
    cleanup: async () => {
      await echo.close();
      // Counter ids (the ct marks) restart with each test's fresh state: leave no entry for the next test to claim.
      if (backend === 'nftables') spawnSync('conntrack', ['-F'], { stdio: 'ignore' });
    },
  });
}

// --- userspace: packets through a memory port ---

const TARGET_PORT = 9000;
let nextClientPort = 40000;

class PacketFlow implements Flow {
  private clientSeq = 1000;
  private targetSeq = 5000;
  /** Where the client's packets arrive after translation: the target's view of the flow. */
  private upstream: { source: string; sourcePort: number; destination: string; destinationPort: number } | undefined;

  constructor(
    private readonly port: MemoryPort,
    private readonly clientPort: number,
    private readonly listenPort: number,
  ) {}

  /** Injects a packet and returns the one the engine transmitted (undefined if it dropped it). */
  private pass(p: Uint8Array): ReturnType<typeof fields> | undefined {
    let out: Uint8Array | undefined;
    this.port.onTransmit = (buf, length) => (out = buf.slice(0, length));
    this.port.inject(p);
    if (!out) return undefined;
    const f = fields(out);
    if (!f.checksumsOk) throw new Error('the engine sent a packet with a wrong checksum');
    return f;
  }

  fromClient(flags: number, payload: Uint8Array = new Uint8Array(0)): ReturnType<typeof fields> | undefined {
    const out = this.pass(
      packet({ protocol: 'tcp', source: '127.0.0.1', destination: '127.0.0.1', sourcePort: this.clientPort, destinationPort: this.listenPort, tcpFlags: flags, seq: this.clientSeq, payload }),
    );
    this.clientSeq += payload.length + (flags & (TCP_SYN | TCP_FIN) ? 1 : 0);
    return out;
  }

  fromTarget(flags: number, payload: Uint8Array = new Uint8Array(0)): ReturnType<typeof fields> | undefined {
    const u = this.upstream!;
    const out = this.pass(
      packet({ protocol: 'tcp', source: u.destination, destination: u.source, sourcePort: u.destinationPort, destinationPort: u.sourcePort, tcpFlags: flags, seq: this.targetSeq, payload }),
    );
    this.targetSeq += payload.length + (flags & (TCP_SYN | TCP_FIN) ? 1 : 0);
    return out;
  }

  handshake(): void {
    const syn = this.fromClient(TCP_SYN);
    if (!syn) throw new Error('SYN dropped');
    this.upstream = { source: syn.source, sourcePort: syn.sourcePort, destination: syn.destination, destinationPort: syn.destinationPort };
    const synAck = this.fromTarget(TCP_SYN | TCP_ACK);
    if (!synAck || synAck.destinationPort !== this.clientPort) throw new Error('SYN-ACK not translated back to the client');
    if (!this.fromClient(TCP_ACK)) throw new Error('ACK dropped');
  }

  async exchange(payload: Buffer): Promise<Buffer> {
    const atTarget = this.fromClient(TCP_ACK, payload);
    if (!atTarget) throw new Error('the engine dropped the client\'s data');
    const atClient = this.fromTarget(TCP_ACK, Uint8Array.from(atTarget.payload));
    if (!atClient) throw new Error('the engine dropped the target\'s reply');
    return Buffer.from(atClient.payload);
  }

  async close(): Promise<void> {
    this.fromClient(TCP_FIN | TCP_ACK);
    this.fromTarget(TCP_FIN | TCP_ACK);
    this.fromClient(TCP_ACK);
  }
}

async function userspaceHarness(nativeFastPath: boolean): Promise<Harness> {
  const port = new MemoryPort();
  let now = Date.now();
  const dataplane = new UserspaceDataPlane({
    nativeFastPath,
    logger: pino({ level: 'silent' }),
    port,
    clock: () => now,
    gcIntervalMs: 0,
  });
  let nextListen = 20000;
  return withDaemon('userspace', dataplane, {
    // No sockets: any port is free.
    listenPorts: async (count) => {
      const first = nextListen;
      nextListen += count;
      return first;
    },
    targetPort: TARGET_PORT,
    connect: async (listenPort) => {
      const flow = new PacketFlow(port, nextClientPort++, listenPort);
      flow.handshake();
      return flow;
    },
    settle: async () => {
      now += 10 * 60_000;
      dataplane.collect();
    },
    cleanup: async () => undefined,
  });
}

/**
 * The backends under test: kernel, and userspace twice where its native
 * fast path can run: with it (established flows forwarded in C) and without
 * (JavaScript only). nftables only where PP_CONFORMANCE_BACKENDS says so,
 * which nftables-netns.test.ts sets when it reruns these suites inside a
 * network namespace it created (so the host's nftables and conntrack are
 * never touched).
 */
export const VARIANTS: { backend: BackendName; nativeFastPath: boolean }[] = process.env.PP_CONFORMANCE_BACKENDS
  ? (process.env.PP_CONFORMANCE_BACKENDS.split(',') as BackendName[]).map((backend) => ({ backend, nativeFastPath: backend === 'userspace' }))
  : [
      { backend: 'kernel', nativeFastPath: false },
      { backend: 'userspace', nativeFastPath: true },
      { backend: 'userspace', nativeFastPath: false },
    ];

export function startHarness(backend: BackendName, nativeFastPath = true): Promise<Harness> {
  return backend === 'userspace' ? userspaceHarness(nativeFastPath) : socketHarness(backend);
}
