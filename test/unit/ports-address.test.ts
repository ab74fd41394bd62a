import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalAddress, listenAddressesOverlap, parseAddress } from '../../src/config/address.js';
import { canonicalConfig, canonicalRule, configDigest } from '../../src/config/canonical.js';
import { defaultRuleOptions, type ForwardingConfig, type ForwardRule, type PortRange } from '../../src/config/model.js';
import { normalizeConfig } from '../../src/config/normalize.js';
import {
  countPorts,
  formatCompactPorts,
  iteratePorts,
  mapTargetPort,
  parseCompactPorts,
  portIntervals,
  rangesOverlap,
} from '../../src/config/ports.js';

const range = (first: number, last = first): PortRange => ({ first, last });

const rangeIn = (min: number, max: number): fc.Arbitrary<PortRange> =>
  fc.tuple(fc.integer({ min, max }), fc.integer({ min, max })).map(([a, b]) => range(Math.min(a, b), Math.max(a, b)));

describe('portIntervals', () => {
  it('subtracts overlapping, nested and adjacent exclusions', () => {
    expect(
      portIntervals({ ports: range(1, 20), exclude: [range(3, 6), range(5, 8), range(12), range(13), range(15, 16), range(15)] }),
    ).toEqual([range(1, 2), range(9, 11), range(14), range(17, 20)]);
    expect(portIntervals({ ports: range(1, 5), exclude: [range(1, 5)] })).toEqual([]);
    expect(portIntervals({ ports: range(7), exclude: [] })).toEqual([range(7)]);
  });

  it('is the set difference, as sorted, disjoint, non-adjacent intervals', () => {
    fc.assert(
      fc.property(rangeIn(1, 60), fc.array(rangeIn(1, 60), { maxLength: 5 }), (ports, exclude) => {
        const intervals = portIntervals({ ports, exclude });
        const expected = [...iteratePorts([ports])].filter((p) => !exclude.some((ex) => p >= ex.first && p <= ex.last));
        expect([...iteratePorts(intervals)]).toEqual(expected);
        expect(countPorts(intervals)).toBe(expected.length);
        intervals.forEach((r, i) => {
          expect(r.first).toBeLessThanOrEqual(r.last);
          if (i > 0) expect(r.first).toBeGreaterThan(intervals[i - 1]!.last + 1);
        });
      }),
    );
  });
});

describe('port helpers', () => {
  it('rangesOverlap is inclusive at both ends', () => {
    expect(rangesOverlap(range(1, 5), range(5, 9))).toBe(true);
    expect(rangesOverlap(range(1, 4), range(5, 9))).toBe(false);
    expect(rangesOverlap(range(3), range(1, 9))).toBe(true);
  });

  it('mapTargetPort shifts by the offset in the range, or keeps the port', () => {
    expect(mapTargetPort({ ports: range(8080, 8089), targetPort: 9000 }, 8085)).toBe(9005);
    expect(mapTargetPort({ ports: range(8080, 8089), targetPort: 0 }, 8085)).toBe(8085);
  });
});

describe('compact port text', () => {
  it('parses ranges and ~exclusions', () => {
    expect(parseCompactPorts('8080-8089, ~8085,~8087-8088')).toEqual({ ports: range(8080, 8089), exclude: [range(8085), range(8087, 8088)] });
    expect(parseCompactPorts('53')).toEqual({ ports: range(53), exclude: [] });
  });

  it('names the offending part', () => {
    expect(() => parseCompactPorts('')).toThrow('empty element in port list ""');
    expect(() => parseCompactPorts('1-2,3')).toThrow('more than one port range in "1-2,3"');
    expect(() => parseCompactPorts('~3')).toThrow('no port range in "~3"');
    expect(() => parseCompactPorts('80-x')).toThrow('"80-x" is not a port or a first-last range');
    expect(() => parseCompactPorts('123456')).toThrow('"123456" is not a port');
  });

  it('round-trips through formatCompactPorts', () => {
    fc.assert(
      fc.property(rangeIn(1, 65535), fc.array(rangeIn(1, 65535), { maxLength: 4 }), (ports, exclude) => {
        const text = formatCompactPorts({ ports, exclude });
        expect(parseCompactPorts(text)).toEqual({ ports, exclude });
        expect(formatCompactPorts(parseCompactPorts(text))).toBe(text);
      }),
    );
  });
});

