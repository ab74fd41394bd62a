/**
 * The nftables backend builds a one-rule apply's desired state from the
 * plan's rule changes; it must be the state built rule by rule, and a plan
 * that does not match the state written last must fall back to that.
 */
import { describe, expect, it } from 'vitest';
import { defaultRuleOptions, type ForwardingConfig, type ForwardRule } from '../../src/config/model.js';
import { normalizeConfig } from '../../src/config/normalize.js';
import { desiredState, diffBatch, emptyState, fullBatch, type RulesetOptions, type WrittenState } from '../../src/dataplane/nftables/ruleset.js';
import { computePlan } from '../../src/plan/compute-plan.js';
import { ruleId } from '../../src/plan/identity.js';

function tcp(name: string, first: number, last: number, targetAddress: string, targetPort: number): ForwardRule {
  return { name, protocol: 'tcp', listenAddress: '', interface: '', ports: { first, last }, exclude: [], targetAddress, targetPort, weak: false, ...defaultRuleOptions() };
}

/** Counter ids as the control layer keeps them: an unchanged rule keeps its id, a new or changed one takes the next. */
function counterIdsOf(config: ForwardingConfig, before: Record<string, number>, changed: ReadonlySet<string>, next: { id: number }): Record<string, number> {
  const ids: Record<string, number> = {};
  for (const t of config.tables) {
    for (const r of t.rules) {
      const id = ruleId(t.name, r);
      ids[id] = before[id] !== undefined && !changed.has(id) ? before[id]! : next.id++;
    }
  }
  return ids;
}

function summary(state: WrittenState): unknown {
  return {
    rules: [...state.rules.entries()].map(([id, r]) => [id, r.ruleId, r.chain, r.limit, r.elements, r.excludedKey, r.hairpin]).sort((a, b) => Number(a[0]) - Number(b[0])),
    hairpins: [...state.hairpins.entries()].map(([k, h]) => [k, h.rules]).sort(),
    excludedRules: state.excludedRules,
  };
}

