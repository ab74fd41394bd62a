/**
 * `portplane fleet put | delete | status` as a controller runs them, against
 * a real etcd and a real daemon in fleet mode: CAS on mod_revision across
 * writers, `status --wait` until in effect, a failed table reported (exit
 * 1), a node that never answers hitting the deadline (exit 2).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO } from '../helpers/daemon-process.js';
import { EtcdServer, etcdUnavailable } from '../helpers/etcd.js';
import { startTestDaemon, type TestDaemon } from '../helpers/in-process-daemon.js';
import { freePortBlock, roundTrip, startEchoServer, type EchoServer } from '../helpers/tcp.js';

const run = promisify(execFile);
const unavailable = await etcdUnavailable();

describe.skipIf(unavailable !== undefined)(`portplane fleet CLI${unavailable ? ` (skipped: ${unavailable})` : ''}`, () => {
  let etcdServer: EtcdServer;
  let daemon: TestDaemon;
  let echo: EchoServer;
  let dir: string;
  let base: number;
  const prefix = '/cli';

  const fleet = async (...args: string[]): Promise<{ stdout: string; stderr: string; code: number }> => {
    try {
      const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', join(REPO, 'src/cli/main.ts'), 'fleet', ...args, '--etcd', etcdServer.url, '--etcd-prefix', prefix], { cwd: REPO });
      return { stdout, stderr, code: 0 };
    } catch (err) {
      const e = err as { stdout: string; stderr: string; code: number };
      return { stdout: e.stdout, stderr: e.stderr, code: e.code };
    }
  };
  const file = async (name: string, port: number, listen = '127.0.0.1'): Promise<string> => {
    const path = join(dir, `${name}-${port}.yaml`);
    await writeFile(
      path,
      `tables:\n  - name: ${name}\n    rules:\n      - name: r\n        protocol: tcp\n        listen_address: ${listen}\n        ports: "${port}"\n        target_address: 127.0.0.1\n        target_port: ${echo.port}\n`,
    );
    return path;
  };
  const revisionOf = (stdout: string): number => Number(/at revision (\d+)/.exec(stdout)?.[1]);

  beforeAll(async () => {
    etcdServer = await EtcdServer.start();
    echo = await startEchoServer('127.0.0.1', 'E:');
    dir = await mkdtemp(join(tmpdir(), 'portplane-fleet-cli-'));
    base = await freePortBlock(5);
    daemon = await startTestDaemon({ logger: pino({ level: 'silent' }), fleet: { endpoints: [etcdServer.url], node: 'edge-1', prefix, watchdogMs: 1_000 } });
  });
  afterAll(async () => {
    await daemon?.stop();
    await echo?.close();
    await etcdServer?.destroy();
    await rm(dir, { recursive: true, force: true });
  });

  it('puts a table, waits until it is in effect, and prints the node', async () => {
    const put = await fleet('put', '--node', 'edge-1', await file('web', base));
    expect(put.code).toBe(0);
    const rev = revisionOf(put.stdout);
    expect(rev).toBeGreaterThan(0);
    const status = await fleet('status', '--wait', String(rev), '--deadline', '20s');
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/^edge-1\s+in_effect\s+True\(AsDesired\)\s+False\(AsDesired\)\s+False\(Watching\)\s+\d+\s+\d+/m);
    expect((await roundTrip(base, 'cli')).toString()).toBe('E:cli');
  });

  it('refuses a put whose keys changed after the revision the writer read (CAS)', async () => {
    const first = revisionOf((await fleet('put', '--node', 'edge-1', await file('web', base + 1))).stdout);
    // Another writer changes the table after `first` ...
    expect((await fleet('put', '--node', 'edge-1', await file('web', base + 2))).code).toBe(0);
    // ... so a writer that read at `first` is refused, and nothing is written.
    const stale = await fleet('put', '--node', 'edge-1', '--expect-revision', String(first), await file('web', base + 3));
    expect(stale.code).toBe(1);
    expect(stale.stderr).toMatch(/conflict, nothing written: .*web is at mod_revision \d+, after \d+/);
    const json = JSON.parse((await fleet('status', '--json')).stdout) as { nodes: { node: string; desired: Record<string, number> }[] };
    expect(json.nodes.find((n) => n.node === 'edge-1')!.desired.web).toBeGreaterThan(first);
  });

  it('reports a table the node could not apply (exit 1), and deletes it', async () => {
    // It parses (so fleet put takes it) but does not validate: the daemon says why.
    const put = await fleet('put', '--node', 'edge-1', await file('bad', base + 4, '300.1.2.3'));
    const rev = revisionOf(put.stdout);
    expect(put.code, put.stderr).toBe(0);
    const status = await fleet('status', '--wait', String(rev), '--deadline', '20s');
    expect(status.code).toBe(1);
    expect(status.stdout).toMatch(/bad:invalid tables\[bad\]\.rules\[0\]\.listen_address/);
    const del = await fleet('delete', '--node', 'edge-1', 'bad');
    expect(del.code).toBe(0);
    const after = await fleet('status', '--wait', String(revisionOf(del.stdout)), '--deadline', '20s');
    expect(after.code).toBe(0);
    expect(after.stdout).not.toMatch(/bad:/);
  });

  it('gives up at the deadline when a node never reports (exit 2)', async () => {
    const rev = revisionOf((await fleet('put', '--node', 'ghost', await file('web', base + 4))).stdout);
    const status = await fleet('status', '--wait', String(rev), '--deadline', '1s');
    expect(status.code).toBe(2);
    expect(status.stdout).toMatch(/^ghost\s+behind\s.*no status \(agent down or its lease expired\)/m);
    expect(status.stderr).toMatch(/not every node reflects revision/);
    await fleet('delete', '--node', 'ghost', 'web');
  });
});
