/**
 * Acceptance: the TCP control listener. Off loopback it refuses to start
 * without TLS, before binding anything; with mutual TLS a client without a
 * certificate, or with one the daemon's CA did not sign, is turned away, and
 * a trusted one gets the role the policy gives its subject or SAN. Rules may
 * neither take the control port nor forward into it. All traffic is on
 * loopback: the one non-loopback listener is reached through 127.0.0.1.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeStatusDetails } from '../../src/server/status-details.js';
import { callError, REPO, removeDir, ServiceClient, startDaemon, stopDaemon, tempStateDir, type DaemonProcess } from '../helpers/daemon-process.js';
import { makePki, type Pki } from '../helpers/pki.js';
import { freePort, startEchoServer, type EchoServer } from '../helpers/tcp.js';

const MAIN = join(REPO, 'src/cli/main.ts');

/** Runs the CLI to its exit. */
function cli(args: string[], timeoutMs = 60_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`portplane ${args.join(' ')} did not exit within ${timeoutMs} ms: ${stderr}`));
    }, timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

function hold(host: string, port: number): Promise<Server> {
  const server = createServer();
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port, exclusive: true }, () => resolve(server));
  });
}

describe('a TCP listener off loopback', () => {
  it.each(['0.0.0.0', '[::]', ''])('refuses to start without TLS on %s, before binding anything', async (host) => {
    const port = await freePort('0.0.0.0');
    // Held while the daemon starts: had it tried to bind, it would fail with EADDRINUSE instead.
    const held = await hold('0.0.0.0', port);
    const parent = await tempStateDir();
    const stateDir = join(parent, 'state');
    try {
      const run = await cli(['--state-dir', stateDir, 'serve', '--listen', `${host}:${port}`]);
      expect(run.code).toBe(1);
      expect(run.stderr).toContain('without TLS');
      expect(run.stderr).not.toContain('EADDRINUSE');
      // Not even the state directory was created: the refusal comes first.
      expect(existsSync(stateDir)).toBe(false);
    } finally {
      await new Promise((r) => held.close(r));
      await removeDir(parent);
    }
  });
});

