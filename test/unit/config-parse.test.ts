import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadSync, type ServiceDefinition } from '@grpc/proto-loader';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { loadConfigFile, parseConfigText } from '../../src/config/load-file.js';
import { defaultRuleOptions, DEFAULT_LIMITS, type ForwardRule, type Table } from '../../src/config/model.js';
import { parseTables, unparsedFields } from '../../src/config/parse.js';
import { validateConfig } from '../../src/config/validate.js';
import { toWireTables } from '../../src/config/wire.js';
import { FIXTURE_CAPABILITIES } from '../fixtures/invalid-configs.js';

const PROTO_DIR = fileURLToPath(new URL('../../proto', import.meta.url));
const packageDefinition = loadSync('portplane/v1/config_service.proto', {
  includeDirs: [PROTO_DIR],
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
});
const applyConfig = (packageDefinition['portplane.v1.ConfigService'] as ServiceDefinition).ApplyConfig!;

/** What a server handler receives for `request`: encoded and decoded by proto-loader. */
function overTheWire(request: object): { tables: unknown } {
  return applyConfig.requestDeserialize(applyConfig.requestSerialize(request)) as { tables: unknown };
}

function modelRule(overrides: Partial<ForwardRule> = {}): ForwardRule {
  return {
    name: '',
    protocol: 'tcp',
    listenAddress: '',
    interface: '',
    ports: { first: 8080, last: 8080 },
    exclude: [],
    targetAddress: '127.0.0.1',
    targetPort: 0,
    weak: false,
    ...defaultRuleOptions(),
    ...overrides,
  };
}

function fileRule(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { protocol: 'tcp', ports: 8080, target_address: '127.0.0.1', ...overrides };
}

const paths = (violations: { path: string }[]): string[] => violations.map((v) => v.path);

const rangeArb = fc
  .tuple(fc.integer({ min: 1, max: 65535 }), fc.integer({ min: 0, max: 100 }))
  .map(([first, span]) => ({ first, last: Math.min(65535, first + span) }));

const ruleArb: fc.Arbitrary<ForwardRule> = fc.record({
  name: fc.stringMatching(/^[a-z0-9._-]{0,8}$/),
  protocol: fc.constantFrom('tcp' as const, 'udp' as const),
  listenAddress: fc.constantFrom('', '0.0.0.0', '127.0.0.1', '::', '::1', 'fe80::1%lo'),
  interface: fc.constantFrom('', 'lo', 'eth0'),
  ports: rangeArb,
  exclude: fc.array(rangeArb, { maxLength: 3 }),
  targetAddress: fc.constantFrom('127.0.0.1', '::1', 'fe80::2%eth0'),
  targetPort: fc.integer({ min: 0, max: 65535 }),
  weak: fc.boolean(),
  snatAddress: fc.constantFrom('', '10.0.0.1'),
}).map((r) => ({ ...defaultRuleOptions(), ...r }));

const tablesArb: fc.Arbitrary<Table[]> = fc.array(
  fc.record({ name: fc.stringMatching(/^[a-z][a-z0-9-]{0,6}$/), rules: fc.array(ruleArb, { maxLength: 4 }) }),
  { maxLength: 4 },
);

describe('parseTables: wire form', () => {
  it('reads back exactly what toWireTables wrote, through proto-loader encode/decode', () => {
    fc.assert(
      fc.property(tablesArb, (tables) => {
        const received = overTheWire({ tables: toWireTables(tables) });
        expect(parseTables(received.tables)).toEqual({ tables, violations: [] });
      }),
    );
  });

  it('writes protocol as the enum name and last explicitly', () => {
    const [wire] = toWireTables([
      { name: 'web', rules: [modelRule({ protocol: 'udp', ports: { first: 53, last: 53 } })] },
    ]);
    expect(wire?.rules[0]).toMatchObject({ protocol: 'PROTOCOL_UDP', ports: { first: 53, last: 53 } });
  });

  it('reads a last of 0 as the single port first', () => {
    const received = overTheWire({
      tables: [{ name: 'web', rules: [{ protocol: 'PROTOCOL_TCP', ports: { first: 8080 }, exclude: [{ first: 9000 }] }] }],
    });
    const { tables, violations } = parseTables(received.tables);
    expect(violations).toEqual([]);
    expect(tables[0]?.rules[0]?.ports).toEqual({ first: 8080, last: 8080 });
    expect(tables[0]?.rules[0]?.exclude).toEqual([{ first: 9000, last: 9000 }]);
  });

  it('rejects the proto defaults of protocol and ports', () => {
    const received = overTheWire({
      tables: [{ name: 'web', rules: [{}, { protocol: 'PROTOCOL_TCP', ports: {} }] }],
    });
    const { violations } = parseTables(received.tables);
    expect(violations).toEqual([
      { path: 'tables[web].rules[0].protocol', message: expect.stringContaining('protocol is unspecified') },
      { path: 'tables[web].rules[0].ports', message: expect.stringContaining('ports are required') },
      { path: 'tables[web].rules[1].ports', message: expect.stringContaining('proto default') },
    ]);
  });

  it('leaves value checks to validateConfig (port 0 in a range, a 70000 port)', () => {
    const { tables, violations } = parseTables([
      { name: 'web', rules: [{ protocol: 'PROTOCOL_TCP', ports: { first: 0, last: 10 }, target_port: 70000 }] },
    ]);
    expect(violations).toEqual([]);
    expect(tables[0]?.rules[0]).toMatchObject({ ports: { first: 0, last: 10 }, targetPort: 70000 });
  });
});

