/**
 * A restart with an apply still pending (a confirm timeout or a Transaction
 * stream) restores the last confirmed tables, as the next generation, and
 * records the pending one as ROLLED_BACK. Graceful shutdowns here; the
 * kill -9 variant is crash-safety.test.ts.
 */
import * as grpc from '@grpc/grpc-js';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createDataPlane } from '../../src/backends.js';
import { DEFAULT_LIMITS } from '../../src/config/model.js';
import { Daemon } from '../../src/server/daemon.js';
import { TransactionStream, type WireEntry } from '../helpers/apply-streams.js';
import { ServiceClient, removeDir, tempStateDir } from '../helpers/daemon-process.js';
import { listeningSocketInodes } from '../helpers/proc-net.js';
import { freePortBlock, roundTrip, startEchoServer, type EchoServer } from '../helpers/tcp.js';
import { singlePortRule } from '../helpers/wire-rules.js';

const rule = singlePortRule;

describe('restart while an apply is pending', () => {
  let stateDir: string;
  let echo: EchoServer;
  let base: number;
  let daemon: Daemon | undefined;

  const start = async (): Promise<{ daemon: Daemon; client: ServiceClient }> => {
    const logger = pino({ level: 'silent' });
    daemon = await Daemon.start({ stateDir, dataplane: createDataPlane('kernel', { logger }), limits: DEFAULT_LIMITS, logger, graceMs: 500 });
    return { daemon, client: new ServiceClient('ConfigService', daemon.address) };
  };

  beforeAll(async () => {
    echo = await startEchoServer('127.0.0.1', 'R:');
  });
  afterAll(async () => {
    await echo.close();
  });
  beforeEach(async () => {
    stateDir = await tempStateDir();
    // Below the default range: free while the daemon restarts (see crash-safety.test.ts).
    base = await freePortBlock(4, 14000, 19900);
  });
  afterEach(async () => {
    await daemon?.shutdown('test finished');
    daemon = undefined;
    await removeDir(stateDir);
  });

  const expectRestoredAfterRestart = async (confirmedDigest: string): Promise<void> => {
    const { client } = await start();
    const running = await client.call<{ generation: string; config_digest: string; pending: unknown }>('GetConfig');
    expect(running).toMatchObject({ generation: '3', config_digest: confirmedDigest, pending: null });
    expect((await roundTrip(base, 'r')).toString()).toBe('R:r');
    expect(await listeningSocketInodes(base + 1)).toEqual([]);
    const { entries } = await client.call<{ entries: WireEntry[] }>('ListApplyHistory', {});
    expect(entries.find((e) => e.generation === '2')).toMatchObject({ outcome: 'APPLY_HISTORY_OUTCOME_ROLLED_BACK' });
    expect(entries.find((e) => e.generation === '2')?.detail).toContain('restarted');
    expect(entries.find((e) => e.generation === '3')).toMatchObject({
      outcome: 'APPLY_HISTORY_OUTCOME_COMMITTED',
      trigger: 'APPLY_TRIGGER_ROLLBACK',
      restored_generation: '1',
      rolled_back_generation: '2',
    });
    const last = await client.call<{ result: { generation: string; config_digest: string } }>('LastApplyResult');
    expect(last.result).toMatchObject({ generation: '3', config_digest: confirmedDigest });
    client.close();
  };

  it('a confirm-timeout apply', async () => {
    const { daemon: first, client } = await start();
    const g1 = await client.call<{ result: { config_digest: string } }>('ApplyConfig', { tables: [{ name: 't', rules: [rule('a', base, echo.port)] }] });
    await client.call('ApplyConfig', {
      tables: [{ name: 't', rules: [rule('a', base, echo.port), rule('b', base + 1, echo.port)] }],
      confirm_timeout: { seconds: 600 },
    });
    expect(await listeningSocketInodes(base + 1)).toHaveLength(1);
    client.close();
    await first.shutdown('restart');
    await expectRestoredAfterRestart(g1.result.config_digest);
  });

  it("a Transaction stream's apply", async () => {
    const { daemon: first, client } = await start();
    const g1 = await client.call<{ result: { config_digest: string } }>('ApplyConfig', { tables: [{ name: 't', rules: [rule('a', base, echo.port)] }] });
    const tx = new TransactionStream(client);
    await tx.next();
    tx.send({ tables: { tables: [{ name: 't', rules: [rule('a', base, echo.port), rule('b', base + 1, echo.port)] }] } });
    await tx.next();
    tx.command('APPLY');
    expect((await tx.next()).applied).toBeTruthy();
    await first.shutdown('restart');
    // The stream ends with the daemon; its rollback is left to the restart.
    expect((await tx.finished()).code).toBe(grpc.status.UNAVAILABLE);
    client.close();
    await expectRestoredAfterRestart(g1.result.config_digest);
  });
});
