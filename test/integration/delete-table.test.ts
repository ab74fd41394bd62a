/**
 * Deleting tables by name (ApplyConfigRequest.delete_tables and `portplane
 * delete-table`) on a real daemon process: one apply and one generation per
 * call, only the named table's ports close (the others keep their listening
 * socket and established connections), a table-scoped caller deletes its own
 * tables only and learns nothing of the others, a bad name changes nothing.
 * The API field is also driven by `buf curl` through reflection alone.
 */
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateToken, hashToken } from '../../src/auth/tokens.js';
import { bufCurl } from '../helpers/buf-curl.js';
import { REPO, removeDir, startDaemon, stopDaemon, tempStateDir, type DaemonProcess } from '../helpers/daemon-process.js';
import { listeningSocketInodes } from '../helpers/proc-net.js';
import { freePortBlock, startEchoServer, type EchoServer } from '../helpers/tcp.js';

const run = promisify(execFile);

const ADMIN = generateToken('admin-bot');
const TENANT_A = generateToken('tenant-a');

interface CliRun {
  stdout: string;
  stderr: string;
  code: number;
}

async function cli(stateDir: string, token: string, ...args: string[]): Promise<CliRun> {
  try {
    const { stdout, stderr } = await run(
      process.execPath,
      ['--import', 'tsx', join(REPO, 'src/cli/main.ts'), '--state-dir', stateDir, '--token', token, ...args],
      { cwd: REPO },
    );
    return { stdout, stderr, code: 0 };
  } catch (err) {
    const e = err as CliRun;
    return { stdout: e.stdout, stderr: e.stderr, code: e.code };
  }
}

/** Sends `payload` on an open connection and resolves with what came back (the target's tag first on a new connection). */
function echoOn(socket: Socket, payload: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = '';
    const onData = (d: Buffer): void => {
      got += d.toString();
      if (got.endsWith(payload)) {
        socket.off('data', onData);
        resolve(got);
      }
    };
    socket.on('data', onData);
    socket.once('error', reject);
    socket.write(payload);
  });
}