describe('addresses', () => {
  it('canonicalises IPv6 as RFC 5952 (lower case, longest zero run, first on a tie)', () => {
    const cases: Array<[string, string]> = [
      ['2001:DB8:0:0:0:0:0:1', '2001:db8::1'],
      ['2001:0db8:0000:0000:0001:0000:0000:0001', '2001:db8::1:0:0:1'],
      ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
      ['2001:db8:0:0:1:0:0:0', '2001:db8:0:0:1::'],
      ['0:0:0:0:0:0:0:0', '::'],
      ['0:0::1', '::1'],
      ['FE80::0001%eth0', 'fe80::1%eth0'],
    ];
    for (const [input, canonical] of cases) expect(canonicalAddress(input)).toBe(canonical);
  });

  it('keeps IPv4 and the empty dual-stack address, and leaves non-addresses alone', () => {
    expect(canonicalAddress('127.0.0.1')).toBe('127.0.0.1');
    expect(canonicalAddress('')).toBe('');
    expect(canonicalAddress('not-an-ip')).toBe('not-an-ip');
  });

  it('classifies addresses', () => {
    expect(parseAddress('0.0.0.0')).toMatchObject({ family: 4, isAny: true });
    expect(parseAddress('::')).toMatchObject({ family: 6, isAny: true });
    expect(parseAddress('169.254.0.9')).toMatchObject({ family: 4, isLinkLocal: true });
    expect(parseAddress('febf::1%lo')).toMatchObject({ family: 6, isLinkLocal: true, zone: 'lo', address: 'febf::1' });
    expect(parseAddress('fec0::1')).toMatchObject({ isLinkLocal: false });
    expect(parseAddress('239.255.255.255')).toMatchObject({ isMulticast: true });
    expect(parseAddress('ff02::1')).toMatchObject({ isMulticast: true });
  });

  it('rejects what is not a literal, including zones where they cannot be', () => {
    for (const text of ['', 'localhost', '127.0.0.01', '256.0.0.1', '127.0.0.1%lo', 'fe80::1%', '1::2::3', '[::1]']) {
      expect(parseAddress(text)).toBeUndefined();
    }
  });

  it('canonicalisation is idempotent and preserves the address', () => {
    const hex = fc.integer({ min: 0, max: 0xffff }).map((n) => n.toString(16));
    const groups = fc.array(fc.oneof(hex, fc.constant('0')), { minLength: 8, maxLength: 8 });
    fc.assert(
      fc.property(groups, (g) => {
        const text = g.join(':');
        const canonical = canonicalAddress(text);
        expect(canonicalAddress(canonical)).toBe(canonical);
        expect(listenAddressesOverlap(text, canonical)).toBe(true);
        expect(canonical.length).toBeLessThanOrEqual(text.length);
      }),
    );
  });
});

describe('listenAddressesOverlap', () => {
  it('follows the bind rules of the kernel', () => {
    const overlap: Array<[string, string, boolean]> = [
      ['', '127.0.0.1', true],
      ['', '::1', true],
      ['', '', true],
      ['0.0.0.0', '127.0.0.1', true],
      ['0.0.0.0', '0.0.0.0', true],
      ['0.0.0.0', '::', false],
      ['0.0.0.0', '::1', false],
      ['::', '::1', true],
      ['::', '127.0.0.1', false],
      ['::1', '0:0:0:0:0:0:0:1', true],
      ['127.0.0.1', '127.0.0.2', false],
      ['fe80::1%eth0', 'fe80::1%eth0', true],
      ['fe80::1%eth0', 'fe80::1%eth1', false],
      ['fe80::1%eth0', 'fe80::1', false],
    ];
    for (const [a, b, want] of overlap) expect([a, b, listenAddressesOverlap(a, b)]).toEqual([a, b, want]);
  });

  it('is symmetric and reflexive', () => {
    const address = fc.constantFrom('', '0.0.0.0', '127.0.0.1', '10.0.0.1', '::', '::1', '0::1', '2001:db8::1', 'fe80::1%lo', 'fe80::1%eth0');
    fc.assert(
      fc.property(address, address, (a, b) => {
        expect(listenAddressesOverlap(a, b)).toBe(listenAddressesOverlap(b, a));
        expect(listenAddressesOverlap(a, a)).toBe(true);
      }),
    );
  });
});

