/**
 * Acceptance: kill -9 the daemon right after an apply returns, restart it on
 * the same state directory: same tables, same generation, same ports
 * listening and forwarding.
 */
import { readdir } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ServiceClient, removeDir, startDaemon, stopDaemon, tempStateDir, type DaemonProcess } from '../helpers/daemon-process.js';
import { listeningSocketInodes } from '../helpers/proc-net.js';
import { freePortBlock, roundTrip, startEchoServer, type EchoServer } from '../helpers/tcp.js';

describe('persistence across kill -9', () => {
  let stateDir: string;
  let echo: EchoServer;
  let daemon: DaemonProcess | undefined;

  beforeAll(async () => {
    stateDir = await tempStateDir();
    echo = await startEchoServer('127.0.0.1', 'E:');
  });
  afterAll(async () => {
    if (daemon) await stopDaemon(daemon);
    await echo.close();
    await removeDir(stateDir);
  });

  it('restores tables, generation and listeners after SIGKILL, repeatedly', async () => {
    const base = await freePortBlock(12);
    let expectedGeneration = 0;
    let expectedTables: unknown;
    let expectedDigest = '';
    for (let round = 0; round < 3; round++) {
      daemon = await startDaemon(stateDir, ['--log-level', 'warn']);
      const client = new ServiceClient('ConfigService', daemon.target);
      const restored = await client.call<{ generation: string; tables: unknown; config_digest: string }>('GetConfig');
      expect(Number(restored.generation)).toBe(expectedGeneration);
      if (round > 0) {
        expect(restored.tables).toEqual(expectedTables);
        expect(restored.config_digest).toBe(expectedDigest);
        const last = await client.call<{ result: { generation: string } }>('LastApplyResult');
        expect(Number(last.result.generation)).toBe(expectedGeneration);
        for (let p = base; p < base + 5 + (round - 1) * 3; p++) {
          expect(await listeningSocketInodes(p, daemon.pid)).toHaveLength(1);
          expect((await roundTrip(p, 'r')).toString()).toBe('E:r');
        }
      }
      // One single-port rule per port, each to the echo server, so every restored port can be checked end to end.
      const count = 5 + round * 3;
      const rules = Array.from({ length: count }, (_, i) => ({
        name: `r${i}`,
        protocol: 'PROTOCOL_TCP',
        listen_address: '127.0.0.1',
        ports: { first: base + i },
        target_address: '127.0.0.1',
        target_port: echo.port,
      }));
      const res = await client.call<{ result: { generation: string } }>('ApplyConfig', { tables: [{ name: 't', rules }] });
      expectedGeneration = Number(res.result.generation);
      const after = await client.call<{ tables: unknown; config_digest: string }>('GetConfig');
      expectedTables = after.tables;
      expectedDigest = after.config_digest;
      client.close();
      // Right after the apply returned: no graceful anything.
      daemon.child.kill('SIGKILL');
      await daemon.exited;
      daemon = undefined;
      const leftovers = (await readdir(stateDir)).filter((f) => f.includes('.tmp-'));
      expect(leftovers).toEqual([]);
    }
    expect(expectedGeneration).toBe(3);
  });
});
