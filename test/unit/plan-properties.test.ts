/**
 * Properties of the diff on generated configuration pairs: the plan is
 * complete (replaying it yields the desired side), empty exactly on equal
 * configurations, never closes and reopens a socket both sides have, and
 * leaves out only sockets of unchanged rules.
 *
 * Each rule owns one block of 10 ports (a random sub-range with random
 * exclusions), so a generated configuration has no conflicting rules; a and
 * b draw blocks independently, or b mutates a, so their ranges overlap in
 * every way. A second generator lets blocks collide to show the diff also
 * stays consistent with listenerMap() on invalid (conflicting) input.
 */
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { listenAddressesOverlap } from '../../src/config/address.js';
import { configDigest } from '../../src/config/canonical.js';
import { defaultRuleOptions, type ForwardingConfig, type ForwardRule, type Protocol } from '../../src/config/model.js';
import { normalizeConfig } from '../../src/config/normalize.js';
import { applyPlan, applyPortPlan } from '../../src/plan/apply-plan.js';
import { computePlan } from '../../src/plan/compute-plan.js';
import { changedFields, ruleIdentity } from '../../src/plan/identity.js';
import { countPorts, portIntervals } from '../../src/config/ports.js';
import { listenerMap } from '../../src/plan/listeners.js';
import type { Plan, PortAction, PortChange, Route } from '../../src/plan/model.js';

const RUNS = { numRuns: 200 };
const TABLES = ['alpha', 'beta', 'gamma', 'delta'];
const ADDRESSES = ['', '127.0.0.1', '::1', '0.0.0.0', '::'];
const BASE_PORT = 20000;
const BLOCK = 10;
const BLOCKS = 10;

interface Spec {
  table: string;
  /** '' makes the rule unnamed; else the name is prefix + block, unique per table. */
  prefix: string;
  protocol: Protocol;
  listenAddress: string;
  block: number;
  /** Offsets inside the block. */
  lo: number;
  hi: number;
  exclude: { lo: number; hi: number }[];
  targetAddress: string;
  targetPort: number;
  weak: boolean;
}

interface RawConfig {
  /** Tables present even without rules. */
  tables: string[];
  specs: Spec[];
}

const offset = fc.nat(BLOCK - 1);
const specFields = {
  table: fc.constantFrom(...TABLES),
  prefix: fc.constantFrom('', 'r', 's'),
  protocol: fc.constantFrom<Protocol>('tcp', 'udp'),
  listenAddress: fc.constantFrom(...ADDRESSES),
  lo: offset,
  hi: offset,
  exclude: fc.array(fc.record({ lo: offset, hi: offset }), { maxLength: 2 }),
  targetAddress: fc.constantFrom('127.0.0.1', '10.0.0.1'),
  targetPort: fc.constantFrom(0, 30000, 30005),
  weak: fc.boolean(),
};
type Field = keyof typeof specFields;
const FIELDS = Object.keys(specFields) as Field[];

const specAt = (block: number): fc.Arbitrary<Spec> => fc.record(specFields).map((s) => ({ ...s, block }));

const tableSet = fc.subarray(TABLES);

/** Valid: one rule per block. */
const validRaw: fc.Arbitrary<RawConfig> = fc.record({
  tables: tableSet,
  specs: fc.uniqueArray(fc.nat(BLOCKS - 1), { maxLength: 8 }).chain((blocks) => fc.tuple(...blocks.map(specAt))),
});

/** Possibly conflicting: blocks may repeat, so sockets and identities may collide. */
const conflictingRaw: fc.Arbitrary<RawConfig> = fc.record({
  tables: tableSet,
  specs: fc.array(fc.nat(3).chain(specAt), { maxLength: 8 }),
});