describe('normalisation and digest', () => {
  const ruleArb: fc.Arbitrary<ForwardRule> = fc.record({
    name: fc.constantFrom('', 'a', 'b'),
    protocol: fc.constantFrom('tcp' as const, 'udp' as const),
    listenAddress: fc.constantFrom('', '::1', '0:0::1', '127.0.0.1'),
    interface: fc.constantFrom('', 'lo'),
    ports: fc.constantFrom(range(1), range(1, 2)),
    exclude: fc.constantFrom([], [range(2)]),
    targetAddress: fc.constantFrom('127.0.0.1', '::1', '0::1'),
    targetPort: fc.constantFrom(0, 9),
    weak: fc.boolean(),
    snatAddress: fc.constantFrom('', '::2'),
  }).map((r): ForwardRule => ({ ...defaultRuleOptions(), ...r, exclude: [...r.exclude] }));
  // Small domains, so equal configurations come up often.
  const configArb: fc.Arbitrary<ForwardingConfig> = fc
    .uniqueArray(fc.record({ name: fc.constantFrom('x', 'y', 'z'), rules: fc.array(ruleArb, { maxLength: 2 }) }), {
      selector: (t) => t.name,
      maxLength: 2,
    })
    .map((tables) => ({ tables }));

  it('gives equal digests exactly to equal normalised configurations', () => {
    let equalPairs = 0;
    fc.assert(
      fc.property(configArb, configArb, (a, b) => {
        const na = normalizeConfig(a);
        const nb = normalizeConfig(b);
        const same = isDeepStrictEqual(na, nb);
        if (same) equalPairs++;
        expect(configDigest(na) === configDigest(nb)).toBe(same);
        expect(canonicalConfig(na) === canonicalConfig(nb)).toBe(same);
      }),
      { numRuns: 1000 },
    );
    expect(equalPairs).toBeGreaterThan(10);
  });

  it('ignores table and rule order and address spelling', () => {
    fc.assert(
      fc.property(configArb, fc.integer(), (config, seed) => {
        const shuffle = <T>(xs: T[]): T[] => xs.map((x, i) => ({ x, k: (i * 7919 + seed) % 101 })).sort((p, q) => p.k - q.k).map((p) => p.x);
        const respelled: ForwardingConfig = {
          tables: shuffle(config.tables).map((t) => ({
            name: t.name,
            rules: shuffle(t.rules).map((r) => ({ ...r, listenAddress: r.listenAddress === '::1' ? '0:0:0:0:0:0:0:1' : r.listenAddress })),
          })),
        };
        expect(configDigest(normalizeConfig(respelled))).toBe(configDigest(normalizeConfig(config)));
      }),
    );
  });

  it('changes the digest when any field of a rule changes', () => {
    const base: ForwardRule = {
      name: 'a',
      protocol: 'tcp',
      listenAddress: '127.0.0.1',
      interface: '',
      ports: range(1, 2),
      exclude: [],
      targetAddress: '::1',
      targetPort: 0,
      weak: false,
      ...defaultRuleOptions(),
    };
    const variants: Array<Partial<ForwardRule>> = [
      { name: 'b' },
      { protocol: 'udp' },
      { listenAddress: '' },
      { interface: 'lo' },
      { ports: range(1, 3) },
      { exclude: [range(2)] },
      { targetAddress: '127.0.0.1' },
      { targetPort: 1 },
      { weak: true },
      { allow: ['10.0.0.0/8'] },
      { deny: ['::1/128'] },
      { onFilterChange: 'keep' },
      { proxyProtocol: 'v2' },
      { limits: { ...base.limits, sourceRate: 5 } },
      { udpIdleTimeoutMs: 1000 },
      { connectTimeoutMs: 1000 },
      { drain: { mode: 'drain', timeoutMs: 1000 } },
      { snatAddress: '::2' },
    ];
    const digest = (r: ForwardRule) => configDigest(normalizeConfig({ tables: [{ name: 't', rules: [r] }] }));
    const digests = new Set([digest(base), ...variants.map((v) => digest({ ...base, ...v }))]);
    expect(digests.size).toBe(variants.length + 1);
    expect(canonicalRule(base)).toBe(
      JSON.stringify([
        'a', 'tcp', '127.0.0.1', '', [1, 2], [], '::1', 0, false,
        [], [], 'reevaluate', 'none', [16384, 10000, 20000, 2000, 4000, 4096], 60000, 10000, ['keep', 0],
      ]),
    );
  });
});
