/**
 * Per-rule options (source filters, PROXY protocol, limits, timeouts, drain
 * policy): parsed from the wire (through a real proto-loader round trip) and
 * from files, validated with field paths, normalised, and seen by change
 * detection and the digest.
 */
import { fileURLToPath } from 'node:url';
import { loadSync, type ServiceDefinition } from '@grpc/proto-loader';
import { describe, expect, it } from 'vitest';
import { canonicalCidr, cidrContains, clientAddressBytes, parseCidr } from '../../src/config/cidr.js';
import { parseConfigText } from '../../src/config/load-file.js';
import { DEFAULT_LIMITS, DEFAULT_RULE_LIMITS, type Table } from '../../src/config/model.js';
import { normalizeConfig } from '../../src/config/normalize.js';
import { parseTables } from '../../src/config/parse.js';
import { validateConfig, validateRequestDrain } from '../../src/config/validate.js';
import { toWireTables } from '../../src/config/wire.js';
import type { Capabilities } from '../../src/dataplane/capabilities.js';
import { kernelCapabilities } from '../../src/dataplane/kernel/capabilities.js';
import { computePlan } from '../../src/plan/compute-plan.js';

const PROTO_DIR = fileURLToPath(new URL('../../proto', import.meta.url));
const definition = loadSync('portplane/v1/config_service.proto', {
  includeDirs: [PROTO_DIR],
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
});
const applyConfig = (definition['portplane.v1.ConfigService'] as ServiceDefinition).ApplyConfig!;
const overTheWire = (request: object): { tables: unknown; drain: unknown } =>
  applyConfig.requestDeserialize(applyConfig.requestSerialize(request)) as { tables: unknown; drain: unknown };

const CAPS: Capabilities = kernelCapabilities();
const validate = (tables: Table[]) =>
  validateConfig({ requestTables: tables, otherTables: [], limits: DEFAULT_LIMITS, capabilities: CAPS });

const wireRule = (over: Record<string, unknown> = {}) => ({
  name: 'r',
  protocol: 'PROTOCOL_TCP',
  listen_address: '127.0.0.1',
  ports: { first: 8080 },
  target_address: '127.0.0.1',
  // Not 8080: forwarding 127.0.0.1:8080 to itself is a loop, rejected on its own.
  target_port: 19000,
  ...over,
});

describe('CIDR filters', () => {
  it('parses, canonicalises and matches v4, v6 and v4-mapped clients', () => {
    expect(canonicalCidr('10.0.0.0/8')).toBe('10.0.0.0/8');
    expect(canonicalCidr('FD00:0::/8')).toBe('fd00::/8');
    expect(canonicalCidr('192.0.2.7')).toBe('192.0.2.7/32');
    expect(canonicalCidr('::1')).toBe('::1/128');
    const net = parseCidr('10.128.0.0/9');
    if (!net.ok) throw new Error(net.message);
    expect(cidrContains(net.cidr, clientAddressBytes('10.200.1.1')!)).toBe(true);
    expect(cidrContains(net.cidr, clientAddressBytes('10.1.1.1')!)).toBe(false);
    expect(cidrContains(net.cidr, clientAddressBytes('::ffff:10.200.1.1')!)).toBe(true);
    const v6 = parseCidr('2001:db8::/32');
    if (!v6.ok) throw new Error(v6.message);
    expect(cidrContains(v6.cidr, clientAddressBytes('2001:db8:ffff::1')!)).toBe(true);
    expect(cidrContains(v6.cidr, clientAddressBytes('2001:db9::1')!)).toBe(false);
    expect(cidrContains(v6.cidr, clientAddressBytes('10.0.0.1')!)).toBe(false);
    const all = parseCidr('0.0.0.0/0');
    if (!all.ok) throw new Error(all.message);
    expect(cidrContains(all.cidr, clientAddressBytes('203.0.113.9')!)).toBe(true);
  });

  it('rejects host bits, bad prefixes, zones and non-addresses', () => {
    expect(parseCidr('10.1.2.3/8')).toMatchObject({ ok: false, message: expect.stringContaining('host bits') });
    expect(parseCidr('10.0.0.0/33')).toMatchObject({ ok: false, message: expect.stringContaining('0-32') });
    expect(parseCidr('fe80::%eth0/64')).toMatchObject({ ok: false, message: expect.stringContaining('zone') });
    expect(parseCidr('example.com')).toMatchObject({ ok: false });
  });
});

