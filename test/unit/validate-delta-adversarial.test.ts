/**
 * Delta validation (validate-delta.ts) against the whole validation, as an
 * attacker would try it: requests that edit several tables at once, carry
 * rule objects of another table (byte-equal rules the decoder shares), use
 * exclusions, IPv4-mapped and link-local listen and target addresses, and a
 * running configuration that goes back to an earlier one (a failed apply, a
 * rollback) so the port index and the remembered request forms must follow;
 * the tables an edit normalises to and their plan are the whole passes' too.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { defaultRuleOptions, DEFAULT_LIMITS, type ForwardingConfig, type ForwardRule, type Table } from '../../src/config/model.js';
import { normalizeConfig, normalizeTable } from '../../src/config/normalize.js';
import { normalizeRequestTable, tableDelta, type TableDelta } from '../../src/config/table-delta.js';
import { validateConfig, type ValidationInput } from '../../src/config/validate.js';
import { DeltaValidator } from '../../src/config/validate-delta.js';
import { kernelCapabilities } from '../../src/dataplane/kernel/capabilities.js';
import { computePlan } from '../../src/plan/compute-plan.js';

const TABLES = ['a', 'b', 'c'];
const LISTEN = ['', '127.0.0.1', '::ffff:127.0.0.1', '::1', '0.0.0.0', '::', 'fe80::1%lo', '::ffff:0.0.0.0', '127.0.0.2'];
const TARGET = ['127.0.0.1', '::ffff:127.0.0.1', '::1', '127.0.0.2', '10.9.9.9', '::ffff:10.9.9.9', 'fe80::1%lo'];

interface RuleSpec {
  listen: string;
  target: string;
  first: number;
  width: number;
  exclude: number;
  targetPort: number;
  udp: boolean;
  name: string;
}

function makeRule(s: RuleSpec): ForwardRule {
  const last = s.first + s.width;
  // An exclusion inside the range (never all of it).
  const exclude = s.exclude > 0 && s.width > 1 ? [{ first: s.first + 1, last: Math.min(last - 1, s.first + s.exclude) }] : [];
  return {
    name: s.name,
    protocol: s.udp ? 'udp' : 'tcp',
    listenAddress: s.listen,
    interface: '',
    ports: { first: s.first, last },
    exclude,
    targetAddress: s.target,
    targetPort: s.targetPort,
    weak: false,
    ...defaultRuleOptions(),
  };
}

const ruleSpec = fc.record({
  listen: fc.constantFrom(...LISTEN),
  target: fc.constantFrom(...TARGET),
  // Crowded among the running ports, or on free ones (then most edits are valid).
  first: fc.oneof(fc.integer({ min: 1000, max: 1100 }), fc.integer({ min: 2000, max: 2400 })),
  width: fc.nat(5),
  exclude: fc.nat(3),
  targetPort: fc.oneof(fc.constant(0), fc.integer({ min: 995, max: 1110 }), fc.integer({ min: 1995, max: 2410 })),
  udp: fc.boolean(),
  name: fc.constantFrom('x', 'y', 'r0', 'r1', ''),
});

/** One edit of one request table position. */
const edit = fc.record({
  at: fc.nat(),
  kind: fc.constantFrom('new', 'move', 'other-table', 'rename'),
  from: fc.nat(),
  fromTable: fc.constantFrom(...TABLES),
  rule: ruleSpec,
});

/** One step: one or two tables re-sent with edits; or the running configuration goes back to an earlier one. */
const step = fc.oneof(
  fc.record({
    kind: fc.constant('apply' as const),
    tables: fc.uniqueArray(fc.constantFrom(...TABLES), { minLength: 1, maxLength: 2 }),
    edits: fc.array(edit, { minLength: 1, maxLength: 3 }),
    commit: fc.boolean(),
  }),
  fc.record({ kind: fc.constant('back' as const), to: fc.nat() }),
);

