import { fileURLToPath } from 'node:url';
import { loadSync, type ServiceDefinition } from '@grpc/proto-loader';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { listenAddressesOverlap } from '../../src/config/address.js';
import { defaultRuleOptions, DEFAULT_LIMITS, type ForwardRule, type Limits, type Table, type Violation } from '../../src/config/model.js';
import { parseTables } from '../../src/config/parse.js';
import { iteratePorts, portIntervals } from '../../src/config/ports.js';
import { validateConfig, type ValidationInput } from '../../src/config/validate.js';
import type { Capabilities, Feature } from '../../src/dataplane/capabilities.js';
import { FIXTURE_CAPABILITIES, INVALID_CONFIGS } from '../fixtures/invalid-configs.js';

const ALL_FEATURES: Feature[] = [
  'tcp',
  'udp',
  'ipv4',
  'ipv6',
  'dual_stack',
  'port_ranges',
  'socket_continuity',
  'interface_binding',
  'link_local_scope',
  'terminate_removed',
  'weak_rules',
];
const EVERYTHING: Capabilities = { backend: 'full', supported: ALL_FEATURES, unsupported: [] };

function rule(overrides: Partial<ForwardRule> = {}): ForwardRule {
  return {
    name: '',
    protocol: 'tcp',
    listenAddress: '127.0.0.1',
    interface: '',
    ports: { first: 8080, last: 8080 },
    exclude: [],
    // A documentation address (RFC 5737): not this host, so no default rule loops into portplane. Never contacted.
    targetAddress: '192.0.2.1',
    targetPort: 0,
    weak: false,
    ...defaultRuleOptions(),
    ...overrides,
  };
}

function validate(requestTables: Table[], more: Partial<ValidationInput> = {}): Violation[] {
  return validateConfig({
    requestTables,
    otherTables: [],
    limits: DEFAULT_LIMITS,
    capabilities: FIXTURE_CAPABILITIES,
    ...more,
  });
}

/** Violations of a single rule in table "web". */
const validateRule = (overrides: Partial<ForwardRule>, more?: Partial<ValidationInput>): Violation[] =>
  validate([{ name: 'web', rules: [rule(overrides)] }], more);

const at = (path: string, message: string | RegExp): Violation => ({
  path,
  message: typeof message === 'string' ? message : (expect.stringMatching(message) as string),
});

describe('validateConfig: a valid configuration', () => {
  it('accepts every supported feature at once', () => {
    const tables: Table[] = [
      {
        name: 'web.v1_a-b',
        rules: [
          rule({ name: 'http', listenAddress: '', ports: { first: 8080, last: 8089 }, exclude: [{ first: 8085, last: 8086 }] }),
          rule({ name: 'mapped', listenAddress: '::1', ports: { first: 9000, last: 9009 }, targetPort: 65526, weak: true }),
          rule({ listenAddress: 'fe80::1%lo', targetAddress: 'fe80::2', interface: 'lo', ports: { first: 1, last: 1 } }),
          rule({ listenAddress: 'fe80::1', interface: 'eth0', targetAddress: '::1', ports: { first: 2, last: 2 } }),
        ],
      },
      // Adjacent ports, other address of the family, other protocol: no conflict.
      { name: 'other', rules: [rule({ ports: { first: 8090, last: 8090 } }), rule({ listenAddress: '127.0.0.2', ports: { first: 9000, last: 9000 } })] },
    ];
    expect(validate(tables)).toEqual([]);
    expect(validate([{ name: 'udp', rules: [rule({ protocol: 'udp', ports: { first: 8080, last: 8080 } })] }], { otherTables: tables, capabilities: EVERYTHING })).toEqual([]);
  });

  it('leaves its input untouched and returns the same answer twice', () => {
    const tables: Table[] = [{ name: 'web', rules: [rule(), rule({ name: '', listenAddress: '' })] }];
    const frozen = structuredClone(tables);
    const deepFreeze = (v: unknown): void => {
      if (v && typeof v === 'object') {
        Object.freeze(v);
        for (const x of Object.values(v)) deepFreeze(x);
      }
    };
    deepFreeze(tables);
    const first = validate(tables);
    expect(validate(tables)).toEqual(first);
    expect(tables).toEqual(frozen);
    expect(first).toHaveLength(1);
  });
});

