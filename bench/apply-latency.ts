/**
 * Apply latency, as a controller sees it over gRPC against a daemon process:
 *   (a) the initial apply of 1,000 rules covering 10,000 ports;
 *   (b) one rule of that table changed (retargeted, and resized).
 * Reports both, the ratio b/a (goal <= 1/100) and the daemon's peak RSS.
 *
 *   npm run bench   (builds, then: npx tsx bench/apply-latency.ts [--rounds N])
 *
 * The daemon runs compiled (dist/), as `npm start` runs it.
 */
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { ServiceClient, removeDir, startDaemon, stopDaemon, tempStateDir } from '../test/helpers/daemon-process.js';

const RULES = 1000;
const PORTS_PER_RULE = 10;
const rounds = Number(process.argv[process.argv.indexOf('--rounds') + 1]) || 3;
const CHANGES = 30;

interface Rule {
  name: string;
  protocol: string;
  listen_address: string;
  ports: { first: number; last: number };
  target_address: string;
  target_port: number;
}

/** The first block of RULES * PORTS_PER_RULE ports on 127.0.0.1 with nothing bound in it. */
async function freeBlock(size: number): Promise<number> {
  // Below the ephemeral range (32768+), where outgoing connections can hold ports.
  for (let start = 12000; start + size < 32768; start += 1000) {
    const held: Server[] = [];
    let ok = true;
    for (let p = start; p < start + size && ok; p++) {
      const s = createServer();
      ok = await new Promise<boolean>((res) => {
        s.once('error', () => res(false));
        s.listen({ host: '127.0.0.1', port: p, exclusive: true }, () => res(true));
      });
      if (ok) held.push(s);
    }
    await Promise.all(held.map((s) => new Promise((r) => s.close(r))));
    if (ok) return start;
  }
  throw new Error(`no free block of ${size} ports`);
}

function table(base: number, changedRule = -1, variant = 0): { name: string; rules: Rule[] }[] {
  const rules: Rule[] = [];
  for (let i = 0; i < RULES; i++) {
    const first = base + i * PORTS_PER_RULE;
    const resized = i === changedRule && variant % 2 === 1;
    rules.push({
      name: `rule-${i}`,
      protocol: 'PROTOCOL_TCP',
      listen_address: '127.0.0.1',
      ports: { first, last: first + PORTS_PER_RULE - 1 - (resized ? 1 : 0) },
      target_address: '127.0.0.1',
      // Targets (40000-50009) stay clear of the listening block (12000-32767): a
      // target portplane itself listens on is a loop, rejected by validation.
      target_port: i === changedRule ? 50000 + (variant % 10) : 40000 + i * PORTS_PER_RULE,
    });
  }
  return [{ name: 'bench', rules }];
}

async function peakRssMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return kb / 1024;
}

function stats(samples: number[]): { median: number; p95: number; min: number } {
  const s = [...samples].sort((a, b) => a - b);
  return { median: s[Math.floor(s.length / 2)]!, p95: s[Math.min(s.length - 1, Math.floor(s.length * 0.95))]!, min: s[0]! };
}

async function main(): Promise<void> {
  const base = await freeBlock(RULES * PORTS_PER_RULE);
  const initial: number[] = [];
  const change: number[] = [];
  // The daemon's own account of each change (result.duration_micros): validation, plan and execution, before persisting.
  const changeInDaemon: number[] = [];
  let rss = 0;
  for (let round = 0; round < rounds; round++) {
    const stateDir = await tempStateDir();
    const daemon = await startDaemon(stateDir, ['--log-level', 'warn'], { compiled: true });
    const client = new ServiceClient('ConfigService', daemon.target);
    try {
      let t = performance.now();
      await client.call('ApplyConfig', { tables: table(base) }, 120_000);
      initial.push(performance.now() - t);
      for (let c = 1; c <= CHANGES; c++) {
        t = performance.now();
        const res = await client.call<{ result: { generation: string; duration_micros: string } }>('ApplyConfig', {
          tables: table(base, c % RULES, c),
        });
        change.push(performance.now() - t);
        changeInDaemon.push(Number(res.result.duration_micros) / 1000);
        if (Number(res.result.generation) !== c + 1) throw new Error(`unexpected generation ${res.result.generation}`);
      }
      rss = Math.max(rss, await peakRssMiB(daemon.pid));
    } finally {
      client.close();
      await stopDaemon(daemon);
      await removeDir(stateDir);
    }
  }
  const a = stats(initial);
  const b = stats(change);
  const out = {
    rules: RULES,
    ports: RULES * PORTS_PER_RULE,
    rounds,
    initialApplyMs: { median: +a.median.toFixed(1), min: +a.min.toFixed(1), p95: +a.p95.toFixed(1) },
    oneRuleChangeMs: { median: +b.median.toFixed(2), min: +b.min.toFixed(2), p95: +b.p95.toFixed(2), samples: change.length },
    oneRuleChangeBeforePersistMs: { median: +stats(changeInDaemon).median.toFixed(2) },
    ratioBOverA: `1/${Math.round(a.median / b.median)}`,
    daemonPeakRssMiB: +rss.toFixed(1),
    node: process.version,
  };
  console.log(JSON.stringify(out, null, 2));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
