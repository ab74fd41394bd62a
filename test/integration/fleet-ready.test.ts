/**
 * The fleet status's Ready condition against a real etcd: a progress point
 * (the watchdog's probe finding etcd's keys equal to what the watch
 * delivered) that arrives while an apply runs raises the revision the agent
 * has heard of, but changes nothing to apply, so the status written when the
 * apply is in effect says Ready. It used to say "Applying" until the node's
 * keys next changed, since nothing made the agent reflect the progress point
 * (fleet-e2e read Ready=false on a loaded machine, where applies take longer).
 */
import { Etcd3 } from 'etcd3';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FleetAgent } from '../../src/fleet/agent.js';
import type { BatchOutcome, FleetBatch } from '../../src/fleet/applier.js';
import { FleetKeys } from '../../src/fleet/keys.js';
import { EtcdServer, etcdUnavailable } from '../helpers/etcd.js';
import { putTable, readStatus, waitFor, waitInEffect } from '../helpers/fleet.js';
import { SimulatedApplier } from '../helpers/simulated-applier.js';
import { singlePortRule } from '../helpers/wire-rules.js';

const unavailable = await etcdUnavailable();

/** Applies as SimulatedApplier does, but each apply waits for release() while held. */
class HeldApplier extends SimulatedApplier {
  waiting = 0;
  private gate: Promise<void> | undefined;
  private open: (() => void) | undefined;

  hold(): void {
    this.gate = new Promise((resolve) => (this.open = resolve));
  }

  release(): void {
    this.open?.();
    this.gate = undefined;
  }

  override async apply(batch: FleetBatch): Promise<BatchOutcome> {
    if (this.gate) {
      this.waiting++;
      await this.gate;
    }
    return super.apply(batch);
  }
}

describe.skipIf(unavailable !== undefined)(`fleet Ready condition${unavailable ? ` (skipped: ${unavailable})` : ''}`, () => {
  let etcdServer: EtcdServer;
  let etcd: Etcd3;
  let agent: FleetAgent;
  const applier = new HeldApplier();
  const keys = new FleetKeys('/ready');
  const node = 'r1';

  beforeAll(async () => {
    etcdServer = await EtcdServer.start();
    etcd = new Etcd3({ hosts: etcdServer.url });
    agent = new FleetAgent({ etcd, node, keys, applier, logger: pino({ level: 'silent' }), watchdogMs: 50 });
    await agent.start();
    await waitFor('the first status', async () => ((await readStatus(etcd, keys, node))?.conditions.find((c) => c.type === 'Stale')?.status === false ? true : undefined));
  });
  afterAll(async () => {
    applier.release();
    await agent?.stop();
    etcd?.close();
    await etcdServer?.destroy();
  });

  it('a progress point seen during an apply does not keep Ready false once the apply is in effect', async () => {
    applier.hold();
    const rev = await putTable(etcd, keys, node, { name: 'web', rules: [singlePortRule('http', 20_000, 9)] });
    await waitFor('the apply to start', async () => (applier.waiting > 0 ? true : undefined));
    // Another node's write moves etcd's revision past the one being applied; then
    // two probes answer (the second certainly after the write).
    await putTable(etcd, keys, 'other', { name: 'web', rules: [singlePortRule('http', 20_001, 9)] });
    const probes = agent.counts.probes;
    await waitFor('two watchdog probes', async () => (agent.counts.probes >= probes + 2 ? true : undefined));
    applier.release();
    const status = await waitInEffect(etcd, keys, node, 'web', rev);
    expect(status.conditions.find((c) => c.type === 'Ready')).toMatchObject({ status: true, reason: 'AsDesired' });
    expect(agent.status().conditions.find((c) => c.type === 'Ready')).toMatchObject({ status: true });
  });

  it('a change seen during an apply keeps Ready false until it is applied too', async () => {
    applier.hold();
    const first = await putTable(etcd, keys, node, { name: 'web', rules: [singlePortRule('http', 20_002, 9)] });
    await waitFor('the apply to start', async () => (applier.waiting > 1 ? true : undefined));
    const second = await putTable(etcd, keys, node, { name: 'api', rules: [singlePortRule('http', 20_003, 9)] });
    await waitFor('the change to be seen', async () => (agent.counts.watchEvents >= 3 ? true : undefined));
    expect(agent.status().conditions.find((c) => c.type === 'Ready')).toMatchObject({ status: false, reason: 'Applying' });
    applier.release();
    await waitInEffect(etcd, keys, node, 'web', first);
    const status = await waitInEffect(etcd, keys, node, 'api', second);
    expect(status.conditions.find((c) => c.type === 'Ready')).toMatchObject({ status: true });
  });
});
