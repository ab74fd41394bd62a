/**
 * The agent code as the benchmark runs it (bench/fleet.ts): many agents in
 * one process, one etcd client, an applier without sockets. Every agent
 * converges on its own write and no other's, and one agent's bad table is
 * reported on that agent alone. Figures live in the benchmark, not here.
 */
import { Etcd3 } from 'etcd3';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FleetAgent } from '../../src/fleet/agent.js';
import { nodeProgress, readFleet } from '../../src/fleet/fleet-view.js';
import { FleetKeys } from '../../src/fleet/keys.js';
import { SimulatedApplier } from '../helpers/simulated-applier.js';
import { EtcdServer, etcdUnavailable } from '../helpers/etcd.js';
import { putRaw, putTable, waitFor } from '../helpers/fleet.js';
import { singlePortRule } from '../helpers/wire-rules.js';

const unavailable = await etcdUnavailable();
const N = 40;

describe.skipIf(unavailable !== undefined)(`${N} simulated agents on one etcd${unavailable ? ` (skipped: ${unavailable})` : ''}`, () => {
  let etcdServer: EtcdServer;
  let etcd: Etcd3;
  let agents: FleetAgent[];
  let appliers: SimulatedApplier[];
  const keys = new FleetKeys('/scale');

  beforeAll(async () => {
    etcdServer = await EtcdServer.start();
    etcd = new Etcd3({ hosts: etcdServer.url });
    appliers = Array.from({ length: N }, () => new SimulatedApplier());
    agents = appliers.map((applier, i) => new FleetAgent({ etcd, node: `s${i}`, keys, applier, logger: pino({ level: 'silent' }), watchdogMs: 1_000 }));
    await Promise.all(agents.map((a) => a.start()));
  });
  afterAll(async () => {
    await Promise.all((agents ?? []).map((a) => a.stop()));
    etcd?.close();
    await etcdServer?.destroy();
  });

  it('every agent applies its own write, once, and reports it; a bad table shows on its node only', async () => {
    await Promise.all(agents.map((_, i) => putTable(etcd, keys, `s${i}`, { name: 'svc', rules: [singlePortRule('r', 20_000 + i, 9)] })));
    await putRaw(etcd, keys, 's0', 'oops', '{"tables": [{"name": "oops", "rules": [{"protocol": "tcp"}]}]}');
    const view = await waitFor('all agents reflect their desired tables', async () => {
      const v = await readFleet(etcd, keys);
      return agents.every((a) => v.nodes.get(a.node) && nodeProgress(v.nodes.get(a.node)!) !== 'behind') ? v : undefined;
    }, 30_000);
    expect(nodeProgress(view.nodes.get('s0')!)).toBe('failed');
    expect(view.nodes.get('s0')!.status!.tables.oops!.violations!.length).toBeGreaterThan(0);
    for (let i = 1; i < N; i++) {
      expect(nodeProgress(view.nodes.get(`s${i}`)!)).toBe('in_effect');
      expect(Object.keys(view.nodes.get(`s${i}`)!.status!.tables)).toEqual(['svc']);
    }
    // One apply per agent for one write (s0's two keys may come in one batch or two).
    for (let i = 1; i < N; i++) expect(appliers[i]!.applies).toBe(1);
  });
});
