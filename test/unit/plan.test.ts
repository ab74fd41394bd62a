/**
 * The structural diff on hand-written cases: rule identity, port-level
 * continuity, execution order, table presence and determinism. Sockets of
 * unchanged rules are counted in summary.portsKept but never listed.
 */
import { describe, expect, it } from 'vitest';
import { configDigest } from '../../src/config/canonical.js';
import { defaultRuleOptions, type ForwardingConfig, type ForwardRule, type Table } from '../../src/config/model.js';
import { normalizeConfig } from '../../src/config/normalize.js';
import { applyPlan, applyPortPlan } from '../../src/plan/apply-plan.js';
import { computePlan } from '../../src/plan/compute-plan.js';
import { changedFields, ruleId, ruleIdentity } from '../../src/plan/identity.js';
import { listenerKey, listenerMap, routesEqual } from '../../src/plan/listeners.js';
import type { Plan, PortAction, PortChange, Route } from '../../src/plan/model.js';

function rule(over: Partial<ForwardRule> = {}): ForwardRule {
  return {
    name: '',
    protocol: 'tcp',
    listenAddress: '127.0.0.1',
    interface: '',
    ports: { first: 8080, last: 8080 },
    exclude: [],
    targetAddress: '10.0.0.1',
    targetPort: 0,
    weak: false,
    ...defaultRuleOptions(),
    ...over,
  };
}

function config(...tables: Table[]): ForwardingConfig {
  return normalizeConfig({ tables });
}

function table(name: string, ...rules: ForwardRule[]): Table {
  return { name, rules };
}

function plan(running: ForwardingConfig, desired: ForwardingConfig): Plan {
  return computePlan(running, desired, 7);
}

/** The port changes with `action`, or all of them. */
function portOps(p: Plan, action?: PortAction): PortChange[] {
  return p.ports.filter((c) => action === undefined || c.action === action);
}

function portNumbers(changes: PortChange[]): number[] {
  return changes.map((c) => c.port);
}

function range(first: number, last: number): number[] {
  return Array.from({ length: last - first + 1 }, (_, i) => first + i);
}

function routes(c: ForwardingConfig): Map<string, Route> {
  return new Map([...listenerMap(c)].map(([key, l]) => [key, l.route]));
}

describe('rule identity', () => {
  it('ids are stable: pinned value for a named rule', () => {
    // A changed id would restart every rule's counters after an upgrade.
    expect(ruleId('web', rule({ name: 'api' }))).toBe('r_310a064d865f55b1');
    expect(ruleIdentity('web', rule({ name: 'api' }))).toBe('["web","api"]');
  });

  it('a named rule keeps its id across content edits; an unnamed one does not', () => {
    const named = rule({ name: 'api' });
    expect(ruleId('web', { ...named, targetPort: 9000 })).toBe(ruleId('web', named));
    const unnamed = rule();
    expect(ruleId('web', { ...unnamed, targetPort: 9000 })).not.toBe(ruleId('web', unnamed));
    expect(ruleId('web', unnamed)).toMatch(/^r_[0-9a-f]{16}$/);
  });

  it('the table is part of the identity', () => {
    expect(ruleId('a', rule({ name: 'x' }))).not.toBe(ruleId('b', rule({ name: 'x' })));
    expect(ruleId('a', rule())).not.toBe(ruleId('b', rule()));
  });

  it('a name can never collide with an unnamed rule content', () => {
    const unnamed = rule();
    const sneaky = rule({ name: ruleIdentity('web', unnamed) });
    expect(ruleIdentity('web', sneaky)).not.toBe(ruleIdentity('web', unnamed));
  });

  it('changedFields lists proto names in proto order', () => {
    const a = rule({ name: 'a' });
    const b: ForwardRule = {
      name: 'b',
      protocol: 'udp',
      listenAddress: '::1',
      interface: 'eth0',
      ports: { first: 1, last: 2 },
      exclude: [{ first: 2, last: 2 }],
      targetAddress: '::1',
      targetPort: 5,
      weak: true,
      ...defaultRuleOptions(),
      snatAddress: '10.0.0.9',
    };
    expect(changedFields(a, b)).toEqual([
      'name',
      'protocol',
      'listen_address',
      'interface',
      'ports',
      'exclude',
      'target_address',
      'target_port',
      'weak',
      'snat_address',
    ]);
    expect(changedFields(a, { ...a })).toEqual([]);
    expect(changedFields(a, { ...a, exclude: [{ first: 8080, last: 8080 }] })).toEqual(['exclude']);
  });
});

