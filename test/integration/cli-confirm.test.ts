/**
 * The CLI commands of confirmed applies and history, run as real processes
 * against a real daemon: apply --confirm, confirm, cancel, history,
 * rollback and watch.
 */
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO, ServiceClient } from '../helpers/daemon-process.js';
import { startTestDaemon, type TestDaemon } from '../helpers/in-process-daemon.js';
import { freePortBlock, roundTrip, startEchoServer, type EchoServer } from '../helpers/tcp.js';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `portplane ARGS` to completion (or until `until` is seen, then lets it finish). */
function portplane(stateDir: string, args: string[], onStdout?: (text: string) => void): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(REPO, 'src/cli/main.ts'), '--state-dir', stateDir, ...args], {
      cwd: REPO,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`portplane ${args.join(' ')} did not finish within 30 s: ${stdout}${stderr}`));
    }, 30_000);
    child.stdout.setEncoding('utf8').on('data', (c: string) => {
      stdout += c;
      onStdout?.(stdout);
    });
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('CLI: apply --confirm, confirm, cancel, history, rollback, watch', () => {
  let d: TestDaemon;
  let echo: EchoServer;
  let base: number;
  let fileA: string;
  let fileB: string;

  beforeAll(async () => {
    d = await startTestDaemon();
    echo = await startEchoServer('127.0.0.1', 'C:');
    base = await freePortBlock(4);
    const yaml = (port: number): string =>
      `tables:\n  - name: cli\n    rules:\n      - name: r\n        protocol: tcp\n        listen_address: 127.0.0.1\n` +
      `        ports: "${port}"\n        target_address: 127.0.0.1\n        target_port: ${echo.port}\n`;
    fileA = join(d.stateDir, 'a.yaml');
    fileB = join(d.stateDir, 'b.yaml');
    await writeFile(fileA, yaml(base));
    await writeFile(fileB, yaml(base + 1));
  });
  afterAll(async () => {
    await d.stop();
    await echo.close();
  });

  it('walks through a confirmed apply, a cancelled one, the history, a rollback and a watch', async () => {
    const applied = await portplane(d.stateDir, ['apply', '--confirm', '30s', '--comment', 'first', fileA]);
    expect(applied.code, applied.stderr).toBe(0);
    expect(applied.stdout).toContain('generation 1 (pending)');
    expect(applied.stdout).toContain('portplane confirm 1');

    const confirmed = await portplane(d.stateDir, ['confirm']);
    expect(confirmed.code, confirmed.stderr).toBe(0);
    expect(confirmed.stdout).toContain('confirmed generation 1');
    expect((await roundTrip(base, 'x')).toString()).toBe('C:x');

    const nothing = await portplane(d.stateDir, ['confirm']);
    expect(nothing.code).toBe(1);
    expect(nothing.stderr).toContain('nothing is pending');

    // A watch sees the next two events as they happen.
    let watchReady!: () => void;
    const ready = new Promise<void>((r) => (watchReady = r));
    const watch = portplane(d.stateDir, ['watch', '--count', '3'], (out) => {
      if (out.includes('current')) watchReady();
    });
    await ready;

    const second = await portplane(d.stateDir, ['apply', '--confirm', '1m', fileB]);
    expect(second.code, second.stderr).toBe(0);
    const cancelled = await portplane(d.stateDir, ['cancel', '--reason', 'wrong file']);
    expect(cancelled.code, cancelled.stderr).toBe(0);
    expect(cancelled.stdout).toContain('rolled back generation 2');
    const watched = await watch;
    expect(watched.code, watched.stderr).toBe(0);
    // One timestamped line per event; the pending one adds how to confirm it.
    const events = watched.stdout.split('\n').filter((l) => /^\d{4}-/.test(l));
    expect(events.map((l) => l.split(/\s+/)[1])).toEqual(['current', 'pending', 'rolled_back']);
    expect(watched.stdout).toContain('portplane confirm 2');

    const history = await portplane(d.stateDir, ['history']);
    expect(history.code, history.stderr).toBe(0);
    const rows = history.stdout.split('\n').slice(1, 4).map((l) => l.trim().split(/\s+/).slice(0, 3));
    expect(rows).toEqual([
      ['3', 'committed', 'rollback'],
      ['2', 'rolled_back', 'apply'],
      ['1', 'committed', 'apply'],
    ]);
    expect(history.stdout).toContain('wrong file');

    const client = new ServiceClient('ConfigService', d.target);
    await client.call('ApplyConfig', { tables: [{ name: 'cli', rules: [] }] });
    const rolledBack = await portplane(d.stateDir, ['rollback', '1', '--comment', 'restore A']);
    expect(rolledBack.code, rolledBack.stderr).toBe(0);
    expect(rolledBack.stdout).toContain('generation 5 (applied)');
    expect((await roundTrip(base, 'y')).toString()).toBe('C:y');
    const one = await client.call<{ generation: string; config_digest: string }>('GetConfig');
    const entries = (await client.call<{ entries: { generation: string; config_digest: string }[] }>('ListApplyHistory', {})).entries;
    expect(one.config_digest).toBe(entries.find((e) => e.generation === '1')?.config_digest);
    client.close();
  });
});