describe('parseTables: file form', () => {
  it('accepts compact port strings, bare numbers and lower- or upper-case protocols', () => {
    const { tables, violations } = parseTables([
      {
        name: 'web',
        rules: [
          fileRule({ ports: '8080-8089,~8085,~8087-8088', exclude: [8081, '8082-8083', { first: 8084 }] }),
          fileRule({ protocol: 'UDP', ports: 53 }),
          fileRule({ protocol: 'TCP', ports: { first: 9000, last: 9009 } }),
        ],
      },
    ]);
    expect(violations).toEqual([]);
    const [a, b, c] = tables[0]?.rules ?? [];
    expect(a?.ports).toEqual({ first: 8080, last: 8089 });
    // The `exclude` list comes first so its indices keep their paths.
    expect(a?.exclude).toEqual([
      { first: 8081, last: 8081 },
      { first: 8082, last: 8083 },
      { first: 8084, last: 8084 },
      { first: 8085, last: 8085 },
      { first: 8087, last: 8088 },
    ]);
    expect(b).toMatchObject({ protocol: 'udp', ports: { first: 53, last: 53 } });
    expect(c).toMatchObject({ protocol: 'tcp', ports: { first: 9000, last: 9009 } });
  });

  it('fills absent optional fields with the proto defaults; null counts as absent', () => {
    const { tables, violations } = parseTables([
      { name: 'web', rules: [fileRule({ name: null, weak: null })] },
      { name: 'empty' },
    ]);
    expect(violations).toEqual([]);
    expect(tables).toEqual([
      { name: 'web', rules: [modelRule()] },
      { name: 'empty', rules: [] },
    ]);
  });

  it('reports unknown fields with a hint when only case or underscores differ', () => {
    const { violations } = parseTables([
      {
        name: 'web',
        owner: 'me',
        rules: [fileRule({ targetaddress: '::1', targetPort: 1, ports: { first: 1, end: 2 } })],
      },
    ]);
    expect(violations).toEqual([
      { path: 'tables[web].owner', message: 'unknown field; expected one of name, rules' },
      { path: 'tables[web].rules[0].targetaddress', message: 'unknown field (did you mean target_address?)' },
      { path: 'tables[web].rules[0].targetPort', message: 'unknown field (did you mean target_port?)' },
      { path: 'tables[web].rules[0].ports.end', message: 'unknown field; expected one of first, last' },
    ]);
  });

  it('never reads inherited properties as fields', () => {
    const { tables, violations } = parseTables(JSON.parse('[{"name":"web","rules":[],"constructor":1}]'));
    expect(tables).toEqual([{ name: 'web', rules: [] }]);
    expect(paths(violations)).toEqual(['tables[web].constructor']);
  });

  it('reports every type error with its field path', () => {
    const { violations } = parseTables([
      {
        name: 'web',
        rules: [
          {
            name: 7,
            protocol: 'sctp',
            listen_address: false,
            interface: ['eth0'],
            ports: 8080.5,
            exclude: [-1, '1-2,3', '~4', 'x', { first: 'a' }, true],
            target_address: {},
            target_port: -2,
            weak: 'yes',
          },
          'not a rule',
        ],
      },
      { name: '', rules: {} },
      42,
    ]);
    expect(violations.map((v) => `${v.path}: ${v.message}`)).toEqual([
      'tables[web].rules[0].name: must be a string, got 7',
      'tables[web].rules[0].protocol: unknown protocol "sctp": use PROTOCOL_TCP or PROTOCOL_UDP (tcp or udp in a file)',
      'tables[web].rules[0].listen_address: must be a string, got false',
      'tables[web].rules[0].interface: must be a string, got a list',
      'tables[web].rules[0].ports: must be a non-negative integer, got 8080.5',
      'tables[web].rules[0].exclude[0]: must be a non-negative integer, got -1',
      'tables[web].rules[0].exclude[1]: an exclusion is one port or one first-last range, got "1-2,3"',
      'tables[web].rules[0].exclude[2]: an exclusion is one port or one first-last range, got "~4"',
      'tables[web].rules[0].exclude[3]: invalid port list: "x" is not a port or a first-last range',
      'tables[web].rules[0].exclude[4].first: must be a non-negative integer, got "a"',
      'tables[web].rules[0].exclude[5]: must be a {first, last} range, a port number or a "first-last" string, got true',
      'tables[web].rules[0].target_address: must be a string, got an object',
      'tables[web].rules[0].target_port: must be a non-negative integer, got -2',
      'tables[web].rules[0].weak: must be true or false, got "yes"',
      'tables[web].rules[1]: must be a rule object, got "not a rule"',
      'tables[1].rules: must be a list of rules, got an object',
      'tables[2]: must be a table object with name and rules, got 42',
    ]);
  });

  it('reports a malformed compact port string on ports', () => {
    const { violations } = parseTables([{ name: 'web', rules: [fileRule({ ports: '8080-8089,8090' })] }]);
    expect(violations).toEqual([
      {
        path: 'tables[web].rules[0].ports',
        message: 'invalid port list: more than one port range in "8080-8089,8090" (use ~ for exclusions)',
      },
    ]);
  });

  it('names tables by index when the name is not a non-empty string', () => {
    const { violations } = parseTables([
      { name: 5, rules: [fileRule({ protocol: 'PROTOCOL_UNSPECIFIED' })] },
      { rules: [fileRule({ ports: undefined })] },
    ]);
    expect(paths(violations)).toEqual(['tables[0].name', 'tables[0].rules[0].protocol', 'tables[1].rules[0].ports']);
  });

  it('uses basePath for every path', () => {
    expect(parseTables({}, 'request.tables').violations).toEqual([
      { path: 'request.tables', message: 'must be a list of tables, got an object' },
    ]);
    expect(paths(parseTables([{ name: 'a', rules: [{}] }], 'x').violations)).toEqual([
      'x[a].rules[0].protocol',
      'x[a].rules[0].ports',
    ]);
  });

  it('never throws and returns one table per input element', () => {
    fc.assert(
      fc.property(fc.array(fc.anything()), (input) => {
        const { tables, violations } = parseTables(input);
        expect(tables).toHaveLength(input.length);
        for (const v of violations) expect(v.path.startsWith('tables')).toBe(true);
      }),
    );
  });
});