describe('listenerMap', () => {
  it('lists every port minus exclusions, with the target port mapped', () => {
    const c = config(table('t', rule({ name: 'r', ports: { first: 8000, last: 8004 }, exclude: [{ first: 8002, last: 8002 }], targetPort: 9000 })));
    const map = listenerMap(c);
    expect([...map.keys()]).toEqual(['tcp|127.0.0.1|8000', 'tcp|127.0.0.1|8001', 'tcp|127.0.0.1|8003', 'tcp|127.0.0.1|8004']);
    expect([...map.values()].map((l) => l.route.targetPort)).toEqual([9000, 9001, 9003, 9004]);
    const first = map.get('tcp|127.0.0.1|8000');
    expect(first?.binding).toEqual({ protocol: 'tcp', listenAddress: '127.0.0.1', port: 8000 });
    expect(first?.route).toEqual({
      table: 't',
      ruleId: ruleId('t', rule({ name: 'r', ports: { first: 8000, last: 8004 } })),
      ruleName: 'r',
      targetAddress: '10.0.0.1',
      targetPort: 9000,
      weak: false,
    });
    expect(listenerKey({ protocol: 'udp', listenAddress: '', port: 53 })).toBe('udp||53');
  });

  it('dual-stack any and "::" are different sockets', () => {
    const c = config(table('t', rule({ name: 'a', listenAddress: '' }), rule({ name: 'b', listenAddress: '::', protocol: 'udp' })));
    expect([...listenerMap(c).keys()].sort()).toEqual(['tcp||8080', 'udp|::|8080']);
  });

  it('a doubly mapped socket (invalid input) goes to the last rule in config order', () => {
    const c = config(table('t', rule({ name: 'a', targetPort: 1 }), rule({ name: 'b', targetPort: 2 })));
    expect(listenerMap(c).get('tcp|127.0.0.1|8080')?.route.ruleName).toBe('b');
  });

  it('routesEqual compares every field', () => {
    const r: Route = { table: 't', ruleId: 'r_1', ruleName: 'a', targetAddress: 'x', targetPort: 1, weak: false };
    expect(routesEqual(r, { ...r })).toBe(true);
    for (const diff of [{ table: 'u' }, { ruleId: 'r_2' }, { ruleName: 'b' }, { targetAddress: 'y' }, { targetPort: 2 }, { weak: true }]) {
      expect(routesEqual(r, { ...r, ...diff })).toBe(false);
    }
  });
});

