/**
 * HA session sync between two real daemons on loopback (userspace backend,
 * packets injected through memory ports, the sync over real gRPC): the
 * standby imports the active's flows with their NAT bindings and follows
 * opens, updates and closes; it refuses new flows; a restart of its stream
 * resumes from the acknowledged sequence (what was missed is replayed, not
 * re-snapshotted); a restarted active is a new backend epoch and a fresh
 * bulk sync that removes what it no longer has; and once made active the
 * standby forwards the established flows exactly as the old active did.
 */
import * as grpc from '@grpc/grpc-js';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MemoryPort, UserspaceDataPlane } from '../../src/dataplane/userspace/index.js';
import { TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN } from '../../src/dataplane/userspace/packet.js';
import { serviceClient } from '../../src/server/api-definition.js';
import { generateToken, hashToken } from '../../src/auth/tokens.js';
import { parsePolicy } from '../../src/auth/policy.js';
import { bearer, ServiceClient } from '../helpers/daemon-process.js';
import type { HAOptions } from '../../src/server/daemon.js';
import { startTestDaemon, type TestDaemon } from '../helpers/in-process-daemon.js';
import { fields, packet } from '../helpers/packets.js';
import type { GetRoleResponse__Output } from '../../src/generated/types/portplane/v1/GetRoleResponse.js';

const CLIENT = '127.0.0.1';
const SERVICE = '127.0.0.1';
const SNAT = '127.0.0.2';
const TARGET = '127.0.0.3';
const TCP_PORT = 21_080;
const UDP_PORT = 21_081;
const TARGET_PORT = 9000;
const HEARTBEAT_MS = 50;

interface Node {
  port: MemoryPort;
  dataplane: UserspaceDataPlane;
  daemon: TestDaemon;
  ha: ServiceClient;
  sessions: ServiceClient;
}

type WireRole = GetRoleResponse__Output;

const TABLES = {
  tables: [
    {
      name: 'edge',
      rules: [
        { name: 'web', protocol: 'PROTOCOL_TCP', listen_address: SERVICE, ports: { first: TCP_PORT }, target_address: TARGET, target_port: TARGET_PORT, snat_address: SNAT },
        { name: 'dns', protocol: 'PROTOCOL_UDP', listen_address: SERVICE, ports: { first: UDP_PORT }, target_address: TARGET, target_port: TARGET_PORT },
      ],
    },
  ],
};

// Both daemons live in this process, so the standby's connection is one of the active's own sockets, which
// is never identified by its uid (a forward could be behind it): the peer presents a token, as in production.
const TOKEN = generateToken('ha-peer');
const POLICY = parsePolicy(`tokens:\n  ha-peer: ${hashToken(TOKEN)}\ngrants:\n  - token: ha-peer\n    role: admin\n  - uid: ${process.getuid?.() ?? 0}\n    role: admin\n`, 'test policy');

async function startNode(ha: HAOptions, listen?: string): Promise<Node> {
  const port = new MemoryPort();
  const dataplane = new UserspaceDataPlane({ logger: pino({ level: 'silent' }), port, gcIntervalMs: 0 });
  const daemon = await startTestDaemon({ dataplane, ...(listen && { listen }), ha, policy: POLICY });
  const config = new AuthedClient('ConfigService', daemon.target);
  await config.call('ApplyConfig', TABLES);
  config.close();
  return { port, dataplane, daemon, ha: new AuthedClient('HAService', daemon.target), sessions: new AuthedClient('SessionService', daemon.target) };
}

/** A ServiceClient whose calls present the token. */
class AuthedClient extends ServiceClient {
  override call<T = Record<string, unknown>>(method: string, request: object = {}, timeoutMs = 30_000): Promise<T> {
    return super.call<T>(method, request, timeoutMs, bearer(TOKEN));
  }
}

async function stopNode(node: Node | undefined): Promise<void> {
  if (!node) return;
  node.ha.close();
  node.sessions.close();
  await node.daemon.stop();
}

/** Injects one packet; the translated packet, or undefined when it was dropped. */
function pass(node: Node, p: Uint8Array): ReturnType<typeof fields> | undefined {
  let out: Uint8Array | undefined;
  node.port.onTransmit = (buf, length) => (out = buf.slice(0, length));
  node.port.inject(p);
  return out && fields(out);
}

