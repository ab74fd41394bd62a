/**
 * Apply latency, as a controller sees it over gRPC against a daemon process.
 * Every request is encoded before the clock starts and the response is taken
 * as raw bytes, so only the RPC (transfer, the daemon's decode, apply,
 * persistence and its encode of the response) is timed.
 *
 *   single:  (a) the initial apply of one table of 1,000 rules / 10,000 ports;
 *            (b) that table re-sent with one rule retargeted (and resized).
 *   tenants: (c) the initial apply of 200 tables x 5 rules (10,000 ports);
 *            (d) one tenant re-sends only its own table, one rule retargeted;
 *            (e) the same applies of that one table on an otherwise empty daemon.
 * Goals: b/a <= 1/100; d/c <= 1/100 and d/e <= 3.
 *
 * Each daemon is fresh, so its first applies run before V8 has optimised the
 * apply path (client and daemon): b, d and e are given over all changes and
 * also over the changes after the first WARM_AFTER of each daemon, the steady
 * state of a daemon that has been running (`--changes N`, default 50).
 *
 *   npm run bench   (builds, then: npx tsx bench/apply-latency.ts [--rounds N])
 *
 * The daemon runs compiled (dist/), as `npm start` runs it.
 */
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import { protoRoot } from '../src/server/api-definition.js';
import { removeDir, startDaemon, stopDaemon, tempStateDir } from '../test/helpers/daemon-process.js';

const RULES = 1000;
const PORTS_PER_RULE = 10;
const TENANTS = 200;
const TENANT_RULES = 5;
const rounds = Number(process.argv[process.argv.indexOf('--rounds') + 1]) || 3;
const CHANGES = Number(process.argv[process.argv.indexOf('--changes') + 1]) || 50;
const WARM_AFTER = 20;
/** Run only one of the cases (single, tenants, empty), e.g. to profile it. */
const only = process.argv.includes('--case') ? process.argv[process.argv.indexOf('--case') + 1] : undefined;

interface Rule {
  name: string;
  protocol: number;
  listen_address: string;
  ports: { first: number; last: number };
  target_address: string;
  target_port: number;
}

/** The first block of `size` ports on 127.0.0.1 with nothing bound in it. */
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