describe('validateConfig: names', () => {
  it('checks table names', () => {
    expect(validate([{ name: '', rules: [] }])).toEqual([at('tables[0].name', 'table name is required')]);
    expect(validate([{ name: 'a b', rules: [] }])).toEqual([at('tables[a b].name', /^invalid table name "a b": use a letter or digit/)]);
    expect(validate([{ name: 'x'.repeat(63), rules: [] }])).toEqual([]);
    expect(validate([{ name: 'x'.repeat(64), rules: [] }])).toHaveLength(1);
  });

  it('reports a duplicate table name on the second table', () => {
    expect(validate([{ name: 'web', rules: [] }, { name: 'api', rules: [] }, { name: 'web', rules: [] }])).toEqual([
      at('tables[web].name', 'duplicate table name "web": tables[0] has it too'),
    ]);
  });

  it('checks rule names and their uniqueness within a table only', () => {
    const r = (name: string, port: number) => rule({ name, ports: { first: port, last: port } });
    expect(validate([{ name: 'a', rules: [r('x', 1), r('', 2), r('', 3), r('y', 4), r('x', 5)] }, { name: 'b', rules: [r('x', 6)] }])).toEqual([
      at('tables[a].rules[4].name', 'duplicate rule name "x": rules[0] has it too'),
    ]);
    expect(validateRule({ name: '_x' })).toEqual([at('tables[web].rules[0].name', /^invalid rule name "_x"/)]);
  });
});

describe('validateConfig: ports', () => {
  it('checks bounds and order of ports and exclusions', () => {
    expect(validateRule({ ports: { first: 0, last: 5 } })).toEqual([at('tables[web].rules[0].ports', 'range 0-5 is not within 1-65535')]);
    expect(validateRule({ ports: { first: 9, last: 5 } })).toEqual([at('tables[web].rules[0].ports', 'range 9-5 is reversed: last must be >= first')]);
    expect(validateRule({ ports: { first: 1, last: 9 }, exclude: [{ first: 3, last: 3 }, { first: 0, last: 0 }, { first: 8, last: 10 }, { first: 6, last: 5 }] })).toEqual([
      at('tables[web].rules[0].exclude[1]', 'port 0 is not within 1-65535'),
      at('tables[web].rules[0].exclude[2]', 'exclusion range 8-10 is not inside ports range 1-9'),
      at('tables[web].rules[0].exclude[3]', 'range 6-5 is reversed: last must be >= first'),
    ]);
  });

  it('accepts overlapping exclusions but not ones that leave nothing', () => {
    expect(validateRule({ ports: { first: 1, last: 9 }, exclude: [{ first: 1, last: 5 }, { first: 3, last: 8 }] })).toEqual([]);
    expect(validateRule({ ports: { first: 1, last: 9 }, exclude: [{ first: 1, last: 5 }, { first: 3, last: 9 }] })).toEqual([
      at('tables[web].rules[0].exclude', 'exclusions remove every port of range 1-9'),
    ]);
  });

  it('reports a target mapping past 65535 with the highest mapped port', () => {
    expect(validateRule({ ports: { first: 100, last: 109 }, targetPort: 65526 })).toEqual([]);
    expect(validateRule({ ports: { first: 100, last: 109 }, targetPort: 65527 })).toEqual([
      at('tables[web].rules[0].target_port', 'target_port 65527 maps port 109 to 65536, beyond 65535'),
    ]);
    // Only forwarded ports are mapped: an excluded top port does not overflow.
    expect(validateRule({ ports: { first: 100, last: 109 }, exclude: [{ first: 109, last: 109 }], targetPort: 65527 })).toEqual([]);
    expect(validateRule({ targetPort: 65536 })).toEqual([
      at('tables[web].rules[0].target_port', '65536 is not within 0-65535 (0 keeps the listening port)'),
    ]);
  });
});

