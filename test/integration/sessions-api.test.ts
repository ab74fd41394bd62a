/**
 * SessionService and TelemetryService against a real daemon with real
 * traffic: byte totals of sessions and counters equal what the test sent
 * and received (TCP and UDP), filters, summary, DeleteSessions closing both
 * legs, and WatchSessions snapshots, deltas, resume and RESYNC.
 */
import { connect, type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import type { Socket as UdpSocket } from 'node:dgram';
import * as grpc from '@grpc/grpc-js';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { decodeStatusDetails } from '../../src/server/status-details.js';
import { callError, ServiceClient } from '../helpers/daemon-process.js';
import { startTestDaemon, type TestDaemon } from '../helpers/in-process-daemon.js';
import { freePortBlock, startEchoServer, type EchoServer } from '../helpers/tcp.js';
import { startUdpEcho, udpClient, udpRoundTrip, type UdpEcho } from '../helpers/udp.js';
import { deltas, Watch, type WireSession } from '../helpers/watch.js';

interface Traffic {
  sessions_opened: string;
  sessions_closed: string;
  sessions_active: string;
  bytes_from_client: string;
  bytes_to_client: string;
  packets_from_client: string;
  packets_to_client: string;
  drops: { reason: string; count: string }[];
}
interface Counters {
  generation: string;
  global: { traffic: Traffic; applies_succeeded: string; applies_failed: string; bind_errors: string };
  tables: { table: string; traffic: Traffic }[];
  rules: { table: string; rule_id: string; rule_name: string; protocol: string; counter_id: string; generation: string; traffic: Traffic }[];
}

/** A TCP client through the forwarder that collects what comes back. */
class Conn {
  readonly socket: Socket;
  received = 0;
  ended: 'end' | 'error' | undefined;
  /** Kept: a closed socket no longer reports it. */
  readonly localPort: number;

  private constructor(socket: Socket) {
    this.socket = socket;
    this.localPort = socket.localPort ?? 0;
    socket.on('data', (c: Buffer) => (this.received += c.length));
    socket.on('end', () => (this.ended ??= 'end'));
    socket.on('error', () => (this.ended ??= 'error'));
    socket.on('close', () => (this.ended ??= 'end'));
  }

  static async open(port: number): Promise<Conn> {
    const socket = connect({ host: '127.0.0.1', port });
    await new Promise<void>((res, rej) => {
      socket.once('connect', res);
      socket.once('error', rej);
    });
    return new Conn(socket);
  }
}

async function waitUntil(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('sessions and counters over gRPC', () => {
  let d: TestDaemon;
  let config: ServiceClient;
  let sessions: ServiceClient;
  let telemetry: ServiceClient;
  let echo: EchoServer;
  let udpEcho: UdpEcho;
  let base: number;
  const open: (Conn | UdpSocket)[] = [];

  beforeAll(async () => {
    echo = await startEchoServer();
    udpEcho = await startUdpEcho();
  });
  afterAll(async () => {
    await echo.close();
    await udpEcho.close();
  });
  beforeEach(async () => {
    d = await startTestDaemon({ watchBuffer: 64 });
    config = new ServiceClient('ConfigService', d.target);
    sessions = new ServiceClient('SessionService', d.target);
    telemetry = new ServiceClient('TelemetryService', d.target);
    base = await freePortBlock(4);
    await config.call('ApplyConfig', {
      tables: [
        {
          name: 'web',
          rules: [
            { name: 'tcp', protocol: 'PROTOCOL_TCP', listen_address: '127.0.0.1', ports: { first: base, last: base }, target_address: '127.0.0.1', target_port: echo.port },
            { name: 'udp', protocol: 'PROTOCOL_UDP', listen_address: '127.0.0.1', ports: { first: base + 1, last: base + 1 }, target_address: '127.0.0.1', target_port: udpEcho.port, udp_idle_timeout_ms: 600_000 },
          ],
        },
        {
          name: 'other',
          rules: [{ name: 'tcp', protocol: 'PROTOCOL_TCP', listen_address: '127.0.0.1', ports: { first: base + 2, last: base + 2 }, target_address: '127.0.0.1', target_port: echo.port }],
        },
      ],
    });
  });
  afterEach(async () => {
    for (const c of open.splice(0)) {
      if (c instanceof Conn) c.socket.destroy();
      else c.close();
    }
    config.close();
    sessions.close();
    telemetry.close();
    await d.stop();
  });

  const list = async (filter: object = {}, pageSize = 0): Promise<WireSession[]> => {
    const all: WireSession[] = [];
    let token = '';
    for (let page = 0; page < 1000; page++) {
      const res = await sessions.call<{ sessions: WireSession[]; next_page_token: string }>('ListSessions', { filter, page_size: pageSize, page_token: token });
      all.push(...res.sessions);
      token = res.next_page_token;
      if (!token) return all;
    }
    throw new Error('listing did not end within 1000 pages');
  };

  it('session and counter byte totals equal the bytes sent and received, TCP and UDP', async () => {
    const payload = randomBytes(300_000);
    const tcpConn = await Conn.open(base);
    open.push(tcpConn);
    tcpConn.socket.write(payload);
    await waitUntil(() => tcpConn.received === payload.length, 'the echo of 300,000 bytes');

    const udp = await udpClient();
    open.push(udp);
    const sizes = [1, 100, 1400, 8000, 33];
    let udpBytes = 0;
    for (const size of sizes) {
      const reply = await udpRoundTrip(udp, base + 1, randomBytes(size));
      expect(reply.length).toBe(size);
      udpBytes += size;
    }

    const listed = await list({ table: 'web' });
    const tcpSession = listed.find((s) => s.protocol === 'PROTOCOL_TCP' && s.client!.port === tcpConn.localPort);
    const udpSession = listed.find((s) => s.protocol === 'PROTOCOL_UDP' && s.client!.port === udp.address().port);
    expect(tcpSession?.from_client!.bytes).toBe(String(payload.length));
    expect(tcpSession?.to_client!.bytes).toBe(String(tcpConn.received));
    expect(udpSession?.from_client).toEqual({ bytes: String(udpBytes), packets: String(sizes.length) });
    expect(udpSession?.to_client).toEqual({ bytes: String(udpBytes), packets: String(sizes.length) });
    expect(udpSession?.target).toEqual({ address: '127.0.0.1', port: udpEcho.port });

    const got = await sessions.call<{ session: WireSession }>('GetSession', { id: tcpSession!.id });
    expect(got.session.id).toBe(tcpSession!.id);

    const counters = await telemetry.call<Counters>('GetCounters', {});
    const rule = (name: string): Traffic => counters.rules.find((r) => r.table === 'web' && r.rule_name === name)!.traffic;
    expect(rule('tcp')).toMatchObject({ sessions_opened: '1', sessions_active: '1', bytes_from_client: String(payload.length), bytes_to_client: String(payload.length) });
    expect(rule('udp')).toMatchObject({
      sessions_opened: '1',
      bytes_from_client: String(udpBytes),
      bytes_to_client: String(udpBytes),
      packets_from_client: String(sizes.length),
      packets_to_client: String(sizes.length),
    });
    expect(counters.global.traffic.bytes_from_client).toBe(String(payload.length + udpBytes));
    expect(counters.global.traffic.bytes_to_client).toBe(String(payload.length + udpBytes));
    expect(counters.tables.find((t) => t.table === 'web')?.traffic.bytes_from_client).toBe(String(payload.length + udpBytes));
    expect(counters.global.applies_succeeded).toBe('1');
    for (const r of counters.rules) {
      expect(r.rule_id).toMatch(/^r_[0-9a-f]{16}$/);
      expect(r.generation).toBe(counters.generation);
    }

    // Counters continue across an apply that leaves the rule unchanged.
    const before = counters.rules.find((r) => r.rule_name === 'tcp' && r.table === 'web')!;
    await config.call('ApplyConfig', {
      tables: [{ name: 'extra', rules: [{ name: 'x', protocol: 'PROTOCOL_TCP', listen_address: '127.0.0.1', ports: { first: base + 3, last: base + 3 }, target_address: '127.0.0.1', target_port: echo.port }] }],
    });
    const after = (await telemetry.call<Counters>('GetCounters', { table: 'web' })).rules.find((r) => r.rule_name === 'tcp')!;
    expect(after.counter_id).toBe(before.counter_id);
    expect(after.rule_id).toBe(before.rule_id);
    expect(Number(after.generation)).toBe(Number(before.generation) + 1);
    expect(after.traffic.bytes_from_client).toBe(String(payload.length));
  });

  it('filters by table, rule, protocol, client CIDR and port, target CIDR, state and age; summarises; rejects bad filters', async () => {
    const conns = [await Conn.open(base), await Conn.open(base), await Conn.open(base + 2)];
    open.push(...conns);
    const udp = await udpClient();
    open.push(udp);
    await udpRoundTrip(udp, base + 1, Buffer.from('x'));
    await waitUntil(async () => (await list({ state: 'established' })).length === 3, 'three established TCP sessions');

    expect(await list()).toHaveLength(4);
    expect(await list({ table: 'web' })).toHaveLength(3);
    expect(await list({ table: 'web', rule: 'tcp' })).toHaveLength(2);
    expect(await list({ protocol: 'PROTOCOL_UDP' })).toHaveLength(1);
    expect(await list({ client_port: conns[1]!.localPort })).toHaveLength(1);
    expect(await list({ client_cidr: '127.0.0.0/8' })).toHaveLength(4);
    expect(await list({ client_cidr: '10.0.0.0/8' })).toHaveLength(0);
    expect(await list({ target_cidr: '127.0.0.1' })).toHaveLength(4);
    expect(await list({ min_age_ms: 3_600_000 })).toHaveLength(0);
    expect(await list({ min_idle_ms: 3_600_000 })).toHaveLength(0);
    const ruleId = (await list({ table: 'other' }))[0]!.rule_id;
    expect(await list({ rule: ruleId })).toHaveLength(1);
    // Paging with a page of 1: the same four, once each.
    expect(new Set((await list({}, 1)).map((s) => s.id)).size).toBe(4);

    const summary = await sessions.call<{ total: string; by_table: { table: string; count: string }[]; by_protocol: { protocol: string; count: string }[]; by_state: { state: string; count: string }[]; by_rule: { rule_name: string; table: string; count: string }[] }>(
      'GetSessionSummary',
      {},
    );
    expect(summary.total).toBe('4');
    expect(Object.fromEntries(summary.by_table.map((t) => [t.table, t.count]))).toEqual({ web: '3', other: '1' });
    expect(Object.fromEntries(summary.by_protocol.map((t) => [t.protocol, t.count]))).toEqual({ PROTOCOL_TCP: '3', PROTOCOL_UDP: '1' });
    expect(Object.fromEntries(summary.by_state.map((t) => [t.state, t.count]))).toEqual({ established: '3', active: '1' });
    expect(summary.by_rule.find((r) => r.table === 'web' && r.rule_name === 'tcp')?.count).toBe('2');

    const bad = await callError(sessions.call('ListSessions', { filter: { client_cidr: '10.1.2.3/8', target_cidr: 'nope' } }));
    expect(bad.code).toBe(grpc.status.INVALID_ARGUMENT);
    const fields = decodeStatusDetails(bad.metadata).flatMap((x) => (x.type === 'BadRequest' ? x.fieldViolations.map((v) => v.field) : []));
    expect(fields).toEqual(['filter.client_cidr', 'filter.target_cidr']);
    const badToken = await callError(sessions.call('ListSessions', { page_token: 'garbage' }));
    expect(badToken.code).toBe(grpc.status.INVALID_ARGUMENT);
    const first = await sessions.call<{ next_page_token: string }>('ListSessions', { page_size: 1 });
    const otherFilter = await callError(sessions.call('ListSessions', { page_size: 1, page_token: first.next_page_token, filter: { table: 'web' } }));
    expect(otherFilter.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(otherFilter.details).toMatch(/another filter/);
    const missing = await callError(sessions.call('GetSession', { id: '999999' }));
    expect(missing.code).toBe(grpc.status.NOT_FOUND);
  });

  it('DeleteSessions closes both legs; the session leaves the list and closes in the watch stream', async () => {
    const watch = new Watch(sessions);
    await watch.until((ev) => ev.some((e) => e.kind === 'SESSION_EVENT_KIND_SNAPSHOT_END'), 'the snapshot');
    const victim = await Conn.open(base);
    const bystander = await Conn.open(base);
    open.push(victim, bystander);
    await waitUntil(() => echo.sockets.size >= 2, 'two target connections');
    const [session] = await list({ client_port: victim.localPort });
    expect(session).toBeDefined();
    const targetsBefore = echo.sockets.size;

    const res = await sessions.call<{ deleted: string; not_found: string }>('DeleteSessions', { ids: [session!.id, 'no-such-id'] });
    expect(res).toEqual({ deleted: '1', not_found: '1' });
    // Gone from the store when the call returns.
    expect((await list()).map((s) => s.id)).not.toContain(session!.id);
    await waitUntil(() => victim.ended !== undefined, 'the client to see its connection end');
    await waitUntil(() => echo.sockets.size === targetsBefore - 1, 'the target leg to close');
    await watch.until((ev) => ev.some((e) => e.kind === 'SESSION_EVENT_KIND_CLOSE' && e.session?.id === session!.id), 'the close event');
    const close = watch.events.find((e) => e.kind === 'SESSION_EVENT_KIND_CLOSE' && e.session?.id === session!.id)!;
    expect(close.close_reason).toBe('CLOSE_REASON_DELETED');
    expect(bystander.ended).toBeUndefined();

    // By filter; nothing matching is not an error; an empty filter needs `all`.
    expect(await sessions.call('DeleteSessions', { filter: { client_port: 1 } })).toEqual({ deleted: '0', not_found: '0' });
    const empty = await callError(sessions.call('DeleteSessions', {}));
    expect(empty.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(decodeStatusDetails(empty.metadata)).toContainEqual(expect.objectContaining({ type: 'BadRequest', fieldViolations: [expect.objectContaining({ field: 'filter' })] }));
    expect(await sessions.call('DeleteSessions', { filter: { client_port: bystander.localPort } })).toEqual({ deleted: '1', not_found: '0' });
    await waitUntil(() => bystander.ended !== undefined, 'the second client to see its end');
    const third = await Conn.open(base + 2);
    open.push(third);
    await waitUntil(async () => (await list()).length === 1, 'the third session');
    expect(await sessions.call('DeleteSessions', { all: true })).toEqual({ deleted: '1', not_found: '0' });
    await waitUntil(() => third.ended !== undefined, 'the third client to see its end');
    watch.cancel();
  });

  it('WatchSessions: snapshot then deltas with increasing sequences; resume replays exactly the missed events; too old gets RESYNC', async () => {
    const early = await Conn.open(base);
    open.push(early);
    await waitUntil(async () => (await list({ state: 'established' })).length === 1, 'the early session');

    // A watcher that stays connected throughout: the reference.
    const steady = new Watch(sessions);
    await steady.until((ev) => ev.some((e) => e.kind === 'SESSION_EVENT_KIND_SNAPSHOT_END'), 'the snapshot');
    const snapshot = steady.events.filter((e) => e.kind === 'SESSION_EVENT_KIND_SNAPSHOT');
    expect(snapshot.map((e) => e.session?.client!.port)).toEqual([early.localPort]);
    const epoch = steady.events[0]!.backend_epoch;

    const first = new Watch(sessions);
    await first.until((ev) => ev.some((e) => e.kind === 'SESSION_EVENT_KIND_SNAPSHOT_END'), 'the snapshot');
    const a = await Conn.open(base);
    open.push(a);
    await first.until((ev) => deltas(ev).some((e) => e.kind === 'SESSION_EVENT_KIND_UPDATE' && e.session?.client!.port === a.localPort), 'a established');
    const resumeAt = deltas(first.events).at(-1)!.sequence;
    first.cancel();

    // Missed while disconnected: a closes, b opens.
    a.socket.end();
    const b = await Conn.open(base + 2);
    open.push(b);
    await steady.until(
      (ev) =>
        deltas(ev).some((e) => e.kind === 'SESSION_EVENT_KIND_CLOSE' && e.session?.client!.port === a.localPort) &&
        deltas(ev).some((e) => e.kind === 'SESSION_EVENT_KIND_UPDATE' && e.session?.client!.port === b.localPort),
      'a closed and b established',
    );
    const missed = deltas(steady.events).filter((e) => BigInt(e.sequence) > BigInt(resumeAt));
    const resumed = new Watch(sessions, { resume_after_sequence: resumeAt, resume_backend_epoch: epoch });
    await resumed.until((ev) => ev.length >= missed.length, 'the missed events');
    expect(resumed.events.slice(0, missed.length)).toEqual(missed);
    expect(resumed.events.some((e) => e.kind === 'SESSION_EVENT_KIND_RESYNC' || e.kind === 'SESSION_EVENT_KIND_SNAPSHOT')).toBe(false);
    resumed.cancel();

    // Every event carries the epoch; delta sequences strictly increase.
    const seqs = deltas(steady.events).map((e) => BigInt(e.sequence));
    expect(seqs.every((s, i) => i === 0 || s > seqs[i - 1]!)).toBe(true);
    expect(steady.events.every((e) => e.backend_epoch === epoch)).toBe(true);

    // More events than the watch buffer (64) since the resume point: RESYNC, then a fresh snapshot.
    // One short connection at a time, each until the steady watcher saw it close: all
    // of them at once could reach the hub in one batch of more than 64 events (the
    // engine hands events over in batches, larger on a loaded machine), which would
    // overrun the steady watcher too and RESYNC it as well.
    const since = (ev: typeof steady.events): number => deltas(ev).length - deltas(ev).findIndex((e) => e.sequence === resumeAt) - 1;
    for (let i = 0; i < 60 && since(steady.events) <= 80; i++) {
      const c = await Conn.open(base + 2);
      c.socket.end();
      open.push(c);
      await steady.until((ev) => deltas(ev).some((e) => e.kind === 'SESSION_EVENT_KIND_CLOSE' && e.session?.client!.port === c.localPort), `short connection ${i} closed`);
    }
    expect(since(steady.events)).toBeGreaterThan(80);
    expect(steady.events.some((e) => e.kind === 'SESSION_EVENT_KIND_RESYNC')).toBe(false);
    await waitUntil(async () => (await list()).length === 2, 'the short sessions to end (early and b remain)');
    const stale = new Watch(sessions, { resume_after_sequence: resumeAt, resume_backend_epoch: epoch });
    await stale.until((ev) => ev.some((e) => e.kind === 'SESSION_EVENT_KIND_SNAPSHOT_END'), 'RESYNC and the fresh snapshot');
    expect(stale.events[0]!.kind).toBe('SESSION_EVENT_KIND_RESYNC');
    expect(stale.events[0]!.detail).toMatch(/no longer buffered/);
    const fresh = stale.events.filter((e) => e.kind === 'SESSION_EVENT_KIND_SNAPSHOT').map((e) => e.session!.id).sort();
    expect(fresh).toEqual((await list()).map((s) => s.id).sort());
    stale.cancel();

    // Another epoch (a restarted backend): RESYNC too.
    const restarted = new Watch(sessions, { resume_after_sequence: resumeAt, resume_backend_epoch: '00000000-0000-0000-0000-000000000000' });
    await restarted.until((ev) => ev.length > 0, 'RESYNC');
    expect(restarted.events[0]).toMatchObject({ kind: 'SESSION_EVENT_KIND_RESYNC', detail: expect.stringMatching(/restarted/) });
    restarted.cancel();
    steady.cancel();
  });

  it('GetFloodCounters reports refusals per rule and per source prefix; WatchCounters streams deltas and rates', async () => {
    await config.call('ApplyConfig', {
      tables: [
        {
          name: 'other',
          rules: [{ name: 'tcp', protocol: 'PROTOCOL_TCP', listen_address: '127.0.0.1', ports: { first: base + 2, last: base + 2 }, target_address: '127.0.0.1', target_port: echo.port, deny: ['127.0.0.0/8'] }],
        },
      ],
    });
    for (let i = 0; i < 5; i++) {
      const refused = connect({ host: '127.0.0.1', port: base + 2 });
      await new Promise<void>((res) => {
        refused.on('error', () => res());
        refused.on('close', () => res());
      });
    }
    const flood = await telemetry.call<{ rules: { table: string; refused: string; by_reason: { reason: string; count: string }[]; sources: { prefix: string; refused: string }[] }[] }>(
      'GetFloodCounters',
      { top_n: 5 },
    );
    expect(flood.rules).toHaveLength(1);
    expect(flood.rules[0]).toMatchObject({ table: 'other', refused: '5', by_reason: [{ reason: 'DROP_REASON_FILTER', count: '5' }] });
    expect(flood.rules[0]!.sources).toEqual([{ prefix: '127.0.0.0/24', refused: '5', by_reason: [{ reason: 'DROP_REASON_FILTER', count: '5' }] }]);

    const fn = (telemetry.raw as unknown as Record<string, (req: object) => grpc.ClientReadableStream<Record<string, unknown>>>).WatchCounters!;
    const stream = fn.call(telemetry.raw, { interval_ms: 100, table: 'web' });
    const samples: { global_delta: { bytes_from_client: string; restarted: boolean; rates: { bytes_from_client_per_second: number } }; elapsed_seconds: number; rules: { counters: { rule_name: string } }[] }[] = [];
    stream.on('data', (s) => samples.push(s as never));
    stream.on('error', () => undefined);
    await waitUntil(() => samples.length >= 1, 'the first sample');
    // Samples from here on carry every byte of the connection: one may come before the echo does.
    const sent = samples.length;
    const conn = await Conn.open(base);
    open.push(conn);
    conn.socket.write(Buffer.alloc(5000));
    await waitUntil(() => conn.received === 5000, 'the echo');
    await waitUntil(() => samples.slice(sent).reduce((n, s) => n + Number(s.global_delta.bytes_from_client), 0) === 5000, 'the 5000 bytes in the deltas');
    expect(samples[0]!.global_delta.restarted).toBe(true);
    const moving = samples.slice(sent).find((s) => Number(s.global_delta.bytes_from_client) > 0)!;
    expect(moving.elapsed_seconds).toBeGreaterThan(0);
    expect(moving.global_delta.rates.bytes_from_client_per_second).toBeCloseTo(Number(moving.global_delta.bytes_from_client) / moving.elapsed_seconds, 3);
    expect(samples.at(-1)!.rules.map((r) => r.counters.rule_name).sort()).toEqual(['tcp', 'udp']);
    stream.cancel();
  });
});
