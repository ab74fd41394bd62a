/**
 * Duplicate and out-of-order watch events: whatever order etcd's events
 * reach the agent in, with any of them repeated, and with a re-list in
 * between, the desired state ends where the in-order sequence ends.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DesiredState, type DesiredEntry } from '../../src/fleet/desired-state.js';

interface Ev {
  table: string;
  revision: number;
  value?: string;
}

/** A history as etcd would write it: strictly increasing revisions, puts and deletes over a few tables. */
const historyArb = fc
  .array(fc.record({ table: fc.constantFrom('a', 'b', 'c'), del: fc.boolean(), value: fc.string({ maxLength: 4 }) }), { maxLength: 30 })
  .map((ops) => ops.map((op, i): Ev => ({ table: op.table, revision: i + 2, ...(op.del ? {} : { value: op.value }) })));

function inOrder(events: Ev[]): Map<string, Required<DesiredEntry>> {
  const state = new DesiredState();
  for (const e of events) state.event(e.table, e.revision, e.value);
  return state.present();
}

describe('DesiredState', () => {
  it('ends in the in-order state under any reordering and duplication of the events', () => {
    fc.assert(
      fc.property(
        historyArb.chain((events) =>
          fc.tuple(
            fc.constant(events),
            fc.shuffledSubarray([...events, ...events], { minLength: 2 * events.length, maxLength: 2 * events.length }),
          ),
        ),
        ([events, scrambled]) => {
          const state = new DesiredState();
          for (const e of scrambled) state.event(e.table, e.revision, e.value);
          expect(state.present()).toEqual(inOrder(events));
        },
      ),
    );
  });

  it('ignores events a list already covers, and a list drops what it no longer holds', () => {
    fc.assert(
      fc.property(historyArb, fc.nat(), (events, cut) => {
        const at = events.length === 0 ? 1 : events[cut % events.length]!.revision;
        const listed = new Map<string, DesiredEntry>();
        for (const [name, e] of inOrder(events.filter((e) => e.revision <= at))) listed.set(name, e);
        const state = new DesiredState();
        // Some events before the list (they may name tables the list no longer holds) ...
        for (const e of events.slice(0, cut % (events.length + 1))) state.event(e.table, e.revision, e.value);
        state.reset(listed, at);
        // ... then the watch from the list revision replays some of the old ones too.
        for (const e of events) state.event(e.table, e.revision, e.value);
        expect(state.present()).toEqual(inOrder(events));
      }),
    );
  });

  it('says which events were news', () => {
    const state = new DesiredState();
    expect(state.event('a', 5, 'x')).toBe(true);
    expect(state.event('a', 5, 'x')).toBe(false);
    expect(state.event('a', 4, 'old')).toBe(false);
    expect(state.event('a', 6, undefined)).toBe(true);
    expect(state.event('a', 5, 'x')).toBe(false);
    expect(state.present().size).toBe(0);
  });
});