describe('validateConfig: addresses and scoping', () => {
  it('checks listen and target literals', () => {
    expect(validateRule({ listenAddress: 'localhost' })).toEqual([at('tables[web].rules[0].listen_address', '"localhost" is not an IPv4 or IPv6 address')]);
    expect(validateRule({ listenAddress: '224.1.1.1' })).toEqual([at('tables[web].rules[0].listen_address', /^224\.1\.1\.1 is a multicast address/)]);
    expect(validateRule({ listenAddress: '0.0.0.0' })).toEqual([]);
    expect(validateRule({ targetAddress: '' })).toEqual([at('tables[web].rules[0].target_address', 'target_address is required')]);
    expect(validateRule({ targetAddress: '::' })).toEqual([at('tables[web].rules[0].target_address', /^:: is an any-address/)]);
    expect(validateRule({ targetAddress: 'ff05::2' })).toEqual([at('tables[web].rules[0].target_address', /multicast/)]);
    expect(validateRule({ targetAddress: '10.0.0.1%eth0' })).toEqual([
      at('tables[web].rules[0].target_address', '"10.0.0.1%eth0" is not an IPv4 or IPv6 address (only a link-local IPv6 address takes a %zone)'),
    ]);
  });

  it('requires a scope on link-local IPv6 addresses, from the zone or the interface', () => {
    expect(validateRule({ listenAddress: 'fe80::1' })).toEqual([
      at('tables[web].rules[0].listen_address', 'link-local address fe80::1 needs a scope: append %<interface> or set interface'),
    ]);
    expect(validateRule({ listenAddress: 'fe80::1', interface: 'eth0' })).toEqual([]);
    expect(validateRule({ listenAddress: 'fe80::1%eth0', interface: 'eth0', targetAddress: 'fe80::2' })).toEqual([]);
    expect(validateRule({ listenAddress: '::1', targetAddress: 'fe80::2%eth0' })).toEqual([]);
    // IPv4 link-local needs no scope.
    expect(validateRule({ listenAddress: '169.254.1.1' })).toEqual([]);
  });

  it('requires zone and interface to agree', () => {
    expect(validateRule({ listenAddress: 'fe80::1%eth0', interface: 'eth1', targetAddress: 'fe80::2%eth2' })).toEqual([
      at('tables[web].rules[0].interface', 'interface "eth1" differs from the zone of listen_address fe80::1%eth0'),
      at('tables[web].rules[0].interface', 'interface "eth1" differs from the zone of target_address fe80::2%eth2'),
    ]);
  });

  it('rejects zones on other addresses and interface names Linux would refuse', () => {
    expect(validateRule({ listenAddress: '2001:db8::1%eth0' })).toEqual([
      at('tables[web].rules[0].listen_address', 'zone %eth0 is only allowed on a link-local IPv6 address (fe80::/10), not 2001:db8::1'),
    ]);
    expect(validateRule({ listenAddress: 'fe80::1%a/b' })).toEqual([at('tables[web].rules[0].listen_address', 'zone %a/b is not an interface name')]);
    for (const name of ['.', '..', 'a b', 'a/b', 'a:b', 'x'.repeat(16)]) {
      expect(validateRule({ listenAddress: 'fe80::1', interface: name })).toEqual([at('tables[web].rules[0].interface', /is not a Linux interface name/)]);
    }
    expect(validateRule({ listenAddress: 'fe80::1', interface: 'x'.repeat(15) })).toEqual([]);
  });
});

