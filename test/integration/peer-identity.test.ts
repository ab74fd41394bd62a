/**
 * Callers on the UNIX socket are who the kernel says they are. Without a
 * policy the daemon's own uid is admin and nobody else gets in; with
 * --socket-group, members of that group reach the socket and get the role
 * the policy gives them. The tests that need a second user run as root and
 * make their calls from a child process running as nobody.
 */
import { execFile } from 'node:child_process';
import { chmod, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parsePolicy } from '../../src/auth/policy.js';
import { serviceClient } from '../../src/server/api-definition.js';
import { peerCredentialsSupport } from '../../src/server/peer-credentials.js';
import { REPO, ServiceClient } from '../helpers/daemon-process.js';
import { startTestDaemon, type TestDaemon } from '../helpers/in-process-daemon.js';
import { captureLogs, type CapturedLogs } from '../helpers/log-capture.js';
import { freePort, startEchoServer, type EchoServer } from '../helpers/tcp.js';

const run = promisify(execFile);
const NOBODY = 65534;

const secondUserSkip = process.getuid?.() !== 0 ? 'they need root to run a client as uid 65534' : undefined;
const canActAsNobody = secondUserSkip === undefined;
if (!canActAsNobody) console.log(`peer-identity: tests with a second user skipped: ${secondUserSkip}`);

/**
 * The client, bundled into one file in a directory every uid can read: uid
 * 65534 may not be able to read this checkout (a clone under a 0700 home),
 * so it must not need tsx, node_modules or the sources.
 */
let clientDir: string | undefined;
async function bundledClient(): Promise<string> {
  if (!clientDir) {
    clientDir = await mkdtemp(join(tmpdir(), 'portplane-peer-client-'));
    await chmod(clientDir, 0o755);
    await build({
      entryPoints: [join(REPO, 'test/helpers/raw-grpc-call.ts')],
      bundle: true,
      platform: 'node',
      format: 'cjs',
      outfile: join(clientDir, 'call.cjs'),
      logLevel: 'error',
    });
    await chmod(join(clientDir, 'call.cjs'), 0o644);
  }
  return join(clientDir, 'call.cjs');
}
afterAll(async () => {
  if (clientDir) await rm(clientDir, { recursive: true, force: true });
});

/** A ConfigService call made by a separate process, as nobody:nogroup unless `asSelf`. */
async function callFromProcess(
  target: string,
  method: string,
  request: object = {},
  asSelf = false,
): Promise<{ code: number; details: string; response: unknown }> {
  const definition = (serviceClient('ConfigService') as unknown as { service: grpc.ServiceDefinition }).service[method];
  if (!definition) throw new Error(`no method ${method}`);
  const { stdout } = await run(process.execPath, [await bundledClient(), target, definition.path, definition.requestSerialize(request).toString('hex')], {
    cwd: tmpdir(),
    ...(asSelf ? {} : { uid: NOBODY, gid: NOBODY }),
    timeout: 60_000,
    env: { ...process.env, HOME: '/tmp' },
  });
  const out = JSON.parse(stdout.trim().split('\n').at(-1)!) as { code: number; details: string; response: string | null };
  return { ...out, response: out.response === null ? null : definition.responseDeserialize(Buffer.from(out.response, 'hex')) };
}

const callAsNobody = (target: string, method: string, request: object = {}): ReturnType<typeof callFromProcess> =>
  callFromProcess(target, method, request);

describe('without a policy', () => {
  let d: TestDaemon;
  let logs: CapturedLogs;
  let echo: EchoServer;

  beforeAll(async () => {
    logs = captureLogs();
    d = await startTestDaemon({ logger: logs.logger });
    echo = await startEchoServer();
  });
  afterAll(async () => {
    await d.stop();
    await echo.close();
  });

  it('admits the daemon owner as admin, identified by peer credentials (pid included)', async () => {
    const client = new ServiceClient('ConfigService', d.target);
    try {
      await client.call('ApplyConfig', {
        tables: [{ name: 'web', rules: [{ protocol: 'PROTOCOL_TCP', listen_address: '127.0.0.1', ports: { first: await freePort() }, target_address: '127.0.0.1', target_port: echo.port }] }],
      });
    } finally {
      client.close();
    }
    const line = logs.audit().find((l) => l.outcome === 'OK');
    const support = peerCredentialsSupport();
    expect(line?.caller).toMatchObject(
      support.available
        ? { kind: 'unix', id: `uid:${process.getuid?.()}`, uid: process.getuid?.(), gid: process.getgid?.(), pid: process.pid, credentials: 'peercred' }
        : { kind: 'unix', id: `uid:${process.getuid?.()}`, credentials: 'socket-mode' },
    );
  });

  it('admits the owner over loopback TCP too, identified by the kernel socket table', async () => {
    const tcpLogs = captureLogs();
    const onTcp = await startTestDaemon({ listen: '127.0.0.1:0', logger: tcpLogs.logger });
    // From another process: a socket of the daemon's own process is never identified by uid (test/security/own-socket-identity.test.ts).
    try {
      const res = await callFromProcess(onTcp.target, 'ApplyConfig', { tables: [] }, true);
      expect(res.code).toBe(0);
      expect(tcpLogs.audit()[0]).toMatchObject({
        outcome: 'OK',
        caller: { kind: 'tcp', id: `uid:${process.getuid?.()}`, uid: process.getuid?.(), credentials: 'proc-net' },
      });
    } finally {
      await onTcp.stop();
    }
  });

  it.skipIf(!canActAsNobody)('turns away any other uid, even one that can reach the socket', async () => {
    // The socket file is 0600: nobody cannot even connect, so make the check meaningful through a group.
    const grouped = await startTestDaemon({ socketGroup: NOBODY });
    try {
      const res = await callAsNobody(grouped.target, 'GetConfig');
      expect(res.code).toBe(grpc.status.PERMISSION_DENIED);
      expect(res.details).toContain(`uid:${NOBODY}`);
    } finally {
      await grouped.stop();
    }
  });
});

describe.skipIf(!canActAsNobody)('with --socket-group and a policy for that group', () => {
  let d: TestDaemon;

  beforeAll(async () => {
    d = await startTestDaemon({
      socketGroup: NOBODY,
      policy: parsePolicy(`grants:\n  - { uid: 0, role: admin }\n  - { gid: ${NOBODY}, role: reader }\n`, 'test policy'),
    });
  });
  afterAll(async () => {
    await d.stop();
  });

  it('makes the socket 0660 and the state directory 0710 for the group', async () => {
    const socket = await stat(join(d.stateDir, 'portplane.sock'));
    expect(socket.mode & 0o777).toBe(0o660);
    expect(socket.gid).toBe(NOBODY);
    const dir = await stat(d.stateDir);
    expect(dir.mode & 0o777).toBe(0o710);
    expect(dir.gid).toBe(NOBODY);
  });

  it('gives a group member the reader role: it reads, it cannot apply', async () => {
    const read = await callAsNobody(d.target, 'GetConfig');
    expect(read.code).toBe(0);
    const apply = await callAsNobody(d.target, 'ApplyConfig', { tables: [] });
    expect(apply.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(apply.details).toContain(`uid:${NOBODY} may not call /portplane.v1.ConfigService/ApplyConfig`);
  });
});
