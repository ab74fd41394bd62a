/**
 * Acceptance: every invalid configuration is rejected over gRPC with
 * INVALID_ARGUMENT and a google.rpc.BadRequest naming its exact field path
 * (RESOURCE_EXHAUSTED with a google.rpc.QuotaFailure naming the limit, and
 * the BadRequest too, when it exceeds a limit), and leaves the daemon
 * untouched: same generation, same state file, no listening socket on any
 * port the config mentions.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeStatusDetails } from '../../src/server/status-details.js';
import { INVALID_CONFIGS } from '../fixtures/invalid-configs.js';
import { callError, ServiceClient } from '../helpers/daemon-process.js';
import { startTestDaemon, type TestDaemon } from '../helpers/in-process-daemon.js';
import { ownListeningSocketInodes } from '../helpers/proc-net.js';
import { freePort, startEchoServer, type EchoServer } from '../helpers/tcp.js';

/** Every port number mentioned anywhere in a fixture. */
function mentionedPorts(value: unknown, out = new Set<number>()): Set<number> {
  if (Array.isArray(value)) for (const v of value) mentionedPorts(v, out);
  else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if ((k === 'first' || k === 'last') && typeof v === 'number' && v > 0 && v < 65536) out.add(v);
      else mentionedPorts(v, out);
    }
  }
  return out;
}

const groups = new Map<string, typeof INVALID_CONFIGS>();
for (const fixture of INVALID_CONFIGS) {
  const key = JSON.stringify(fixture.limits ?? {});
  groups.set(key, [...(groups.get(key) ?? []), fixture]);
}

describe('invalid configurations over gRPC', () => {
  it('has at least 30 distinct fixtures', () => {
    expect(INVALID_CONFIGS.length).toBeGreaterThanOrEqual(30);
    expect(new Set(INVALID_CONFIGS.map((f) => JSON.stringify(f.tables))).size).toBe(INVALID_CONFIGS.length);
  });

  for (const [limitsKey, fixtures] of groups) {
    describe(`with limits ${limitsKey}`, () => {
      let d: TestDaemon;
      let client: ServiceClient;
      let echo: EchoServer;
      let stateBefore: string;
      let generationBefore: string;

      beforeAll(async () => {
        d = await startTestDaemon({ limits: JSON.parse(limitsKey) as object });
        client = new ServiceClient('ConfigService', d.target);
        echo = await startEchoServer();
        // One committed generation, so "untouched" is checked against real state.
        const port = await freePort();
        await client.call('ApplyConfig', {
          tables: [
            { name: 'baseline', rules: [{ name: 'b', protocol: 'PROTOCOL_TCP', listen_address: '127.0.0.1', ports: { first: port }, target_address: '127.0.0.1', target_port: echo.port }] },
          ],
        });
        // The check below sees this process's (the daemon's) listeners: here is one.
        expect(await ownListeningSocketInodes(port)).toHaveLength(1);
        stateBefore = await readFile(join(d.stateDir, 'state.json'), 'utf8');
        generationBefore = (await client.call<{ generation: string }>('GetConfig')).generation;
      });
      afterAll(async () => {
        client.close();
        await d.stop();
        await echo.close();
      });

      for (const fixture of fixtures) {
        it(`${fixture.title} -> ${fixture.path}`, async () => {
          const err = await callError(client.call('ApplyConfig', { tables: fixture.tables }));
          const details = decodeStatusDetails(err.metadata);
          if (fixture.exceeds) {
            expect(err.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
            const quota = details.find((x) => x.type === 'QuotaFailure');
            expect(quota?.type === 'QuotaFailure' ? quota.violations.map((v) => v.subject) : []).toEqual([fixture.exceeds]);
          } else {
            expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
          }
          const bad = details.find((x) => x.type === 'BadRequest');
          expect(bad?.type).toBe('BadRequest');
          const fields = bad?.type === 'BadRequest' ? bad.fieldViolations.map((v) => v.field) : [];
          expect(fields).toContain(fixture.path);
          expect(bad?.type === 'BadRequest' && bad.fieldViolations.every((v) => v.description.length > 0)).toBe(true);

          expect((await client.call<{ generation: string }>('GetConfig')).generation).toBe(generationBefore);
          expect(await readFile(join(d.stateDir, 'state.json'), 'utf8')).toBe(stateBefore);
          for (const port of mentionedPorts(fixture.tables)) expect(await ownListeningSocketInodes(port)).toEqual([]);
        });
      }
    });
  }
});
