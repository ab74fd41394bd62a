/**
 * SessionService and TelemetryService over gRPC on the userspace backend,
 * unchanged: an in-process daemon whose dataplane is the packet engine
 * behind a memory port; the test plays clients and target by injecting real
 * IP packets. ListSessions pages and filters, GetSession, DeleteSessions,
 * WatchSessions (snapshot, open/update/close with reasons, resume) and
 * GetCounters see exactly the flows the packets made.
 */
import * as grpc from '@grpc/grpc-js';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MemoryPort, UserspaceDataPlane } from '../../src/dataplane/userspace/index.js';
import { TCP_ACK, TCP_FIN, TCP_SYN } from '../../src/dataplane/userspace/packet.js';
import { callError, ServiceClient } from '../helpers/daemon-process.js';
import { startTestDaemon, type TestDaemon } from '../helpers/in-process-daemon.js';
import { fields, packet } from '../helpers/packets.js';
import { deltas, Watch, type WireEvent, type WireSession } from '../helpers/watch.js';

const LISTEN = 20_080;
const TARGET = 9000;
const LOCAL = '127.0.0.1';

describe('SessionService on the userspace backend', () => {
  let daemon: TestDaemon;
  let port: MemoryPort;
  let now: number;
  let dataplane: UserspaceDataPlane;
  let sessions: ServiceClient;
  let telemetry: ServiceClient;
  const watches: Watch[] = [];

  /** Injects one packet; what the engine sent on (translated), or undefined when it dropped it. */
  const pass = (p: Uint8Array): ReturnType<typeof fields> | undefined => {
    let out: Uint8Array | undefined;
    port.onTransmit = (buf, length) => (out = buf.slice(0, length));
    port.inject(p);
    return out && fields(out);
  };
  const fromClient = (protocol: 'tcp' | 'udp', clientPort: number, listenPort: number, tcpFlags = 0, payload = new Uint8Array(0)) =>
    pass(packet({ protocol, source: LOCAL, destination: LOCAL, sourcePort: clientPort, destinationPort: listenPort, tcpFlags, payload }));
  const fromTarget = (protocol: 'tcp' | 'udp', clientPort: number, tcpFlags = 0, payload = new Uint8Array(0)) =>
    pass(packet({ protocol, source: LOCAL, destination: LOCAL, sourcePort: TARGET, destinationPort: clientPort, tcpFlags, payload }));
  /** SYN, SYN-ACK, ACK, then `bytes` from the client and the same back. */
  const tcpFlow = (clientPort: number, bytes: number): void => {
    expect(fromClient('tcp', clientPort, LISTEN, TCP_SYN)).toMatchObject({ destinationPort: TARGET, checksumsOk: true });
    expect(fromTarget('tcp', clientPort, TCP_SYN | TCP_ACK)).toMatchObject({ sourcePort: LISTEN, destinationPort: clientPort, checksumsOk: true });
    expect(fromClient('tcp', clientPort, LISTEN, TCP_ACK)).toBeDefined();
    expect(fromClient('tcp', clientPort, LISTEN, TCP_ACK, new Uint8Array(bytes))).toBeDefined();
    expect(fromTarget('tcp', clientPort, TCP_ACK, new Uint8Array(bytes))).toBeDefined();
  };
  const watch = (request: object): Watch => {
    const w = new Watch(sessions, request);
    watches.push(w);
    return w;
  };
  const snapshotDone = (events: WireEvent[]) => events.some((e) => e.kind === 'SESSION_EVENT_KIND_SNAPSHOT_END');
  const listAll = async (request: object, pageSize: number): Promise<{ ids: string[]; sessions: WireSession[]; total: string }> => {
    const out: WireSession[] = [];
    let token = '';
    let total = '';
    for (let page = 0; page < 100; page++) {
      const res = await sessions.call<{ sessions: WireSession[]; next_page_token: string; total: string }>('ListSessions', { ...request, page_size: pageSize, page_token: token });
      out.push(...res.sessions);
      total ||= res.total;
      token = res.next_page_token;
      if (!token) break;
    }
    return { ids: out.map((s) => s.id), sessions: out, total };
  };

  beforeEach(async () => {
    port = new MemoryPort();
    now = Date.now();
    dataplane = new UserspaceDataPlane({ logger: pino({ level: 'silent' }), port, clock: () => now, gcIntervalMs: 0 });
    daemon = await startTestDaemon({ dataplane });
    sessions = new ServiceClient('SessionService', daemon.target);
    telemetry = new ServiceClient('TelemetryService', daemon.target);
    const config = new ServiceClient('ConfigService', daemon.target);
    const rule = (name: string, protocol: string, listen: number) => ({
      name,
      protocol,
      listen_address: LOCAL,
      ports: { first: listen, last: listen },
      target_address: LOCAL,
      target_port: TARGET,
    });
    await config.call('ApplyConfig', { tables: [{ name: 'web', rules: [rule('http', 'PROTOCOL_TCP', LISTEN), rule('dns', 'PROTOCOL_UDP', LISTEN + 1)] }] });
    config.close();
  });

  afterEach(async () => {
    for (const w of watches.splice(0)) w.cancel();
    sessions.close();
    telemetry.close();
    await daemon.stop();
  });

  it('ListSessions pages and filters the flows the packets made; WatchSessions streams them with reasons and resumes', async () => {
    const live = watch({ filter: { table: 'web' } });
    await live.until(snapshotDone, 'the empty snapshot');
    for (let i = 0; i < 12; i++) tcpFlow(41_000 + i, 10 + i);
    for (let i = 0; i < 3; i++) {
      expect(fromClient('udp', 42_000 + i, LISTEN + 1, 0, new Uint8Array(7))).toMatchObject({ destinationPort: TARGET });
      expect(fromTarget('udp', 42_000 + i, 0, new Uint8Array(5))).toMatchObject({ sourcePort: LISTEN + 1 });
    }

    // Paging: every flow once, in id order, whatever the page size.
    const all = await listAll({}, 5);
    expect(all.ids).toHaveLength(15);
    expect(new Set(all.ids).size).toBe(15);
    expect(all.total).toBe('15');
    expect(all.ids.map(Number)).toEqual([...all.ids.map(Number)].sort((a, b) => a - b));
    expect((await listAll({}, 10_000)).ids).toEqual(all.ids);
    const udp = await listAll({ filter: { protocol: 'PROTOCOL_UDP' } }, 2);
    expect(udp.sessions.map((s) => [s.client!.port, s.state, s.from_client!.bytes, s.to_client!.bytes])).toEqual(
      [0, 1, 2].map((i) => [42_000 + i, 'active', '7', '5']),
    );
    const tcp0 = all.sessions.find((s) => s.client!.port === 41_000)!;
    expect(tcp0).toMatchObject({ table: 'web', rule_name: 'http', protocol: 'PROTOCOL_TCP', state: 'established', target: { address: LOCAL, port: TARGET }, generation: '1' });
    expect(await sessions.call('GetSession', { id: tcp0.id })).toMatchObject({ session: { id: tcp0.id, from_client: { bytes: '10' }, to_client: { bytes: '10' } } });
    const summary = await sessions.call<{ total: string; by_protocol: { key: string; count: string }[] }>('GetSessionSummary', {});
    expect(summary.total).toBe('15');

    // The watch saw every open and both state changes of each TCP handshake.
    await live.until((e) => deltas(e).filter((x) => x.kind === 'SESSION_EVENT_KIND_OPEN').length === 15, '15 opens');
    await live.until((e) => deltas(e).filter((x) => x.kind === 'SESSION_EVENT_KIND_UPDATE').length === 24, '24 updates');
    expect(deltas(live.events).filter((x) => x.kind === 'SESSION_EVENT_KIND_OPEN').map((x) => x.session!.id)).toEqual(all.ids);

    // DeleteSessions: the flow stops passing, and the watch gets its close.
    expect(await sessions.call('DeleteSessions', { ids: [tcp0.id] })).toMatchObject({ deleted: '1' });
    expect(fromClient('tcp', 41_000, LISTEN, TCP_ACK, new Uint8Array(3))).toBeUndefined();
    expect((await callError(sessions.call('GetSession', { id: tcp0.id }))).code).toBe(grpc.status.NOT_FOUND);
    // A client that ends its connection: the close comes once GC lets the session go.
    const tcp1 = all.sessions.find((s) => s.client!.port === 41_001)!;
    fromClient('tcp', 41_001, LISTEN, TCP_FIN | TCP_ACK);
    fromTarget('tcp', 41_001, TCP_FIN | TCP_ACK);
    fromClient('tcp', 41_001, LISTEN, TCP_ACK);
    now += 10 * 60_000;
    dataplane.collect();
    // Every UDP flow idled out too; the other TCP sessions are established and stay.
    await live.until((e) => deltas(e).filter((x) => x.kind === 'SESSION_EVENT_KIND_CLOSE').length === 5, '5 closes');
    const closes = deltas(live.events).filter((x) => x.kind === 'SESSION_EVENT_KIND_CLOSE');
    expect(Object.fromEntries(closes.map((x) => [x.session!.id, x.close_reason]))).toEqual({
      [tcp0.id]: 'CLOSE_REASON_DELETED',
      [tcp1.id]: 'CLOSE_REASON_CLIENT',
      ...Object.fromEntries(udp.sessions.map((s) => [s.id, 'CLOSE_REASON_IDLE'])),
    });
    expect((await listAll({}, 4)).ids).toEqual(all.ids.filter((id) => !closes.some((x) => x.session!.id === id)));

    // Resume after a disconnect: exactly the events missed, no snapshot.
    const last = live.events.at(-1)!;
    live.cancel();
    tcpFlow(41_100, 1);
    const resumed = watch({ filter: { table: 'web' }, resume_after_sequence: last.sequence, resume_backend_epoch: last.backend_epoch });
    await resumed.until((e) => e.length >= 3, 'the missed events');
    // The events carry the session as the daemon read it, after the whole (synchronous) handshake.
    expect(resumed.events.map((x) => [x.kind, x.session?.client!.port, x.session?.state])).toEqual([
      ['SESSION_EVENT_KIND_OPEN', 41_100, 'established'],
      ['SESSION_EVENT_KIND_UPDATE', 41_100, 'established'],
      ['SESSION_EVENT_KIND_UPDATE', 41_100, 'established'],
    ]);
    expect(resumed.events.map((x) => Number(x.sequence))).toEqual([1, 2, 3].map((n) => Number(last.sequence) + n));

    // Counters agree with the packets: 16 sessions, 6 still open, the dropped packet counted by reason.
    const counters = await telemetry.call<{
      generation: string;
      backend: string;
      global: { traffic: { sessions_opened: string; sessions_active: string; bytes_from_client: string }; packet_drops: { reason: string; count: string }[] };
      rules: { rule_name: string; protocol: string; traffic: { sessions_opened: string } }[];
    }>('GetCounters', {});
    expect(counters).toMatchObject({ generation: '1', backend: 'userspace' });
    expect(counters.global.traffic).toMatchObject({ sessions_opened: '16', sessions_active: '11' });
    const tcpBytes = Array.from({ length: 12 }, (_, i) => 10 + i).reduce((a, b) => a + b, 0) + 1;
    expect(counters.global.traffic.bytes_from_client).toBe(String(tcpBytes + 3 * 7));
    expect(counters.global.packet_drops).toEqual([{ reason: 'no_session', count: '1' }]);
    expect(counters.rules.map((r) => [r.rule_name, r.protocol, r.traffic.sessions_opened]).sort()).toEqual([
      ['dns', 'PROTOCOL_UDP', '3'],
      ['http', 'PROTOCOL_TCP', '13'],
    ]);
  });
});