/** b from a: each rule kept, dropped or edited in one field; new rules on free blocks; tables redrawn. */
function mutated(a: RawConfig): fc.Arbitrary<RawConfig> {
  const used = new Set(a.specs.map((s) => s.block));
  const free = Array.from({ length: BLOCKS }, (_, i) => i).filter((b) => !used.has(b));
  const edit = (s: Spec): fc.Arbitrary<Spec | undefined> =>
    fc.oneof(
      { arbitrary: fc.constant(s), weight: 3 },
      { arbitrary: fc.constant(undefined), weight: 1 },
      {
        arbitrary: fc.tuple(specAt(s.block), fc.constantFrom(...FIELDS)).map(([m, f]) => ({ ...s, [f]: m[f] })),
        weight: 3,
      },
    );
  return fc.record({
    tables: fc.oneof(fc.constant(a.tables), tableSet),
    specs: fc
      .tuple(fc.tuple(...a.specs.map(edit)), fc.subarray(free).chain((blocks) => fc.tuple(...blocks.map(specAt))))
      .map(([edited, added]) => [...edited.filter((s): s is Spec => s !== undefined), ...added]),
  });
}

const validPair: fc.Arbitrary<[RawConfig, RawConfig]> = fc.oneof(
  fc.tuple(validRaw, validRaw),
  validRaw.chain((a) => mutated(a).map((b): [RawConfig, RawConfig] => [a, b])),
);

const conflictingPair: fc.Arbitrary<[RawConfig, RawConfig]> = fc.oneof(
  fc.tuple(conflictingRaw, conflictingRaw),
  conflictingRaw.chain((a) => mutated(a).map((b): [RawConfig, RawConfig] => [a, b])),
);

function toRule(s: Spec): ForwardRule {
  const start = BASE_PORT + s.block * BLOCK;
  const [lo, hi] = s.lo <= s.hi ? [s.lo, s.hi] : [s.hi, s.lo];
  return {
    name: s.prefix === '' ? '' : `${s.prefix}${s.block}`,
    protocol: s.protocol,
    listenAddress: s.listenAddress,
    interface: '',
    ports: { first: start + lo, last: start + hi },
    exclude: s.exclude.map((e) => ({ first: start + Math.min(e.lo, e.hi), last: start + Math.max(e.lo, e.hi) })),
    targetAddress: s.targetAddress,
    targetPort: s.targetPort,
    weak: s.weak,
    ...defaultRuleOptions(),
  };
}

/** Raw (unsorted) configuration; `order` permutes tables and rules to show order does not matter. */
function build(raw: RawConfig, order: (n: number) => number[] = (n) => [...Array(n).keys()]): ForwardingConfig {
  const tables = new Map<string, ForwardRule[]>(raw.tables.map((t) => [t, []]));
  for (const s of raw.specs) {
    const rules = tables.get(s.table) ?? [];
    rules.push(toRule(s));
    tables.set(s.table, rules);
  }
  const list = [...tables].map(([name, rules]) => ({ name, rules: order(rules.length).map((i) => rules[i] as ForwardRule) }));
  return { tables: order(list.length).map((i) => list[i] as (typeof list)[number]) };
}

const normalised = (raw: RawConfig): ForwardingConfig => normalizeConfig(build(raw));

function routes(c: ForwardingConfig): Record<string, Route> {
  return Object.fromEntries([...listenerMap(c)].map(([key, l]) => [key, l.route]));
}

const GROUP_ORDER = ['free-open', 'close', 'blocked-open', 'retarget', 'keep'];
const groupOf = (c: PortChange): string =>
  c.action === 'open' ? ((c.needsRoomFrom?.length ?? 0) > 0 ? 'blocked-open' : 'free-open') : c.action;

function compareBindings(a: PortChange, b: PortChange): number {
  if (a.protocol !== b.protocol) return a.protocol < b.protocol ? -1 : 1;
  if (a.listenAddress !== b.listenAddress) return a.listenAddress < b.listenAddress ? -1 : 1;
  return a.port - b.port;
}

/**
 * Properties every plan must have, whatever the input. `valid`: no two rules
 * share a socket or an identity, which pins down exactly which sockets the
 * plan leaves out.
 */