describe('delta validation, adversarial edits', () => {
  it('finds exactly the violations of the whole validation', () => {
    const capabilities = kernelCapabilities();
    const reserved = [{ protocol: 'tcp' as const, address: '127.0.0.1', port: 1050, what: 'the test listener' }];
    fc.assert(
      fc.property(
        fc.array(fc.record({ table: fc.constantFrom(...TABLES), listen: fc.constantFrom(...LISTEN), udp: fc.boolean() }), { minLength: 6, maxLength: 14 }),
        fc.array(step, { minLength: 1, maxLength: 10 }),
        (initial, steps) => {
          const deltas = new DeltaValidator();
          // The request rules each running table object was made from (a table's next request starts from them).
          const formOf = new Map<Table, ForwardRule[]>();
          const requested = new Map<string, ForwardRule[]>(TABLES.map((name) => [name, []]));
          initial.forEach((r, i) =>
            requested.get(r.table)!.push(
              makeRule({ listen: r.listen, target: '127.0.0.1', first: 1000 + i * 6, width: 3, exclude: 0, targetPort: 4000 + i * 6, udp: r.udp, name: `r${i}` }),
            ),
          );
          const start = TABLES.map((name) => {
            const table = normalizeRequestTable({ name, rules: requested.get(name)! }, undefined);
            formOf.set(table, requested.get(name)!);
            return table;
          });
          let running: ForwardingConfig = normalizeConfig({ tables: start });
          const history: ForwardingConfig[] = [running];
          for (const s of steps) {
            if (s.kind === 'back') {
              // A rollback: an earlier configuration runs again, its tables the very objects it had.
              running = history[s.to % history.length]!;
              for (const t of running.tables) requested.set(t.name, formOf.get(t)!);
              continue;
            }
            const request: Table[] = s.tables.map((name) => {
              const before = requested.get(name)!;
              const rules = [...before];
              if (rules.length === 0) return { name, rules };
              for (const e of s.edits) {
                const at = e.at % rules.length;
                const other = requested.get(e.fromTable)!;
                if (e.kind === 'new') rules[at] = makeRule(e.rule);
                else if (e.kind === 'move') rules[at] = before[e.from % before.length]!;
                else if (e.kind === 'other-table' && other.length > 0) rules[at] = other[e.from % other.length]!;
                else rules[at] = { ...rules[at]!, name: before[e.from % before.length]!.name };
              }
              return { name, rules };
            });
            const runningByName = new Map(running.tables.map((t) => [t.name, t]));
            const found = request.map((t) => tableDelta(t, runningByName.get(t.name), 64));
            const names = new Set(s.tables);
            const input: ValidationInput = {
              requestTables: request,
              otherTables: running.tables.filter((t) => !names.has(t.name)),
              limits: DEFAULT_LIMITS,
              capabilities,
              reserved,
              localAddresses: ['10.9.9.9'],
              running: running.tables,
            };
            const full = validateConfig(input);
            const useDelta = found.every((d) => d !== undefined);
            if (useDelta) expect(deltas.validate(input, found as TableDelta[], running.tables)).toEqual(full);
            if (full.length > 0) continue;
            const made = request.map((t, i) => {
              const table = normalizeRequestTable(t, runningByName.get(t.name), useDelta ? found[i] : undefined);
              if (!formOf.has(table)) formOf.set(table, t.rules);
              // The edit normalises to the very rules of the whole sort.
              const whole = normalizeTable({ name: t.name, rules: [...t.rules] }).rules;
              expect(table.rules.length === whole.length && table.rules.every((r, k) => r === whole[k])).toBe(true);
              return table;
            });
            // Validated but not committed (a bind failure, validate-only): nothing runs of it.
            if (!s.commit) continue;
            const desired = normalizeConfig({ tables: [...input.otherTables, ...made] }, running);
            // The plan from the remembered edits is the plan of the whole comparison.
            const plain = { tables: desired.tables.map((t) => normalizeTable({ name: t.name, rules: [...t.rules] })) };
            expect(computePlan(running, desired, 1, { valid: true })).toEqual(computePlan(running, plain, 1, { valid: true }));
            running = desired;
            for (const t of request) requested.set(t.name, t.rules);
            for (const t of running.tables) if (!formOf.has(t)) formOf.set(t, requested.get(t.name)!);
            history.push(running);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
