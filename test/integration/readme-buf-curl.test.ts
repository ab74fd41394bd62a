/**
 * The README's `buf curl` lines, taken from README.md and run by a shell as
 * printed against a real daemon. Only what ties them to one machine is
 * substituted: the socket path (`./.portplane/portplane.sock`) becomes this
 * daemon's, and the fixed ports 8080-8082 and 9000 become free ephemeral ones
 * (tests never bind fixed ports on the shared machine).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run, type Finished } from '../helpers/buf-curl.js';
import { REPO, removeDir, startDaemon, stopDaemon, tempStateDir, type DaemonProcess } from '../helpers/daemon-process.js';
import { freePortBlock, roundTrip, startEchoServer, type EchoServer } from '../helpers/tcp.js';

/** The commands of the README's ```sh block that follows the `buf curl` paragraph, continuation lines joined. */
async function readmeBufCurlCommands(): Promise<string[]> {
  const readme = await readFile(join(REPO, 'README.md'), 'utf8');
  const from = readme.indexOf('The same with `buf curl`');
  const block = /```sh\n([\s\S]*?)```/.exec(readme.slice(from));
  if (from < 0 || !block) throw new Error('README.md has no buf curl block');
  return block[1]!.replace(/\\\n\s*/g, '').split('\n').filter((l) => l.startsWith('npx buf curl'));
}

/** One README line run by bash (in its own process group, as buf-curl.ts runs everything: npx and the buf shim both stop). */
const shell = (command: string): Promise<Finished> => run('bash', ['-c', command], '', 60_000);

describe('README buf curl lines', () => {
  let stateDir: string;
  let daemon: DaemonProcess;
  let echo: EchoServer;
  let base: number;

  beforeAll(async () => {
    stateDir = await tempStateDir();
    daemon = await startDaemon(stateDir);
    echo = await startEchoServer('127.0.0.1', 'R:');
    base = await freePortBlock(3);
  });
  afterAll(async () => {
    await stopDaemon(daemon);
    await echo?.close();
    await removeDir(stateDir);
  });

  it('list the methods, apply the example table and check health, as printed', async () => {
    const commands = await readmeBufCurlCommands();
    expect(commands).toHaveLength(3);
    const local = (c: string): string =>
      c
        .replaceAll('./.portplane/portplane.sock', join(stateDir, 'portplane.sock'))
        .replace('"first":8080,"last":8082', `"first":${base},"last":${base + 2}`)
        .replace('"target_port":9000', `"target_port":${echo.port}`);

    const [list, apply, health] = commands.map(local) as [string, string, string];
    const listed = await shell(list);
    expect(listed.stderr).toBe('');
    expect(listed.stdout).toContain('portplane.v1.ConfigService/ApplyConfig');
    expect(listed.stdout).toContain('grpc.health.v1.Health/Check');

    const applied = await shell(apply);
    expect(applied.stderr).toBe('');
    expect(JSON.parse(applied.stdout)).toMatchObject({ result: { generation: '1', outcome: 'APPLY_OUTCOME_APPLIED' } });
    // The first port maps to target_port (port n to target_port + n - first).
    expect((await roundTrip(base, 'readme')).toString()).toBe('R:readme');

    const checked = await shell(health);
    expect(checked.stderr).toBe('');
    expect(JSON.parse(checked.stdout)).toEqual({ status: 'SERVING' });
  });
});