function checkPlan(a: ForwardingConfig, b: ForwardingConfig, plan: Plan, valid: boolean): void {
  // Complete: replaying the rule changes and the port ops yields b.
  expect(applyPlan(a, plan)).toEqual(b);
  const after = applyPortPlan(new Map(Object.entries(routes(a))), plan);
  expect(Object.fromEntries(after)).toEqual(routes(b));

  // Empty exactly on structural equality.
  expect(plan.empty).toBe(configDigest(a) === configDigest(b));
  expect(plan.summary.empty).toBe(plan.empty);

  // Socket continuity: a key on both sides is kept or retargeted, never
  // reopened; a key appears at most once, and one left out is a socket an
  // unchanged rule keeps with the same route.
  const before = listenerMap(a);
  const desired = listenerMap(b);
  const byKey = new Map<string, PortChange>();
  for (const change of plan.ports) {
    expect(byKey.has(change.key)).toBe(false);
    byKey.set(change.key, change);
  }
  const unchanged = new Set(plan.rules.filter((r) => r.action === 'unchanged').map((r) => `${r.table}|${r.ruleId}`));
  let keptSockets = 0;
  for (const key of new Set([...before.keys(), ...desired.keys()])) {
    const old = before.get(key)?.route;
    const now = desired.get(key)?.route;
    const expected: PortAction = !old ? 'open' : !now ? 'close' : isDeepStrictEqual(old, now) ? 'keep' : 'retarget';
    if (expected === 'keep') keptSockets++;
    const change = byKey.get(key);
    const ofUnchangedRule = expected === 'keep' && unchanged.has(`${now?.table}|${now?.ruleId}`);
    if (!change) {
      expect(ofUnchangedRule).toBe(true);
      continue;
    }
    // On valid input a socket whose rule is unchanged is always left out.
    if (valid) expect(ofUnchangedRule).toBe(false);
    expect(change.action).toBe(expected);
    expect(change.previous).toEqual(old);
    expect(change.route).toEqual(now);
  }
  expect(byKey.size).toBeLessThanOrEqual(new Set([...before.keys(), ...desired.keys()]).size);

  // needsRoomFrom: exactly the closes on the same protocol and port with an overlapping address.
  const closes = plan.ports.filter((c) => c.action === 'close');
  for (const open of plan.ports.filter((c) => c.action === 'open')) {
    const blockers = closes
      .filter((c) => c.protocol === open.protocol && c.port === open.port && listenAddressesOverlap(c.listenAddress, open.listenAddress))
      .map((c) => c.key)
      .sort();
    expect(open.needsRoomFrom).toEqual(blockers);
  }

  // Execution order: groups in order, each sorted by (protocol, address, port).
  for (let i = 1; i < plan.ports.length; i++) {
    const [prev, next] = [plan.ports[i - 1] as PortChange, plan.ports[i] as PortChange];
    const [gp, gn] = [GROUP_ORDER.indexOf(groupOf(prev)), GROUP_ORDER.indexOf(groupOf(next))];
    expect(gp <= gn).toBe(true);
    if (gp === gn) expect(compareBindings(prev, next)).toBeLessThan(0);
  }

  // Summary counts match the lists; portsKept also counts the sockets left out.
  const count = (items: { action: string }[], action: string): number => items.filter((i) => i.action === action).length;
  expect(plan.summary).toMatchObject({
    rulesAdded: count(plan.rules, 'added'),
    rulesRemoved: count(plan.rules, 'removed'),
    rulesChanged: count(plan.rules, 'changed'),
    rulesUnchanged: count(plan.rules, 'unchanged'),
    portsOpened: count(plan.ports, 'open'),
    portsClosed: count(plan.ports, 'close'),
    portsRetargeted: count(plan.ports, 'retarget'),
    portsKept: keptSockets,
  });
  if (valid) {
    // Without overlaps, the unlisted keeps are exactly the unchanged rules' ports.
    const unchangedPorts = plan.rules
      .filter((r) => r.action === 'unchanged')
      .reduce((n, r) => n + countPorts(portIntervals(r.rule)), 0);
    expect(plan.summary.portsKept).toBe(count(plan.ports, 'keep') + unchangedPorts);
  }
}

