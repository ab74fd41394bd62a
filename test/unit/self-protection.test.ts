/**
 * Validation keeps rules off the daemon's own sockets and out of loops.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS, defaultRuleOptions, type ForwardRule, type Table } from '../../src/config/model.js';
import type { ReservedEndpoint } from '../../src/config/self-protection.js';
import { validateConfig } from '../../src/config/validate.js';
import { FIXTURE_CAPABILITIES } from '../fixtures/invalid-configs.js';

function rule(overrides: Partial<ForwardRule>): ForwardRule {
  return {
    name: '',
    protocol: 'tcp',
    listenAddress: '127.0.0.1',
    interface: '',
    ports: { first: 8080, last: 8080 },
    exclude: [],
    targetAddress: '127.0.0.1',
    targetPort: 9000,
    weak: false,
    ...defaultRuleOptions(),
    ...overrides,
  };
}

const CONTROL: ReservedEndpoint = { protocol: 'tcp', address: '127.0.0.1', port: 50051, what: "portplane's gRPC control listener" };

function check(tables: Table[], more: { otherTables?: Table[]; reserved?: ReservedEndpoint[]; localAddresses?: string[] | (() => string[]) } = {}): string[] {
  return validateConfig({
    requestTables: tables,
    otherTables: more.otherTables ?? [],
    limits: DEFAULT_LIMITS,
    capabilities: FIXTURE_CAPABILITIES,
    reserved: more.reserved,
    localAddresses: more.localAddresses,
  }).map((v) => `${v.path}: ${v.message}`);
}

describe('self-protection', () => {
  it('keeps rules off the control listener, whatever address covers it', () => {
    for (const listenAddress of ['127.0.0.1', '0.0.0.0', '']) {
      expect(check([{ name: 'a', rules: [rule({ listenAddress, ports: { first: 50000, last: 50100 } })] }], { reserved: [CONTROL] })).toEqual([
        `tables[a].rules[0].ports: port 50051 is portplane's gRPC control listener (tcp 127.0.0.1:50051); a rule may not listen on it`,
      ]);
    }
    // Another host address, or another protocol, is a different socket.
    expect(check([{ name: 'a', rules: [rule({ listenAddress: '127.0.0.2', ports: { first: 50051, last: 50051 } })] }], { reserved: [CONTROL] })).toEqual([]);
    expect(check([{ name: 'a', rules: [rule({ protocol: 'udp', ports: { first: 50051, last: 50051 } })] }], { reserved: [CONTROL] })).toEqual([]);
  });

  it('rejects a target that is the control listener', () => {
    expect(check([{ name: 'a', rules: [rule({ targetPort: 50051 })] }], { reserved: [CONTROL] })).toEqual([
      "tables[a].rules[0].target_address: target tcp 127.0.0.1:50051 is forwarded by portplane itself (portplane's gRPC control listener): the connection would loop back into portplane",
    ]);
  });

  it('rejects targets forwarded by a running rule that stays, through mapped ranges', () => {
    const running: Table[] = [{ name: 'b', rules: [rule({ name: 'svc', listenAddress: '', ports: { first: 9100, last: 9199 } })] }];
    // 8080-8089 map to 9095-9104: 9100 is the first port that loops.
    const loop = check([{ name: 'a', rules: [rule({ ports: { first: 8080, last: 8089 }, targetPort: 9095 })] }], { otherTables: running });
    expect(loop).toEqual([
      'tables[a].rules[0].target_address: target tcp 127.0.0.1:9100 is forwarded by portplane itself (running rule tables[b].rules[0] ("svc")): the connection would loop back into portplane',
    ]);
    expect(check([{ name: 'a', rules: [rule({ ports: { first: 8080, last: 8089 }, targetPort: 9000 })] }], { otherTables: running })).toEqual([]);
  });

  it('counts an interface address as local for any-address listeners only', () => {
    const any = { name: 'b', rules: [rule({ listenAddress: '0.0.0.0', ports: { first: 9000, last: 9000 }, targetPort: 7000 })] };
    const toHost = { name: 'a', rules: [rule({ targetAddress: '192.0.2.7' })] };
    expect(check([toHost], { otherTables: [any] })).toEqual([]);
    expect(check([toHost], { otherTables: [any], localAddresses: ['192.0.2.7'] })).toHaveLength(1);
    // IPv4 any does not accept ::1; dual-stack any does.
    const toV6 = { name: 'a', rules: [rule({ listenAddress: '::1', targetAddress: '::1' })] };
    expect(check([toV6], { otherTables: [any] })).toEqual([]);
    const dual = { name: 'b', rules: [rule({ listenAddress: '', ports: { first: 9000, last: 9000 }, targetPort: 7000 })] };
    expect(check([toV6], { otherTables: [dual] })).toHaveLength(1);
    // Read lazily: once for a non-loopback target, never for loopback ones.
    let reads = 0;
    const hostAddresses = (): string[] => {
      reads++;
      return ['192.0.2.7'];
    };
    expect(check([toHost], { otherTables: [any], localAddresses: hostAddresses })).toHaveLength(1);
    expect(reads).toBe(1);
    expect(check([toV6], { otherTables: [dual], localAddresses: hostAddresses })).toHaveLength(1);
    expect(reads).toBe(1);
  });
});
