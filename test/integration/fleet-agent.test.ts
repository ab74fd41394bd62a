/**
 * The fleet agent inside a real daemon, against a real etcd: desired tables
 * in, forwards open, status out; bad tables reported with field paths or
 * ports while the others go on; fleet-owned tables guarded against local
 * callers; deletes; history with caller etcd.
 */
import { Etcd3 } from 'etcd3';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:net';
import { FleetKeys } from '../../src/fleet/keys.js';
import { hashToken, generateToken } from '../../src/auth/tokens.js';
import { parsePolicy } from '../../src/auth/policy.js';
import { bearer, callError, ServiceClient } from '../helpers/daemon-process.js';
import { EtcdServer, etcdUnavailable } from '../helpers/etcd.js';
import { deleteTable, putRaw, putTable, readStatus, waitFailed, waitFor, waitInEffect } from '../helpers/fleet.js';
import { startTestDaemon, type TestDaemon } from '../helpers/in-process-daemon.js';
import { freePortBlock, roundTrip, startEchoServer, type EchoServer } from '../helpers/tcp.js';
import { singlePortRule } from '../helpers/wire-rules.js';

const unavailable = await etcdUnavailable();

describe.skipIf(unavailable !== undefined)(`fleet agent in a daemon${unavailable ? ` (skipped: ${unavailable})` : ''}`, () => {
  let etcdServer: EtcdServer;
  let etcd: Etcd3;
  let daemon: TestDaemon;
  let echo: EchoServer;
  let base: number;
  const keys = new FleetKeys('/pp-test');
  const node = 'node-a';
  const tenantToken = generateToken('tenant');

  beforeAll(async () => {
    etcdServer = await EtcdServer.start();
    etcd = new Etcd3({ hosts: etcdServer.url });
    echo = await startEchoServer('127.0.0.1', 'E:');
    base = await freePortBlock(10);
    const policy = parsePolicy(
      `tokens:\n  tenant: ${hashToken(tenantToken)}\ngrants:\n` +
        `  - { uid: ${process.getuid?.() ?? 0}, role: admin }\n  - { token: tenant, role: admin, tables: [web, "tenant-*"] }\n`,
      'test policy',
    );
    daemon = await startTestDaemon({
      policy,
      logger: pino({ level: 'silent' }),
      fleet: { endpoints: [etcdServer.url], node, prefix: keys.prefix, watchdogMs: 1_000, leaseTtlSeconds: 5 },
    });
  });
  afterAll(async () => {
    await daemon?.stop();
    etcd?.close();
    await echo?.close();
    await etcdServer?.destroy();
  });

  it('applies a desired table, forwards through it, and reports it applied at its revision', async () => {
    const rev = await putTable(etcd, keys, node, { name: 'web', rules: [singlePortRule('http', base, echo.port)] });
    const status = await waitInEffect(etcd, keys, node, 'web', rev);
    expect(status.tables.web).toMatchObject({ outcome: 'applied', desiredRevision: rev, appliedRevision: rev });
    expect(status.conditions.find((c) => c.type === 'Ready')).toMatchObject({ status: true });
    expect(status.generation).toBe(daemon.daemon.controller.runningGeneration);
    expect((await roundTrip(base, 'hi')).toString()).toBe('E:hi');
    const entry = daemon.daemon.controller.history(1)[0]!;
    expect(entry).toMatchObject({ outcome: 'committed', caller: { kind: 'etcd', id: 'etcd' } });
    expect(entry.comment).toContain(`node ${node}`);
  });

  it('reports a bad table with its field paths, applies nothing of it, and goes on with the others', async () => {
    const genBefore = daemon.daemon.controller.runningGeneration;
    const badYaml = await putRaw(etcd, keys, node, 'broken', 'tables: [ {name: broken, rules: [');
    const unknown = await putRaw(etcd, keys, node, 'odd', JSON.stringify({ tables: [{ name: 'odd', rules: [{ ...singlePortRule('r', base + 1, echo.port), colour: 'red' }] }] }));
    const good = await putTable(etcd, keys, node, { name: 'api', rules: [singlePortRule('api', base + 2, echo.port)] });
    const b = await waitFailed(etcd, keys, node, 'broken', badYaml);
    expect(b.outcome).toBe('invalid');
    expect(b.violations?.[0]?.message).toMatch(/line 1/);
    const o = await waitFailed(etcd, keys, node, 'odd', unknown);
    expect(o.violations?.map((v) => v.path)).toEqual(['tables[odd].rules[0].colour']);
    await waitInEffect(etcd, keys, node, 'api', good);
    expect((await roundTrip(base + 2, 'x')).toString()).toBe('E:x');
    // Nothing of the bad tables runs; the good one took one generation.
    const running = daemon.daemon.controller.getConfig();
    expect(running.tables.map((t) => t.name).sort()).toEqual(['api', 'web']);
    expect(running.generation).toBeGreaterThan(genBefore);
    const status = (await readStatus(etcd, keys, node))!;
    expect(status.conditions.find((c) => c.type === 'Degraded')).toMatchObject({ status: true, reason: 'TablesFailed' });
    expect(status.lastError?.message).toBeTruthy();
    await deleteTable(etcd, keys, node, 'broken');
    const gone = await deleteTable(etcd, keys, node, 'odd');
    await waitFor('bad tables gone from status', async () => {
      const s = await readStatus(etcd, keys, node);
      return s && !s.tables.broken && !s.tables.odd && s.observedRevision >= gone ? s : undefined;
    });
  });

  it('reports a conflict with a local table and a port that cannot bind, with the errno', async () => {
    const client = new ServiceClient('ConfigService', daemon.target);
    await client.call('ApplyConfig', { tables: [{ name: 'local', rules: [singlePortRule('l', base + 3, echo.port)] }] });
    const conflict = await putTable(etcd, keys, node, { name: 'clash', rules: [singlePortRule('c', base + 3, echo.port)] });
    const c = await waitFailed(etcd, keys, node, 'clash', conflict);
    expect(c.outcome).toBe('invalid');
    expect(c.violations?.[0]).toMatchObject({ path: 'tables[clash].rules[0].ports' });
    expect(c.violations?.[0]?.message).toMatch(/conflicts with running rule tables\[local\]/);

    const squatter: Server = createServer();
    await new Promise<void>((r) => squatter.listen(base + 4, '127.0.0.1', r));
    try {
      const busy = await putTable(etcd, keys, node, { name: 'busy', rules: [singlePortRule('b', base + 4, echo.port)] });
      const b = await waitFailed(etcd, keys, node, 'busy', busy);
      expect(b.outcome).toBe('bind_failed');
      expect(b.failures).toEqual([expect.objectContaining({ port: base + 4, errno: 'EADDRINUSE' })]);
      expect(daemon.daemon.controller.getConfig().tables.map((t) => t.name)).not.toContain('busy');
    } finally {
      await new Promise((r) => squatter.close(r));
    }
    await deleteTable(etcd, keys, node, 'clash');
    await deleteTable(etcd, keys, node, 'busy');
    // The next test reads the node's conditions: wait until the failed tables have left the status.
    await waitFor('failed tables gone from status', async () => {
      const s = await readStatus(etcd, keys, node);
      return s && !s.tables.clash && !s.tables.busy ? s : undefined;
    });
    client.close();
  });

  it('keeps fleet tables from local callers: a scoped admin is refused, an unscoped admin overrides and status says so', async () => {
    const client = new ServiceClient('ConfigService', daemon.target);
    const replacement = { tables: [{ name: 'web', rules: [singlePortRule('http', base + 5, echo.port)] }] };
    const refused = await callError(client.call('ApplyConfig', replacement, 10_000, bearer(tenantToken)));
    expect(refused.code).toBe(7); // PERMISSION_DENIED
    expect(refused.details).toMatch(/fleet-owned table "web"/);
    // The local uid is an unscoped admin: its change goes through, and is reported.
    const res = await client.call<{ result: { generation: string } }>('ApplyConfig', replacement);
    const status = await waitFor('override in status', async () => {
      const s = await readStatus(etcd, keys, node);
      return s?.tables.web?.overridden ? s : undefined;
    });
    expect(status.tables.web!.overridden).toMatchObject({ method: '/portplane.v1.ConfigService/ApplyConfig', generation: Number(res.result.generation) });
    expect(status.conditions.find((c) => c.type === 'Degraded')).toMatchObject({ status: true, reason: 'LocalOverride' });
    // The next fleet write of the table takes it back.
    const rev = await putTable(etcd, keys, node, { name: 'web', rules: [singlePortRule('http', base, echo.port)] });
    const after = await waitInEffect(etcd, keys, node, 'web', rev);
    expect(after.tables.web!.overridden).toBeUndefined();
    expect((await roundTrip(base, 'back')).toString()).toBe('E:back');
    client.close();
  });

  it('removes a table deleted from etcd', async () => {
    const rev = await deleteTable(etcd, keys, node, 'api');
    await waitInEffect(etcd, keys, node, 'api', rev, { deleted: true });
    expect(daemon.daemon.controller.getConfig().tables.map((t) => t.name)).not.toContain('api');
    await expect(roundTrip(base + 2, 'x', '127.0.0.1', 1_000)).rejects.toThrow();
  });
});