describe('validateConfig: capabilities', () => {
  it('reports unsupported features with the backend and its reason', () => {
    const tcpOnly: Capabilities = {
      backend: 'tcp-only',
      supported: FIXTURE_CAPABILITIES.supported.filter((f) => f !== 'udp' && f !== 'source_filters'),
      unsupported: [
        { feature: 'udp', reason: 'not yet' },
        { feature: 'source_filters', reason: 'no filters' },
      ],
    };
    expect(validate([{ name: 'web', rules: [rule({ protocol: 'udp', allow: ['10.0.0.0/8'] })] }], { capabilities: tcpOnly })).toEqual([
      at('tables[web].rules[0].protocol', 'protocol udp needs feature udp, which the tcp-only backend does not support: not yet'),
      at(
        'tables[web].rules[0].allow',
        'a source filter needs feature source_filters, which the tcp-only backend does not support: no filters',
      ),
    ]);
    expect(validateRule({ interface: 'lo' })).toEqual([
      at(
        'tables[web].rules[0].interface',
        'binding 127.0.0.1 to interface "lo" needs feature interface_binding, which the fixture backend does not support: cannot bind a socket to a device',
      ),
    ]);
    expect(validateRule({ interface: 'lo' }, { capabilities: EVERYTHING })).toEqual([]);
  });

  it('checks every feature a rule needs, and says when the backend does not list one', () => {
    const bare: Capabilities = { backend: 'bare', supported: [], unsupported: [] };
    const paths = validate(
      [
        {
          name: 'web',
          rules: [
            rule({ listenAddress: '', ports: { first: 1, last: 2 }, weak: true, targetAddress: '::1' }),
            rule({ listenAddress: 'fe80::1%lo', ports: { first: 3, last: 3 } }),
          ],
        },
      ],
      { capabilities: bare },
    ).map((v) => `${v.path}: ${v.message}`);
    expect(paths).toEqual([
      'tables[web].rules[0].protocol: protocol tcp needs feature tcp, which the bare backend does not support: not listed in its capabilities',
      'tables[web].rules[0].weak: a weak rule needs feature weak_rules, which the bare backend does not support: not listed in its capabilities',
      'tables[web].rules[0].ports: port range 1-2 needs feature port_ranges, which the bare backend does not support: not listed in its capabilities',
      'tables[web].rules[0].listen_address: dual-stack any (empty listen_address) needs feature dual_stack, which the bare backend does not support: not listed in its capabilities',
      'tables[web].rules[0].target_address: IPv6 address ::1 needs feature ipv6, which the bare backend does not support: not listed in its capabilities',
      'tables[web].rules[1].protocol: protocol tcp needs feature tcp, which the bare backend does not support: not listed in its capabilities',
      'tables[web].rules[1].listen_address: IPv6 address fe80::1%lo needs feature ipv6, which the bare backend does not support: not listed in its capabilities',
      'tables[web].rules[1].listen_address: scoped link-local address fe80::1%lo needs feature link_local_scope, which the bare backend does not support: not listed in its capabilities',
      'tables[web].rules[1].target_address: IPv4 address 192.0.2.1 needs feature ipv4, which the bare backend does not support: not listed in its capabilities',
    ]);
  });
});