const fromClient = (node: Node, protocol: 'tcp' | 'udp', clientPort: number, tcpFlags = 0, payload = new Uint8Array(0)) =>
  pass(node, packet({ protocol, source: CLIENT, destination: SERVICE, sourcePort: clientPort, destinationPort: protocol === 'tcp' ? TCP_PORT : UDP_PORT, tcpFlags, payload }));
const fromTarget = (node: Node, protocol: 'tcp' | 'udp', to: { address: string; port: number }, tcpFlags = 0, payload = new Uint8Array(0)) =>
  pass(node, packet({ protocol, source: TARGET, destination: to.address, sourcePort: TARGET_PORT, destinationPort: to.port, tcpFlags, payload }));

/** A TCP handshake and some bytes; the address and port the target saw (the SNAT binding). */
function tcpFlow(node: Node, clientPort: number): { address: string; port: number } {
  const syn = fromClient(node, 'tcp', clientPort, TCP_SYN)!;
  expect(syn).toMatchObject({ destination: TARGET, destinationPort: TARGET_PORT, source: SNAT });
  const seen = { address: syn.source, port: syn.sourcePort };
  expect(fromTarget(node, 'tcp', seen, TCP_SYN | TCP_ACK)).toMatchObject({ sourcePort: TCP_PORT, destinationPort: clientPort });
  expect(fromClient(node, 'tcp', clientPort, TCP_ACK, new Uint8Array(100))).toBeDefined();
  return seen;
}