describe('nftables desired state from a plan', () => {
  const next = { id: 1 };
  const running = normalizeConfig({ tables: [{ name: 'web', rules: [tcp('a', 1000, 1009, '10.0.0.1', 80), tcp('b', 2000, 2004, '10.0.0.2', 0), tcp('c', 3000, 3000, '10.0.0.1', 90)] }, { name: 'db', rules: [tcp('d', 4000, 4001, '10.0.0.3', 0)] }] });
  const runningIds = counterIdsOf(running, {}, new Set(), next);
  const written = desiredState(running, runningIds, undefined, emptyState());

  it('an added, a changed and a removed rule give the state built rule by rule, and the same change to write', () => {
    const desired = normalizeConfig({ tables: [{ name: 'web', rules: [running.tables.find((t) => t.name === 'web')!.rules[0]!, tcp('b', 2000, 2004, '10.0.0.9', 0), tcp('e', 5000, 5002, '10.0.0.1', 0)] }, running.tables.find((t) => t.name === 'db')!] }, running);
    const plan = computePlan(running, desired, 1, { valid: true });
    expect(plan.rules.filter((c) => c.action !== 'unchanged').map((c) => `${c.action} ${c.name}`).sort()).toEqual(['added e', 'changed b', 'removed c']);
    const ids = counterIdsOf(desired, runningIds, new Set(plan.rules.filter((c) => c.action === 'changed').map((c) => c.ruleId)), next);
    const fromPlan = desiredState(desired, ids, undefined, written, written.options, { changes: plan.rules, previousCounterIds: runningIds });
    const byRule = desiredState(desired, ids, undefined, written, written.options);
    expect(summary(fromPlan)).toEqual(summary(byRule));
    // The same change is written from the state written last.
    expect(diffBatch('t', written, fromPlan)).toBe(diffBatch('t', written, byRule));
    // Default limits are classes the rules join by an element: no chain, no verdict.
    expect(diffBatch('t', written, fromPlan)).not.toContain('goto r');
    expect(diffBatch('t', written, fromPlan)).toMatch(/^add element inet t m_16384 \{ \d+, \d+ \}$/m);
    // The unchanged rules' objects are the written ones (nothing of them is rewritten).
    expect(fromPlan.rules.get(runningIds[ruleId('db', running.tables.find((t) => t.name === 'db')!.rules[0]!)]!)).toBe(written.rules.get(runningIds[ruleId('db', running.tables.find((t) => t.name === 'db')!.rules[0]!)]!));
  });

  it('a plan against another state than the one written falls back to building rule by rule', () => {
    const desired = normalizeConfig({ tables: [{ name: 'web', rules: [tcp('x', 6000, 6001, '10.0.0.1', 0)] }] });
    const ids = counterIdsOf(desired, {}, new Set(), next);
    // An empty plan, as if `written` already were `desired`: the rule count does not match.
    const fromPlan = desiredState(desired, ids, undefined, written, written.options, { changes: [], previousCounterIds: runningIds });
    expect(summary(fromPlan)).toEqual(summary(desiredState(desired, ids, undefined, written, written.options)));
  });

  it('a rule whose parts are data changes in the shared chain: elements and a named limit, no chain and no verdict', () => {
    // A cap the conntrack table cannot reach and a per-source rate no stricter than the rule's: nothing needs a chain.
    const options: RulesetOptions = { conntrackMax: 262144 };
    const open = (name: string, first: number, targetAddress: string, targetPort: number): ForwardRule => {
      const r = tcp(name, first, first + 3, targetAddress, targetPort);
      return { ...r, exclude: [{ first: first + 1, last: first + 1 }], limits: { ...r.limits, maxSessions: 1_000_000, sourceRate: r.limits.sessionRate, sourceBurst: r.limits.sessionBurst } };
    };
    const before = normalizeConfig({ tables: [{ name: 'web', rules: [open('a', 1000, '10.0.0.1', 80), open('b', 2000, '10.0.0.2', 0)] }] });
    const beforeIds = counterIdsOf(before, {}, new Set(), next);
    const from = desiredState(before, beforeIds, undefined, emptyState(options), options);
    const after = normalizeConfig({ tables: [{ name: 'web', rules: [open('a', 1000, '10.0.0.1', 80), open('b', 2000, '10.0.0.2', 3000)] }] }, before);
    const plan = computePlan(before, after, 1, { valid: true });
    const ids = counterIdsOf(after, beforeIds, new Set(plan.rules.filter((c) => c.action === 'changed').map((c) => c.ruleId)), next);
    const to = desiredState(after, ids, undefined, from, options, { changes: plan.rules, previousCounterIds: beforeIds });
    const [oldB, newB] = [beforeIds[ruleId('web', before.tables[0]!.rules[1]!)]!, ids[ruleId('web', after.tables[0]!.rules[1]!)]!];
    const batch = diffBatch('t', from, to).split('\n');
    expect(batch.filter((c) => /chain|rule|goto|rules/.test(c))).toEqual([]);
    expect(batch).toContain(`add limit inet t lim${newB} { rate over 10000/second burst ${to.rules.get(newB)!.rule.limits.sessionBurst} packets }`);
    expect(batch).toContain(`add element inet t lim { ${newB} : "lim${newB}" }`);
    // Each port's target (offsets mapped, the excluded port absent), replacing the old version's.
    expect(batch).toContain(`add element inet t n4 { ${newB} . 2000 : 10.0.0.2 . 3000, ${newB} . 2002 : 10.0.0.2 . 3002, ${newB} . 2003 : 10.0.0.2 . 3003 }`);
    expect(batch).toContain(`delete element inet t n4 { ${oldB} . 2000, ${oldB} . 2002, ${oldB} . 2003 }`);
    expect(batch.at(-1)).toBe(`delete limit inet t lim${oldB}`);
  });

  it('default limits are classes: a new class adds its set and rules once, a rule joining one adds an element', () => {
    const options: RulesetOptions = { conntrackMax: 262144 };
    const rule = (name: string, first: number, maxSessions: number): ForwardRule => {
      const r = tcp(name, first, first + 1, '10.0.0.1', 0);
      return { ...r, limits: { ...r.limits, maxSessions } };
    };
    const before = normalizeConfig({ tables: [{ name: 'web', rules: [rule('a', 1000, 16384)] }] });
    const beforeIds = counterIdsOf(before, {}, new Set(), next);
    const from = desiredState(before, beforeIds, undefined, emptyState(options), options);
    const a = beforeIds[ruleId('web', before.tables[0]!.rules[0]!)]!;
    expect([...from.classes.keys()]).toEqual(['m_16384', 's_2000_4000']);
    const full = fullBatch('t', from).split('\n');
    expect(full).toContain('add set inet t m_16384 { type mark; }');
    expect(full).toContain('add rule inet t cap meta l4proto tcp ct mark @m_16384 add @cnt { ct mark ct count over 16384 } ct mark @c_cap reject with tcp reset');
    expect(full).toContain('add rule inet t srate6 meta l4proto udp ct mark @s_2000_4000 update @src6 { ct mark . ip6 saddr limit rate over 2000/second burst 4000 packets } ct mark @c_srate reject with icmpx port-unreachable');
    expect(full).toContain(`add element inet t m_16384 { ${a} }`);
    expect(full.filter((c) => c.includes('add chain inet t r'))).toEqual([]);
    // A rule joining both classes: elements only.
    const join = normalizeConfig({ tables: [{ name: 'web', rules: [rule('a', 1000, 16384), rule('b', 2000, 16384)] }] }, before);
    const joinIds = counterIdsOf(join, beforeIds, new Set(), next);
    const joined = desiredState(join, joinIds, undefined, from, options);
    const b = joinIds[ruleId('web', join.tables[0]!.rules[1]!)]!;
    const batch = diffBatch('t', from, joined).split('\n');
    expect(batch.filter((c) => /chain|rule|goto|add set/.test(c))).toEqual([]);
    expect(batch).toContain(`add element inet t m_16384 { ${b} }`);
    expect(batch).toContain(`add element inet t s_2000_4000 { ${b} }`);
    // Another cap: a new class, created before the element that joins it; the old one stays (its members may return).
    const other = normalizeConfig({ tables: [{ name: 'web', rules: [rule('a', 1000, 16384), rule('b', 2000, 100)] }] }, join);
    const plan = computePlan(join, other, 1, { valid: true });
    const otherIds = counterIdsOf(other, joinIds, new Set(plan.rules.filter((c) => c.action === 'changed').map((c) => c.ruleId)), next);
    const changed = desiredState(other, otherIds, undefined, joined, options, { changes: plan.rules, previousCounterIds: joinIds });
    expect([...changed.classes.keys()]).toEqual(['m_16384', 's_2000_4000', 'm_100']);
    const b2 = otherIds[ruleId('web', other.tables[0]!.rules[1]!)]!;
    const batch2 = diffBatch('t', joined, changed).split('\n');
    expect(batch2.slice(0, 3)).toEqual([
      'add set inet t m_100 { type mark; }',
      'add rule inet t cap meta l4proto tcp ct mark @m_100 add @cnt { ct mark ct count over 100 } ct mark @c_cap reject with tcp reset',
      'add rule inet t cap meta l4proto udp ct mark @m_100 add @cnt { ct mark ct count over 100 } ct mark @c_cap reject with icmpx port-unreachable',
    ]);
    expect(batch2).toContain(`add element inet t m_100 { ${b2} }`);
    expect(batch2).toContain(`delete element inet t m_16384 { ${b} }`);
  });
});

