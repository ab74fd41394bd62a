/**
 * ApplyConfig semantics over real gRPC against a real daemon and real
 * sockets: generations, no-op applies, compare-and-swap, validate_only,
 * replace_all, bind-error rollback, weak rules, results and capabilities.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createServer, type Server } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { decodeStatusDetails } from '../../src/server/status-details.js';
import { callError, ServiceClient } from '../helpers/daemon-process.js';
import { startTestDaemon, type TestDaemon } from '../helpers/in-process-daemon.js';
import { listeningSocketInodes } from '../helpers/proc-net.js';
import { freePortBlock, roundTrip, startEchoServer, type EchoServer } from '../helpers/tcp.js';

interface Result {
  generation: string;
  config_digest: string;
  outcome: string;
  backend: string;
  applied_at: { seconds: string };
  capabilities: { backend: string; supported: string[]; unsupported: { feature: string; reason: string }[] };
  rules: { table: string; name: string; rule_id: string; counter_id: string; state: string; ports_bound: number; ports_failed: { port: number; errno: string }[] }[];
  plan_summary: { ports_opened: number; ports_closed: number; ports_retargeted: number; ports_kept: number; empty: boolean };
}
interface ApplyResponse {
  result: Result;
  plan: { rules: { action: string; changed_fields: string[]; name: string }[]; ports: { action: string; port: number }[]; summary: { empty: boolean } };
}

const tcp = (name: string, first: number, last: number, targetPort: number, extra: object = {}): object => ({
  name,
  protocol: 'PROTOCOL_TCP',
  listen_address: '127.0.0.1',
  ports: { first, last },
  target_address: '127.0.0.1',
  target_port: targetPort,
  ...extra,
});

describe('ApplyConfig over gRPC', () => {
  let d: TestDaemon;
  let client: ServiceClient;
  let echo: EchoServer;
  let other: EchoServer;
  let base: number;

  beforeAll(async () => {
    echo = await startEchoServer('127.0.0.1', 'A:');
    other = await startEchoServer('127.0.0.1', 'B:');
  });
  afterAll(async () => {
    await echo.close();
    await other.close();
  });
  beforeEach(async () => {
    d = await startTestDaemon();
    client = new ServiceClient('ConfigService', d.target);
    base = await freePortBlock(10);
  });
  afterEach(async () => {
    client.close();
    await d.stop();
  });

  const apply = (req: object): Promise<ApplyResponse> => client.call<ApplyResponse>('ApplyConfig', req);

  it('applies, forwards, bumps the generation by one, and treats a repeat as unchanged', async () => {
    const req = { tables: [{ name: 'web', rules: [tcp('a', base, base + 1, echo.port)] }] };
    const first = await apply(req);
    expect(first.result.generation).toBe('1');
    expect(first.result.outcome).toBe('APPLY_OUTCOME_APPLIED');
    expect(first.result.backend).toBe('kernel');
    expect(first.result.rules).toHaveLength(1);
    expect(first.result.rules[0]).toMatchObject({ table: 'web', name: 'a', state: 'RULE_STATE_ACTIVE', ports_bound: 2 });
    expect((await roundTrip(base, 'hello')).toString()).toBe('A:hello');
    // Port n maps to target_port + (n - first): base + 1 goes to the port after the echo server's.
    expect(await listeningSocketInodes(base + 1)).toHaveLength(1);

    const again = await apply(req);
    expect(again.result.generation).toBe('1');
    expect(again.result.outcome).toBe('APPLY_OUTCOME_UNCHANGED');
    expect(again.plan.summary.empty).toBe(true);
    expect(again.result.config_digest).toBe(first.result.config_digest);

    const changed = await apply({ tables: [{ name: 'web', rules: [tcp('a', base, base + 1, other.port)] }] });
    expect(changed.result.generation).toBe('2');
    expect(changed.plan.rules[0]).toMatchObject({ action: 'RULE_ACTION_CHANGED', changed_fields: ['target_port'] });
    expect(changed.result.plan_summary).toMatchObject({ ports_retargeted: 2, ports_opened: 0, ports_closed: 0 });
    expect((await roundTrip(base, 'hi')).toString()).toBe('B:hi');
    // A changed rule keeps its identity but starts a new counter.
    expect(changed.result.rules[0]?.rule_id).toBe(first.result.rules[0]?.rule_id);
    expect(changed.result.rules[0]?.counter_id).not.toBe(first.result.rules[0]?.counter_id);
  });

  it('serialises concurrent applies: each gets its own generation', async () => {
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) => apply({ tables: [{ name: `t${i}`, rules: [tcp('r', base + i, 0, echo.port)] }] })),
    );
    const generations = results.map((r) => Number(r.result.generation)).sort((a, b) => a - b);
    expect(generations).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    const config = await client.call<{ generation: string; tables: { name: string }[] }>('GetConfig');
    expect(config.generation).toBe('8');
    expect(config.tables.map((t) => t.name)).toEqual(['t0', 't1', 't2', 't3', 't4', 't5', 't6', 't7']);
  });

  it('leaves unnamed tables alone, and replace_all removes them', async () => {
    await apply({ tables: [{ name: 'a', rules: [tcp('r', base, 0, echo.port)] }] });
    await apply({ tables: [{ name: 'b', rules: [tcp('r', base + 1, 0, echo.port)] }] });
    let config = await client.call<{ tables: { name: string }[] }>('GetConfig');
    expect(config.tables.map((t) => t.name)).toEqual(['a', 'b']);
    const replaced = await apply({ replace_all: true, tables: [{ name: 'b', rules: [tcp('r', base + 1, 0, echo.port)] }] });
    expect(replaced.result.generation).toBe('3');
    config = await client.call<{ tables: { name: string }[] }>('GetConfig');
    expect(config.tables.map((t) => t.name)).toEqual(['b']);
    expect(await listeningSocketInodes(base)).toEqual([]);
    await expect(roundTrip(base, 'x')).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });

  it('compare-and-swap: a stale expected_generation is ABORTED with the current generation in ErrorInfo', async () => {
    await apply({ tables: [{ name: 'a', rules: [tcp('r', base, 0, echo.port)] }] });
    const ok = await apply({ expected_generation: 1, tables: [{ name: 'a', rules: [tcp('r', base, 0, other.port)] }] });
    expect(ok.result.generation).toBe('2');
    const err = await callError(apply({ expected_generation: 1, tables: [{ name: 'a', rules: [tcp('r', base + 1, 0, echo.port)] }] }));
    expect(err.code).toBe(grpc.status.ABORTED);
    const info = decodeStatusDetails(err.metadata).find((x) => x.type === 'ErrorInfo');
    expect(info).toMatchObject({ reason: 'GENERATION_MISMATCH', metadata: { current_generation: '2', expected_generation: '1' } });
    expect(await listeningSocketInodes(base + 1)).toEqual([]);
    // expected_generation 0 is a real value ("only onto an empty daemon"), not "unset".
    const zero = await callError(apply({ expected_generation: 0, tables: [] }));
    expect(zero.code).toBe(grpc.status.ABORTED);
  });

  it('validate_only returns the plan and changes nothing', async () => {
    const before = await readFile(join(d.stateDir, 'state.json'), 'utf8').catch(() => 'absent');
    const res = await apply({ validate_only: true, tables: [{ name: 'a', rules: [tcp('r', base, base + 2, echo.port)] }] });
    expect(res.result.outcome).toBe('APPLY_OUTCOME_VALIDATED');
    expect(res.result.generation).toBe('0');
    expect(res.plan.summary.empty).toBe(false);
    expect(res.plan.ports.map((p) => [p.action, p.port])).toEqual([
      ['PORT_ACTION_OPEN', base],
      ['PORT_ACTION_OPEN', base + 1],
      ['PORT_ACTION_OPEN', base + 2],
    ]);
    expect(await listeningSocketInodes(base)).toEqual([]);
    expect(await readFile(join(d.stateDir, 'state.json'), 'utf8').catch(() => 'absent')).toBe(before);
    expect((await client.call<{ generation: string }>('GetConfig')).generation).toBe('0');
    const err = await callError(client.call('LastApplyResult'));
    expect(err.code).toBe(grpc.status.NOT_FOUND);
  });

  describe('bind errors', () => {
    let foreign: Server;
    beforeEach(async () => {
      foreign = createServer();
      await new Promise<void>((res) => foreign.listen({ host: '127.0.0.1', port: base + 5, exclusive: true }, res));
    });
    afterEach(async () => {
      await new Promise((res) => foreign.close(res));
    });

    it('a non-weak rule with a taken port rolls the whole apply back: FAILED_PRECONDITION, same sockets, same generation', async () => {
      await apply({ tables: [{ name: 'web', rules: [tcp('keep', base, base + 1, echo.port), tcp('gone', base + 2, 0, echo.port)] }] });
      const inodesBefore = [await listeningSocketInodes(base), await listeningSocketInodes(base + 1), await listeningSocketInodes(base + 2)];
      const lastBefore = await client.call<{ result: Result }>('LastApplyResult');

      const err = await callError(
        apply({
          tables: [
            { name: 'web', rules: [tcp('keep', base, base + 1, other.port), tcp('new', base + 3, base + 5, echo.port)] },
          ],
        }),
      );
      expect(err.code).toBe(grpc.status.FAILED_PRECONDITION);
      const failure = decodeStatusDetails(err.metadata).find((x) => x.type === 'PreconditionFailure');
      expect(failure).toMatchObject({ violations: [{ type: 'EADDRINUSE', subject: `tcp://127.0.0.1:${base + 5}` }] });

      expect([await listeningSocketInodes(base), await listeningSocketInodes(base + 1), await listeningSocketInodes(base + 2)]).toEqual(inodesBefore);
      expect(await listeningSocketInodes(base + 3)).toEqual([]);
      expect(await listeningSocketInodes(base + 4)).toEqual([]);
      // The retarget in the failed apply did not happen either.
      expect((await roundTrip(base, 'still')).toString()).toBe('A:still');
      expect((await roundTrip(base + 2, 'kept')).toString()).toBe('A:kept');
      const config = await client.call<{ generation: string }>('GetConfig');
      expect(config.generation).toBe('1');
      expect(await client.call('LastApplyResult')).toEqual(lastBefore);
    });

    it('a weak rule passes with the taken port reported as degraded', async () => {
      const res = await apply({ tables: [{ name: 'web', rules: [tcp('w', base + 4, base + 6, echo.port, { weak: true })] }] });
      expect(res.result.generation).toBe('1');
      expect(res.result.rules[0]).toMatchObject({
        state: 'RULE_STATE_DEGRADED',
        ports_bound: 2,
        ports_failed: [{ port: base + 5, errno: 'EADDRINUSE' }],
      });
      expect((await roundTrip(base + 4, 'w')).toString()).toBe('A:w');
    expect(await listeningSocketInodes(base + 6)).toHaveLength(1);
    });

    it('a weak rule with no port bound fails', async () => {
      const err = await callError(apply({ tables: [{ name: 'web', rules: [tcp('w', base + 5, 0, echo.port, { weak: true })] }] }));
      expect(err.code).toBe(grpc.status.FAILED_PRECONDITION);
    });
  });

  it('a request with a thousand violations still gets its INVALID_ARGUMENT, details cut to fit the trailers', async () => {
    // Every rule forwards into the next one's listener: 999 loops (and one rule with an unparsable target).
    const rules = Array.from({ length: 1000 }, (_, i) =>
      tcp(`loop${i}`, 40000 + i, 0, 40001 + i, i === 999 ? { target_address: 'nowhere' } : {}),
    );
    const err = await callError(apply({ tables: [{ name: 'loops', rules }] }));
    expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
    const bad = decodeStatusDetails(err.metadata).find((x) => x.type === 'BadRequest');
    expect(bad?.type).toBe('BadRequest');
    const fields = bad?.type === 'BadRequest' ? bad.fieldViolations : [];
    expect(fields.length).toBeGreaterThan(10);
    expect(fields.map((f) => f.field)).toEqual(
      expect.arrayContaining(['tables[loops].rules[999].target_address', 'tables[loops].rules[0].target_address']),
    );
    expect(fields.at(-1)).toMatchObject({ field: '', description: expect.stringMatching(/^\d+ more violations not shown$/) });
    const shown = fields.length - 1;
    expect(Number(/^(\d+)/.exec(fields.at(-1)!.description)![1]) + shown).toBe(1000);
    expect((await client.call<{ generation: string }>('GetConfig')).generation).toBe('0');
  });

  it('LastApplyResult carries digest, timing, backend, capabilities as data and per-rule ids', async () => {
    const before = Date.now();
    await apply({ tables: [{ name: 'web', rules: [tcp('a', base, base + 2, echo.port), tcp('', base + 3, 0, echo.port)] }] });
    const { result } = await client.call<{ result: Result }>('LastApplyResult');
    expect(result.generation).toBe('1');
    expect(result.config_digest).toMatch(/^[0-9a-f]{64}$/);
    expect(Number(result.applied_at.seconds) * 1000).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000);
    expect(result.capabilities.backend).toBe('kernel');
    expect(result.capabilities.supported).toEqual(expect.arrayContaining(['tcp', 'socket_continuity']));
    expect(result.capabilities.unsupported.every((u) => u.reason.length > 0)).toBe(true);
    expect(result.rules.map((r) => [r.name, r.ports_bound])).toEqual([
      ['a', 3],
      ['', 1],
    ]);
    expect(new Set(result.rules.map((r) => r.rule_id)).size).toBe(2);
    expect(new Set(result.rules.map((r) => r.counter_id)).size).toBe(2);
    const config = await client.call<{ config_digest: string }>('GetConfig');
    expect(config.config_digest).toBe(result.config_digest);
  });

  it('GetCapabilities advertises the limits', async () => {
    const caps = await client.call<{ api_version: string; limits: { max_ports: number; max_tables: number }; capabilities: { backend: string } }>(
      'GetCapabilities',
    );
    expect(caps.api_version).toBe('portplane.v1');
    expect(caps.capabilities.backend).toBe('kernel');
    expect(caps.limits.max_ports).toBeGreaterThan(0);
    expect(caps.limits.max_tables).toBeGreaterThan(0);
  });
});