async function until<T>(what: string, read: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await read();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const role = (node: Node) => node.ha.call<WireRole>('GetRole', {});
const sessionCount = async (node: Node) => Number((await node.sessions.call<{ total: string }>('GetSessionSummary', {})).total);

describe('HA session sync between two daemons', () => {
  let active: Node | undefined;
  let standby: Node | undefined;

  beforeEach(async () => {
    active = await startNode({ initialRole: 'active', heartbeatMs: HEARTBEAT_MS }, '127.0.0.1:0');
    standby = await startNode({ peer: { address: active.daemon.target, token: TOKEN }, node: 'standby-1', heartbeatMs: HEARTBEAT_MS });
  });

  afterEach(async () => {
    await stopNode(standby);
    await stopNode(active);
    standby = active = undefined;
  });

  it('imports the active\'s flows with their NAT bindings, follows closes, refuses new flows, and forwards them after takeover', async () => {
    const a = active!;
    const b = standby!;
    expect((await role(b)).role).toBe('HA_ROLE_STANDBY');
    await until('in sync', () => role(b), (r) => r.sync!.state === 'SYNC_STATE_IN_SYNC');

    const bindings = [41_000, 41_001, 41_002].map((p) => tcpFlow(a, p));
    expect(fromClient(a, 'udp', 42_000, 0, new Uint8Array(20))).toMatchObject({ destination: TARGET, source: CLIENT, sourcePort: 42_000 });
    await until('4 sessions on the standby', () => sessionCount(b), (n) => n === 4);
    // A flow the active closes goes on the standby too.
    fromClient(a, 'tcp', 41_002, TCP_RST);
    expect(await until('the closed flow gone', () => b.sessions.call<{ sessions: { client: { port: number }; state: string }[] }>('ListSessions', {}),
      (r) => r.sessions.some((s) => s.client.port === 41_002 && s.state === 'closed') || !r.sessions.some((s) => s.client.port === 41_002))).toBeDefined();
    const listed = await b.sessions.call<{ sessions: { client: { port: number }; upstream_local?: { address: string; port: number }; state: string }[] }>('ListSessions', {});
    const web0 = listed.sessions.find((s) => s.client.port === 41_000)!;
    expect(web0.state).toBe('established');
    expect(web0.upstream_local).toEqual(bindings[0]);

    // The standby refuses flows of its own.
    expect(fromClient(b, 'tcp', 43_000, TCP_SYN)).toBeUndefined();
    const status = await role(b);
    expect(Number(status.sync!.sessions_imported)).toBeGreaterThanOrEqual(4);
    const activeView = await role(a);
    expect(activeView.sync!.state).toBe('SYNC_STATE_IN_SYNC');

    // Takeover: the active is gone; the standby becomes active and carries the established flows with the same bindings.
    await stopNode(a);
    active = undefined;
    await b.ha.call('SetRole', { role: 'HA_ROLE_ACTIVE', reason: 'test takeover' });
    const mid = fromClient(b, 'tcp', 41_000, TCP_ACK, new Uint8Array(50))!;
    expect(mid).toMatchObject({ source: bindings[0]!.address, sourcePort: bindings[0]!.port, destination: TARGET, destinationPort: TARGET_PORT, checksumsOk: true });
    expect(fromTarget(b, 'tcp', bindings[1]!, TCP_ACK, new Uint8Array(60))).toMatchObject({ source: SERVICE, sourcePort: TCP_PORT, destinationPort: 41_001, checksumsOk: true });
    expect(fromClient(b, 'udp', 42_000, 0, new Uint8Array(20))).toMatchObject({ destination: TARGET, sourcePort: 42_000 });
    // New flows are admitted now.
    expect(fromClient(b, 'tcp', 43_001, TCP_SYN)).toMatchObject({ destination: TARGET });
    // And closing one on the new active works as on any session.
    fromClient(b, 'tcp', 41_001, TCP_FIN | TCP_ACK);
    expect(fromTarget(b, 'tcp', bindings[1]!, TCP_FIN | TCP_ACK)).toBeDefined();
  });

  it('a broken stream resumes after the acknowledged sequence; a restarted active is a fresh bulk sync', async () => {
    const a = active!;
    const b = standby!;
    await until('in sync', () => role(b), (r) => r.sync!.state === 'SYNC_STATE_IN_SYNC');
    tcpFlow(a, 41_100);
    await until('1 session', () => sessionCount(b), (n) => n === 1);
    const before = await role(b);
    expect(before.sync!.bulk_syncs).toBe('1');

    // Break the stream from the standby's side (it stops following, then follows again): events made meanwhile are replayed.
    await b.ha.call('SetRole', { role: 'HA_ROLE_ACTIVE' });
    // While b is active the sessions it imported stay; make it a standby again before the active changes more.
    tcpFlow(a, 41_101);
    tcpFlow(a, 41_102);
    await b.ha.call('SetRole', { role: 'HA_ROLE_STANDBY' });
    await until('3 sessions', () => sessionCount(b), (n) => n === 3);
    const resumed = await until('in sync again', () => role(b), (r) => r.sync!.state === 'SYNC_STATE_IN_SYNC');
    expect(resumed.sync!.bulk_syncs).toBe('1');
    const served = await role(a);
    expect(Number(served.sync!.resent_events)).toBeGreaterThanOrEqual(2);

    // The active restarts (new process, new backend epoch, no sessions): the standby resyncs and drops what the active no longer has.
    const address = a.daemon.target;
    await stopNode(a);
    active = await startNode({ initialRole: 'active', heartbeatMs: HEARTBEAT_MS }, address);
    await until('reconnected with an empty table', () => sessionCount(b), (n) => n === 0, 15_000);
    const after = await until('in sync with the new epoch', () => role(b), (r) => r.sync!.state === 'SYNC_STATE_IN_SYNC');
    expect(Number(after.sync!.reconnects)).toBeGreaterThanOrEqual(1);
    expect(Number(after.sync!.bulk_syncs)).toBeGreaterThanOrEqual(2);
    tcpFlow(active, 41_200);
    await until('the new active\'s flow', () => sessionCount(b), (n) => n === 1);
  });

  it('rejects a bad role and refuses a sync stream on a standby', async () => {
    const b = standby!;
    const err = await b.ha.call('SetRole', { role: 'HA_ROLE_UNSPECIFIED' }).catch((e: unknown) => e as { code: number; details: string });
    expect(err).toMatchObject({ code: 3 });
    expect((err as { details: string }).details).toContain('role');
    // A standby serves no sync: a node following it would follow nothing.
    const Ctor = serviceClient('HAService');
    const client = new Ctor(b.daemon.target, grpc.credentials.createInsecure());
    const call = (client as unknown as { SyncSessions(m: grpc.Metadata): grpc.ClientDuplexStream<object, object> }).SyncSessions(bearer(TOKEN));
    const refused = await new Promise<grpc.ServiceError>((resolve) => {
      call.on('error', resolve);
      call.on('data', () => undefined);
      call.write({ hello: { node: 'probe' } });
    });
    client.close();
    expect(refused.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(refused.details).toContain('standby');
  });
});
