/**
 * In-process cost of each pure phase of a one-rule change to a 1,000-rule /
 * 10,000-port table (no sockets, no gRPC, no fsync): where the time of
 * bench/apply-latency.ts goes.
 *
 *   npx tsx bench/apply-phases.ts [--runs N]
 */
import { configDigest } from '../src/config/canonical.js';
import { DEFAULT_LIMITS } from '../src/config/model.js';
import { normalizeConfig } from '../src/config/normalize.js';
import { parseTables } from '../src/config/parse.js';
import { validateConfig } from '../src/config/validate.js';
import { kernelCapabilities } from '../src/dataplane/kernel/capabilities.js';
import { computePlan } from '../src/plan/compute-plan.js';

const runs = Number(process.argv[process.argv.indexOf('--runs') + 1]) || 300;

function wireTables(changed: number): object[] {
  const rules = Array.from({ length: 1000 }, (_, i) => ({
    name: `rule-${i}`,
    protocol: 'PROTOCOL_TCP',
    listen_address: '127.0.0.1',
    interface: '',
    ports: { first: 12000 + i * 10, last: 12009 + i * 10 },
    exclude: [],
    target_address: '127.0.0.1',
    target_port: i === changed ? 30000 : 40000 + i,
    weak: false,
  }));
  return [{ name: 'bench', rules }];
}

const capabilities = kernelCapabilities();
const running = normalizeConfig({ tables: parseTables(wireTables(-1)).tables });
const phases: Record<string, number[]> = { parse: [], validate: [], normalize: [], plan: [], digest: [] };
const time = <T>(phase: string, f: () => T): T => {
  const start = performance.now();
  const out = f();
  phases[phase]!.push(performance.now() - start);
  return out;
};
for (let i = 0; i < runs; i++) {
  const input = wireTables(i % 1000);
  const { tables } = time('parse', () => parseTables(input));
  time('validate', () => validateConfig({ requestTables: tables, otherTables: [], limits: DEFAULT_LIMITS, capabilities }));
  const desired = time('normalize', () => normalizeConfig({ tables }));
  time('plan', () => computePlan(running, desired, 1));
  time('digest', () => configDigest(desired));
}
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const out: Record<string, number> = {};
let total = 0;
for (const [phase, samples] of Object.entries(phases)) {
  // The first third warms the JIT up.
  out[phase] = +median(samples.slice(Math.floor(runs / 3))).toFixed(3);
  total += out[phase]!;
}
console.log(JSON.stringify({ runs, medianMs: out, totalMs: +total.toFixed(3), node: process.version }, null, 2));
