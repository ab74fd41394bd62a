/**
 * Control-plane figures of the nftables backend, with the daemon (compiled)
 * in a network namespace created here:
 *   (a) apply of 1,000 rules / 10,000 ports, end to end (ApplyConfig RPC
 *       until the kernel committed the batch), and one rule of it changed;
 *       the goal: one-rule <= 10 ms and <= 1/100 of the full apply (median of
 *       20 changes after 20 unmeasured ones, whose times are listed); split into
 *       the nftables backend's share (its debug log "nftables apply written"),
 *       the rest of the daemon's apply (validate, plan, counters, history:
 *       duration_micros minus the backend), what a no-op apply of the same
 *       table costs outside duration_micros (request encode/decode and
 *       transport, shared by every backend) and the remainder (the ledger's
 *       commit after duration_micros is taken, the response);
 *   (b) the batch transport: libnftables in-process vs spawning `nft -f -`,
 *       for a one-element batch (why the addon is the default);
 *   (c) first-packet cost with 10 vs 10,000 forwarded ports: sequential
 *       connect+close through the DNAT (loopback, output hook) in the namespace;
 *   (d) a concurrent `nft` change by another program: time until detected
 *       and repaired (timer period: 5 s by default).
 *
 *   npm run bench:nftables   (after bench/nftables.sh; root)
 *   node --import tsx bench/nftables-apply.ts --apply-only   ((a) alone)
 *   ... --default-limits   the rules with default limits (ct count and per-source meter by class, docs/nftables.md)
 */
import { spawnSync } from 'node:child_process';
import * as grpc from '@grpc/grpc-js';
import type { MethodDefinition } from '@grpc/proto-loader';
import { apiDefinition } from '../src/server/api-definition.js';
import { ServiceClient, removeDir, startDaemon, stopDaemon, tempStateDir } from '../test/helpers/daemon-process.js';
import { NetnsNode } from '../test/helpers/netns.js';
import { tableFingerprint } from '../src/dataplane/nftables/drift.js';
import { CliRunner, createNftRunner } from '../src/dataplane/nftables/nft-runner.js';

const ns = `ppa-${process.pid}`;
const RULES = 1000;
const PORTS_PER_RULE = 10;
const CHANGES = 20;
/** One-rule changes before the measured ones (JIT, and the kernel's deferred freeing after the full apply), reported apart. */
// The first ~20 applies of a started daemon run before V8 has optimised the apply path (bench/apply-latency.ts shows it); measured is the daemon that has been running.
const WARMUP = 20;
/** `--apply-only`: (a) alone, without the first-packet, transport and drift parts (while iterating). */
const applyOnly = process.argv.includes('--apply-only');
/**
 * `--default-limits`: the rules keep portplane's default limits (a `max_sessions` below nf_conntrack_max and a
 * per-source rate stricter than the rule's): members of a `ct count` class and a per-source meter class each (round 7b).
 */
const defaultLimits = process.argv.includes('--default-limits');
const LIMITS = defaultLimits ? undefined : { max_sessions: 1000000, session_rate: 1000000, session_burst: 1000000, source_rate: 1000000, source_burst: 1000000 };

