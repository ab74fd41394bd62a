/**
 * Fleet figures (docs/benchmarks.md), against one real etcd on loopback:
 *
 * A. Three real daemons (compiled, as `npm start` runs them, each its own
 *    process and state directory): 100 writes, round robin over the nodes,
 *    each a changed table; per write, the time from issuing the put to the
 *    node's status showing it applied. Peer in the same run: a
 *    plain etcd watcher on the same key (etcd's own write -> watch delivery),
 *    as a ratio.
 * B. N simulated agents (default 1,000) in this process: the real agent code
 *    (list, watch, watchdog, status under a lease) over an applier that
 *    parses and validates but opens no sockets (test/helpers/simulated-applier.ts).
 *    One write per agent, all at once; the time until every agent's status
 *    shows its write applied, the time the writes took, and the etcd
 *    requests it cost. Peer: N plain etcd watchers seeing the same N writes.
 *
 *   npm run bench:fleet              (pp-bench npm run bench:fleet on the shared machine)
 *   npm run bench:fleet -- --agents 2000 --writes 100
 */
import { Etcd3, type Watcher } from 'etcd3';
import { pino } from 'pino';
import { FleetAgent } from '../src/fleet/agent.js';
import { desiredTableText } from '../src/fleet/desired-table.js';
import { FleetKeys } from '../src/fleet/keys.js';
import type { NodeStatus } from '../src/fleet/status.js';
import { removeDir, startDaemon, stopDaemon, tempStateDir, type DaemonProcess } from '../test/helpers/daemon-process.js';
import { EtcdServer } from '../test/helpers/etcd.js';
import { freePortBlock, startEchoServer } from '../test/helpers/tcp.js';
import { SimulatedApplier } from '../test/helpers/simulated-applier.js';

const arg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};
const AGENTS = arg('--agents', 1_000);
const WRITES = arg('--writes', 100);

const pct = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
const ms = (n: number): string => `${n.toFixed(1)} ms`;
const summary = (samples: number[]): string => {
  const s = [...samples].sort((a, b) => a - b);
  return `p50 ${ms(pct(s, 50))}, p95 ${ms(pct(s, 95))}, p99 ${ms(pct(s, 99))}, max ${ms(s[s.length - 1]!)} (${s.length} writes)`;
};

/** Calls `onStatus` with every status put under `keys`' status prefix, as etcd delivers them. */
async function watchStatuses(etcd: Etcd3, keys: FleetKeys, onStatus: (node: string, status: NodeStatus) => void): Promise<Watcher> {
  const watcher = await etcd.watch().prefix(keys.statusPrefix()).create();
  watcher.on('put', (kv) => onStatus(kv.key.toString().slice(keys.statusPrefix().length), JSON.parse(kv.value.toString()) as NodeStatus));
  return watcher;
}

const tableFor = (name: string, address: string, port: number, target: number, variant: number): object => ({
  name,
  rules: [{ name: 'r', protocol: 'PROTOCOL_TCP', listen_address: address, ports: { first: port, last: port }, target_address: '127.0.0.1', target_port: target, connect_timeout_ms: 1_000 + variant }],
});

async function realDaemons(etcdServer: EtcdServer): Promise<void> {
  const keys = new FleetKeys('/bench-real');
  const etcd = new Etcd3({ hosts: etcdServer.url });
  const echo = await startEchoServer();
  const port = await freePortBlock(1);
  const nodes = ['n1', 'n2', 'n3'];
  const dirs: string[] = [];
  const daemons: DaemonProcess[] = [];
  for (const node of nodes) {
    const dir = await tempStateDir();
    dirs.push(dir);
    daemons.push(await startDaemon(dir, ['--log-level', 'warn', '--etcd', etcdServer.url, '--node', node, '--etcd-prefix', keys.prefix], { compiled: true }));
  }
  // Per node: the newest revision its status shows applied, and when that status arrived.
  const applied = new Map<string, { revision: number; at: number }>();
  const statusWatch = await watchStatuses(etcd, keys, (node, status) => {
    const t = status.tables.svc;
    if (t?.outcome === 'applied') applied.set(node, { revision: t.appliedRevision ?? 0, at: performance.now() });
  });
  // The peer: etcd's own delivery of the same write to a plain watcher.
  const delivered = new Map<number, number>();
  const peerWatch = await etcd.watch().prefix(keys.allNodes()).create();
  peerWatch.on('put', (kv) => delivered.set(Number(kv.mod_revision), performance.now()));

  const portplane: number[] = [];
  const etcdOnly: number[] = [];
  for (let w = 0; w < WRITES + nodes.length; w++) {
    const i = w % nodes.length;
    const node = nodes[i]!;
    const value = desiredTableText(tableFor('svc', `127.0.0.${i + 2}`, port, echo.port, w));
    // Both figures run from the moment the put is issued: etcd's watch often delivers before the put's answer is read.
    const t1 = performance.now();
    const res = await etcd.put(keys.table(node, 'svc')).value(value).exec();
    const revision = Number(res.header.revision);
    const deadline = Date.now() + 10_000;
    // Polls what the status watch recorded; bounded by the deadline.
    while ((applied.get(node)?.revision ?? 0) < revision) {
      if (Date.now() > deadline) throw new Error(`write ${w} to ${node} not applied within 10 s`);
      await new Promise((r) => setTimeout(r, 1));
    }
    const at = applied.get(node)!.at;
    // Write 0..2 open each node's forward: warm-up, not counted.
    if (w >= nodes.length) {
      portplane.push(at - t1);
      const seen = delivered.get(revision);
      if (seen !== undefined) etcdOnly.push(Math.max(0, seen - t1));
    }
  }
  await statusWatch.cancel();
  await peerWatch.cancel();
  const sorted = [...portplane].sort((a, b) => a - b);
  const peer = [...etcdOnly].sort((a, b) => a - b);
  console.log(`A. three daemons, etcd put issued -> status shows it applied: ${summary(portplane)}`);
  console.log(`   peer, etcd put issued -> a plain watcher has the event: ${summary(etcdOnly)}`);
  console.log(`   ratio at p50: ${(pct(sorted, 50) / Math.max(0.01, pct(peer, 50))).toFixed(1)}x, at p99: ${(pct(sorted, 99) / Math.max(0.01, pct(peer, 99))).toFixed(1)}x (goal: p99 < 1 s)`);
  for (const d of daemons) await stopDaemon(d);
  for (const dir of dirs) await removeDir(dir);
  await echo.close();
  etcd.close();
}