describe('plan properties (valid configurations)', () => {
  it('applyPlan(a, plan(a, b)) is b, and every generic property holds', () => {
    fc.assert(
      fc.property(validPair, ([ra, rb]) => {
        const a = normalised(ra);
        const b = normalised(rb);
        checkPlan(a, b, computePlan(a, b, 1), true);
      }),
      RUNS,
    );
  });

  it('plan(a, a) is empty: every rule unchanged, every port kept and none listed', () => {
    fc.assert(
      fc.property(validRaw, (raw) => {
        const a = normalised(raw);
        const plan = computePlan(a, normalised(raw), 3);
        expect(plan.empty).toBe(true);
        expect(plan.summary.tablesTouched).toEqual([]);
        expect(plan.rules.every((r) => r.action === 'unchanged')).toBe(true);
        expect(plan.ports).toEqual([]);
        expect(plan.summary.portsKept).toBe(listenerMap(a).size);
      }),
      RUNS,
    );
  });

  it('rule changes: each rule of either side appears once, matched by identity', () => {
    fc.assert(
      fc.property(validPair, ([ra, rb]) => {
        const a = normalised(ra);
        const b = normalised(rb);
        const plan = computePlan(a, b, 1);
        const side = (c: ForwardingConfig): Map<string, ForwardRule> =>
          new Map(c.tables.flatMap((t) => t.rules.map((r): [string, ForwardRule] => [ruleIdentity(t.name, r), r])));
        const [before, after] = [side(a), side(b)];
        expect(plan.rules).toHaveLength(new Set([...before.keys(), ...after.keys()]).size);
        for (const change of plan.rules) {
          const identity = ruleIdentity(change.table, change.rule);
          const old = before.get(identity);
          const now = after.get(identity);
          const action = !old ? 'added' : !now ? 'removed' : changedFields(old, now).length > 0 ? 'changed' : 'unchanged';
          expect(change.action).toBe(action);
          expect(change.changedFields).toEqual(old && now ? changedFields(old, now) : []);
        }
        // Sorted by table, then index.
        const keys = plan.rules.map((r) => [r.table, r.index] as const);
        const sorted = [...keys].sort((x, y) => (x[0] !== y[0] ? (x[0] < y[0] ? -1 : 1) : x[1] - y[1]));
        expect(keys).toEqual(sorted);
        // Touched: tables with a non-unchanged rule, or present on one side only.
        const names = (c: ForwardingConfig): Set<string> => new Set(c.tables.map((t) => t.name));
        const [na, nb] = [names(a), names(b)];
        const touched = [...new Set([...na, ...nb])]
          .filter((t) => !na.has(t) || !nb.has(t) || plan.rules.some((r) => r.table === t && r.action !== 'unchanged'))
          .sort();
        expect(plan.summary.tablesTouched).toEqual(touched);
      }),
      RUNS,
    );
  });

  it('deterministic, and blind to input order once normalised', () => {
    fc.assert(
      fc.property(validPair, fc.nat(), ([ra, rb], seed) => {
        // A seeded shuffle: the same permutation function for every list of a given length.
        const order = (n: number): number[] => {
          const idx = [...Array(n).keys()];
          let s = seed + n;
          for (let i = n - 1; i > 0; i--) {
            s = (s * 1103515245 + 12345) % 2147483648;
            const j = s % (i + 1);
            [idx[i], idx[j]] = [idx[j] as number, idx[i] as number];
          }
          return idx;
        };
        const plan = computePlan(normalised(ra), normalised(rb), 1);
        expect(computePlan(normalised(ra), normalised(rb), 1)).toEqual(plan);
        expect(computePlan(normalizeConfig(build(ra, order)), normalizeConfig(build(rb, order)), 1)).toEqual(plan);
      }),
      RUNS,
    );
  });
});

describe('plan properties (conflicting configurations)', () => {
  it('still complete and consistent with listenerMap (last rule wins a socket)', () => {
    fc.assert(
      fc.property(conflictingPair, ([ra, rb]) => {
        const a = normalised(ra);
        const b = normalised(rb);
        checkPlan(a, b, computePlan(a, b, 1), false);
        // Overlapping unchanged rules pair up in order, so each still owns its sockets on both sides.
        const same = computePlan(a, a, 1);
        expect(same.ports).toEqual([]);
        expect(same.summary.portsKept).toBe(listenerMap(a).size);
      }),
      RUNS,
    );
  });
});