describe('parseTables then validateConfig: each problem once', () => {
  const validate = (tables: Table[]) =>
    validateConfig({ requestTables: tables, otherTables: [], limits: DEFAULT_LIMITS, capabilities: FIXTURE_CAPABILITIES });

  it('records the fields that hold placeholders', () => {
    const { tables } = parseTables([
      { name: 1, rules: [fileRule({ ports: true, weak: 1 }), 'x', fileRule()] },
    ]);
    expect([...unparsedFields(tables[0]!)]).toEqual(['name']);
    expect([...unparsedFields(tables[0]!.rules[0]!)].sort()).toEqual(['ports', 'weak']);
    expect(unparsedFields(tables[0]!.rules[1]!).size).toBe(18);
    expect(unparsedFields(tables[0]!.rules[2]!).size).toBe(0);
  });

  it('adds no validation noise for fields parsing rejected', () => {
    const { tables, violations } = parseTables([
      { name: 1, rules: [fileRule({ listen_address: 1, target_address: 2 })] },
      {
        name: 'web',
        rules: [
          fileRule({ ports: true }),
          fileRule({ protocol: 'x', listen_address: '' }),
          fileRule({ exclude: ['a'] }),
          fileRule({ interface: 3, listen_address: 'fe80::1' }),
          fileRule({ target_port: 'x', ports: '8080-8089' }),
          'not a rule',
        ],
      },
    ]);
    expect(paths(violations)).toEqual([
      'tables[0].name',
      'tables[0].rules[0].listen_address',
      'tables[0].rules[0].target_address',
      'tables[web].rules[0].ports',
      'tables[web].rules[1].protocol',
      'tables[web].rules[2].exclude[0]',
      'tables[web].rules[3].interface',
      'tables[web].rules[4].target_port',
      'tables[web].rules[5]',
    ]);
    // Every rule listens on 8080, but none whose protocol, listen address or
    // ports failed to parse takes part in conflict checks.
    expect(validate(tables)).toEqual([]);
  });

  it('still validates the fields that did parse', () => {
    const { tables, violations } = parseTables([
      { name: 'web', rules: [fileRule({ weak: 'yes', ports: 70000, target_address: 'nowhere' })] },
    ]);
    expect(paths(violations)).toEqual(['tables[web].rules[0].weak']);
    expect(paths(validate(tables))).toEqual(['tables[web].rules[0].ports', 'tables[web].rules[0].target_address']);
  });
});

