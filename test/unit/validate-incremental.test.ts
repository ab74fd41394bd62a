/**
 * Incremental validation finds exactly what a full validation finds: a
 * running configuration (valid), then a request that keeps some of its rules
 * as they are and adds changed ones crowded into the same ports and
 * targets, so conflicts (with running, unchanged and other changed rules)
 * and loops (into a changed listener, from a changed target) are common.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS, type Table } from '../../src/config/model.js';
import { normalizeConfig } from '../../src/config/normalize.js';
import { validateConfig } from '../../src/config/validate.js';
import { kernelCapabilities } from '../../src/dataplane/kernel/capabilities.js';
import { loopbackRule } from '../helpers/model-rules.js';

const TABLES = ['a', 'b', 'c'];
const LISTEN = ['', '127.0.0.1', '::1', '0.0.0.0'];

const rule = loopbackRule;

/** Running rules: one disjoint block each, targets far away, so the running configuration is valid. */
const runningRules = fc.array(fc.record({ table: fc.constantFrom(...TABLES), listen: fc.constantFrom(...LISTEN), udp: fc.boolean() }), {
  minLength: 8,
  maxLength: 24,
});
/** Changed rules: anywhere in the running ports, targets into them too. */
const changedRules = fc.array(
  fc.record({
    table: fc.constantFrom(...TABLES),
    listen: fc.constantFrom(...LISTEN),
    first: fc.integer({ min: 1000, max: 1130 }),
    width: fc.nat(6),
    target: fc.integer({ min: 990, max: 1140 }),
    udp: fc.boolean(),
    name: fc.constantFrom('x', 'y', 'r0', 'r1', ''),
  }),
  { minLength: 1, maxLength: 3 },
);

describe('incremental validation', () => {
  it('reports the same violations as validating everything', () => {
    const capabilities = kernelCapabilities();
    fc.assert(
      fc.property(runningRules, changedRules, fc.array(fc.boolean(), { minLength: 24, maxLength: 24 }), fc.subarray(TABLES, { minLength: 1 }), (run, changes, keep, named) => {
        const parsed = run.map((r, i) => ({ table: r.table, rule: rule(`r${i}`, r.listen, 1000 + i * 5, 1003 + i * 5, 3000 + i, r.udp ? 'udp' : 'tcp') }));
        const running = normalizeConfig({
          tables: TABLES.map((name): Table => ({ name, rules: parsed.filter((p) => p.table === name).map((p) => p.rule) })),
        });
        const requestTables: Table[] = named.map((name) => ({
          name,
          rules: [
            ...parsed.filter((p, i) => p.table === name && keep[i]).map((p) => p.rule),
            ...changes
              .filter((c) => c.table === name)
              .map((c, i) => rule(c.name === '' ? '' : `${c.name}${i}`, c.listen, c.first, c.first + c.width, c.target, c.udp ? 'udp' : 'tcp')),
          ],
        }));
        const otherTables = running.tables.filter((t) => !named.includes(t.name));
        const input = { requestTables, otherTables, limits: DEFAULT_LIMITS, capabilities, localAddresses: [] };
        const full = validateConfig(input);
        const incremental = validateConfig({ ...input, running: running.tables });
        expect(incremental).toEqual(full);
      }),
      { numRuns: 400 },
    );
  });
});