describe('computePlan: rules', () => {
  const running = config(
    table(
      'web',
      rule({ name: 'keep', ports: { first: 8000, last: 8000 } }),
      rule({ name: 'edit', ports: { first: 8001, last: 8001 } }),
      rule({ ports: { first: 9000, last: 9000 } }),
    ),
  );
  const desired = config(
    table(
      'web',
      rule({ name: 'keep', ports: { first: 8000, last: 8000 } }),
      rule({ name: 'edit', ports: { first: 8001, last: 8001 }, targetPort: 7001 }),
      rule({ name: 'new', ports: { first: 8002, last: 8002 } }),
    ),
  );

  it('classifies added, removed, changed and unchanged rules', () => {
    const p = plan(running, desired);
    expect(p.baseGeneration).toBe(7);
    expect(p.rules.map((r) => [r.name, r.action, r.index, r.changedFields])).toEqual([
      ['edit', 'changed', 0, ['target_port']],
      ['keep', 'unchanged', 1, []],
      // Same index: the removed running rule reads first, as "replaced by".
      ['', 'removed', 2, []],
      ['new', 'added', 2, []],
    ]);
    expect(p.rules.find((r) => r.action === 'changed')?.rule.targetPort).toBe(7001);
    expect(p.rules.find((r) => r.action === 'removed')?.rule.ports.first).toBe(9000);
    expect(p.summary).toEqual({
      rulesAdded: 1,
      rulesRemoved: 1,
      rulesChanged: 1,
      rulesUnchanged: 1,
      portsOpened: 1,
      portsClosed: 1,
      portsRetargeted: 1,
      portsKept: 1,
      tablesTouched: ['web'],
      empty: false,
    });
    expect(p.empty).toBe(false);
    // 8000 belongs to the unchanged rule: counted as kept above, not listed.
    expect(p.ports.map((c) => [c.action, c.port])).toEqual([
      ['open', 8002],
      ['close', 9000],
      ['retarget', 8001],
    ]);
  });

  it('the plan is complete: applying it to running yields desired', () => {
    expect(applyPlan(running, plan(running, desired))).toEqual(desired);
    expect(applyPortPlan(routes(running), plan(running, desired))).toEqual(routes(desired));
  });

  it('a renamed rule is removed + added, but its sockets are retargeted, not reopened', () => {
    const p = plan(config(table('t', rule({ name: 'old' }))), config(table('t', rule({ name: 'new' }))));
    expect(p.rules.map((r) => [r.name, r.action])).toEqual([
      ['old', 'removed'],
      ['new', 'added'],
    ]);
    expect(p.ports).toHaveLength(1);
    const [change] = p.ports;
    expect(change?.action).toBe('retarget');
    expect(change?.previous?.ruleName).toBe('old');
    expect(change?.route?.ruleName).toBe('new');
  });

  it('an edited unnamed rule is removed + added (its identity is its content)', () => {
    const before = rule({ ports: { first: 8000, last: 8001 } });
    const after = { ...before, targetAddress: '10.0.0.2' };
    const p = plan(config(table('t', before)), config(table('t', after)));
    expect(p.rules.map((r) => [r.action, r.ruleId])).toEqual([
      ['removed', ruleId('t', before)],
      ['added', ruleId('t', after)],
    ]);
    expect(p.summary.rulesChanged).toBe(0);
    expect(portOps(p).map((c) => c.action)).toEqual(['retarget', 'retarget']);
  });

  it('a rule moved to another table is removed there and added here', () => {
    const r = rule({ name: 'a' });
    const p = plan(config(table('one', r), table('two')), config(table('one'), table('two', r)));
    expect(p.rules.map((c) => [c.table, c.action])).toEqual([
      ['one', 'removed'],
      ['two', 'added'],
    ]);
    expect(p.summary.tablesTouched).toEqual(['one', 'two']);
    expect(p.ports.map((c) => [c.action, c.previous?.table, c.route?.table])).toEqual([['retarget', 'one', 'two']]);
  });

  it('rules are sorted by table, then index', () => {
    const p = plan(
      config(table('b', rule({ name: 'x' })), table('a', rule({ name: 'y', ports: { first: 1, last: 1 } }))),
      config(table('b', rule({ name: 'x' }), rule({ name: 'z', ports: { first: 2, last: 2 } })), table('a')),
    );
    expect(p.rules.map((r) => [r.table, r.index, r.name, r.action])).toEqual([
      ['a', 0, 'y', 'removed'],
      ['b', 0, 'x', 'unchanged'],
      ['b', 1, 'z', 'added'],
    ]);
    expect(p.summary.tablesTouched).toEqual(['a', 'b']);
  });
});

