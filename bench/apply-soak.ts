/**
 * Many applies of one tenant's table on a host of 200 tables (10,000 ports),
 * against a daemon process: its RSS and the state directory (bytes, files)
 * every 1,000 applies, then the time from kill -9 to a restarted daemon
 * answering GetConfig with the last committed generation.
 *
 *   npm run -s build && npx tsx bench/apply-soak.ts [--applies 10000] [--restores 1]
 *
 * Restore time: from the killed daemon's exit to the first GetConfig that
 * answers the last committed generation. The restarted daemon serves its
 * control socket only once every listener of that generation is open, so the
 * figure covers both. `--restores N` kills and restarts N times (the state
 * directory of the first restore is the one the soak wrote; each restart
 * restores the same generation). `stopMs`: SIGTERM to exit of the last
 * restored daemon (every listener closed).
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ServiceClient, removeDir, startDaemon, stopDaemon, tempStateDir } from '../test/helpers/daemon-process.js';

const option = (name: string): number | undefined => {
  const at = process.argv.indexOf(name);
  return at < 0 ? undefined : Number(process.argv[at + 1]);
};
const applies = option('--applies') || 10_000;
const restores = option('--restores') || 1;
const TENANTS = 200;
const RULES = 5;
const BASE = 12000;

const rule = (i: number, target: number): object => ({
  name: `rule-${i}`,
  protocol: 'PROTOCOL_TCP',
  listen_address: '127.0.0.1',
  ports: { first: BASE + i * 10, last: BASE + i * 10 + 9 },
  target_address: '127.0.0.1',
  target_port: target,
});
const table = (t: number, variant = 0): object => ({
  name: `tenant-${t}`,
  rules: Array.from({ length: RULES }, (_, r) => rule(t * RULES + r, 40000 + ((t * RULES + r) % 1000) * 10 + (r === 0 ? variant % 7 : 0))),
});

async function dirSize(dir: string): Promise<{ bytes: number; files: number }> {
  let bytes = 0;
  let files = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      const sub = await dirSize(path);
      bytes += sub.bytes;
      files += sub.files;
    } else if (entry.isFile()) {
      // A compaction may rename or remove a temporary file between readdir and stat: it no longer counts.
      const size = await stat(path).then(
        (st) => st.size,
        (err: NodeJS.ErrnoException) => {
          if (err.code === 'ENOENT') return undefined;
          throw err;
        },
      );
      if (size === undefined) continue;
      bytes += size;
      files++;
    }
  }
  return { bytes, files };
}

async function rssMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
}

// The per-caller apply rate limit (default 50/s) is not what this measures.
const ARGS = ['--log-level', 'warn', '--apply-rate', '100000', '--apply-burst', '100000'];

async function main(): Promise<void> {
  const stateDir = await tempStateDir();
  // BENCH_DAEMON_PREFIX runs the daemon through a launcher, e.g. one capping its heap to show garbage from a leak.
  const prefix = process.env.BENCH_DAEMON_PREFIX?.split(' ').filter(Boolean);
  const options = { compiled: true, ...(prefix && { prefix }) };
  let daemon = await startDaemon(stateDir, ARGS, options);
  let client = new ServiceClient('ConfigService', daemon.target);
  const samples: object[] = [];
  try {
    await client.call('ApplyConfig', { tables: Array.from({ length: TENANTS }, (_, t) => table(t)) }, 120_000);
    const tenant = TENANTS / 2;
    let generation = 1;
    for (let i = 1; i <= applies; i++) {
      const res = await client.call<{ result: { generation: string } }>('ApplyConfig', { tables: [table(tenant, i)] });
      generation = Number(res.result.generation);
      if (i % 1000 === 0) samples.push({ applies: i, rssMiB: +(await rssMiB(daemon.pid)).toFixed(1), stateDir: await dirSize(stateDir) });
    }
    const restoreMs: number[] = [];
    for (let r = 0; r < restores; r++) {
      client.close();
      await stopDaemon(daemon, 'SIGKILL');
      const killed = performance.now();
      // Polls the control socket every 5 ms (the helper's default 50 ms would add up to 50 ms of waiting to the figure).
      daemon = await startDaemon(stateDir, ARGS, { ...options, pollMs: 5 });
      client = new ServiceClient('ConfigService', daemon.target);
      const running = await client.call<{ generation: string }>('GetConfig', {});
      restoreMs.push(+(performance.now() - killed).toFixed(0));
      if (Number(running.generation) !== generation) throw new Error(`restored generation ${running.generation}, committed ${generation}`);
    }
    const median = [...restoreMs].sort((x, y) => x - y)[Math.floor(restoreMs.length / 2)];
    // A graceful stop of the restored daemon (SIGTERM to exit): it closes every listener.
    client.close();
    const stopping = performance.now();
    await stopDaemon(daemon);
    const stopMs = +(performance.now() - stopping).toFixed(0);
    console.log(
      JSON.stringify({ applies, samples, restoreAfterKillMs: restoreMs, restoreMedianMs: median, restoredGeneration: generation, stopMs, node: process.version }, null, 2),
    );
  } finally {
    client.close();
    await stopDaemon(daemon);
    await removeDir(stateDir);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