async function simulatedAgents(etcdServer: EtcdServer): Promise<void> {
  const keys = new FleetKeys('/bench-sim');
  const logger = pino({ level: 'warn' });
  const etcd = new Etcd3({ hosts: etcdServer.url });
  const nodes = Array.from({ length: AGENTS }, (_, i) => `sim-${String(i).padStart(5, '0')}`);
  const mem0 = process.memoryUsage().rss;
  const startT = performance.now();
  const agents = nodes.map((node) => new FleetAgent({ etcd, node, keys, applier: new SimulatedApplier(), logger, leaseTtlSeconds: 30, watchdogMs: 10_000 }));
  await Promise.all(agents.map((a) => a.start()));
  // Started: every agent has listed (an empty node) and is watching.
  const until = Date.now() + 120_000;
  while (agents.some((a) => a.counts.lists === 0) && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
  const startedMs = performance.now() - startT;

  const written = new Map<string, number>();
  const applied = new Map<string, { revision: number; at: number }>();
  const statusWatch = await watchStatuses(etcd, keys, (node, status) => {
    const t = status.tables.svc;
    if (t?.outcome === 'applied') applied.set(node, { revision: t.appliedRevision ?? 0, at: performance.now() });
  });
  const behind = (): string[] => nodes.filter((n) => (applied.get(n)?.revision ?? 0) < (written.get(n) ?? Infinity));
  // The peer: one plain watcher per node on the same keys.
  const peerClient = new Etcd3({ hosts: etcdServer.url });
  const peerSeen = new Set<string>();
  let peerLast = 0;
  const peerWatchers = await Promise.all(
    nodes.map(async (node) => {
      const w = await peerClient.watch().prefix(keys.nodeTables(node)).create();
      w.on('put', () => {
        peerSeen.add(node);
        peerLast = performance.now();
      });
      return w;
    }),
  );

  const t0 = performance.now();
  // One write per agent, all in flight together (etcd batches them).
  await Promise.all(
    nodes.map(async (node, i) => {
      const res = await etcd.put(keys.table(node, 'svc')).value(desiredTableText(tableFor('svc', '127.0.0.1', 10_000 + i, 9, i))).exec();
      written.set(node, Number(res.header.revision));
    }),
  );
  const writesMs = performance.now() - t0;
  // Bounded: 60 s at most.
  const giveUp = Date.now() + 60_000;
  while (behind().length > 0 && Date.now() < giveUp) await new Promise((r) => setTimeout(r, 10));
  const late = behind();
  const convergedMs = Math.max(...nodes.map((n) => applied.get(n)?.at ?? Infinity)) - t0;
  const converged = AGENTS - late.length;
  const rss = process.memoryUsage().rss;
  const statusPuts = agents.reduce((n, a) => n + a.statusCounts.puts, 0);
  console.log(`B. ${AGENTS} simulated agents (one process, one etcd client; in-process figure), started and watching in ${ms(startedMs)}`);
  console.log(`   ${AGENTS} writes (one per agent, concurrent) acknowledged in ${ms(writesMs)}; every status shows its write applied ${ms(convergedMs)} after the first put (${converged}/${AGENTS} converged; goal < 5 s)`);
  console.log(`   peer: ${AGENTS} plain etcd watchers saw all ${peerSeen.size} writes ${ms(peerLast - t0)} after the first put; ratio ${(convergedMs / Math.max(1, peerLast - t0)).toFixed(1)}x`);
  console.log(`   etcd load of the agents: ${AGENTS} lists, ${AGENTS} watches, ${AGENTS} leases; ${statusPuts} status puts in all (start + write); agent process RSS ${((rss - mem0) / 2 ** 20).toFixed(0)} MiB over the baseline`);
  await statusWatch.cancel();
  await Promise.all(peerWatchers.map((w) => w.cancel()));
  peerClient.close();
  await Promise.all(agents.map((a) => a.stop()));
  etcd.close();
}

const etcdServer = await EtcdServer.start(['--quota-backend-bytes', String(4 * 2 ** 30)]);
try {
  console.log(`etcd ${etcdServer.url}, Node ${process.version}`);
  await realDaemons(etcdServer);
  await simulatedAgents(etcdServer);
} finally {
  await etcdServer.destroy();
}
process.exit(0);