describe('validateConfig: conflicts', () => {
  const p = (first: number, last = first) => ({ first, last });

  it('reports a conflict once, on the later rule, naming the other and the first shared port', () => {
    const tables: Table[] = [
      { name: 'a', rules: [rule({ name: 'web', ports: p(8080, 8089), exclude: [p(8080, 8083)] })] },
      { name: 'b', rules: [rule({ ports: p(8000, 8100) }), rule({ listenAddress: '0.0.0.0', ports: p(8089, 8095) })] },
    ];
    expect(validate(tables)).toEqual([
      at('tables[b].rules[0].ports', 'conflicts with tables[a].rules[0] ("web") on tcp ports 8084-8089'),
      at('tables[b].rules[1].ports', 'conflicts with tables[a].rules[0] ("web") on tcp port 8089 (0.0.0.0 overlaps 127.0.0.1)'),
    ]);
  });

  it('reports request rules against running ones, never running ones against each other', () => {
    const running: Table[] = [
      { name: 'r1', rules: [rule({ name: 'old', listenAddress: '' })] },
      { name: 'r2', rules: [rule({ listenAddress: '::1' })] },
    ];
    expect(validate([{ name: 'web', rules: [rule({ ports: p(8079, 8080) })] }], { otherTables: running })).toEqual([
      at('tables[web].rules[0].ports', 'conflicts with running rule tables[r1].rules[0] ("old") on tcp port 8080 (127.0.0.1 overlaps dual-stack any)'),
    ]);
    expect(validate([], { otherTables: running })).toEqual([]);
  });

  it('follows the listen address overlap relation', () => {
    const pair = (a: string, b: string, more: Partial<ForwardRule> = {}) =>
      validate([{ name: 'web', rules: [rule({ listenAddress: a }), rule({ listenAddress: b, ...more })] }]).length;
    expect(pair('', '::1')).toBe(1);
    expect(pair('::', '::1')).toBe(1);
    expect(pair('0.0.0.0', '127.0.0.2')).toBe(1);
    expect(pair('::1', '0:0::1')).toBe(1);
    expect(pair('fe80::1%lo', 'fe80::1', { interface: 'lo' })).toBe(1);
    expect(pair('0.0.0.0', '::')).toBe(0);
    expect(pair('0.0.0.0', '::1')).toBe(0);
    expect(pair('127.0.0.1', '127.0.0.2')).toBe(0);
    expect(pair('fe80::1%lo', 'fe80::1%eth0')).toBe(0);
    expect(validate([{ name: 'web', rules: [rule(), rule({ protocol: 'udp' })] }], { capabilities: EVERYTHING })).toEqual([]);
  });

  it('keeps rules with invalid ports or listen address out of conflict checks', () => {
    const tables: Table[] = [
      {
        name: 'web',
        rules: [
          rule({ ports: p(8080, 8090) }),
          rule({ ports: p(8085, 8081) }),
          rule({ exclude: [p(9000)] }),
          rule({ listenAddress: 'nope' }),
          rule({ listenAddress: 'fe80::1' }),
          rule({ listenAddress: '' }),
        ],
      },
    ];
    expect(validate(tables).map((v) => v.path)).toEqual([
      'tables[web].rules[1].ports',
      'tables[web].rules[2].exclude[0]',
      'tables[web].rules[3].listen_address',
      'tables[web].rules[4].listen_address',
      'tables[web].rules[5].ports',
    ]);
  });

  // Brute force over ports and pairs: the rules of the request that share a
  // port with an earlier rule (running rules first) of the same protocol on
  // an overlapping listen address.
  function referenceConflicts(request: Table[], running: Table[]): Map<string, { port: number; partners: string[] }> {
    const all = [
      ...running.flatMap((t) => t.rules.map((r, i) => ({ r, path: `tables[${t.name}].rules[${i}]`, inRequest: false }))),
      ...request.flatMap((t) => t.rules.map((r, i) => ({ r, path: `tables[${t.name}].rules[${i}]`, inRequest: true }))),
    ];
    const result = new Map<string, { port: number; partners: string[] }>();
    all.forEach((later, li) => {
      if (!later.inRequest) return;
      const ports = new Set(iteratePorts(portIntervals(later.r)));
      let best: { port: number; partners: string[] } | undefined;
      for (const earlier of all.slice(0, li)) {
        if (earlier.r.protocol !== later.r.protocol) continue;
        if (!listenAddressesOverlap(earlier.r.listenAddress, later.r.listenAddress)) continue;
        for (const port of iteratePorts(portIntervals(earlier.r))) {
          if (!ports.has(port)) continue;
          if (!best || port < best.port) best = { port, partners: [] };
          if (port === best.port) best.partners.push(earlier.path);
        }
      }
      if (best) result.set(later.path, best);
    });
    return result;
  }

  const ruleArb: fc.Arbitrary<ForwardRule> = fc
    .record({
      protocol: fc.constantFrom('tcp' as const, 'udp' as const),
      listenAddress: fc.constantFrom('', '0.0.0.0', '127.0.0.1', '127.0.0.2', '::', '::1', '0:0::1', 'fe80::1%lo', 'fe80::1%eth0'),
      first: fc.integer({ min: 1, max: 30 }),
      span: fc.integer({ min: 0, max: 6 }),
      holes: fc.array(fc.tuple(fc.nat(6), fc.nat(2)), { maxLength: 2 }),
    })
    .map(({ protocol, listenAddress, first, span, holes }) => {
      const last = first + span;
      const exclude = holes
        .map(([offset, len]) => ({ first: first + Math.min(offset, span), last: Math.min(last, first + Math.min(offset, span) + len) }))
        .filter((ex) => ex.first > first || ex.last < last);
      return rule({ protocol, listenAddress, ports: { first, last }, exclude: portIntervals({ ports: { first, last }, exclude }).length ? exclude : [] });
    });

  const tablesArb = (prefix: string, max: number) =>
    fc.array(fc.array(ruleArb, { maxLength: 5 }), { maxLength: max }).map((ts) => ts.map((rules, i): Table => ({ name: `${prefix}${i}`, rules })));

  it('agrees with a brute-force check on every rule, port and named partner', () => {
    let conflictsSeen = 0;
    fc.assert(
      fc.property(tablesArb('q', 3), tablesArb('r', 2), (request, running) => {
        const violations = validate(request, { otherTables: running, capabilities: EVERYTHING });
        const expected = referenceConflicts(request, running);
        conflictsSeen += expected.size;
        expect(violations.map((v) => v.path).sort()).toEqual([...expected.keys()].map((k) => `${k}.ports`).sort());
        for (const v of violations) {
          const want = expected.get(v.path.replace(/\.ports$/, ''))!;
          const m = /^conflicts with (?:running rule )?(\S+) on (?:tcp|udp) ports? (\d+)/.exec(v.message);
          expect(m).not.toBeNull();
          expect(Number(m![2])).toBe(want.port);
          expect(want.partners).toContain(m![1]);
        }
      }),
      { numRuns: 500 },
    );
    // The generator must actually produce conflicts for the comparison to mean anything.
    expect(conflictsSeen).toBeGreaterThan(100);
  });

  it('accepts 1,000 non-overlapping rules over 10,000 ports across three address scopes', () => {
    const addresses = ['127.0.0.1', '::1', ''];
    const tables: Table[] = Array.from({ length: 10 }, (_, t) => ({
      name: `t${t}`,
      rules: Array.from({ length: 100 }, (_, r) => {
        const i = t * 100 + r;
        return rule({ name: `r${i}`, listenAddress: addresses[i % 3]!, ports: { first: 20000 + i * 10, last: 20009 + i * 10 } });
      }),
    }));
    expect(validate(tables)).toEqual([]);
  });

  it('reports each of 16,384 mutually overlapping rules once', () => {
    const limits: Limits = { maxTables: 10, maxRulesPerTable: 1e6, maxRules: 1e6, maxPorts: 1e9 };
    // Nested ranges listed innermost-first make every span meet every other.
    const rules = Array.from({ length: 16384 }, (_, i) => rule({ ports: { first: 30000 - i, last: 30000 } }));
    const violations = validate([{ name: 'web', rules }], { limits });
    expect(violations).toHaveLength(16383);
    expect(violations[0]).toEqual(at('tables[web].rules[1].ports', 'conflicts with tables[web].rules[0] on tcp port 30000'));
  });
});