describe('computePlan: ports', () => {
  it('a target change retargets every port under the same listener key', () => {
    const before = rule({ name: 'a', ports: { first: 8000, last: 8002 } });
    const p = plan(config(table('t', before)), config(table('t', { ...before, targetAddress: '10.9.9.9', targetPort: 100 })));
    expect(p.rules.map((r) => r.changedFields)).toEqual([['target_address', 'target_port']]);
    expect(p.ports.map((c) => [c.action, c.key, c.previous?.targetPort, c.route?.targetPort])).toEqual([
      ['retarget', 'tcp|127.0.0.1|8000', 8000, 100],
      ['retarget', 'tcp|127.0.0.1|8001', 8001, 101],
      ['retarget', 'tcp|127.0.0.1|8002', 8002, 102],
    ]);
  });

  it('a weak flag change is a retarget', () => {
    const p = plan(config(table('t', rule({ name: 'a' }))), config(table('t', rule({ name: 'a', weak: true }))));
    expect(p.ports.map((c) => c.action)).toEqual(['retarget']);
  });

  it('overlapping old and new ranges: the shared ports keep their sockets', () => {
    const p = plan(
      config(table('t', rule({ name: 'a', ports: { first: 8000, last: 8010 } }))),
      config(table('t', rule({ name: 'a', ports: { first: 8005, last: 8020 } }))),
    );
    expect(portNumbers(portOps(p, 'keep'))).toEqual(range(8005, 8010));
    expect(portNumbers(portOps(p, 'close'))).toEqual(range(8000, 8004));
    expect(portNumbers(portOps(p, 'open'))).toEqual(range(8011, 8020));
    expect(portOps(p, 'retarget')).toEqual([]);
    // Execution order: free opens, closes, then keeps.
    expect(p.ports.map((c) => c.action)).toEqual([
      ...Array<PortAction>(10).fill('open'),
      ...Array<PortAction>(5).fill('close'),
      ...Array<PortAction>(6).fill('keep'),
    ]);
    expect(portOps(p, 'open').every((c) => c.needsRoomFrom?.length === 0 && c.route && !c.previous)).toBe(true);
    expect(portOps(p, 'close').every((c) => c.previous && !c.route && c.needsRoomFrom === undefined)).toBe(true);
  });

  it('an edited range with a shifted target mapping retargets the shared ports', () => {
    const p = plan(
      config(table('t', rule({ name: 'a', ports: { first: 8000, last: 8001 }, targetPort: 9000 }))),
      config(table('t', rule({ name: 'a', ports: { first: 7999, last: 8001 }, targetPort: 9000 }))),
    );
    expect(p.ports.map((c) => [c.action, c.port, c.route?.targetPort])).toEqual([
      ['open', 7999, 9000],
      ['retarget', 8000, 9001],
      ['retarget', 8001, 9002],
    ]);
  });

  it('dual-stack any and "::" are different listeners: close one, open the other', () => {
    const p = plan(config(table('t', rule({ name: 'a', listenAddress: '' }))), config(table('t', rule({ name: 'a', listenAddress: '::' }))));
    expect(p.ports.map((c) => [c.action, c.key, c.needsRoomFrom])).toEqual([
      ['close', 'tcp||8080', undefined],
      ['open', 'tcp|::|8080', ['tcp||8080']],
    ]);
  });

  it('an open whose address overlaps a closing socket on the same port waits for it', () => {
    const p = plan(
      config(table('t', rule({ name: 'a', listenAddress: '0.0.0.0' }), rule({ name: 'u', protocol: 'udp', listenAddress: '0.0.0.0' }))),
      config(
        table(
          't',
          rule({ name: 'a', listenAddress: '127.0.0.1' }),
          rule({ name: 'b', listenAddress: '::1' }),
          rule({ name: 'c', listenAddress: '127.0.0.1', ports: { first: 8081, last: 8081 } }),
          rule({ name: 'u', protocol: 'udp', listenAddress: '0.0.0.0' }),
        ),
      ),
    );
    expect(p.ports.map((c) => [c.action, c.key, c.needsRoomFrom])).toEqual([
      // '::1' does not overlap 0.0.0.0, 8081 is another port: both bind at once.
      ['open', 'tcp|127.0.0.1|8081', []],
      ['open', 'tcp|::1|8080', []],
      ['close', 'tcp|0.0.0.0|8080', undefined],
      ['open', 'tcp|127.0.0.1|8080', ['tcp|0.0.0.0|8080']],
    ]);
    // udp|0.0.0.0|8080 is the unchanged rule u's.
    expect(p.summary.portsKept).toBe(1);
  });

  it('a socket of an unchanged rule that another rule takes over is listed (invalid input)', () => {
    // b overlaps a; the last rule in config order owns the shared socket.
    const a = rule({ name: 'a', ports: { first: 8080, last: 8082 } });
    const b = rule({ name: 'b', ports: { first: 8081, last: 8081 } });
    const running = config(table('t', a));
    const desired = config(table('t', a, b));
    const p = plan(running, desired);
    expect(p.rules.map((r) => [r.name, r.action])).toEqual([
      ['a', 'unchanged'],
      ['b', 'added'],
    ]);
    expect(p.ports.map((c) => [c.action, c.port, c.previous?.ruleName, c.route?.ruleName])).toEqual([['retarget', 8081, 'a', 'b']]);
    expect(p.summary).toMatchObject({ portsRetargeted: 1, portsKept: 2 });
    expect(applyPortPlan(routes(running), p)).toEqual(routes(desired));
    // And back: b's socket returns to a, which owned it all along on the other side.
    const back = plan(desired, running);
    expect(back.ports.map((c) => [c.action, c.port, c.previous?.ruleName, c.route?.ruleName])).toEqual([['retarget', 8081, 'b', 'a']]);
    expect(back.summary.portsKept).toBe(2);
  });

  it('groups are each sorted by protocol, address, then port', () => {
    const p = plan(
      config(),
      config(
        table(
          't',
          rule({ name: 'a', protocol: 'udp', listenAddress: '127.0.0.1', ports: { first: 1, last: 1 } }),
          rule({ name: 'b', protocol: 'tcp', listenAddress: '::1', ports: { first: 1, last: 1 } }),
          rule({ name: 'c', protocol: 'tcp', listenAddress: '127.0.0.1', ports: { first: 10, last: 10 } }),
          rule({ name: 'd', protocol: 'tcp', listenAddress: '127.0.0.1', ports: { first: 9, last: 9 } }),
        ),
      ),
    );
    expect(p.ports.map((c) => c.key)).toEqual(['tcp|127.0.0.1|9', 'tcp|127.0.0.1|10', 'tcp|::1|1', 'udp|127.0.0.1|1']);
  });
});

