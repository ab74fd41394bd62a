/**
 * A request that edits a few rules of running tables is validated,
 * normalised and planned in the cost of the edit (table-delta.ts,
 * validate-delta.ts): exactly what the whole-table passes give. A sequence
 * of edits runs against one DeltaValidator (its port index follows each
 * applied edit); each edit replaces, moves or renames rules crowded into
 * the running ports and targets, so conflicts, loops, duplicate names,
 * reserved ports and limits are all common.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS, type ForwardingConfig, type ForwardRule, type Table } from '../../src/config/model.js';
import { normalizeConfig, normalizeTable } from '../../src/config/normalize.js';
import { tableDigest } from '../../src/config/canonical.js';
import { normalizeRequestTable, RuleNames, tableDelta, type TableDelta } from '../../src/config/table-delta.js';
import { validateConfig, type ValidationInput } from '../../src/config/validate.js';
import { DeltaValidator } from '../../src/config/validate-delta.js';
import { kernelCapabilities } from '../../src/dataplane/kernel/capabilities.js';
import { computePlan } from '../../src/plan/compute-plan.js';
import { loopbackRule } from '../helpers/model-rules.js';

const TABLES = ['a', 'b', 'c'];
const LISTEN = ['', '127.0.0.1', '::1', '0.0.0.0', '127.0.0.2'];

const rule = loopbackRule;

const newRule = fc.record({
  listen: fc.constantFrom(...LISTEN),
  first: fc.integer({ min: 1000, max: 1130 }),
  width: fc.nat(6),
  target: fc.integer({ min: 990, max: 3040 }),
  udp: fc.boolean(),
  name: fc.constantFrom('x', 'y', 'r0', 'r1', 'r2', ''),
});

/** One step: in one table, positions replaced by new rules, moved from another position, or given another rule's name. */
const step = fc.record({
  table: fc.constantFrom(...TABLES),
  edits: fc.array(
    fc.record({ at: fc.nat(), kind: fc.constantFrom('new', 'move', 'rename'), from: fc.nat(), rule: newRule }),
    { minLength: 1, maxLength: 3 },
  ),
});

const limitsChoice = fc.constantFrom(DEFAULT_LIMITS, { ...DEFAULT_LIMITS, maxPorts: 60 }, { ...DEFAULT_LIMITS, maxRulesPerTable: 8 });

function plainPlan(config: ForwardingConfig): ForwardingConfig {
  // The same rule objects in tables made by the whole sort, without any remembered edit.
  return { tables: config.tables.map((t) => normalizeTable({ name: t.name, rules: [...t.rules] })) };
}

