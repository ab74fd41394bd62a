/**
 * The userspace packet backend on one core, through the engine directly
 * (the memory port's job: no packet I/O is measured):
 *   - fast path: packets per second of established TCP flows;
 *   - new flows per second: first packet, rule lookup, session creation;
 *   - memory per session at 100,000 and 1,000,000 sessions (heap + typed arrays, after GC);
 *   - apply time of a 10,000-rule table while 100,000 sessions carry traffic.
 * Each measured packet is first copied from a template (~60 bytes), since the
 * engine rewrites in place; that copy is included in the figures.
 *
 *   npm run bench:userspace   (node --expose-gc --max-old-space-size=8192 --import tsx bench/userspace.ts)
 */
import { normalizeConfig } from '../src/config/normalize.js';
import { defaultRuleOptions, type ForwardRule, type ForwardingConfig } from '../src/config/model.js';
import { computePlan } from '../src/plan/compute-plan.js';
import { ruleId } from '../src/plan/identity.js';
import { UserspaceDataPlane } from '../src/dataplane/userspace/index.js';
import { buildPacket, TCP_ACK, TCP_SYN } from '../src/dataplane/userspace/packet.js';

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc (see the header)');

function rule(i: number, target: string): ForwardRule {
  return {
    name: `r${i}`,
    protocol: 'tcp',
    listenAddress: '10.0.0.1',
    interface: '',
    ports: { first: 10000 + i, last: 10000 + i },
    exclude: [],
    targetAddress: target,
    targetPort: 80,
    weak: false,
    ...defaultRuleOptions(),
  };
}

let generation = 0;
let running: ForwardingConfig = { tables: [] };

async function apply(dp: UserspaceDataPlane, rules: number, target: string): Promise<number> {
  const config = normalizeConfig({ tables: [{ name: 't', rules: Array.from({ length: rules }, (_, i) => rule(i, target)) }] });
  const counterIds = Object.fromEntries(config.tables[0]!.rules.map((r, i) => [ruleId('t', r), i + 1]));
  const plan = computePlan(running, config, generation);
  const started = process.hrtime.bigint();
  await dp.applyConfig({ generation: ++generation, config, plan, counterIds });
  running = config;
  return Number(process.hrtime.bigint() - started) / 1e6;
}

/** A SYN (or ACK + 18 bytes payload) from client #i (10.128.0.0/9 + port) to rule port `dport`. */
function template(i: number, dport: number, flags: number): Uint8Array {
  const a = 0x0a800000 + Math.floor(i / 50000);
  return buildPacket({
    family: 4,
    protocol: 'tcp',
    source: Uint8Array.of(a >>> 24, (a >>> 16) & 0xff, (a >>> 8) & 0xff, a & 0xff),
    destination: Uint8Array.of(10, 0, 0, 1),
    sourcePort: 1024 + (i % 50000),
    destinationPort: dport,
    tcpFlags: flags,
    payload: flags === TCP_SYN ? undefined : new Uint8Array(18),
  });
}

/** A consumer drains deltas as they come; undrained they would count as session memory. Not timed. */
function drainDeltas(): void {
  const source = dp.sessionDeltas();
  for (let i = 0; i < 10_000 && source.drain(100_000).truncated; i++);
}

function heapBytes(): number {
  gc!();
  gc!();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

const RULES = 10_000;
const dp = new UserspaceDataPlane({ gcIntervalMs: 0 });
await dp.start();
const engine = dp.engine;
await apply(dp, RULES, '10.1.0.1');
const now = Date.now();
const work = new Uint8Array(128);

function run(templates: Uint8Array[], count: number): { pps: number; forwarded: number } {
  let forwarded = 0;
  const n = templates.length;
  const started = process.hrtime.bigint();
  for (let i = 0; i < count; i++) {
    const t = templates[i % n]!;
    work.set(t);
    if (engine.process(work, t.length, now) === 0) forwarded++;
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return { pps: count / seconds, forwarded };
}

function fastPath(flows: number): number {
  const packets = Array.from({ length: flows }, (_, i) => template(i, 10000 + (i % RULES), TCP_ACK));
  run(packets, 2_000_000); // warm-up
  const rounds = [1, 2, 3].map(() => run(packets, 5_000_000));
  if (rounds.some((r) => r.forwarded !== 5_000_000)) throw new Error('fast path dropped packets');
  return Math.max(...rounds.map((r) => r.pps));
}

// New flows: distinct clients spread over the rules, from 0 to 100k and from 100k to 1M sessions; memory sampled at each mark.
const base = heapBytes();
const memory: Record<number, number> = {};
const newFlows: Record<number, number> = {};
const fastAt: Record<number, { hot: number; cold: number }> = {};
let created = 0;
for (const mark of [100_000, 1_000_000]) {
  const batch = Array.from({ length: mark - created }, (_, k) => template(created + k, 10000 + ((created + k) % RULES), TCP_SYN));
  const r = run(batch, batch.length);
  if (r.forwarded !== batch.length) throw new Error(`only ${r.forwarded} of ${batch.length} new flows were forwarded`);
  newFlows[mark] = r.pps;
  created = mark;
  batch.length = 0;
  drainDeltas();
  memory[mark] = (heapBytes() - base) / engine.sessions.count();
  // Fast path: ACK+data packets of 1,000 established flows (cache-resident) and of 100,000 (spread over the table).
  fastAt[mark] = { hot: fastPath(1_000), cold: fastPath(100_000) };
}
const established = Array.from({ length: 100_000 }, (_, i) => template(i, 10000 + (i % RULES), TCP_ACK));

// Apply of a 10,000-rule table (every rule retargeted) between bursts of traffic; the sessions keep forwarding.
const applyMs: number[] = [];
for (let round = 0; round < 5; round++) {
  run(established, 200_000);
  applyMs.push(await apply(dp, RULES, round % 2 === 0 ? '10.1.0.2' : '10.1.0.1'));
  const after = run(established, 200_000);
  if (after.forwarded !== 200_000) throw new Error('established flows stopped forwarding after an apply');
}
applyMs.sort((a, b) => a - b);

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');
console.log(`node ${process.version}, ${RULES.toLocaleString('en-US')} rules, one thread`);
for (const mark of [100_000, 1_000_000]) {
  console.log(
    `with ${fmt(mark)} sessions: fast path ${fmt(fastAt[mark]!.hot)} packets/s over 1k flows, ${fmt(fastAt[mark]!.cold)} over 100k flows (goal 2,000,000); ` +
      `new flows ${fmt(newFlows[mark]!)} flows/s while filling up to it (goal 300,000)`,
  );
}
console.log(`memory per session: ${fmt(memory[100_000]!)} B at 100k, ${fmt(memory[1_000_000]!)} B at 1M`);
console.log(`apply of a ${RULES.toLocaleString('en-US')}-rule table with ${fmt(engine.sessions.count())} sessions: median ${applyMs[2]!.toFixed(1)} ms, max ${applyMs[4]!.toFixed(1)} ms`);
await dp.teardown();
