import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CounterMap } from '../../src/control/counter-map.js';
import type { CounterAssignment } from '../../src/control/state-store.js';

const ids = fc.constantFrom(...Array.from({ length: 40 }, (_, i) => `r_${(i * 2654435761) % 65536}`), 'r_', '"quoted"', 'toString', '__proto__');
const change = fc.tuple(ids, fc.option(fc.nat(1000).map((counterId): CounterAssignment => ({ counterId })), { nil: undefined }));

describe('CounterMap', () => {
  it('behaves as a record changed step by step, and earlier maps never change (fast-check against a plain Map)', () => {
    fc.assert(
      fc.property(fc.array(fc.array(change, { maxLength: 12 }), { maxLength: 12 }), (steps) => {
        let map = CounterMap.EMPTY;
        let model = new Map<string, CounterAssignment>();
        const history: [CounterMap, Map<string, CounterAssignment>][] = [[map, model]];
        for (const step of steps) {
          map = map.with(step);
          model = new Map(model);
          for (const [id, assignment] of step) {
            if (assignment) model.set(id, assignment);
            else model.delete(id);
          }
          history.push([map, model]);
        }
        for (const [m, expected] of history) {
          expect(m.size).toBe(expected.size);
          expect(new Map(m.entries())).toEqual(expected);
          for (const id of ['r_0', 'r_', '"quoted"', 'toString', '__proto__', 'absent']) {
            expect(m.get(id)).toEqual(expected.get(id));
            expect(m.has(id)).toBe(expected.has(id));
          }
          // The state file's form round-trips.
          expect(new Map(CounterMap.fromRecord(JSON.parse(JSON.stringify(m)) as Record<string, CounterAssignment>).entries())).toEqual(expected);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('gives the dataplane a read-only record view of the counter ids', () => {
    const map = CounterMap.EMPTY.with([
      ['r_a', { counterId: 3 }],
      ['r_b', { counterId: 5 }],
    ]);
    const ids = map.counterIds();
    expect(ids.r_a).toBe(3);
    expect(ids.r_missing).toBeUndefined();
    expect('r_b' in ids).toBe(true);
    expect({ ...ids }).toEqual({ r_a: 3, r_b: 5 });
    expect(Object.keys(ids).sort()).toEqual(['r_a', 'r_b']);
    expect(() => {
      ids.r_a = 9;
    }).toThrow(TypeError);
    expect(map.get('r_a')).toEqual({ counterId: 3 });
  });

  it('a change that changes nothing returns the same map', () => {
    const map = CounterMap.EMPTY.with([['r_a', { counterId: 1 }]]);
    expect(map.with([])).toBe(map);
  });
});
