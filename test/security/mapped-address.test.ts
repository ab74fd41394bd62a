/**
 * Finding 1 of the hardening issue (#17): IPv4-mapped IPv6 addresses are the
 * IPv4 addresses they carry, everywhere. The attack: a tenant with a
 * table-scoped token forwards a port to ::ffff:127.0.0.1:<the daemon's TCP
 * control listener>; whoever connects through that forward reaches the
 * control plane from the daemon's own socket, and was identified by
 * /proc/net/tcp as the daemon's uid, i.e. admin. Reproduced against a real
 * daemon process, with its own TCP listener, policy and tokens.
 */
import { writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateToken, hashToken } from '../../src/auth/tokens.js';
import { decodeStatusDetails } from '../../src/server/status-details.js';
import { bearer, callError, removeDir, ServiceClient, startDaemon, stopDaemon, tempStateDir, type DaemonProcess } from '../helpers/daemon-process.js';
import { freePort, roundTrip, startEchoServer, type EchoServer } from '../helpers/tcp.js';

const TENANT = generateToken('tenant-a');
const OWNER_UID = process.getuid?.() ?? 0;

const fieldsOf = (err: grpc.ServiceError): { field: string; description: string }[] => {
  const bad = decodeStatusDetails(err.metadata).find((d) => d.type === 'BadRequest');
  return bad?.type === 'BadRequest' ? bad.fieldViolations : [];
};

const rule = (name: string, listen: string, port: number, target: string, targetPort: number, extra: object = {}): object => ({
  name,
  protocol: 'PROTOCOL_TCP',
  listen_address: listen,
  ports: { first: port, last: port },
  target_address: target,
  target_port: targetPort,
  ...extra,
});

