/**
 * Bounded property-based fuzzing of what callers control (#17, "Fuzzing in
 * CI"): config parsing (YAML/JSON), address and CIDR parsing with
 * IPv4-mapped forms, zones and odd textual forms, the session filter, and
 * the wire decoding of every request type against a real daemon. Seconds in
 * `npm test`; FUZZ_RUNS (set by `npm run fuzz`) runs each property longer.
 * Properties: nothing throws, the daemon never answers INTERNAL and changes
 * nothing on a rejected request, canonicalisation is idempotent and equal
 * for equal addresses.
 */
import * as grpc from '@grpc/grpc-js';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { METHOD_ACCESS } from '../../src/auth/method-access.js';
import { canonicalAddress, parseAddress } from '../../src/config/address.js';
import { parseCidr } from '../../src/config/cidr.js';
import { parseConfigText } from '../../src/config/load-file.js';
import { parseTables } from '../../src/config/parse.js';
import { parseSessionFilter } from '../../src/sessions/query.js';
import { ServiceClient } from '../helpers/daemon-process.js';
import { startTestDaemon, type TestDaemon } from '../helpers/in-process-daemon.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 200);
const WIRE_RUNS = Math.max(10, Math.floor(RUNS / 10));

const word = fc.integer({ min: 0, max: 0xffff });
const octet = fc.integer({ min: 0, max: 255 });
const ipv4 = fc.tuple(octet, octet, octet, octet).map((o) => o.join('.'));
const hex = (n: number, upper: boolean): string => (upper ? n.toString(16).toUpperCase() : n.toString(16));

/** The same IPv6 address in several textual forms: full, zero-padded, upper case, compressed by Node. */
const ipv6Forms = fc.tuple(fc.array(word, { minLength: 8, maxLength: 8 }), fc.boolean()).map(([words, upper]) => {
  const full = words.map((w) => hex(w, upper)).join(':');
  const padded = words.map((w) => hex(w, upper).padStart(4, '0')).join(':');
  return [full, padded];
});

/** Strings that look like addresses: pieces of IPv4/IPv6 syntax glued at random. */
const addressish = fc
  .array(fc.constantFrom('::', ':', 'ffff', '0', '7f00', '1', '.', '127', '255', '256', '%', 'eth0', '/', '24', '104', '::ffff:', 'fe80', '00', 'g', ' '), { maxLength: 12 })
  .map((parts) => parts.join(''));

