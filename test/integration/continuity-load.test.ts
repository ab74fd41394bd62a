/**
 * Acceptance: continuity under load. While a TCP bulk transfer and a UDP
 * ping-pong stream run through two rules that never change, 100 applies
 * change another table of the same daemon (a child process). The transfer
 * arrives byte for byte, every datagram is answered without a resend, the
 * UDP flow is the same one throughout (same upstream port at the target),
 * and the listening sockets keep their inodes.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeDir, ServiceClient, startDaemon, stopDaemon, tempStateDir, type DaemonProcess } from '../helpers/daemon-process.js';
import { listeningSocketInodes } from '../helpers/proc-net.js';
import { freePortBlock } from '../helpers/tcp.js';

const APPLIES = 100;
const BULK_BYTES = 64 << 20;

describe('continuity under load', () => {
  let stateDir: string;
  let daemon: DaemonProcess;
  let api: ServiceClient;

  beforeAll(async () => {
    stateDir = await tempStateDir();
    daemon = await startDaemon(stateDir);
    api = new ServiceClient('ConfigService', daemon.target);
  });

  afterAll(async () => {
    api.close();
    await stopDaemon(daemon);
    await removeDir(stateDir);
  });

  it(`a TCP bulk transfer and a UDP stream on unchanged rules lose nothing across ${APPLIES} applies`, async () => {
    // TCP sink: hashes everything it receives.
    let sinkDigest: Promise<string> | undefined;
    const sinkSockets: Socket[] = [];
    const sink = createServer((socket) => {
      sinkSockets.push(socket);
      const hash = createHash('sha256');
      socket.on('data', (c: Buffer) => hash.update(c));
      sinkDigest = once(socket, 'end').then(() => {
        socket.end();
        return hash.digest('hex');
      });
    });
    sink.listen({ host: '127.0.0.1', port: 0 });
    await once(sink, 'listening');
    // UDP echo that tags replies with the sender port (the flow's upstream socket).
    const udpTarget = createSocket('udp4');
    const upstreamPorts = new Set<number>();
    udpTarget.on('message', (msg, rinfo) => {
      upstreamPorts.add(rinfo.port);
      udpTarget.send(msg, rinfo.port, rinfo.address);
    });
    udpTarget.bind({ address: '127.0.0.1', port: 0 });
    await once(udpTarget, 'listening');

    const base = await freePortBlock(4);
    const steady = {
      name: 'steady',
      rules: [
        { name: 'bulk', protocol: 'PROTOCOL_TCP', listen_address: '127.0.0.1', ports: { first: base }, target_address: '127.0.0.1', target_port: (sink.address() as AddressInfo).port },
        { name: 'stream', protocol: 'PROTOCOL_UDP', listen_address: '127.0.0.1', ports: { first: base + 1 }, target_address: '127.0.0.1', target_port: udpTarget.address().port },
      ],
    };
    const churn = (i: number) => ({
      name: 'churn',
      rules: [
        { name: 'c', protocol: i % 2 ? 'PROTOCOL_UDP' : 'PROTOCOL_TCP', listen_address: '127.0.0.1', ports: { first: base + 2 + (i % 2) }, target_address: '127.0.0.1', target_port: 9, allow: i % 3 ? ['127.0.0.0/8'] : [] },
      ],
    });
    await api.call('ApplyConfig', { tables: [steady, churn(0)] });
    const inodesBefore = await listeningSocketInodes(base, daemon.pid);
    expect(inodesBefore).toHaveLength(1);

    // Bulk transfer through the TCP rule for as long as the applies run (and
    // at least BULK_BYTES), paced by back-pressure.
    const client = connect({ host: '127.0.0.1', port: base });
    await once(client, 'connect');
    const sentHash = createHash('sha256');
    let sentBytes = 0;
    let appliesDone = false;
    const sent = (async () => {
      const chunk = randomBytes(64 * 1024);
      for (let i = 0; i < 1_000_000 && !(appliesDone && sentBytes >= BULK_BYTES); i++) {
        chunk.writeUInt32BE(i, 0);
        sentHash.update(chunk);
        sentBytes += chunk.length;
        if (!client.write(chunk)) await once(client, 'drain');
      }
      await new Promise<void>((resolve) => client.end(() => resolve()));
    })();

    // UDP ping-pong: one datagram in flight, each must be answered (no resend).
    const udpClient = createSocket('udp4');
    udpClient.bind({ address: '127.0.0.1', port: 0 });
    await once(udpClient, 'listening');
    let stop = false;
    let answered = 0;
    const stream = (async () => {
      for (let seq = 0; !stop && seq < 1_000_000; seq++) {
        const reply = new Promise<Buffer>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`datagram ${seq} was not answered within 10 s`)), 10_000);
          udpClient.once('message', (msg) => {
            clearTimeout(timer);
            resolve(msg);
          });
        });
        udpClient.send(String(seq), base + 1, '127.0.0.1');
        expect((await reply).toString()).toBe(String(seq));
        answered++;
      }
    })();

    for (let i = 1; i <= APPLIES; i++) {
      await api.call('ApplyConfig', { tables: [churn(i)] });
    }
    appliesDone = true;
    stop = true;
    await stream;
    await sent;
    await new Promise<void>((resolve) => {
      const poll = (): void => (sinkDigest ? resolve() : void setTimeout(poll, 10));
      poll();
    });
    expect(await sinkDigest).toBe(sentHash.digest('hex'));
    expect(sentBytes).toBeGreaterThanOrEqual(BULK_BYTES);
    expect(answered).toBeGreaterThan(0);
    // One flow throughout: the target saw a single upstream source port.
    expect(upstreamPorts.size).toBe(1);
    expect(await listeningSocketInodes(base, daemon.pid)).toEqual(inodesBefore);
    const config = await api.call<{ generation: string }>('GetConfig');
    expect(Number(config.generation)).toBe(APPLIES + 1);

    client.destroy();
    udpClient.close();
    udpTarget.close();
    for (const s of sinkSockets) s.destroy();
    sink.close();
  });
});
