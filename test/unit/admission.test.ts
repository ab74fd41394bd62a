/** The one admission mechanism both backends use: source filter, caps, token buckets, dry runs. */
import { describe, expect, it } from 'vitest';
import { clientAddressBytes } from '../../src/config/cidr.js';
import { defaultRuleOptions, type ForwardRule, type RuleLimits } from '../../src/config/model.js';
import { RuleAdmission } from '../../src/dataplane/admission.js';
import { compileSourceFilter } from '../../src/dataplane/source-filter.js';
import { SourceBuckets, TokenBucket } from '../../src/dataplane/token-bucket.js';

function rule(over: Partial<ForwardRule> = {}, limits: Partial<RuleLimits> = {}): ForwardRule {
  const options = defaultRuleOptions();
  return {
    name: 'r',
    protocol: 'tcp',
    listenAddress: '',
    interface: '',
    ports: { first: 80, last: 80 },
    exclude: [],
    targetAddress: '192.0.2.1',
    targetPort: 0,
    weak: false,
    ...options,
    limits: { ...options.limits, ...limits },
    ...over,
  };
}

const bytes = (address: string): Uint8Array => clientAddressBytes(address)!;

describe('source filter', () => {
  it('deny wins, a non-empty allow list admits only its matches, IPv4-mapped clients match as IPv4', () => {
    const filter = compileSourceFilter(['10.0.0.0/8', 'fd00::/8'], ['10.1.0.0/16']);
    expect(filter.open).toBe(false);
    expect(filter.admits('10.2.3.4')).toBe(true);
    expect(filter.admits('::ffff:10.2.3.4')).toBe(true);
    expect(filter.admits('10.1.2.3')).toBe(false);
    expect(filter.admits('fd00::1')).toBe(true);
    expect(filter.admits('192.0.2.1')).toBe(false);
    expect(filter.admits('not an address')).toBe(false);
    expect(filter.explain(bytes('10.1.2.3'))).toEqual({ allowed: false, detail: 'deny 10.1.0.0/16 matches' });
    expect(filter.explain(bytes('10.2.3.4'))).toEqual({ allowed: true, detail: 'allow 10.0.0.0/8 matches' });
    expect(filter.explain(bytes('192.0.2.1'))).toEqual({ allowed: false, detail: 'no allow entry matches' });
    // Packet bytes of an IPv4-mapped source (16 bytes) match as IPv4 too.
    const mapped = new Uint8Array(16);
    mapped.set([0xff, 0xff, 10, 2, 3, 4], 10);
    expect(filter.admitsBytes(mapped)).toBe(true);
  });

  it('empty lists admit everyone; a deny-only list admits the rest', () => {
    expect(compileSourceFilter([], []).explain(bytes('::1'))).toEqual({ allowed: true, detail: 'no filter' });
    const denyOnly = compileSourceFilter([], ['127.0.0.0/8']);
    expect(denyOnly.admits('127.0.0.1')).toBe(false);
    expect(denyOnly.explain(bytes('::1'))).toEqual({ allowed: true, detail: 'no deny entry matches' });
  });
});

describe('token buckets', () => {
  it('refill at the rate up to the burst; peek takes nothing', () => {
    const bucket = new TokenBucket(10, 2, 0);
    expect(bucket.peek(0)).toBe(true);
    expect([bucket.take(0), bucket.take(0), bucket.take(0)]).toEqual([true, true, false]);
    expect(bucket.msUntilToken(0)).toBe(100);
    expect(bucket.peek(50)).toBe(false);
    expect(bucket.take(100)).toBe(true);
    expect(bucket.full(1000)).toBe(true);
    expect(new TokenBucket(0, 1, 0).msUntilToken(0)).toBe(0);
  });

  it('per-source buckets are bounded: full ones are forgotten first', () => {
    const buckets = new SourceBuckets(1, 1, 2);
    expect(buckets.take('a', 0)).toBe(true);
    expect(buckets.take('a', 0)).toBe(false);
    expect(buckets.peek('b', 0)).toBe(true);
    expect(buckets.size).toBe(1);
    expect(buckets.take('b', 0)).toBe(true);
    // 'a' is full again by t=2000, so it goes to make room for 'c'.
    expect(buckets.take('c', 2000)).toBe(true);
    expect(buckets.size).toBeLessThanOrEqual(2);
  });
});