describe('computePlan: tables and emptiness', () => {
  it('equal configurations plan as empty, with every port kept and none listed', () => {
    const c = config(table('t', rule({ name: 'a', ports: { first: 1, last: 3 } })), table('empty'));
    const p = plan(c, structuredClone(c));
    expect(p.empty).toBe(true);
    expect(p.summary.empty).toBe(true);
    expect(p.summary.tablesTouched).toEqual([]);
    expect(p.ports).toEqual([]);
    expect(p.summary.portsKept).toBe(3);
    expect(p.tables).toEqual({ added: [], removed: [] });
  });

  it('adding an empty table is a change', () => {
    const p = plan(config(), config(table('new')));
    expect(p.empty).toBe(false);
    expect(p.summary.tablesTouched).toEqual(['new']);
    expect(p.rules).toEqual([]);
    expect(p.ports).toEqual([]);
    expect(p.tables).toEqual({ added: ['new'], removed: [] });
    expect(applyPlan(config(), p)).toEqual(config(table('new')));
  });

  it('removing an empty table is a change', () => {
    const running = config(table('old'), table('t', rule()));
    const desired = config(table('t', rule()));
    const p = plan(running, desired);
    expect(p.empty).toBe(false);
    expect(p.summary.tablesTouched).toEqual(['old']);
    expect(p.tables).toEqual({ added: [], removed: ['old'] });
    expect(applyPlan(running, p)).toEqual(desired);
  });

  it('emptying a table keeps it; removing it drops it', () => {
    const running = config(table('t', rule({ name: 'a' })));
    for (const desired of [config(table('t')), config()]) {
      const p = plan(running, desired);
      expect(applyPlan(running, p)).toEqual(desired);
      expect(p.summary.tablesTouched).toEqual(['t']);
      expect(p.ports.map((c) => c.action)).toEqual(['close']);
    }
  });

  it('empty agrees with the config digest', () => {
    const a = config(table('t', rule({ name: 'a' })));
    const b = config(table('t', rule({ name: 'a', interface: 'eth0' })));
    expect(configDigest(a) === configDigest(b)).toBe(false);
    expect(plan(a, b).empty).toBe(false);
    expect(plan(a, b).rules.map((r) => r.changedFields)).toEqual([['interface']]);
  });
});

