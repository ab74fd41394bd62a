/**
 * The reusing ApplyConfigRequest decoder gives exactly what proto-loader's
 * deserialiser gives (the server's definition of ApplyConfig), and hands an
 * unchanged rule back as the object it decoded before.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ApplyRequestDecoder } from '../../src/server/apply-request-decoder.js';
import { apiDefinition, serviceClient } from '../../src/server/api-definition.js';
import { checkWireFraming, type KnownFraming } from '../../src/server/wire-check.js';

const applyConfig = serviceClient('ConfigService').service.ApplyConfig!;

const rule = fc.record(
  {
    name: fc.constantFrom('', 'a', 'web', 'rule-1'),
    protocol: fc.constantFrom('PROTOCOL_TCP', 'PROTOCOL_UDP'),
    listen_address: fc.constantFrom('', '127.0.0.1', '::1'),
    ports: fc.record({ first: fc.nat(65535), last: fc.nat(65535) }, { requiredKeys: ['first'] }),
    exclude: fc.array(fc.record({ first: fc.nat(65535), last: fc.nat(65535) }), { maxLength: 2 }),
    target_address: fc.constantFrom('127.0.0.1', '::1', ''),
    target_port: fc.nat(65535),
    weak: fc.boolean(),
    allow: fc.array(fc.constantFrom('10.0.0.0/8', '::1/128'), { maxLength: 2 }),
  },
  { requiredKeys: ['protocol'] },
);
const request = fc.record(
  {
    tables: fc.array(fc.record({ name: fc.constantFrom('t', 'u', 'tenant-1'), rules: fc.array(rule, { maxLength: 5 }) }), { maxLength: 3 }),
    replace_all: fc.boolean(),
    expected_generation: fc.nat(1000).map(String),
    validate_only: fc.boolean(),
    delete_tables: fc.array(fc.constantFrom('x', 'y'), { maxLength: 2 }),
  },
  { requiredKeys: [] },
);

describe('ApplyRequestDecoder', () => {
  it('decodes every request exactly as proto-loader does', () => {
    const decoder = new ApplyRequestDecoder();
    fc.assert(
      fc.property(request, (req) => {
        const bytes = applyConfig.requestSerialize(req);
        expect(decoder.decode(bytes)).toEqual(applyConfig.requestDeserialize(bytes));
      }),
      { numRuns: 300 },
    );
  });

  it('decodes edits of the previous request exactly, reusing the rules before and after the edit', () => {
    // Capacity 1: the rules before and after an edit come from the previous request's table, not the cache.
    const decoder = new ApplyRequestDecoder(1);
    const check = (bytes: Buffer): void => checkWireFraming(bytes, apiDefinition().rpcTypes.lookupType('portplane.v1.ApplyConfigRequest'), 0, bytes.length, decoder.knownFraming);
    fc.assert(
      fc.property(
        fc.array(rule, { minLength: 1, maxLength: 8 }),
        fc.array(fc.record({ at: fc.nat(), op: fc.constantFrom('set', 'insert', 'delete'), rule }), { minLength: 1, maxLength: 4 }),
        (initial, edits) => {
          let rules = initial;
          const first = applyConfig.requestSerialize({ tables: [{ name: 'u', rules: [] }, { name: 't', rules }] });
          check(first);
          let previous = decoder.decode(first) as { tables: { rules: object[] }[] };
          for (const { at, op, rule: r } of edits) {
            const i = at % (rules.length + 1);
            const before = rules;
            rules = op === 'set' ? rules.map((x, j) => (j === i ? r : x)) : op === 'insert' ? [...rules.slice(0, i), r, ...rules.slice(i)] : rules.filter((_, j) => j !== i);
            const bytes = applyConfig.requestSerialize({ tables: [{ name: 'u', rules: [] }, { name: 't', rules }] });
            check(bytes);
            const decoded = decoder.decode(bytes) as { tables: { rules: object[] }[] };
            expect(decoded).toEqual(applyConfig.requestDeserialize(bytes));
            // The first and last rules, when the edit left them where they were, are the objects decoded before.
            const [now, then] = [decoded.tables[1]!.rules, previous.tables[1]!.rules];
            if (i > 0 && before.length > 0 && rules.length > 0) expect(now[0]).toBe(then[0]);
            if (op === 'set' && i < rules.length - 1) expect(now.at(-1)).toBe(then.at(-1));
            previous = decoded;
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('hands an unchanged rule back as the same frozen object', () => {
    const decoder = new ApplyRequestDecoder();
    const rules = [0, 1, 2].map((i) => ({ name: `r${i}`, protocol: 'PROTOCOL_TCP', ports: { first: 1000 + i }, target_address: '127.0.0.1', target_port: 2000 + i }));
    const first = decoder.decode(applyConfig.requestSerialize({ tables: [{ name: 't', rules }] })) as { tables: { rules: object[] }[] };
    rules[1] = { ...rules[1]!, target_port: 3000 };
    const second = decoder.decode(applyConfig.requestSerialize({ tables: [{ name: 't', rules }] })) as { tables: { rules: object[] }[] };
    const [a, b] = [first.tables[0]!.rules, second.tables[0]!.rules];
    expect(b[0]).toBe(a[0]);
    expect(b[2]).toBe(a[2]);
    expect(b[1]).not.toBe(a[1]);
    expect(Object.isFrozen(b[0])).toBe(true);
    expect(decoder.stats()).toMatchObject({ hits: 2, misses: 4 });
  });

  it('the framing check skips only rule bytes decoded before, and still finds damage in any other rule', () => {
    const decoder = new ApplyRequestDecoder();
    const type = apiDefinition().rpcTypes.lookupType('portplane.v1.ApplyConfigRequest');
    const rules = [0, 1, 2].map((i) => ({ name: `r${i}`, protocol: 'PROTOCOL_TCP', ports: { first: 1000 + i }, target_address: '127.0.0.1', target_port: 2000 + i }));
    const first = applyConfig.requestSerialize({ tables: [{ name: 't', rules }] });
    let skipped = 0;
    const known: KnownFraming = (...args) => {
      const yes = decoder.knownFraming(...args);
      if (yes) skipped++;
      return yes;
    };
    checkWireFraming(first, type, 0, first.length, known);
    expect(skipped).toBe(0);
    decoder.decode(first);
    checkWireFraming(first, type, 0, first.length, known);
    expect(skipped).toBe(3);
    // A new rule (the last bytes of the request) damaged: caught though its neighbours are skipped.
    const damaged = Buffer.from(applyConfig.requestSerialize({ tables: [{ name: 't', rules: [...rules, { ...rules[0]!, name: 'new', target_port: 2999 }] }] }));
    damaged[damaged.length - 2] = 0x7f;
    expect(() => checkWireFraming(damaged, type, 0, damaged.length, known)).toThrow(/wire type|runs past the end|truncated/);
  });
});