describe('rule options on the wire and in files', () => {
  it('round-trips every option through proto-loader and toWireTables', () => {
    const request = {
      tables: [
        {
          name: 'web',
          rules: [
            wireRule({
              allow: ['10.0.0.0/8', '::1'],
              deny: ['10.9.0.0/16'],
              on_filter_change: 'ON_FILTER_CHANGE_KEEP',
              proxy_protocol: 'PROXY_PROTOCOL_V2',
              limits: { max_sessions: 10, source_rate: 5 },
              connect_timeout_ms: 1500,
              drain: { mode: 'DRAIN_MODE_DRAIN', timeout_ms: 2000 },
            }),
          ],
        },
      ],
      drain: { mode: 'DRAIN_MODE_TERMINATE' },
    };
    const wire = overTheWire(request);
    const { tables, violations } = parseTables(wire.tables);
    expect(violations).toEqual([]);
    const rule = tables[0]!.rules[0]!;
    expect(rule).toMatchObject({
      allow: ['10.0.0.0/8', '::1'],
      deny: ['10.9.0.0/16'],
      onFilterChange: 'keep',
      proxyProtocol: 'v2',
      limits: { ...DEFAULT_RULE_LIMITS, maxSessions: 10, sourceRate: 5 },
      udpIdleTimeoutMs: 60_000,
      connectTimeoutMs: 1500,
      drain: { mode: 'drain', timeoutMs: 2000 },
    });
    expect(validate(tables)).toEqual([]);
    const normal = normalizeConfig({ tables });
    expect(normal.tables[0]!.rules[0]!.allow).toEqual(['10.0.0.0/8', '::1/128']);
    const again = parseTables(overTheWire({ tables: toWireTables(normal.tables) }).tables);
    expect(normalizeConfig({ tables: again.tables })).toEqual(normal);
  });

  it('defaults everything when a rule sets nothing', () => {
    const { tables } = parseTables(overTheWire({ tables: [{ name: 't', rules: [wireRule()] }] }).tables);
    expect(tables[0]!.rules[0]).toMatchObject({
      allow: [],
      deny: [],
      onFilterChange: 'reevaluate',
      proxyProtocol: 'none',
      limits: DEFAULT_RULE_LIMITS,
      udpIdleTimeoutMs: 60_000,
      connectTimeoutMs: 10_000,
      drain: { mode: 'keep', timeoutMs: 0 },
    });
  });

  it('reads the file spellings and a file-level drain', () => {
    const file = parseConfigText(
      `drain: {mode: drain}
tables:
  - name: dns
    rules:
      - name: udp
        protocol: udp
        ports: 5353
        target_address: ::1
        allow: [fd00::/8]
        on_filter_change: keep
        udp_idle_timeout_ms: 500
        limits: {max_udp_flows: 3}
`,
      'f.yaml',
    );
    expect(file.violations).toEqual([]);
    expect(file.drain).toEqual({ mode: 'drain', timeoutMs: 30_000 });
    expect(file.tables[0]!.rules[0]).toMatchObject({ udpIdleTimeoutMs: 500, onFilterChange: 'keep', limits: { maxUdpFlows: 3 } });
  });

  it('reports every bad option with its field path', () => {
    const parsed = parseTables(
      overTheWire({
        tables: [
          {
            name: 'web',
            rules: [
              wireRule({
                allow: ['10.1.2.3/8', 'nope'],
                deny: ['::/129'],
                limits: { max_sessions: 2_000_000 },
                connect_timeout_ms: 700_000,
                drain: { mode: 'DRAIN_MODE_KEEP', timeout_ms: 5 },
              }),
              wireRule({ name: 'u', protocol: 'PROTOCOL_UDP', proxy_protocol: 'PROXY_PROTOCOL_V1', ports: { first: 9000 } }),
            ],
          },
        ],
      }).tables,
    );
    expect(parsed.violations).toEqual([]);
    expect(validate(parsed.tables).map((v) => v.path)).toEqual([
      'tables[web].rules[0].allow[0]',
      'tables[web].rules[0].allow[1]',
      'tables[web].rules[0].deny[0]',
      'tables[web].rules[0].limits.max_sessions',
      'tables[web].rules[0].connect_timeout_ms',
      'tables[web].rules[0].drain.timeout_ms',
      'tables[web].rules[1].proxy_protocol',
    ]);
  });

  it('reports type errors in parsing, and a request drain that contradicts terminate_removed', () => {
    const { violations } = parseTables([
      { name: 't', rules: [{ ...wireRule(), allow: '10.0.0.0/8', proxy_protocol: 'V3', limits: { rate: 1 } }] },
    ]);
    expect(violations.map((v) => v.path)).toEqual([
      'tables[t].rules[0].allow',
      'tables[t].rules[0].proxy_protocol',
      'tables[t].rules[0].limits.rate',
    ]);
    expect(validateRequestDrain({ mode: 'drain', timeoutMs: 10 }, true, CAPS).map((v) => v.path)).toEqual(['terminate_removed']);
    expect(validateRequestDrain({ mode: 'terminate', timeoutMs: 0 }, true, CAPS)).toEqual([]);
  });

  it('a changed filter is a rule change that keeps every socket', () => {
    const base = parseTables([{ name: 't', rules: [{ ...wireRule(), ports: '8080-8081' }] }]).tables;
    const changed = parseTables([{ name: 't', rules: [{ ...wireRule(), ports: '8080-8081', deny: ['10.0.0.0/8'] }] }]).tables;
    const plan = computePlan(normalizeConfig({ tables: base }), normalizeConfig({ tables: changed }), 1);
    expect(plan.rules.map((r) => [r.action, r.changedFields])).toEqual([['changed', ['deny']]]);
    expect(plan.ports.map((p) => p.action)).toEqual(['keep', 'keep']);
    expect(plan.empty).toBe(false);
  });
});