describe('parseConfigText / loadConfigFile', () => {
  const yaml = [
    'replace_all: true',
    'expected_generation: 7',
    'terminate_removed: true',
    'tables:',
    '  - name: web',
    '    rules:',
    '      - name: http',
    '        protocol: tcp',
    '        listen_address: "::"',
    '        ports: 8080-8089,~8085',
    '        target_address: ::1',
    '        target_port: 18080',
  ].join('\n');

  it('reads YAML with the ApplyConfigRequest field names', () => {
    expect(parseConfigText(yaml, 'a.yaml')).toEqual({
      tables: [
        {
          name: 'web',
          rules: [
            modelRule({
              name: 'http',
              listenAddress: '::',
              ports: { first: 8080, last: 8089 },
              exclude: [{ first: 8085, last: 8085 }],
              targetAddress: '::1',
              targetPort: 18080,
            }),
          ],
        },
      ],
      violations: [],
      replaceAll: true,
      expectedGeneration: 7,
      validateOnly: false,
      terminateRemoved: true,
    });
  });

  it('reads JSON, uint64 expected_generation as a string, and no generation when absent', () => {
    const json = JSON.stringify({ tables: toWireTables([{ name: 'web', rules: [modelRule()] }]), validate_only: true });
    const parsed = parseConfigText(json, 'a.json');
    expect(parsed).toEqual({
      tables: [{ name: 'web', rules: [modelRule()] }],
      violations: [],
      replaceAll: false,
      validateOnly: true,
      terminateRemoved: false,
    });
    expect('expectedGeneration' in parsed).toBe(false);
    expect(parseConfigText('{"expected_generation": "12"}', 'b.json').expectedGeneration).toBe(12);
  });

  it('treats an empty tables key as no tables', () => {
    expect(parseConfigText('tables:\nreplace_all: true\n', 'c.yaml')).toMatchObject({
      tables: [],
      violations: [],
      replaceAll: true,
    });
  });

  it('reports unknown and mistyped top-level fields', () => {
    const { violations } = parseConfigText(
      'replaceAll: true\nexpected_generation: -1\nvalidate_only: 1\ntables: {}\n',
      'c.yaml',
    );
    expect(violations.map((v) => `${v.path}: ${v.message}`)).toEqual([
      'replaceAll: unknown field (did you mean replace_all?)',
      'tables: must be a list of tables, got an object',
      'expected_generation: must be a non-negative integer up to 9007199254740991, got -1',
      'validate_only: must be true or false, got 1',
    ]);
  });

  it('reports syntax errors with line and column', () => {
    const { tables, violations } = parseConfigText('tables:\n  - name: web\n    rules: [\n', 'broken.yaml');
    expect(tables).toEqual([]);
    expect(violations.length).toBeGreaterThan(0);
    expect(violations[0]?.path).toBe('broken.yaml');
    expect(violations[0]?.message).toMatch(/^line \d+, column \d+: /);
    expect(parseConfigText('a: 1\na: 2\n', 'dup.yaml').violations).toEqual([
      { path: 'dup.yaml', message: 'line 2, column 1: Map keys must be unique' },
    ]);
  });

  it('rejects a document that is not a mapping', () => {
    expect(parseConfigText('', 'e.yaml').violations[0]?.message).toMatch(/got an empty document$/);
    expect(parseConfigText('- 1\n', 'l.yaml').violations[0]?.message).toMatch(/got a list$/);
  });

  it('rejects alias bombs instead of expanding them', () => {
    const bomb = ['a: &a [x, x, x, x, x, x, x, x, x, x]', ...'bcdefgh'.split('').map((k, i) => {
      const prev = 'abcdefgh'[i]!;
      return `${k}: &${k} [*${prev}, *${prev}, *${prev}, *${prev}, *${prev}, *${prev}, *${prev}, *${prev}, *${prev}, *${prev}]`;
    })].join('\n');
    expect(parseConfigText(bomb, 'bomb.yaml').violations).toEqual([
      { path: 'bomb.yaml', message: expect.stringContaining('resource exhaustion') },
    ]);
  });

  it('loads a file from disk and names it in syntax errors', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'portplane-config-'));
    try {
      const good = join(dir, 'good.yaml');
      const bad = join(dir, 'bad.json');
      await writeFile(good, yaml);
      await writeFile(bad, '{"tables": [}');
      expect((await loadConfigFile(good)).tables[0]?.name).toBe('web');
      expect((await loadConfigFile(bad)).violations[0]?.path).toBe(bad);
      await expect(loadConfigFile(join(dir, 'missing.yaml'))).rejects.toThrow(/cannot read config file: ENOENT/);
    } finally {
      await rm(dir, { recursive: true });
    }
  });
});
