/**
 * `portplane hash-token` end to end: the token it prints admits the client
 * with the role of the policy entries it prints, which hold only the hash.
 */
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO, removeDir, startDaemon, stopDaemon, tempStateDir, type DaemonProcess } from '../helpers/daemon-process.js';
import { freePort, roundTrip, startEchoServer, type EchoServer } from '../helpers/tcp.js';

function cli(args: string[], env: Record<string, string> = {}, stdin?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(REPO, 'src/cli/main.ts'), ...args], {
      cwd: REPO,
      env: { ...process.env, ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    child.stdin.end(stdin ?? '');
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`portplane ${args.join(' ')} timed out`));
    }, 60_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('portplane hash-token', () => {
  let dir: string;
  let daemon: DaemonProcess;
  let echo: EchoServer;
  let adminToken: string;
  let readerToken: string;

  beforeAll(async () => {
    dir = await tempStateDir();
    const admin = await cli(['hash-token', 'deployer', '--role', 'admin', '--tables', 'web,web-*']);
    expect(admin.code).toBe(0);
    adminToken = admin.stdout.split('\n').find((l) => l.startsWith('deployer.'))!;
    const policy = admin.stdout.slice(admin.stdout.indexOf('tokens:'));
    expect(policy).not.toContain(adminToken.split('.')[1]);
    // A token made elsewhere is hashed from standard input; only a long enough secret is accepted.
    readerToken = `viewer.${'k'.repeat(40)}`;
    const reader = await cli(['hash-token', 'viewer', '--stdin'], {}, `${readerToken}\n`);
    expect(reader.code).toBe(0);
    expect((await cli(['hash-token', 'viewer', '--stdin'], {}, 'viewer.short')).code).toBe(1);
    const readerHash = /viewer: (sha256:[0-9a-f]{64})/.exec(reader.stdout)![1];
    await writeFile(join(dir, 'policy.yaml'), `${policy.replace('grants:', `  viewer: ${readerHash}\ngrants:\n  - { token: viewer, role: reader }`)}\n`);
    daemon = await startDaemon(join(dir, 'state'), ['--auth-policy', join(dir, 'policy.yaml')]);
    echo = await startEchoServer();
  });
  afterAll(async () => {
    await stopDaemon(daemon);
    await echo.close();
    await removeDir(dir);
  });

  it('admits the token it made with the role and tables it printed', async () => {
    const port = await freePort();
    const file = join(dir, 'web.yaml');
    await writeFile(file, `tables:\n  - name: web\n    rules:\n      - {protocol: tcp, listen_address: 127.0.0.1, ports: "${port}", target_address: 127.0.0.1, target_port: ${echo.port}}\n`);
    const state = ['--state-dir', join(dir, 'state')];
    const applied = await cli([...state, 'apply', file], { PORTPLANE_TOKEN: adminToken });
    expect(applied.stderr).toBe('');
    expect(applied.stdout).toContain('generation 1 (applied)');
    expect((await roundTrip(port, 'via token')).toString()).toBe('via token');

    const status = await cli([...state, '--token', readerToken, 'status']);
    expect(status.stdout).toContain('generation 1');
    const refused = await cli([...state, '--token', readerToken, 'apply', file]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('token:viewer may not call /portplane.v1.ConfigService/ApplyConfig');
    // Without a token the owner is not in this policy.
    const anonymous = await cli([...state, 'status']);
    expect(anonymous.code).toBe(1);
    expect(anonymous.stderr).toContain('may not call');
  });
});
