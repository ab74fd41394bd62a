/**
 * The daemon relays TCP with the splice engine when its addon is built, and
 * in JavaScript with PORTPLANE_SPLICE=0 (or without the addon): either way
 * GetCapabilities says which, and bytes arrive intact both ways with
 * half-close passed on.
 */
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spliceEngine } from '../../src/dataplane/kernel/splice-engine.js';
import { removeDir, ServiceClient, startDaemon, stopDaemon, tempStateDir, type DaemonProcess } from '../helpers/daemon-process.js';
import { freePort, startEchoServer, type EchoServer } from '../helpers/tcp.js';

interface Capabilities {
  capabilities: { supported: string[]; unsupported: { feature: string; reason: string }[] };
}

/** Sends `payload`, half-closes, and returns everything received until the far end's FIN. */
function echoThrough(port: number, payload: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, allowHalfOpen: true });
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => socket.destroy(new Error('no echo within 20 s')), 20_000);
    socket.on('connect', () => socket.end(payload));
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('end', () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(Buffer.concat(chunks));
    });
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

const engines = [
  { name: 'splice engine', prefix: [] as string[], splice: spliceEngine().engine !== undefined },
  { name: 'JavaScript relay (PORTPLANE_SPLICE=0)', prefix: ['env', 'PORTPLANE_SPLICE=0'], splice: false },
];

describe.each(engines)('daemon TCP relay: $name', ({ prefix, splice }) => {
  let echo: EchoServer;
  let daemon: DaemonProcess;
  let client: ServiceClient;
  let port: number;

  beforeAll(async () => {
    echo = await startEchoServer();
    daemon = await startDaemon(await tempStateDir(), [], { prefix });
    client = new ServiceClient('ConfigService', daemon.target);
    port = await freePort();
    await client.call('ApplyConfig', {
      tables: [
        {
          name: 'relay',
          rules: [{ name: 'echo', protocol: 'PROTOCOL_TCP', listen_address: '127.0.0.1', ports: { first: port, last: port }, target_address: '127.0.0.1', target_port: echo.port }],
        },
      ],
    });
  });
  afterAll(async () => {
    client?.close();
    if (daemon) {
      await stopDaemon(daemon);
      await removeDir(daemon.stateDir);
    }
    await echo?.close();
  });

  it('reports splice_relay as it runs', async () => {
    const caps = await client.call<Capabilities>('GetCapabilities', {});
    expect(caps.capabilities.supported.includes('splice_relay')).toBe(splice);
    if (!splice) expect(caps.capabilities.unsupported.find((u) => u.feature === 'splice_relay')?.reason).toMatch(/JavaScript/);
  });

  it('relays 4 MiB each way intact, several connections at once, with half-close', async () => {
    const payloads = [randomBytes(4 << 20), randomBytes(1 << 20), randomBytes(1000)];
    const echoed = await Promise.all(payloads.map((p) => echoThrough(port, p)));
    echoed.forEach((got, i) => expect(got.equals(payloads[i] as Buffer)).toBe(true));
  });
});
