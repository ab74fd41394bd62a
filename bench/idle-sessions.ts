/**
 * Holds N idle TCP connections through a forwarder (to a target this script
 * runs, which holds the upstream ends) and prints the forwarder's RSS growth
 * per connection; then closes them and prints its RSS and descriptor count
 * against the baseline before they opened.
 *   npx tsx bench/idle-sessions.ts PID PORT TARGET_PORT N
 */
import { readdirSync, readFileSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';

const [pid, port, targetPort, count] = process.argv.slice(2).map(Number) as [number, number, number, number];
const rssKiB = (): number => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
const fds = (): number => readdirSync(`/proc/${pid}/fd`).length;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const held: Socket[] = [];
await new Promise<void>((resolve) =>
  createServer((s) => held.push(s)).listen({ host: '127.0.0.1', port: targetPort, backlog: 4096 }, resolve),
);
await sleep(1000);
const before = rssKiB();
const fdsBefore = fds();
const sockets: Socket[] = [];
for (let i = 0; i < count; i += 500) {
  const batch: Promise<unknown>[] = [];
  for (let j = i; j < Math.min(count, i + 500); j++) {
    const s = connect({ host: '127.0.0.1', port });
    s.on('error', (e: Error) => {
      console.error(`connection ${j}: ${e.message}`);
      process.exit(1);
    });
    sockets.push(s);
    batch.push(new Promise((r) => s.once('connect', r)));
  }
  await Promise.all(batch);
}
// Let the forwarder finish its upstream connects and settle.
for (let i = 0; i < 100 && held.length < count; i++) await sleep(100);
await sleep(2000);
const after = rssKiB();
const fdsOpen = fds();
for (const s of sockets) s.destroy();
for (const s of held) s.destroy();
// The forwarder closes both legs as the resets arrive; give it a bounded while.
for (let i = 0; i < 100 && fds() > fdsBefore; i++) await sleep(100);
await sleep(2000);
console.log(
  JSON.stringify({
    connections: count,
    upstreamsHeld: held.length,
    rssBeforeKiB: before,
    rssAfterKiB: after,
    bytesPerSession: Math.round(((after - before) * 1024) / count),
    fdsBefore,
    fdsOpen,
    fdsAfterClose: fds(),
    rssAfterCloseKiB: rssKiB(),
  }),
);
process.exit(0);
