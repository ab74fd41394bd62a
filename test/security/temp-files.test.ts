/**
 * Finding 10 of #17: a save that fails (ENOSPC on a full state directory)
 * leaves no temp file behind, and the failed apply changes nothing that
 * runs. The state directory is a small tmpfs this test mounts (root only).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callError, ServiceClient } from '../helpers/daemon-process.js';
import { startTestDaemon, type TestDaemon } from '../helpers/in-process-daemon.js';
import { freePort, startEchoServer, type EchoServer } from '../helpers/tcp.js';
import { singlePortRule } from '../helpers/wire-rules.js';

const run = promisify(execFile);
const isRoot = process.getuid?.() === 0;
if (!isRoot) console.log('temp-files: skipped: mounting a small tmpfs needs root');

describe.skipIf(!isRoot)('a save that runs out of space', () => {
  let mount: string;
  let d: TestDaemon;
  let client: ServiceClient;
  let echo: EchoServer;

  beforeAll(async () => {
    mount = await mkdtemp(join(tmpdir(), `portplane-enospc-${process.pid}-`));
    await run('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', mount]);
    d = await startTestDaemon({ stateDir: join(mount, 'state') });
    client = new ServiceClient('ConfigService', d.target);
    echo = await startEchoServer();
  });
  afterAll(async () => {
    client?.close();
    await d?.stop();
    await echo?.close();
    await run('umount', [mount]).catch(() => undefined);
    await rm(mount, { recursive: true, force: true });
  });

  it('fails the apply, leaves no *.tmp-* file, and keeps what runs', async () => {
    const port = await freePort();
    await client.call('ApplyConfig', { tables: [{ name: 'web', rules: [singlePortRule('r', port, echo.port)] }] });
    // Fill what is left of the tmpfs.
    const filler = join(mount, 'filler');
    await writeFile(filler, Buffer.alloc(0));
    for (let chunk = 64 * 1024; chunk >= 512; chunk >>= 1) {
      for (;;) {
        try {
          await writeFile(filler, Buffer.alloc(chunk), { flag: 'a' });
        } catch {
          break;
        }
      }
    }
    const err = await callError(
      client.call('ApplyConfig', { tables: [{ name: 'web', rules: [singlePortRule('r', port, echo.port), singlePortRule('s', await freePort(), echo.port)] }], comment: 'c'.repeat(4096) }),
    );
    expect(err.details).toMatch(/ENOSPC|no space/i);
    expect(err.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    // The failed attempt's history entry is saved after the reply: give that save time to finish or fail.
    const leftovers = async (): Promise<string[]> => (await readdir(join(mount, 'state'), { recursive: true })).map(String).filter((f) => f.includes('.tmp-'));
    for (let i = 0; i < 40 && (await leftovers()).length > 0; i++) await new Promise((r) => setTimeout(r, 50));
    expect(await leftovers()).toEqual([]);
    const config = await client.call<{ generation: string; tables: { rules: unknown[] }[] }>('GetConfig', {});
    expect(config.generation).toBe('1');
    expect(config.tables[0]!.rules).toHaveLength(1);
  });
});