describe('computePlan: determinism', () => {
  const rulesA = [
    rule({ name: 'b', ports: { first: 10, last: 20 } }),
    rule({ ports: { first: 30, last: 31 } }),
    rule({ name: 'a', ports: { first: 40, last: 45 }, exclude: [{ first: 44, last: 44 }, { first: 41, last: 41 }] }),
    rule({ protocol: 'udp', ports: { first: 30, last: 30 } }),
  ];
  const rulesB = [
    rule({ name: 'b', ports: { first: 15, last: 25 }, targetPort: 100 }),
    rule({ listenAddress: '::1', ports: { first: 30, last: 31 } }),
    rule({ name: 'c', listenAddress: '', ports: { first: 40, last: 41 } }),
    rule({ protocol: 'udp', ports: { first: 30, last: 30 } }),
  ];
  const a = config(table('x', ...rulesA), table('y', rule()));
  const b = config(table('y'), table('x', ...rulesB), table('z'));

  it('the same input plans the same, twice', () => {
    expect(plan(a, b)).toEqual(plan(a, b));
  });

  it('rule and table order in the input does not matter once normalised', () => {
    const shuffledA = config(table('y', rule()), table('x', ...[...rulesA].reverse()));
    const shuffledB = config(table('z'), table('x', rulesB[2] as ForwardRule, rulesB[0] as ForwardRule, rulesB[3] as ForwardRule, rulesB[1] as ForwardRule), table('y'));
    expect(plan(shuffledA, shuffledB)).toEqual(plan(a, b));
  });
});

describe('applyPlan / applyPortPlan', () => {
  it('refuse a plan computed against another configuration', () => {
    const a = config(table('t', rule({ name: 'a' })));
    const b = config(table('t', rule({ name: 'b' })));
    const p = plan(a, b);
    expect(() => applyPlan(b, p)).toThrow(/does not apply/);
    expect(() => applyPlan(config(), plan(config(), config(table('t'))))).not.toThrow();
    expect(() => applyPlan(config(table('t')), plan(config(), config(table('t'))))).toThrow(/already exists/);
    expect(() => applyPortPlan(routes(config()), p)).toThrow(/does not apply/);
    expect(() => applyPortPlan(routes(b), plan(config(), b))).toThrow(/does not apply/);
  });

  it('applyPortPlan leaves its input alone', () => {
    const a = config(table('t', rule({ name: 'a' })));
    const before = routes(a);
    applyPortPlan(before, plan(a, config()));
    expect(before).toEqual(routes(a));
  });
});

describe('computePlan: cost follows the change', () => {
  function large(changedTarget: number): ForwardingConfig {
    // 1,000 rules of 10 ports each, half named, in 10 tables.
    const tables = Array.from({ length: 10 }, (_, t) =>
      table(
        `t${t}`,
        ...Array.from({ length: 100 }, (_, r) => {
          const first = 10000 + (t * 100 + r) * 10;
          return rule({ name: r % 2 ? `r${r}` : '', ports: { first, last: first + 9 }, targetPort: t === 5 && r === 1 ? changedTarget : 0 });
        }),
      ),
    );
    return config(...tables);
  }

  it('plans a one-rule change of a 1,000-rule / 10,000-port configuration without per-port work for unchanged rules', () => {
    const a = large(0);
    const b = large(30000);
    const p: Plan = plan(a, b);
    expect(p.summary).toMatchObject({ rulesChanged: 1, rulesUnchanged: 999, portsRetargeted: 10, portsKept: 9990 });
    // Only the changed rule's ports are listed: execution cost follows the change.
    expect(p.ports).toHaveLength(10);
  });
});