function sh(cmd: string[]): string {
  const r = spawnSync(cmd[0]!, cmd.slice(1), { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd.join(' ')}: ${r.stderr}`);
  return r.stdout;
}
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

function table(rules: number, portsPerRule: number, targetPort: number, retarget = -1): unknown[] {
  const out = [];
  for (let i = 0; i < rules; i++) {
    const first = 20000 + i * portsPerRule;
    out.push({
      name: `r${i}`,
      protocol: 'PROTOCOL_TCP',
      listen_address: '127.0.0.1',
      ports: { first, last: first + portsPerRule - 1 },
      target_address: '127.0.0.1',
      target_port: i === retarget ? targetPort + 1 : targetPort,
      ...(LIMITS && { limits: LIMITS }),
    });
  }
  return [{ name: 'bench', rules: out }];
}

const ECHO_AND_CONNECT = `
const net = require('node:net');
const srv = net.createServer((s) => s.on('data', (d) => s.end(d)));
srv.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ port: srv.address().port })));
process.stdin.setEncoding('utf8').on('data', async (line) => {
  const { port, count } = JSON.parse(line);
  const t0 = process.hrtime.bigint();
  try {
    for (let i = 0; i < count; i++) {
      await new Promise((res, rej) => {
        const c = net.connect(port, '127.0.0.1', () => c.end('x'));
        c.resume(); // read the echo: without it 'end', and so 'close', never comes

        c.setTimeout(5000, () => c.destroy(new Error('connect timed out')));
        c.on('close', res);
        c.on('error', rej);
      });
    }
    console.log(JSON.stringify({ micros: Number(process.hrtime.bigint() - t0) / 1000 / count }));
  } catch (err) {
    console.log(JSON.stringify({ micros: -1, error: String(err) }));
  }
});`;

async function main(): Promise<void> {
  sh(['ip', 'netns', 'add', ns]);
  sh(['ip', 'netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up']);
  const stateDir = await tempStateDir();
  const helper = new NetnsNode(ns, ECHO_AND_CONNECT);
  let daemon: Awaited<ReturnType<typeof startDaemon>> | undefined;
  try {
    const { port: echoPort } = await helper.json<{ port: number }>((l) => 'port' in l);
    // BENCH_DAEMON_PREFIX runs the daemon through a launcher inside the namespace, e.g. `env NODE_OPTIONS=--cpu-prof`.
    const launcher = process.env.BENCH_DAEMON_PREFIX?.split(' ').filter(Boolean) ?? [];
    daemon = await startDaemon(stateDir, ['--backend', 'nftables', '--log-level', 'debug'], { compiled: true, prefix: ['ip', 'netns', 'exec', ns, ...launcher] });
    const config = new ServiceClient('ConfigService', daemon.target);
    // As bench/apply-latency.ts times the kernel backend: the request is encoded before the clock starts and the
    // response taken as bytes (decoded after), so the RPC alone is timed; the client's own encode and decode of
    // this 1,000-rule request are reported apart (clientCodec).
    const method = (apiDefinition().packageDefinition['portplane.v1.ConfigService'] as Record<string, MethodDefinition<object, object>>).ApplyConfig!;
    const codec: number[] = [];
    const apply = async (tables: unknown[]): Promise<{ wallMs: number; inDaemonMs: number }> => {
      const c0 = performance.now();
      const request = method.requestSerialize({ tables });
      const c1 = performance.now();
      const [wallMs, bytes] = await new Promise<[number, Buffer]>((res, rej) => {
        const t0 = performance.now();
        config.raw.makeUnaryRequest('/portplane.v1.ConfigService/ApplyConfig', (b: Buffer) => b, (b: Buffer) => b, request, new grpc.Metadata(), { deadline: Date.now() + 120_000 }, (err, out) =>
          err || !out ? rej(err ?? new Error('no response')) : res([performance.now() - t0, out]),
        );
      });
      const c2 = performance.now();
      const res = method.responseDeserialize(bytes) as { result: { duration_micros: string } };
      codec.push(c1 - c0 + (performance.now() - c2));
      return { wallMs, inDaemonMs: Number(res.result.duration_micros) / 1000 };
    };

    // (c) first, small table: first-packet cost with 10 ports.
    const connectCost = async (): Promise<number> => {
      helper.lines.length = 0;
      helper.send(JSON.stringify({ port: 20000, count: 2000 }));
      const r = await helper.json<{ micros: number; error?: string }>((l) => 'micros' in l, 120_000);
      if (r.error) throw new Error(`connect through the DNAT failed: ${r.error}`);
      return r.micros;
    };
    await apply(table(1, 10, echoPort));
    if (!applyOnly) await connectCost(); // warm-up
    const small = applyOnly ? NaN : await connectCost();

    // (a)
    const full = await apply(table(RULES, PORTS_PER_RULE, echoPort));
    const large = applyOnly ? NaN : await connectCost();
    type Written = { micros: number; phases: Record<string, number>; via?: string };
    const backendLog = (): Written[] => daemon!.logs.filter((l) => l.includes('nftables apply written')).map((l) => JSON.parse(l) as Written);
    const changes: { wallMs: number; inDaemonMs: number; backendMs: number; phases: Record<string, number>; via: string }[] = [];
    const warmup: number[] = [];
    for (let i = 0; i < WARMUP; i++) warmup.push((await apply(table(RULES, PORTS_PER_RULE, echoPort, i % 2 === 0 ? 500 : -1))).wallMs);
    for (let i = WARMUP; i < WARMUP + CHANGES; i++) {
      const r = await apply(table(RULES, PORTS_PER_RULE, echoPort, i % 2 === 0 ? 500 : -1));
      const w = backendLog().at(-1);
      changes.push({ ...r, backendMs: (w?.micros ?? NaN) / 1000, phases: w?.phases ?? {}, via: w?.via ?? 'unknown' });
    }
    if (process.env.BENCH_VERBOSE) console.error(JSON.stringify(changes));
    const phaseMedians = Object.fromEntries(Object.keys(changes[0]?.phases ?? {}).map((k) => [k, +(median(changes.map((c) => c.phases[k] ?? NaN)) / 1000).toFixed(2)]));
    const oneWall = median(changes.map((c) => c.wallMs));
    const oneDaemon = median(changes.map((c) => c.inDaemonMs));
    const oneBackend = median(changes.map((c) => c.backendMs));
    // The same table again: nothing to do, so no backend and no ledger; what it costs beyond
    // duration_micros is the request's way in and out.
    const noops: { wallMs: number; inDaemonMs: number }[] = [];
    for (let i = 0; i < CHANGES; i++) noops.push(await apply(table(RULES, PORTS_PER_RULE, echoPort, (WARMUP + CHANGES) % 2 === 1 ? 500 : -1)));
    const noopWall = median(noops.map((c) => c.wallMs));
    const noopOutside = median(noops.map((c) => c.wallMs - c.inDaemonMs));
    const fullAgain = await apply(table(RULES, PORTS_PER_RULE, echoPort + 2));

    const transportAndDrift = async () => {
      // (b)
      const addon = createNftRunner(ns, 'addon');
      const cli = new CliRunner(ns);
      const time = (run: () => void, n: number): number => {
        const t0 = performance.now();
        for (let i = 0; i < n; i++) run();
        return (performance.now() - t0) / n;
      };
      const addonMs = time(() => addon.run('add table inet ppa_probe'), 50);
      // The ownership check's two levels at 10,000 ports: the generation id (every apply, every tick) and
      // the full listing (only when another program committed something).
      const generationMicros = time(() => addon.generation(), 1000) * 1000;
      const listingMs = time(() => tableFingerprint(addon, 'portplane'), 5);
      const cliMs = time(() => cli.run('add table inet ppa_probe'), 20);
      cli.run('delete table inet ppa_probe');

      // (d)
      const t0 = performance.now();
      sh(['ip', 'netns', 'exec', ns, 'nft', 'add', 'rule', 'inet', 'portplane', 'lookup', 'counter', 'comment', '"intruder"']);
      let repairedMs = NaN;
      while (performance.now() - t0 < 15_000) {
        if (!sh(['ip', 'netns', 'exec', ns, 'nft', 'list', 'chain', 'inet', 'portplane', 'lookup']).includes('intruder')) {
          repairedMs = performance.now() - t0;
          break;
        }
        await new Promise((r) => setTimeout(r, 50));
      }
      const driftLog = daemon!.logs.find((l) => l.includes('changed by another program')) !== undefined;
      return { addonMs, cliMs, generationMicros, listingMs, repairedMs, driftLog };
    };
    const extra = applyOnly ? undefined : await transportAndDrift();
    config.close();

    console.log(JSON.stringify({
      rules: RULES,
      limits: defaultLimits ? "default (classes in the shared chain)" : "unbounded (shared chain)",
      ports: RULES * PORTS_PER_RULE,
      fullApplyMs: { wall: +full.wallMs.toFixed(1), inDaemon: +full.inDaemonMs.toFixed(1), wallRetargetAll: +fullAgain.wallMs.toFixed(1) },
      oneRuleApplyMs: {
        wallMedian: +oneWall.toFixed(2),
        inDaemonMedian: +oneDaemon.toFixed(2),
        nftablesBackendMedian: +oneBackend.toFixed(2),
        nftablesBackendPhasesMedian: phaseMedians,
        // How each change reached the kernel: a netlink batch, or libnftables (fallback).
        via: changes.reduce<Record<string, number>>((n, c) => ({ ...n, [c.via]: (n[c.via] ?? 0) + 1 }), {}),
        controllerInDaemon: +(oneDaemon - oneBackend).toFixed(2),
        requestInOut: +noopOutside.toFixed(2),
        ledgerCommitAndRest: +(oneWall - oneDaemon - noopOutside).toFixed(2),
        changes: CHANGES,
        warmupWallMs: warmup.map((w) => +w.toFixed(1)),
      },
      noopApplyMs: { wallMedian: +noopWall.toFixed(2), outsideDurationMedian: +noopOutside.toFixed(2) },
      oneRuleOverFull: +(oneWall / full.wallMs).toFixed(4),
      clientCodecMsMedian: +median(codec).toFixed(2),
      ...(extra && {
        batchTransportMs: { libnftablesAddon: +extra.addonMs.toFixed(3), nftSpawn: +extra.cliMs.toFixed(2) },
        ownershipCheck: { generationIdMicros: +extra.generationMicros.toFixed(1), fullListingMs: +extra.listingMs.toFixed(1) },
        concurrentNftChange: { repairedMs: +extra.repairedMs.toFixed(0), loggedAsDrift: extra.driftLog, timerPeriodMs: 5000 },
      }),
      connectCloseMicros: { ports10: +small.toFixed(1), ports10000: +large.toFixed(1), ratio: +(large / small).toFixed(3) },
    }, null, 2));
  } finally {
    await helper.stop();
    if (daemon) await stopDaemon(daemon);
    await removeDir(stateDir);
    spawnSync('ip', ['netns', 'delete', ns]);
  }
}

await main();