describe('deleting tables by name', () => {
  let stateDir: string;
  let daemon: DaemonProcess;
  let echo: EchoServer;
  let base: number;
  let socket: string;
  let held: Socket;

  const port = { a: 0, b: 0, shared: 0 };

  beforeAll(async () => {
    stateDir = await tempStateDir();
    socket = join(stateDir, 'portplane.sock');
    const policy = join(stateDir, 'policy.yaml');
    await writeFile(
      policy,
      [
        'tokens:',
        `  admin-bot: ${hashToken(ADMIN)}`,
        `  tenant-a: ${hashToken(TENANT_A)}`,
        'grants:',
        `  - { uid: ${process.getuid?.() ?? 0}, role: admin }`,
        '  - { token: admin-bot, role: admin }',
        '  - { token: tenant-a, role: admin, tables: ["tenant-a-*"] }',
      ].join('\n'),
    );
    daemon = await startDaemon(stateDir, ['--auth-policy', policy]);
    echo = await startEchoServer('127.0.0.1', 'E:');
    base = await freePortBlock(3);
    Object.assign(port, { a: base, b: base + 1, shared: base + 2 });
    const rule = (p: number): string[] => [
      '    rules:',
      '      - name: r',
      '        protocol: tcp',
      '        listen_address: 127.0.0.1',
      `        ports: ${p}`,
      '        target_address: 127.0.0.1',
      `        target_port: ${echo.port}`,
    ];
    const file = join(stateDir, 'tables.yaml');
    await writeFile(
      file,
      ['tables:', '  - name: tenant-a-web', ...rule(port.a), '  - name: tenant-b-web', ...rule(port.b), '  - name: shared', ...rule(port.shared)].join('\n'),
    );
    const applied = await cli(stateDir, ADMIN, 'apply', file);
    expect(applied.stderr).toBe('');
    expect(applied.stdout).toMatch(/generation 1 \(applied\)/);
    held = connect(port.shared, '127.0.0.1');
    await new Promise((resolve, reject) => held.once('connect', resolve).once('error', reject));
    expect(await echoOn(held, 'before')).toBe('E:before');
  });
  afterAll(async () => {
    held?.destroy();
    await stopDaemon(daemon);
    await echo?.close();
    await removeDir(stateDir);
  });

  const generation = async (): Promise<number> => {
    const got = await cli(stateDir, ADMIN, '-o', 'json', 'get');
    return (JSON.parse(got.stdout) as { expected_generation: number }).expected_generation;
  };

  it('--dry-run prints the plan and changes nothing', async () => {
    const res = await cli(stateDir, TENANT_A, 'delete-table', 'tenant-a-web', '--dry-run');
    expect(res.code).toBe(0);
    expect(res.stdout).toContain('plan against generation 1: rules +0 -1 ~0 =2; ports open 0, close 1, retarget 0, keep 2');
    expect(res.stdout).toContain('removed  tenant-a-web/r');
    expect(res.stdout).toContain(`close    tcp 127.0.0.1:${port.a}`);
    expect(await generation()).toBe(1);
    expect(await listeningSocketInodes(port.a, daemon.pid)).toHaveLength(1);
  });

  it('a scoped caller deletes its own table as one apply; other tables keep their socket and connections', async () => {
    const sharedSocket = await listeningSocketInodes(port.shared, daemon.pid);
    const res = await cli(stateDir, TENANT_A, 'delete-table', 'tenant-a-web', '--comment', 'container gone');
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(res.stdout).toContain('removed  tenant-a-web/r');
    expect(res.stdout).toMatch(/generation 2 \(applied\)/);
    expect(await generation()).toBe(2);
    expect(await listeningSocketInodes(port.a, daemon.pid)).toEqual([]);
    expect(await listeningSocketInodes(port.shared, daemon.pid)).toEqual(sharedSocket);
    expect(await listeningSocketInodes(port.b, daemon.pid)).toHaveLength(1);
    expect(await echoOn(held, 'after')).toBe('after');

    const history = await cli(stateDir, ADMIN, '-o', 'json', 'history', '--limit', '1');
    const entry = (JSON.parse(history.stdout) as { entries: { generation: string; outcome: string; comment: string; caller: { id: string } }[] }).entries[0];
    expect(entry).toMatchObject({ generation: '2', outcome: 'APPLY_HISTORY_OUTCOME_COMMITTED', comment: 'container gone' });
    expect(entry?.caller.id).toContain('tenant-a');
  });

  it('a scoped caller may not delete another tenant\'s table, and learns nothing of the others', async () => {
    const denied = await cli(stateDir, TENANT_A, 'delete-table', 'tenant-b-web');
    expect(denied.code).toBe(1);
    expect(denied.stderr).toContain('may not touch table "tenant-b-web"');
    expect(denied.stderr).toContain('table: tenant-b-web');
    expect(await listeningSocketInodes(port.b, daemon.pid)).toHaveLength(1);

    // A name in its scope that does not run: a field violation that names no other table.
    const missing = await cli(stateDir, TENANT_A, 'delete-table', 'tenant-a-gone');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('delete_tables[0]: no table "tenant-a-gone" is running');
    expect(missing.stderr).not.toMatch(/tenant-b-web|shared/);
    expect(await generation()).toBe(2);
  });

  it('rejects a repeated name, or one also given whole, with the field path; nothing changes', async () => {
    const twice = await cli(stateDir, ADMIN, 'delete-table', 'shared', 'shared');
    expect(twice.code).toBe(1);
    expect(twice.stderr).toContain('delete_tables[1]: table "shared" is named twice');
    const both = await bufCurl(socket, [
      '-d',
      JSON.stringify({ tables: [{ name: 'shared' }], deleteTables: ['shared'] }),
      'http://localhost/portplane.v1.ConfigService/ApplyConfig',
    ]);
    expect(both.code).not.toBe(0);
    expect(both.stderr).toContain('invalid_argument');
    expect(both.stderr).toContain('delete_tables[0]');
    expect(await generation()).toBe(2);
    expect(await listeningSocketInodes(port.shared, daemon.pid)).toHaveLength(1);
  });

  it('buf curl deletes a table through the API field, by reflection alone', async () => {
    const res = await bufCurl(socket, [
      '-d',
      JSON.stringify({ deleteTables: ['tenant-b-web'], expectedGeneration: '2' }),
      'http://localhost/portplane.v1.ConfigService/ApplyConfig',
    ]);
    expect(res.stderr).toBe('');
    const out = JSON.parse(res.stdout) as {
      result: { generation: string; outcome: string; planSummary: { rulesRemoved: number; tablesTouched: string[] } };
      plan: { rules: { table: string; action: string }[] };
    };
    expect(out.result).toMatchObject({ generation: '3', outcome: 'APPLY_OUTCOME_APPLIED' });
    expect(out.result.planSummary).toMatchObject({ rulesRemoved: 1, tablesTouched: ['tenant-b-web'] });
    expect(out.plan.rules).toEqual([expect.objectContaining({ table: 'tenant-b-web', action: 'RULE_ACTION_REMOVED' })]);
    expect(await listeningSocketInodes(port.b, daemon.pid)).toEqual([]);
    expect(await listeningSocketInodes(port.shared, daemon.pid)).toHaveLength(1);
    expect(await echoOn(held, 'still')).toBe('still');
  });
});