describe('delta validation', () => {
  it('gives the violations, normalised tables and plans of the whole-table passes', () => {
    const capabilities = kernelCapabilities();
    fc.assert(
      fc.property(
        fc.array(fc.record({ table: fc.constantFrom(...TABLES), listen: fc.constantFrom(...LISTEN), udp: fc.boolean() }), { minLength: 6, maxLength: 20 }),
        fc.array(step, { minLength: 1, maxLength: 8 }),
        limitsChoice,
        fc.boolean(),
        (initial, steps, limits, reserve) => {
          const deltas = new DeltaValidator();
          const reserved = reserve ? [{ protocol: 'tcp' as const, address: '127.0.0.1', port: 1012, what: 'the test listener' }] : [];
          // Running rules: one disjoint block each, targets far away: a valid start.
          const requested = new Map<string, ForwardRule[]>(TABLES.map((name) => [name, []]));
          initial.forEach((r, i) => requested.get(r.table)!.push(rule(`r${i}`, r.listen, 1000 + i * 5, 1003 + i * 5, 3000 + i, r.udp ? 'udp' : 'tcp')));
          let running: ForwardingConfig = {
            tables: TABLES.map((name) => normalizeRequestTable({ name, rules: requested.get(name)! }, undefined)),
          };
          running = normalizeConfig(running);
          for (const { table: name, edits } of steps) {
            const before = requested.get(name)!;
            if (before.length === 0) continue;
            const rules = [...before];
            for (const e of edits) {
              const at = e.at % rules.length;
              const r = e.rule;
              if (e.kind === 'new') rules[at] = rule(r.name, r.listen, r.first, r.first + r.width, r.target, r.udp ? 'udp' : 'tcp');
              else if (e.kind === 'move') rules[at] = before[e.from % before.length]!;
              else rules[at] = { ...rules[at]!, name: before[e.from % before.length]!.name };
            }
            const request: Table = { name, rules };
            const runningTable = running.tables.find((t) => t.name === name)!;
            const delta: TableDelta | undefined = tableDelta(request, runningTable, 64);
            expect(delta).toBeDefined();
            const input: ValidationInput = {
              requestTables: [request],
              otherTables: running.tables.filter((t) => t.name !== name),
              limits,
              capabilities,
              reserved,
              localAddresses: [],
              running: running.tables,
            };
            const full = validateConfig(input);
            expect(deltas.validate(input, [delta!], running.tables)).toEqual(full);
            if (full.length > 0) continue;
            // The running table's digest is known (its apply saved it): the edited table's digest splices its digest list.
            tableDigest(runningTable);
            const edited = normalizeRequestTable(request, runningTable, delta);
            expect(tableDigest(edited)).toBe(tableDigest({ name, rules: [...edited.rules] }));
            expect(edited.rules).toEqual(normalizeTable({ name, rules: [...rules] }).rules);
            expect(edited.rules.every((r, i) => r === normalizeTable({ name, rules: [...rules] }).rules[i])).toBe(true);
            const desired = normalizeConfig({ tables: [...input.otherTables, edited] }, running);
            expect(computePlan(running, desired, 1, { valid: true })).toEqual(computePlan(running, plainPlan(desired), 1, { valid: true }));
            requested.set(name, rules);
            running = desired;
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('a repeated running rule', () => {
  it('conflicts with itself, whichever way it is validated', () => {
    const capabilities = kernelCapabilities();
    const x = rule('', '127.0.0.1', 2000, 2001, 4000);
    const y = rule('y', '127.0.0.1', 2010, 2011, 4010);
    const running = normalizeConfig({ tables: [normalizeRequestTable({ name: 'a', rules: [x, y] }, undefined)] });
    const request: Table = { name: 'a', rules: [x, x] };
    const input: ValidationInput = { requestTables: [request], otherTables: [], limits: DEFAULT_LIMITS, capabilities, running: running.tables };
    const expected = [{ path: 'tables[a].rules[1].ports', message: 'conflicts with tables[a].rules[0] on tcp ports 2000-2001' }];
    expect(validateConfig(input)).toEqual(expected);
    expect(validateConfig({ ...input, running: undefined })).toEqual(expected);
    const delta = tableDelta(request, running.tables[0], 64)!;
    expect(delta.changed).toEqual([1]);
    expect(new DeltaValidator().validate(input, [delta], running.tables)).toEqual(expected);
  });
});

describe('rule names of an edited table', () => {
  it('stay exact across many edits, past the point where the changes are folded into a new base', () => {
    const plain = new Set(Array.from({ length: 100 }, (_, i) => `n${i}`));
    let names: RuleNames | undefined = RuleNames.of([...plain].map((n) => rule(n, '127.0.0.1', 1, 1, 2, 'tcp')));
    for (let k = 0; k < 150; k++) {
      const out = `n${(k * 7) % 100}`;
      const into = `m${k}`;
      if (!plain.has(out)) continue;
      // A name still there cannot come in again; a name just taken out can.
      const kept = [...plain].find((n) => n !== out)!;
      expect(names!.edit([out], [kept])).toBeUndefined();
      expect(names!.edit([out], [out])).toBeDefined();
      names = names!.edit([out], [into]);
      expect(names).toBeDefined();
      plain.delete(out);
      plain.add(into);
    }
    for (const n of plain) expect(names!.edit([], [n])).toBeUndefined();
    expect(names!.edit([], ['fresh', [...plain][0]!])).toBeUndefined();
    expect(names!.edit([], ['n7'])).toBeDefined();
    expect(names!.edit([], ['fresh', 'fresh'])).toBeUndefined();
    expect(names!.edit([], ['fresh'])).toBeDefined();
  });
});