describe('mutual TLS', () => {
  let pki: Pki;
  let daemon: DaemonProcess;
  let port: number;
  let echo: EchoServer;

  const client = (name?: string, ca = 'ca'): ServiceClient =>
    new ServiceClient(
      'ConfigService',
      `127.0.0.1:${port}`,
      grpc.credentials.createSsl(
        Buffer.from(readFileSyncCache.get(pki.cert(ca))!),
        name ? Buffer.from(readFileSyncCache.get(pki.key(name))!) : null,
        name ? Buffer.from(readFileSyncCache.get(pki.cert(name))!) : null,
      ),
    );
  const readFileSyncCache = new Map<string, Buffer>();

  beforeAll(async () => {
    pki = await makePki(await tempStateDir());
    for (const name of ['ca', 'rogue-ca', 'admin', 'reader', 'rogue']) {
      for (const path of [pki.cert(name), pki.key(name)]) readFileSyncCache.set(path, await readFile(path));
    }
    // Subject parts in another order than the certificate's: matching ignores order.
    await writeFile(
      join(pki.dir, 'policy.yaml'),
      'grants:\n  - { cert_subject: "CN=ctrl-admin, O=Acme", role: admin }\n  - { cert_san: "DNS:reader.ctrl.test", role: reader }\n',
    );
    port = await freePort();
    daemon = await startDaemon(
      await tempStateDir(),
      ['--listen', `127.0.0.1:${port}`, '--tls-cert', pki.cert('server'), '--tls-key', pki.key('server'),
        '--tls-client-ca', pki.cert('ca'), '--auth-policy', join(pki.dir, 'policy.yaml')],
      { tcpPort: port },
    );
    echo = await startEchoServer();
  });
  afterAll(async () => {
    await stopDaemon(daemon);
    await removeDir(daemon.stateDir);
    await removeDir(pki.dir);
    await echo.close();
  });

  it('turns away a client without a certificate, with an untrusted one, and one in clear text', async () => {
    for (const c of [client(), client('rogue'), new ServiceClient('ConfigService', `127.0.0.1:${port}`)]) {
      try {
        const err = await callError(c.call('GetCapabilities', {}, 10_000));
        expect(err.code).toBe(grpc.status.UNAVAILABLE);
      } finally {
        c.close();
      }
    }
  });

  it('admits a trusted certificate with the role of its subject, another with the role of its SAN', async () => {
    const admin = client('admin');
    const reader = client('reader');
    try {
      const res = await admin.call<{ result: { generation: string } }>('ApplyConfig', {
        tables: [{ name: 'web', rules: [{ protocol: 'PROTOCOL_TCP', listen_address: '127.0.0.1', ports: { first: await freePort() }, target_address: '127.0.0.1', target_port: echo.port }] }],
      });
      expect(res.result.generation).toBe('1');
      expect((await reader.call<{ generation: string }>('GetConfig')).generation).toBe('1');
      const err = await callError(reader.call('ApplyConfig', { tables: [] }));
      expect(err.code).toBe(grpc.status.PERMISSION_DENIED);

      // The daemon's stdout arrives asynchronously: wait (bounded) for both lines.
      let audit: Record<string, unknown>[] = [];
      for (let i = 0; i < 200 && audit.length < 2; i++) {
        audit = daemon.logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.audit === true);
        if (audit.length < 2) await new Promise((r) => setTimeout(r, 25));
      }
      expect(audit.find((l) => l.outcome === 'OK')).toMatchObject({
        caller: { kind: 'tls', id: 'cert:O=Acme,CN=ctrl-admin', subject: 'O=Acme,CN=ctrl-admin', san: ['DNS:admin.ctrl.test'] },
        method: '/portplane.v1.ConfigService/ApplyConfig',
        tables: ['web'],
        generationBefore: 0,
        generationAfter: 1,
      });
      expect(audit.find((l) => l.outcome === 'PERMISSION_DENIED')).toMatchObject({ caller: { id: 'cert:CN=ctrl-reader' }, refused: true });
    } finally {
      admin.close();
      reader.close();
    }
  });

  it('rejects rules that listen on or forward into the control port, with their field paths', async () => {
    const admin = client('admin');
    try {
      const rule = (listen: number, target: number): object => ({
        protocol: 'PROTOCOL_TCP', listen_address: '127.0.0.1', ports: { first: listen }, target_address: '127.0.0.1', target_port: target,
      });
      const other = await freePort();
      const err = await callError(admin.call('ApplyConfig', { tables: [{ name: 'evil', rules: [rule(port, echo.port), rule(other, port)] }] }));
      expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
      const bad = decodeStatusDetails(err.metadata).find((d) => d.type === 'BadRequest');
      const fields = bad?.type === 'BadRequest' ? bad.fieldViolations : [];
      expect(fields.map((f) => f.field).sort()).toEqual(['tables[evil].rules[0].ports', 'tables[evil].rules[1].target_address']);
      expect(fields.map((f) => f.description)).toEqual(fields.map(() => expect.stringContaining('gRPC control listener')));
      expect((await admin.call<{ generation: string }>('GetConfig')).generation).toBe('1');
    } finally {
      admin.close();
    }
  });

  it('the CLI talks mutual TLS too', async () => {
    const run = await cli(['--address', `127.0.0.1:${port}`, '--ca', pki.cert('ca'), '--cert', pki.cert('reader'), '--key', pki.key('reader'), 'get']);
    expect(run.stderr).toContain('generation 1');
    expect(run.code).toBe(0);
  });
});

describe('TLS off loopback', () => {
  it('starts on every address once it has TLS (reached here through 127.0.0.1)', async () => {
    const pki = await makePki(await tempStateDir());
    const port = await freePort('0.0.0.0');
    await writeFile(join(pki.dir, 'policy.yaml'), 'grants:\n  - { cert_san: "DNS:reader.ctrl.test", role: reader }\n');
    const daemon = await startDaemon(
      await tempStateDir(),
      ['--listen', `0.0.0.0:${port}`, '--tls-cert', pki.cert('server'), '--tls-key', pki.key('server'),
        '--tls-client-ca', pki.cert('ca'), '--auth-policy', join(pki.dir, 'policy.yaml')],
      { tcpPort: port },
    );
    const reader = new ServiceClient(
      'ConfigService',
      `127.0.0.1:${port}`,
      grpc.credentials.createSsl(await readFile(pki.cert('ca')), await readFile(pki.key('reader')), await readFile(pki.cert('reader'))),
    );
    try {
      const caps = await reader.call<{ api_version: string }>('GetCapabilities');
      expect(caps.api_version).toBe('portplane.v1');
    } finally {
      reader.close();
      await stopDaemon(daemon);
      await removeDir(daemon.stateDir);
      await removeDir(pki.dir);
    }
  });
});