describe('RuleAdmission', () => {
  it('refuses by filter, cap, the source\'s bucket, then the rule\'s, and charges only admitted sessions', () => {
    const admission = new RuleAdmission(rule({ deny: ['192.0.2.0/24'] }, { maxSessions: 3, sessionRate: 1, sessionBurst: 2, sourceRate: 1, sourceBurst: 1 }), 0);
    expect(admission.admit(bytes('192.0.2.9'), false, 0)).toBe('filter');
    expect(admission.admit(bytes('10.0.0.1'), false, 0)).toBeUndefined();
    admission.opened(false);
    expect(admission.admit(bytes('10.0.0.1'), false, 0)).toBe('source_rate');
    expect(admission.admit(bytes('10.0.0.2'), false, 0)).toBeUndefined();
    admission.opened(false);
    expect(admission.admit(bytes('10.0.0.3'), false, 0)).toBe('rate');
    // The refused client was not charged: once the rule's bucket refills, it gets in.
    expect(admission.admit(bytes('10.0.0.3'), false, 1000)).toBeUndefined();
    admission.opened(false);
    expect(admission.admit(bytes('10.0.0.4'), false, 10_000)).toBe('cap');
    admission.closed(false);
    expect(admission.admitAddress('::ffff:10.0.0.4', false, 10_000)).toBeUndefined();
  });

  it('caps UDP flows separately from sessions', () => {
    const admission = new RuleAdmission(rule({}, { maxUdpFlows: 1 }));
    expect(admission.admit(bytes('10.0.0.1'), true, 0)).toBeUndefined();
    admission.opened(true);
    expect(admission.admit(bytes('10.0.0.2'), true, 0)).toBe('cap');
    expect(admission.admit(bytes('10.0.0.2'), false, 0)).toBeUndefined();
    expect(admission.explain(bytes('10.0.0.2'), true, 0)).toMatchObject({ refused: 'cap', limit: { verdict: 'cap', detail: '1 UDP flows open, max_udp_flows 1' } });
  });

  it('explain() decides as admit() would without taking a token', () => {
    const admission = new RuleAdmission(rule({}, { sourceRate: 1, sourceBurst: 1 }));
    for (let i = 0; i < 3; i++) expect(admission.explain(bytes('10.0.0.1'), false, 0)).toMatchObject({ limit: { verdict: 'allow' } });
    expect(admission.admit(bytes('10.0.0.1'), false, 0)).toBeUndefined();
    expect(admission.explain(bytes('10.0.0.1'), false, 0)).toMatchObject({ refused: 'source_rate', limit: { verdict: 'rate' } });
    expect(admission.explain(bytes('10.0.0.1'), false, 0).filter).toEqual({ allowed: true, detail: 'no filter' });
  });

  it('an update keeps buckets and counts whose limits did not change, and swaps the filter', () => {
    const first = rule({}, { sessionRate: 1, sessionBurst: 1 });
    const admission = new RuleAdmission(first, 0);
    expect(admission.admit(bytes('10.0.0.1'), false, 0)).toBeUndefined();
    admission.opened(false);
    admission.update({ ...first, deny: ['10.0.0.0/8'] }, 0);
    expect(admission.active).toBe(1);
    expect(admission.admit(bytes('10.0.0.1'), false, 0)).toBe('filter');
    expect(admission.admit(bytes('192.0.2.1'), false, 0)).toBe('rate');
    admission.update({ ...first, limits: { ...first.limits, sessionBurst: 5 } }, 0);
    expect(admission.admit(bytes('192.0.2.1'), false, 0)).toBeUndefined();
  });
});
