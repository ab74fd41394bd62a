/**
 * Finding 4 of #17: refused attempts must not evict committed history. 60
 * invalid applies (more than the 50-entry history) used to flush every
 * committed entry, so RollbackTo(1) answered NOT_FOUND. Committed
 * configurations are evicted only by newer commits; refused and failed
 * attempts have their own bounded log. Against a real daemon process, and
 * again after it was killed and restarted on the same state directory.
 */
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ServiceClient, callError, removeDir, startDaemon, stopDaemon, tempStateDir, type DaemonProcess } from '../helpers/daemon-process.js';
import { freePort, roundTrip, startEchoServer, type EchoServer } from '../helpers/tcp.js';
import { singlePortRule } from '../helpers/wire-rules.js';

interface Entry {
  generation: string;
  outcome: string;
  config_digest: string;
}

const HISTORY_SIZE = 50;
const INVALID_APPLIES = 60;

describe('refused applies and the history', () => {
  let stateDir: string;
  let daemon: DaemonProcess;
  let client: ServiceClient;
  let echoA: EchoServer;
  let echoB: EchoServer;
  let port: number;

  beforeAll(async () => {
    stateDir = await tempStateDir();
    echoA = await startEchoServer('127.0.0.1', 'A:');
    echoB = await startEchoServer('127.0.0.1', 'B:');
    port = await freePort();
    daemon = await startDaemon(stateDir);
    client = new ServiceClient('ConfigService', daemon.target);
  });
  afterAll(async () => {
    client.close();
    await stopDaemon(daemon);
    await echoA.close();
    await echoB.close();
    await removeDir(stateDir);
  });

  const history = async (): Promise<{ entries: Entry[]; capacity: number }> => client.call('ListApplyHistory', {});

  it(`keep every committed entry through ${INVALID_APPLIES} invalid applies, and RollbackTo(1) works`, async () => {
    const g1 = await client.call<{ result: { generation: string; config_digest: string } }>('ApplyConfig', {
      tables: [{ name: 'web', rules: [singlePortRule('r', port, echoA.port)] }],
    });
    expect(g1.result.generation).toBe('1');
    const g2 = await client.call<{ result: { generation: string } }>('ApplyConfig', {
      tables: [{ name: 'web', rules: [singlePortRule('r', port, echoB.port)] }],
    });
    expect(g2.result.generation).toBe('2');

    for (let i = 0; i < INVALID_APPLIES; i++) {
      // Port 0 is never valid: each attempt is REJECTED and recorded.
      const err = await callError(client.call('ApplyConfig', { tables: [{ name: 'web', rules: [singlePortRule('r', 0, echoA.port)] }], comment: `bad ${i}` }));
      expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
    }

    const { entries, capacity } = await history();
    expect(capacity).toBe(HISTORY_SIZE);
    const rejected = entries.filter((e) => e.outcome === 'APPLY_HISTORY_OUTCOME_REJECTED');
    // The refused attempts are bounded by their own log...
    expect(rejected).toHaveLength(HISTORY_SIZE);
    // ...and the committed configurations are all still there.
    expect(entries.filter((e) => e.outcome === 'APPLY_HISTORY_OUTCOME_COMMITTED').map((e) => e.generation)).toEqual(['2', '1']);

    const back = await client.call<{ result: { generation: string; config_digest: string } }>('RollbackTo', { generation: 1 });
    expect(back.result).toMatchObject({ generation: '3', config_digest: g1.result.config_digest });
    expect((await roundTrip(port, 'x')).toString()).toBe('A:x');
  });

  it('still holds after kill -9 and a restart: the journal replays the committed entries', async () => {
    await stopDaemon(daemon, 'SIGKILL');
    client.close();
    daemon = await startDaemon(stateDir);
    client = new ServiceClient('ConfigService', daemon.target);
    const committed = (await history()).entries.filter((e) => e.outcome === 'APPLY_HISTORY_OUTCOME_COMMITTED').map((e) => e.generation);
    expect(committed).toEqual(['3', '2', '1']);
    const again = await client.call<{ result: { generation: string } }>('RollbackTo', { generation: 2 });
    expect(again.result.generation).toBe('4');
    expect((await roundTrip(port, 'y')).toString()).toBe('B:y');
  });
});