describe('address and CIDR canonicalisation', () => {
  it('gives one canonical form for every textual form of an IPv4-mapped address, and it is the IPv4 address', () => {
    fc.assert(
      fc.property(ipv4, fc.boolean(), (v4, upper) => {
        const o = v4.split('.').map(Number);
        const high = hex((o[0]! << 8) | o[1]!, upper);
        const low = hex((o[2]! << 8) | o[3]!, upper);
        const forms = [`::ffff:${v4}`, `::${upper ? 'FFFF' : 'ffff'}:${high}:${low}`, `0:0:0:0:0:ffff:${high}:${low}`, `0000:0000:0000:0000:0000:ffff:${v4}`];
        for (const form of forms) {
          expect(canonicalAddress(form)).toBe(v4);
          expect(parseAddress(form)).toMatchObject({ family: 4, address: v4, mapped: true });
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('gives equal IPv6 forms one canonical text, and canonicalising again changes nothing', () => {
    fc.assert(
      fc.property(ipv6Forms, (forms) => {
        const canonical = forms.map(canonicalAddress);
        expect(new Set(canonical).size).toBe(1);
        expect(canonicalAddress(canonical[0]!)).toBe(canonical[0]);
      }),
      { numRuns: RUNS },
    );
  });

  it('never throws on address-like or arbitrary text, and is idempotent where it parses', () => {
    fc.assert(
      fc.property(fc.oneof(addressish, fc.string()), (text) => {
        const once = canonicalAddress(text);
        expect(canonicalAddress(once)).toBe(once);
        const cidr = parseCidr(text);
        if (cidr.ok) expect(parseCidr(cidr.canonical)).toMatchObject({ ok: true, canonical: cidr.canonical });
      }),
      { numRuns: RUNS * 5 },
    );
  });

  it('makes a mapped CIDR the IPv4 block it covers', () => {
    fc.assert(
      fc.property(ipv4, fc.integer({ min: 0, max: 32 }), (v4, prefix) => {
        const network = parseCidr(`${v4}/32`);
        if (!network.ok) throw new Error(network.message);
        const masked = parseCidr(`${v4}/${prefix}`);
        const mapped = parseCidr(`::ffff:${v4}/${prefix + 96}`);
        expect(mapped.ok).toBe(masked.ok);
        if (masked.ok && mapped.ok) expect(mapped.canonical).toBe(masked.canonical);
      }),
      { numRuns: RUNS },
    );
  });
});

describe('config and filter parsing', () => {
  const json = fc.jsonValue({ maxDepth: 5 });

  it('parses any JSON value as tables without throwing, reporting problems as violations', () => {
    fc.assert(
      fc.property(json, (value) => {
        const parsed = parseTables(value);
        expect(Array.isArray(parsed.violations)).toBe(true);
      }),
      { numRuns: RUNS },
    );
  });

  it('parses any text as a YAML/JSON config file without throwing', () => {
    const yamlish = fc.array(fc.constantFrom('tables:', '\n', '  - ', 'name: a', 'rules:', '&x', '*x', '[', ']', '{', '}', ': ', '"', "'", 'ports: 80-90', '~', '!!', '#'), { maxLength: 30 }).map((p) => p.join(''));
    fc.assert(
      fc.property(fc.oneof(yamlish, fc.string(), json.map((v) => JSON.stringify(v))), (text) => {
        const file = parseConfigText(text, 'fuzz.yaml');
        expect(file).toBeDefined();
      }),
      { numRuns: RUNS },
    );
  });

  it('parses any session filter without throwing; every problem has a field path under filter', () => {
    fc.assert(
      // Shaped as the wire decodes it: strings, numbers (uint64 as string) and enum names or numbers.
      fc.property(
        fc.record(
          {
            table: fc.string(),
            rule: fc.string(),
            protocol: fc.oneof(fc.constantFrom('PROTOCOL_TCP', 'PROTOCOL_UDP', 'PROTOCOL_UNSPECIFIED'), fc.string(), fc.integer()),
            client_cidr: fc.oneof(addressish, fc.string()),
            client_port: fc.integer({ min: 0, max: 0xffffffff }),
            target_cidr: fc.oneof(addressish, fc.string()),
            state: fc.oneof(fc.constantFrom('established', 'ACTIVE', 'syn_sent'), fc.string()),
            min_age_ms: fc.oneof(fc.string(), fc.nat()),
            min_idle_ms: fc.oneof(fc.string(), fc.nat()),
          },
          { requiredKeys: [] },
        ),
        (wire) => {
        const violations: { path: string; message: string }[] = [];
        parseSessionFilter(wire as never, 'filter', violations);
        for (const v of violations) expect(v.path.startsWith('filter.')).toBe(true);
        },
      ),
      { numRuns: RUNS },
    );
  });
});

describe('wire decoding of every request type against a real daemon', () => {
  let d: TestDaemon;
  let raw: grpc.Client;

  beforeAll(async () => {
    d = await startTestDaemon();
    raw = new grpc.Client(d.target, grpc.credentials.createInsecure());
  });
  afterAll(async () => {
    raw.close();
    await d.stop();
  });

  const unaryMethods = Object.keys(METHOD_ACCESS).filter(
    (p) => !/Watch|Transaction|ServerReflectionInfo/.test(p) && !p.endsWith('/DeleteSessions') && !p.endsWith('/RollbackTo'),
  );

  it('never answers INTERNAL to random bytes, and never changes the generation', async () => {
    const config = new ServiceClient('ConfigService', d.target);
    try {
      const before = (await config.call<{ generation: string }>('GetConfig', {})).generation;
      await fc.assert(
        fc.asyncProperty(fc.constantFrom(...unaryMethods), fc.uint8Array({ maxLength: 64 }), async (path, bytes) => {
          const status = await new Promise<grpc.StatusObject>((res) => {
            const call = raw.makeUnaryRequest(path, (b: Buffer) => b, (b: Buffer) => b, Buffer.from(bytes), new grpc.Metadata(), { deadline: Date.now() + 10_000 }, () => undefined);
            call.on('status', res);
          });
          expect(grpc.status[status.code]).not.toBe('INTERNAL');
          expect(grpc.status[status.code]).not.toBe('UNKNOWN');
        }),
        { numRuns: WIRE_RUNS },
      );
      expect((await config.call<{ generation: string }>('GetConfig', {})).generation).toBe(before);
    } finally {
      config.close();
    }
  });
});
