/**
 * HA takeover and sync cost, end to end in the namespaces of
 * test/helpers/ha-pair.ts (root; keepalived, VRRP advert 1 s): rounds of
 * SIGKILL of the active daemon while 3 TCP flows and a UDP flow run through
 * the virtual address, each round timing the address move, the role change
 * and the largest gap between echoes per flow; then the bytes on the sync
 * link per 1,000 new short TCP flows and for the bulk sync of 1,000 sessions.
 *
 *   npm run bench:ha [-- --rounds N]
 */
import { haPairSkipReason, HaPair, NODES, type NodeName } from '../test/helpers/ha-pair.js';

const rounds = Number(process.argv[process.argv.indexOf('--rounds') + 1] ?? 3) || 3;
const skip = haPairSkipReason();
if (skip) {
  console.log(`skipped: ${skip}`);
  process.exit(0);
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const pair = new HaPair();
try {
  await pair.start();
  await pair.waitForSync('n2', 'SYNC_STATE_IN_SYNC', 30_000);
  await pair.startClient(3);
  let active: NodeName = 'n1';
  const results: { vip: number; role: number; tcpGap: number; udpGap: number; lost: number }[] = [];
  for (let r = 0; r < rounds; r++) {
    const standby: NodeName = active === 'n1' ? 'n2' : 'n1';
    await new Promise((res) => setTimeout(res, 1500));
    const t = await pair.killActive(active, 3000);
    const lost = t.after.filter((f, i) => f.error !== '' || f.received <= t.before[i]!.received + 1000).length;
    const tcpGap = Math.max(...t.after.filter((f) => f.name.startsWith('tcp')).map((f) => f.maxGap));
    const udpGap = t.after.find((f) => f.name === 'udp')!.maxGap;
    results.push({ vip: t.vipMs, role: t.roleMs, tcpGap, udpGap, lost });
    console.log(`round ${r + 1}: kill ${active}: address on ${standby} after ${t.vipMs} ms, role active after ${t.roleMs} ms; largest gap TCP ${tcpGap} ms, UDP ${udpGap} ms; flows stalled ${lost} of ${t.after.length}`);
    await pair.startDaemon(active);
    await pair.waitForSync(active, 'SYNC_STATE_IN_SYNC', 30_000);
    active = standby;
  }
  console.log(
    `takeover, median of ${rounds}: address ${median(results.map((r) => r.vip))} ms, role ${median(results.map((r) => r.role))} ms, ` +
      `gap TCP ${median(results.map((r) => r.tcpGap))} ms (max ${Math.max(...results.map((r) => r.tcpGap))}), UDP ${median(results.map((r) => r.udpGap))} ms; flows stalled ${results.reduce((n, r) => n + r.lost, 0)}`,
  );

  // Sync traffic: bytes both ways on the sync link, measured at the standby's end.
  const standby = NODES.find((n) => n !== active)!;
  let bytes = pair.syncLinkBytes(standby);
  const flows = 2000;
  const burst = await pair.burst(flows);
  await new Promise((res) => setTimeout(res, 1000));
  const perThousandFlows = ((pair.syncLinkBytes(standby) - bytes) / flows) * 1000;
  const rate = (flows / burst.ms) * 1000;
  console.log(`sync traffic: ${(perThousandFlows / 1024).toFixed(1)} KiB per 1,000 new TCP flows (open, updates, close); ${flows} flows at ${rate.toFixed(0)}/s, ${burst.failed} failed; at 1,000 new flows/s: ${((perThousandFlows * 8) / 1e6).toFixed(2)} Mbit/s`);

  const answered = await pair.udpFlows(1000);
  console.log(`1,000 UDP flows opened, ${answered} answered within 5 s`);
  await new Promise((res) => setTimeout(res, 1000));
  // A restarted standby takes the whole table in one bulk sync.
  pair.killDaemon(standby);
  await new Promise((res) => setTimeout(res, 500));
  bytes = pair.syncLinkBytes(active);
  await pair.startDaemon(standby);
  const synced = await pair.waitForSync(standby, 'SYNC_STATE_IN_SYNC', 30_000);
  await new Promise((res) => setTimeout(res, 500));
  const bulk = pair.syncLinkBytes(active) - bytes;
  const sessions = Number(synced.sync.sessions_imported);
  console.log(`bulk sync: ${sessions} sessions in ${(bulk / 1024).toFixed(1)} KiB (connection setup and heartbeats included): ${((bulk / sessions) * 1000 / 1024).toFixed(1)} KiB per 1,000 sessions`);
} finally {
  await pair.stop();
}