describe('IPv4-mapped addresses against a real daemon with a TCP control listener', () => {
  let dir: string;
  let daemon: DaemonProcess;
  let controlPort: number;
  let admin: ServiceClient;
  let echo: EchoServer;
  const asTenant = (method: string, request: object): Promise<unknown> => admin.call(method, request, 10_000, bearer(TENANT));

  beforeAll(async () => {
    dir = await tempStateDir();
    const policy = join(dir, 'policy.yaml');
    // The daemon owner is admin by uid (as a host's operator sets it up); the tenant may only touch its own table.
    await writeFile(
      policy,
      `tokens:\n  tenant-a: ${hashToken(TENANT)}\ngrants:\n  - { uid: ${OWNER_UID}, role: admin }\n  - { token: tenant-a, role: admin, tables: [tenant-a] }\n`,
    );
    controlPort = await freePort();
    daemon = await startDaemon(join(dir, 'state'), ['--listen', `127.0.0.1:${controlPort}`, '--auth-policy', policy], { tcpPort: controlPort });
    admin = new ServiceClient('ConfigService', daemon.target);
    echo = await startEchoServer();
    // Another tenant's table, which the attack would replace.
    await admin.call('ApplyConfig', { tables: [{ name: 'tenant-b', rules: [rule('b', '127.0.0.1', await freePort(), '127.0.0.1', echo.port)] }] });
  });
  afterAll(async () => {
    admin?.close();
    if (daemon) await stopDaemon(daemon);
    await echo?.close();
    await removeDir(dir);
  });

  it.each(['::ffff:127.0.0.1', '::ffff:7f00:1', '0:0:0:0:0:ffff:7f00:1', '::FFFF:127.0.0.1'])(
    'rejects a tenant rule targeting the control listener as %s, and a call through its port is not admin',
    async (target) => {
      const port = await freePort();
      const err = await callError(asTenant('ApplyConfig', { tables: [{ name: 'tenant-a', rules: [rule('loop', '127.0.0.1', port, target, controlPort)] }] }));
      expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
      expect(fieldsOf(err)).toEqual([
        { field: 'tables[tenant-a].rules[0].target_address', description: expect.stringContaining("portplane's gRPC control listener") },
      ]);
      // The attack's second half: through the forwarded port, replace every table. Nothing listens there now;
      // were it forwarded, the call would come from the daemon's own socket and must not be taken for the owner.
      const through = new ServiceClient('ConfigService', `127.0.0.1:${port}`);
      try {
        const attack = await callError(through.call('ApplyConfig', { tables: [], replace_all: true }, 3000));
        expect(attack.code).not.toBe(grpc.status.OK);
      } finally {
        through.close();
      }
      const config = await admin.call<{ tables: { name: string }[] }>('GetConfig', {});
      expect(config.tables.map((t) => t.name)).toEqual(['tenant-b']);
    },
  );

  it('rejects ::ffff:0.0.0.0 as a target: it is the IPv4 any-address, this host', async () => {
    const err = await callError(
      asTenant('ApplyConfig', { tables: [{ name: 'tenant-a', rules: [rule('any', '127.0.0.1', await freePort(), '::ffff:0.0.0.0', controlPort)] }] }),
    );
    expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(fieldsOf(err).map((f) => f.field)).toEqual(['tables[tenant-a].rules[0].target_address']);
  });

  it('rejects a self-loop through a mapped target (one connection would become thousands of sessions)', async () => {
    const port = await freePort();
    const err = await callError(asTenant('ApplyConfig', { tables: [{ name: 'tenant-a', rules: [rule('self', '127.0.0.1', port, '::ffff:127.0.0.1', port)] }] }));
    expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(fieldsOf(err)).toEqual([{ field: 'tables[tenant-a].rules[0].target_address', description: expect.stringContaining('loop back into portplane') }]);
  });

  it('reports a listener on ::ffff:127.0.0.1 beside one on 127.0.0.1 as a conflict at validation, not EADDRINUSE at bind', async () => {
    const port = await freePort();
    const err = await callError(
      asTenant('ApplyConfig', {
        tables: [{ name: 'tenant-a', rules: [rule('v4', '127.0.0.1', port, '127.0.0.1', echo.port), rule('mapped', '::ffff:127.0.0.1', port, '127.0.0.1', echo.port)] }],
      }),
    );
    expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(fieldsOf(err).map((f) => f.field)).toEqual(['tables[tenant-a].rules[1].ports']);
  });

  it('applies mapped source filters as the IPv4 blocks they are: deny ::ffff:127.0.0.1 refuses a 127.0.0.1 client, allow ::ffff:127.0.0.0/104 admits it', async () => {
    const denied = await freePort();
    const allowed = await freePort();
    await asTenant('ApplyConfig', {
      tables: [
        {
          name: 'tenant-a',
          rules: [
            rule('denied', '127.0.0.1', denied, '127.0.0.1', echo.port, { deny: ['::ffff:127.0.0.1'] }),
            rule('allowed', '127.0.0.1', allowed, '127.0.0.1', echo.port, { allow: ['::ffff:127.0.0.0/104'] }),
          ],
        },
      ],
    });
    const config = await admin.call<{ tables: { name: string; rules: { name: string; allow: string[]; deny: string[] }[] }[] }>('GetConfig', {});
    const rules = config.tables.find((t) => t.name === 'tenant-a')!.rules;
    expect(rules.find((r) => r.name === 'denied')!.deny).toEqual(['127.0.0.1/32']);
    expect(rules.find((r) => r.name === 'allowed')!.allow).toEqual(['127.0.0.0/8']);
    expect((await roundTrip(allowed, 'hello')).toString()).toBe('hello');
    await expect(roundTrip(denied, 'hello', '127.0.0.1', 3000)).rejects.toBeDefined();

    // The session filter and Trace take the same canonical form. A session is listed
    // once the daemon accepted it; a completed connect() only means the kernel queued
    // it (docs/api.md, ListSessions), so wait for an echo through it first.
    const sock = connect({ host: '127.0.0.1', port: allowed });
    await new Promise((res) => sock.once('connect', res));
    sock.write('listed?');
    await new Promise((res) => sock.once('data', res));
    try {
      const sessions = new ServiceClient('SessionService', daemon.target);
      const trace = new ServiceClient('TraceService', daemon.target);
      try {
        const listed = await sessions.call<{ sessions: unknown[] }>('ListSessions', { filter: { client_cidr: '::ffff:127.0.0.0/104', table: 'tenant-a' } });
        expect(listed.sessions.length).toBeGreaterThanOrEqual(1);
        const traced = await trace.call<{ verdict: string; filter: string }>('Trace', {
          protocol: 'PROTOCOL_TCP',
          source: { address: '::ffff:127.0.0.1', port: 40000 },
          destination: { address: '::ffff:127.0.0.1', port: denied },
          tcp_flags: { syn: true },
        });
        expect(traced).toMatchObject({ verdict: 'TRACE_VERDICT_DROP', filter: 'FILTER_VERDICT_DENY' });
      } finally {
        sessions.close();
        trace.close();
      }
    } finally {
      sock.destroy();
    }
  });
});