describe('validateConfig: limits', () => {
  /** A limit violation names its limit, so the server can answer RESOURCE_EXHAUSTED with it. */
  const over = (path: string, limit: Violation['limit'], message: string): Violation => ({ path, message, limit });
  const one = (name: string, port: number): Table => ({ name, rules: [rule({ ports: { first: port, last: port } })] });

  it('counts request and running tables, rules and ports', () => {
    const running = [one('r', 1), { name: 's', rules: [rule({ ports: { first: 2, last: 11 } })] }];
    const limits: Limits = { maxTables: 2, maxRulesPerTable: 1, maxRules: 2, maxPorts: 11 };
    expect(validate([one('a', 20), { name: 'b', rules: [] }], { otherTables: running, limits })).toEqual([
      over('tables', 'max_tables', '4 tables (2 in the request, 2 running) exceed the limit max_tables = 2'),
      over('tables', 'max_rules', '3 rules (1 in the request, 2 running) exceed the limit max_rules = 2'),
      over('tables', 'max_ports', '12 ports in total exceed the limit max_ports = 11'),
    ]);
    expect(validate([one('a', 20)], { otherTables: [running[1]!], limits })).toEqual([]);
  });

  it('limits rules per request table and counts ports after exclusions', () => {
    const limits: Limits = { ...DEFAULT_LIMITS, maxRulesPerTable: 2, maxPorts: 5 };
    const wide = rule({ ports: { first: 10, last: 19 }, exclude: [{ first: 10, last: 14 }] });
    expect(validate([{ name: 'a', rules: [wide] }], { limits })).toEqual([]);
    expect(validate([{ name: 'a', rules: [wide, one('x', 1).rules[0]!, one('x', 2).rules[0]!] }], { limits, basePath: 'req' })).toEqual([
      over('req[a].rules', 'max_rules_per_table', '3 rules exceed the limit max_rules_per_table = 2'),
      over('req', 'max_ports', '7 ports in total exceed the limit max_ports = 5'),
    ]);
  });
});