/** Rules `from`..`from+count-1` of the block; rule `changed` retargeted (and, every second variant, shrunk by a port). */
function rules(base: number, from: number, count: number, changed = -1, variant = 0): Rule[] {
  const out: Rule[] = [];
  for (let i = from; i < from + count; i++) {
    const first = base + i * PORTS_PER_RULE;
    const resized = i === changed && variant % 2 === 1;
    out.push({
      name: `rule-${i}`,
      protocol: 1,
      listen_address: '127.0.0.1',
      ports: { first, last: first + PORTS_PER_RULE - 1 - (resized ? 1 : 0) },
      target_address: '127.0.0.1',
      // Targets (40000-50009) stay clear of the listening block (12000-32767): a
      // target portplane itself listens on is a loop, rejected by validation.
      target_port: i === changed ? 50000 + (variant % 10) : 40000 + i * PORTS_PER_RULE,
    });
  }
  return out;
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

const root = new protobuf.Root();
root.resolvePath = (_origin, target) => join(protoRoot(), target);
root.loadSync('portplane/v1/config_service.proto', { keepCase: true });
const ApplyConfigRequest = root.lookupType('portplane.v1.ApplyConfigRequest');

function encode(tables: { name: string; rules: Rule[] }[]): Buffer {
  return Buffer.from(ApplyConfigRequest.encode(ApplyConfigRequest.fromObject({ tables })).finish());
}

/** One raw ApplyConfig: bytes in, bytes out; resolves with [ms, response bytes]. */
function applyRaw(client: grpc.Client, request: Buffer, timeoutMs = 120_000): Promise<[number, number]> {
  const started = performance.now();
  return new Promise((res, rej) => {
    client.makeUnaryRequest(
      '/portplane.v1.ConfigService/ApplyConfig',
      (b: Buffer) => b,
      (b: Buffer) => b,
      request,
      new grpc.Metadata(),
      { deadline: Date.now() + timeoutMs },
      (err, out) => (err ? rej(err) : res([performance.now() - started, out?.length ?? 0])),
    );
  });
}

async function withDaemon<T>(run: (client: grpc.Client, pid: number) => Promise<T>): Promise<T> {
  const stateDir = await tempStateDir();
  // BENCH_DAEMON_PREFIX runs the daemon through a launcher, e.g. one that adds --cpu-prof.
  const prefix = process.env.BENCH_DAEMON_PREFIX?.split(' ').filter(Boolean);
  const daemon = await startDaemon(stateDir, ['--log-level', 'warn'], { compiled: true, ...(prefix && { prefix }) });
  const client = new grpc.Client(daemon.target, grpc.credentials.createInsecure());
  try {
    return await run(client, daemon.pid);
  } finally {
    client.close();
    await stopDaemon(daemon);
    await removeDir(stateDir);
  }
}

async function main(): Promise<void> {
  const base = await freeBlock(RULES * PORTS_PER_RULE);
  const fullSingle = encode([{ name: 'bench', rules: rules(base, 0, RULES) }]);
  const singleChanges = Array.from({ length: CHANGES }, (_, c) => encode([{ name: 'bench', rules: rules(base, 0, RULES, (c + 1) % RULES, c + 1) }]));
  const tenantTables = Array.from({ length: TENANTS }, (_, t) => ({ name: `tenant-${t}`, rules: rules(base, t * TENANT_RULES, TENANT_RULES) }));
  const fullTenants = encode(tenantTables);
  // The tenant in the middle of the block changes one of its rules.
  const tenant = TENANTS / 2;
  const tenantChanges = Array.from({ length: CHANGES }, (_, c) =>
    encode([{ name: `tenant-${tenant}`, rules: rules(base, tenant * TENANT_RULES, TENANT_RULES, tenant * TENANT_RULES + (c % TENANT_RULES), c + 1) }]),
  );
  const tenantInitial = encode([tenantTables[tenant]!]);

  const a: number[] = [];
  const b: number[] = [];
  const c: number[] = [];
  const d: number[] = [];
  const e: number[] = [];
  const responseBytes: Record<string, number> = {};
  let rss = 0;
  for (let round = 0; round < rounds; round++) {
    if (!only || only === 'single') await withDaemon(async (client, pid) => {
      const [full, fullBytes] = await applyRaw(client, fullSingle);
      a.push(full);
      responseBytes.a = fullBytes;
      for (const req of singleChanges) {
        const [ms, bytes] = await applyRaw(client, req);
        b.push(ms);
        responseBytes.b = bytes;
      }
      rss = Math.max(rss, await peakRssMiB(pid));
    });
    if (!only || only === 'tenants') await withDaemon(async (client) => {
      const [full, fullBytes] = await applyRaw(client, fullTenants);
      c.push(full);
      responseBytes.c = fullBytes;
      for (const req of tenantChanges) {
        const [ms, bytes] = await applyRaw(client, req);
        d.push(ms);
        responseBytes.d = bytes;
      }
    });
    if (!only || only === 'empty') await withDaemon(async (client) => {
      await applyRaw(client, tenantInitial);
      for (const req of tenantChanges) e.push((await applyRaw(client, req))[0]);
    });
  }
  const fmt = (xs: number[]) => {
    if (xs.length === 0) return null;
    const s = stats(xs);
    return { median: +s.median.toFixed(2), min: +s.min.toFixed(2), p95: +s.p95.toFixed(2), samples: xs.length };
  };
  const med = (xs: number[]) => (xs.length === 0 ? NaN : stats(xs).median);
  // Samples of one daemon are consecutive, CHANGES of them per daemon.
  const warm = (xs: number[]) => xs.filter((_, i) => i % CHANGES >= WARM_AFTER);
  const out = {
    rounds,
    a_fullApply1000RulesMs: fmt(a),
    b_oneRuleChangedMs: fmt(b),
    ratioBOverA: `1/${(med(a) / med(b)).toFixed(0)}`,
    b_afterFirst20ChangesMs: fmt(warm(b)),
    ratioBWarmOverA: `1/${(med(a) / med(warm(b))).toFixed(0)}`,
    c_full200TablesMs: fmt(c),
    d_oneTenantOnBusyHostMs: fmt(d),
    e_oneTenantOnEmptyDaemonMs: fmt(e),
    ratioDOverC: `1/${(med(c) / med(d)).toFixed(0)}`,
    ratioDOverE: +(med(d) / med(e)).toFixed(2),
    d_afterFirst20ChangesMs: fmt(warm(d)),
    e_afterFirst20ChangesMs: fmt(warm(e)),
    ratioDWarmOverC: `1/${(med(c) / med(warm(d))).toFixed(0)}`,
    ratioDWarmOverEWarm: +(med(warm(d)) / med(warm(e))).toFixed(2),
    requestBytes: { a: fullSingle.length, b: singleChanges[0]!.length, c: fullTenants.length, d: tenantChanges[0]!.length },
    responseBytes,
    daemonPeakRssMiB: +rss.toFixed(1),
    node: process.version,
  };
  console.log(JSON.stringify(out, null, 2));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
