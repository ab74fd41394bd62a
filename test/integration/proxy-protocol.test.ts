/**
 * Acceptance: a rule with proxy_protocol V1 or V2 tells a real consumer of
 * the header (nginx, `listen ... proxy_protocol`) the original client
 * address, which nginx logs and echoes. Clients connect from 127.0.0.2 and
 * ::1 so the original address differs from the forwarder's own.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureCommand } from '../helpers/apt.js';
import { ServiceClient } from '../helpers/daemon-process.js';
import { startTestDaemon, type TestDaemon } from '../helpers/in-process-daemon.js';
import { freePort, freePortBlock } from '../helpers/tcp.js';

const unavailable = await ensureCommand('nginx', 'nginx');
if (unavailable) console.warn(`skipping PROXY protocol tests: ${unavailable}`);

/** Sends an HTTP/1.0 GET from `localAddress` and returns the whole response. */
function httpGet(host: string, port: number, localAddress: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port, localAddress });
    let text = '';
    const timer = setTimeout(() => socket.destroy(new Error(`no answer from ${host}:${port}`)), 15_000);
    socket.on('connect', () => socket.write('GET / HTTP/1.0\r\nHost: test\r\n\r\n'));
    socket.on('data', (c: Buffer) => (text += c.toString()));
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(text);
    });
  });
}

async function waitForPort(host: string, port: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect({ host, port });
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nginx did not listen on ${host}:${port}`);
}

describe.skipIf(unavailable !== undefined)('PROXY protocol to a real consumer (nginx)', () => {
  let dir: string;
  let nginx: ChildProcess;
  let nginxPort: number;
  let nginxPort6: number;
  let d: TestDaemon;
  let client: ServiceClient;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'portplane-nginx-'));
    nginxPort = await freePort();
    nginxPort6 = await freePort('::1');
    const conf = `
daemon off;
master_process off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log info;
events { worker_connections 64; }
http {
  log_format pp '$proxy_protocol_addr $proxy_protocol_port via $remote_addr';
  access_log ${dir}/access.log pp;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  server {
    listen 127.0.0.1:${nginxPort} proxy_protocol;
    listen [::1]:${nginxPort6} proxy_protocol;
    location / { return 200 "client $proxy_protocol_addr:$proxy_protocol_port\\n"; }
  }
}
`;
    await writeFile(join(dir, 'nginx.conf'), conf);
    nginx = spawn('nginx', ['-p', dir, '-c', join(dir, 'nginx.conf')], { stdio: 'ignore' });
    await waitForPort('127.0.0.1', nginxPort);
    await waitForPort('::1', nginxPort6);
    d = await startTestDaemon();
    client = new ServiceClient('ConfigService', d.target);
  });

  afterAll(async () => {
    client?.close();
    await d?.stop();
    nginx?.kill('SIGTERM');
    await rm(dir, { recursive: true, force: true });
  });

  it('V1 and V2 carry the original IPv4 and IPv6 client address to nginx, which logs it', async () => {
    const base = await freePortBlock(2);
    const rule = (name: string, port: number, version: string, listen: string, target: string, targetPort: number) => ({
      name,
      protocol: 'PROTOCOL_TCP',
      listen_address: listen,
      ports: { first: port },
      target_address: target,
      target_port: targetPort,
      proxy_protocol: version,
    });
    await client.call('ApplyConfig', {
      tables: [
        {
          name: 'pp',
          rules: [
            rule('v1', base, 'PROXY_PROTOCOL_V1', '127.0.0.1', '127.0.0.1', nginxPort),
            rule('v2', base + 1, 'PROXY_PROTOCOL_V2', '::1', '::1', nginxPort6),
            rule('v2four', base, 'PROXY_PROTOCOL_V2', '::1', '127.0.0.1', nginxPort),
          ],
        },
      ],
    });
    const v1 = await httpGet('127.0.0.1', base, '127.0.0.2');
    expect(v1).toMatch(/^HTTP\/1\.1 200/);
    expect(v1).toMatch(/client 127\.0\.0\.2:\d+/);
    const v2 = await httpGet('::1', base + 1, '::1');
    expect(v2).toMatch(/client ::1:\d+/);
    const v2four = await httpGet('::1', base, '::1');
    expect(v2four).toMatch(/client ::1:\d+/);

    const log = await readFile(join(dir, 'access.log'), 'utf8');
    const port1 = /client 127\.0\.0\.2:(\d+)/.exec(v1)?.[1];
    expect(log).toContain(`127.0.0.2 ${port1} via 127.0.0.1`);
    expect(log).toMatch(/^::1 \d+ via ::1$/m);
  });
});