describe('invalid configuration fixtures', () => {
  const PROTO_DIR = fileURLToPath(new URL('../../proto', import.meta.url));
  const service = loadSync('portplane/v1/config_service.proto', {
    includeDirs: [PROTO_DIR],
    keepCase: true,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
  })['portplane.v1.ConfigService'] as ServiceDefinition;
  const applyConfig = service.ApplyConfig!;

  it('has at least 35 distinct fixtures', () => {
    expect(INVALID_CONFIGS.length).toBeGreaterThanOrEqual(35);
    expect(new Set(INVALID_CONFIGS.map((f) => f.title)).size).toBe(INVALID_CONFIGS.length);
    expect(new Set(INVALID_CONFIGS.map((f) => JSON.stringify(f.tables))).size).toBe(INVALID_CONFIGS.length);
  });

  for (const fixture of INVALID_CONFIGS) {
    it(`${fixture.title} -> ${fixture.path}`, () => {
      // Sent the way a gRPC client sends it, received the way the server does.
      const received = applyConfig.requestDeserialize(applyConfig.requestSerialize({ tables: fixture.tables })) as { tables: unknown };
      const parsed = parseTables(received.tables);
      const violations = [
        ...parsed.violations,
        ...validateConfig({
          requestTables: parsed.tables,
          otherTables: [],
          limits: { ...DEFAULT_LIMITS, ...fixture.limits },
          capabilities: FIXTURE_CAPABILITIES,
        }),
      ];
      expect(violations.length).toBeGreaterThan(0);
      // Each fixture breaks exactly one thing, so nothing else is reported.
      expect(violations.map((v) => v.path)).toEqual(violations.map(() => fixture.path));
      for (const v of violations) expect(v.message.length).toBeGreaterThan(10);
      // Limits, and only limits, name the limit they exceed.
      expect(violations.map((v) => v.limit)).toEqual(violations.map(() => fixture.exceeds));
    });
  }
});

describe('snat_address', () => {
  const withSnat: Capabilities = { backend: 'packets', supported: [...ALL_FEATURES, 'snat'], unsupported: [] };
  const path = 'tables[web].rules[0].snat_address';

  it('accepts a unicast address of the target family where the backend supports snat', () => {
    expect(validateRule({ targetAddress: '10.0.0.2', snatAddress: '10.0.0.3' }, { capabilities: withSnat })).toEqual([]);
    expect(validateRule({ targetAddress: '::1', snatAddress: '2001:db8::3' }, { capabilities: withSnat })).toEqual([]);
  });

  it('rejects other families, any-addresses, multicast, zones and non-addresses, each on snat_address', () => {
    const cases: [string, RegExp][] = [
      ['::3', /cannot be the source of connections to IPv4 target/],
      ['0.0.0.0', /not a unicast host address/],
      ['224.0.0.1', /not a unicast host address/],
      ['fe80::1%eth0', /without a zone/],
      ['nowhere', /not an IPv4 or IPv6 address/],
    ];
    for (const [snatAddress, message] of cases) {
      expect(validateRule({ targetAddress: '10.0.0.2', snatAddress }, { capabilities: withSnat })).toEqual([at(path, message)]);
    }
  });

  it('is rejected, citing the reason, on a backend without snat', () => {
    const caps: Capabilities = { backend: 'sockets', supported: ALL_FEATURES, unsupported: [{ feature: 'snat', reason: 'the OS picks the source' }] };
    expect(validateRule({ targetAddress: '10.0.0.2', snatAddress: '10.0.0.3' }, { capabilities: caps })).toEqual([
      at(path, /needs feature snat, which the sockets backend does not support: the OS picks the source/),
    ]);
  });
});
