/**
 * The `portplane` command against a real daemon process: apply (compact
 * port form in YAML), plan, status, get, error output, and a graceful
 * SIGTERM shutdown.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO, removeDir, startDaemon, stopDaemon, tempStateDir, type DaemonProcess } from '../helpers/daemon-process.js';
import { listeningSocketInodes } from '../helpers/proc-net.js';
import { freePortBlock, roundTrip, startEchoServer, type EchoServer } from '../helpers/tcp.js';

const run = promisify(execFile);

async function cli(stateDir: string, ...args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', join(REPO, 'src/cli/main.ts'), '--state-dir', stateDir, ...args], {
      cwd: REPO,
    });
    return { stdout, stderr, code: 0 };
  } catch (err) {
    const e = err as { stdout: string; stderr: string; code: number };
    return { stdout: e.stdout, stderr: e.stderr, code: e.code };
  }
}

describe('portplane CLI', () => {
  let stateDir: string;
  let daemon: DaemonProcess;
  let echo: EchoServer;
  let base: number;

  beforeAll(async () => {
    stateDir = await tempStateDir();
    daemon = await startDaemon(stateDir);
    echo = await startEchoServer('127.0.0.1', 'E:');
    base = await freePortBlock(10);
  });
  afterAll(async () => {
    await stopDaemon(daemon);
    await echo.close();
    await removeDir(stateDir);
  });

  it('status before any apply says so and what to do, exit 1', async () => {
    const res = await cli(stateDir, 'status');
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/no apply has succeeded yet: generation 0, nothing is forwarded; .*portplane apply FILE/);
  });

  it('plan, apply, status and get', async () => {
    const file = join(stateDir, 'web.yaml');
    await writeFile(
      file,
      [
        'tables:',
        '  - name: web',
        '    rules:',
        '      - name: http',
        '        protocol: tcp',
        '        listen_address: 127.0.0.1',
        `        ports: "${base}-${base + 4},~${base + 2}"`,
        '        target_address: 127.0.0.1',
        `        target_port: ${echo.port}`,
      ].join('\n'),
    );
    const plan = await cli(stateDir, 'plan', file);
    expect(plan.code).toBe(0);
    expect(plan.stdout).toContain('plan against generation 0');
    expect(plan.stdout).toContain('added    web/http');
    expect(plan.stdout).toContain(`open     tcp 127.0.0.1:${base} -> 127.0.0.1:${echo.port}`);
    expect(await listeningSocketInodes(base)).toEqual([]);

    const apply = await cli(stateDir, 'apply', file);
    expect(apply.code).toBe(0);
    expect(apply.stdout).toMatch(/generation 1 \(applied\) on backend kernel/);
    expect(apply.stdout).toMatch(/active\s+web\/http ports 4 bound/);
    expect((await roundTrip(base, 'cli')).toString()).toBe('E:cli');
    expect(await listeningSocketInodes(base + 2)).toEqual([]);

    const status = await cli(stateDir, 'status');
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/generation 1 \(applied\)/);
    expect(status.stdout).toMatch(/digest [0-9a-f]{64}/);

    const get = await cli(stateDir, 'get');
    expect(get.code).toBe(0);
    const running = JSON.parse(get.stdout) as { expected_generation: number; tables: { name: string; rules: { exclude: unknown[] }[] }[] };
    expect(running.expected_generation).toBe(1);
    expect(running.tables[0]?.name).toBe('web');
    expect(running.tables[0]?.rules[0]?.exclude).toEqual([{ first: base + 2, last: base + 2 }]);

    // What `get` prints applies back as a no-op, guarded by its generation.
    const again = join(stateDir, 'again.json');
    await writeFile(again, get.stdout);
    const noop = await cli(stateDir, 'apply', again);
    expect(noop.code).toBe(0);
    expect(noop.stdout).toMatch(/generation 1 \(unchanged\)/);
  });

  it('--version prints the package version', async () => {
    const { version } = JSON.parse(await readFile(join(REPO, 'package.json'), 'utf8')) as { version: string };
    const res = await cli(stateDir, '--version');
    expect(res.code).toBe(0);
    expect(res.stdout.trim()).toBe(version);
  });

  it('prints every violation with its field path and exits 1', async () => {
    const file = join(stateDir, 'bad.json');
    await writeFile(
      file,
      JSON.stringify({
        tables: [
          {
            name: 'web',
            rules: [{ name: 'x', protocol: 'tcp', listen_address: '127.0.0.1', ports: { first: 70000 }, target_address: 'nowhere' }],
          },
        ],
      }),
    );
    const res = await cli(stateDir, 'apply', file);
    expect(res.code).toBe(1);
    expect(res.stderr).toContain('tables[web].rules[0].ports');
    expect(res.stderr).toContain('tables[web].rules[0].target_address');
  });

  it('SIGTERM shuts down gracefully: exit 0, socket gone, ports closed', async () => {
    const own = await tempStateDir();
    const d = await startDaemon(own);
    try {
      const file = join(own, 'one.yaml');
      await writeFile(
        file,
        `tables: [{name: t, rules: [{name: r, protocol: tcp, listen_address: 127.0.0.1, ports: ${base + 7}, target_address: 127.0.0.1, target_port: ${echo.port}}]}]`,
      );
      expect((await cli(own, 'apply', file)).code).toBe(0);
      expect(await listeningSocketInodes(base + 7, d.pid)).toHaveLength(1);
      expect(await stopDaemon(d, 'SIGTERM')).toBe(0);
      expect(existsSync(join(own, 'portplane.sock'))).toBe(false);
      expect(await listeningSocketInodes(base + 7)).toEqual([]);
    } finally {
      await stopDaemon(d);
      await removeDir(own);
    }
  });
});
