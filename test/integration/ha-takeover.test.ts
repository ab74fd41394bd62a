/**
 * An HA takeover end to end, as root, in the namespaces of test/helpers/ha-pair.ts:
 * keepalived moves the virtual addresses, notify scripts set each node's role
 * with `portplane ha role`. Long-lived TCP flows and a UDP flow run through
 * the virtual address; the active daemon is killed with SIGKILL; every flow
 * must keep moving bytes both ways through the standby, and new connections
 * must succeed. Then a sync link that drops 10% of packets, and one that goes
 * one-directional, must show in the sync status. Timings are printed here and
 * measured by bench/ha-takeover.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haPairSkipReason, HaPair } from '../helpers/ha-pair.js';

const skipReason = haPairSkipReason();
if (skipReason) console.info(`skipped HA takeover test: ${skipReason}`);

const TCP_FLOWS = 3;

describe.skipIf(skipReason !== undefined)('HA takeover through keepalived, namespaces end to end', () => {
  const pair = new HaPair();

  beforeAll(() => pair.start(), 180_000);
  afterAll(() => pair.stop(), 60_000);

  it('established TCP and UDP flows keep moving through the standby after SIGKILL of the active; new connections succeed', async () => {
    expect((await pair.waitForSync('n2', 'SYNC_STATE_IN_SYNC', 20_000))).toMatchObject({ role: 'HA_ROLE_STANDBY', sync: { state: 'SYNC_STATE_IN_SYNC' } });
    await pair.startClient(TCP_FLOWS);
    // Every flow is on the standby before the active dies: one sync interval
    // (heartbeats are 200 ms) when the machine is idle, longer when it is loaded.
    let imported = 0;
    for (const until = Date.now() + 20_000; imported < TCP_FLOWS + 1 && Date.now() < until; ) {
      imported = Number(pair.view('n2').sync.sessions_imported);
      if (imported < TCP_FLOWS + 1) await new Promise((r) => setTimeout(r, 200));
    }
    expect(imported).toBeGreaterThanOrEqual(TCP_FLOWS + 1);

    const takeover = await pair.killActive('n1', 3000);
    expect(takeover.vipMs).toBeGreaterThan(0);
    expect(takeover.roleMs).toBeGreaterThan(0);
    console.info(
      `HA takeover: SIGKILL -> address on the standby ${takeover.vipMs} ms, -> role active ${takeover.roleMs} ms; ` +
        `largest gap between echoes per flow: ${takeover.after.map((f) => `${f.name} ${f.maxGap} ms`).join(', ')}`,
    );
    // Every flow kept moving bytes both ways through the standby (echoes keep coming back), none was reset.
    const stalled = takeover.after.filter((f, i) => f.error !== '' || f.received <= takeover.before[i]!.received + 1000);
    expect(stalled).toEqual([]);
    expect(await pair.newConnection()).toMatchObject({ ok: true });
  }, 120_000);

  it('a lossy sync link and a one-directional one show in the sync status, and the sync recovers', async () => {
    // n2 is active now; n1 comes back as the standby that follows it.
    await pair.startDaemon('n1');
    expect(await pair.waitForSync('n1', 'SYNC_STATE_IN_SYNC', 30_000)).toMatchObject({ role: 'HA_ROLE_STANDBY', sync: { state: 'SYNC_STATE_IN_SYNC' } });

    // 10% of the sync link's packets dropped: TCP recovers them, late heartbeats show it.
    pair.lossySyncLink('n1', 0.1);
    const lossy = await pair.waitForSync('n1', 'SYNC_STATE_DEGRADED', 30_000);
    pair.lossySyncLink('n1', 0);
    console.info(`HA sync over a 10% lossy link: ${JSON.stringify(lossy.sync)}`);
    expect(lossy.sync.state).toBe('SYNC_STATE_DEGRADED');
    expect(Number(lossy.sync.late_heartbeats)).toBeGreaterThan(0);
    await pair.waitForSync('n1', 'SYNC_STATE_IN_SYNC', 30_000);

    // One-directional: n1 hears nothing from the active any more; both ends report it.
    pair.oneWaySyncLink('n1', true);
    const follower = await pair.waitForSync('n1', 'SYNC_STATE_DOWN', 20_000);
    const served = await pair.waitForSync('n2', 'SYNC_STATE_DEGRADED', 20_000);
    pair.oneWaySyncLink('n1', false);
    console.info(`HA sync over a one-directional link: standby ${JSON.stringify(follower.sync)}; active ${JSON.stringify(served.sync)}`);
    expect(follower.sync.state).toBe('SYNC_STATE_DOWN');
    expect(follower.sync.detail).toMatch(/no heartbeat|HA peer/);
    expect(served.sync.state).toBe('SYNC_STATE_DEGRADED');
    expect(served.sync.detail).toContain('no acknowledgement');
    expect((await pair.waitForSync('n1', 'SYNC_STATE_IN_SYNC', 30_000)).sync.state).toBe('SYNC_STATE_IN_SYNC');
  }, 150_000);
});
