/**
 * The neutral session machinery on its own: the ordered session index
 * (paging under arbitrary opens and closes, property-tested), the watch
 * hub's ring and its resume rules, flood tracking, page tokens and
 * counter deltas.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DeltaBuffer } from '../../src/dataplane/delta-buffer.js';
import { FloodTracker, sourcePrefix } from '../../src/dataplane/flood-tracker.js';
import { SessionIndex } from '../../src/dataplane/session-index.js';
import { sessionIdNumber, type CloseReason, type SessionInfo, type SessionStore } from '../../src/dataplane/session-store.js';
import { emptyTrafficCounters } from '../../src/dataplane/telemetry.js';
import { InvalidRequestError } from '../../src/control/errors.js';
import { decodePageToken, encodePageToken, readPage } from '../../src/sessions/page-token.js';
import { parseSessionFilter } from '../../src/sessions/query.js';
import { SessionWatchHub } from '../../src/sessions/watch-hub.js';
import { counterDelta } from '../../src/telemetry/deltas.js';
import { sessionInfo } from '../helpers/session-info.js';


/** A SessionStore over SessionIndex, as a backend would keep one. */
class IndexStore implements SessionStore {
  readonly index = new SessionIndex<SessionInfo>();
  *iterate(afterId?: string): Iterable<SessionInfo> {
    yield* this.index.after(afterId);
  }
  get(id: string): SessionInfo | undefined {
    return this.index.get(id);
  }
  deleteWithCompanions(id: string, _reason: CloseReason): boolean {
    return this.index.delete(id);
  }
  count(): number {
    return this.index.size;
  }
  clear(): number {
    const n = this.index.size;
    for (const s of [...this.index.values()]) this.index.delete(s.id);
    return n;
  }
}

describe('SessionIndex and paging', () => {
  it('pages see every session that lives throughout exactly once, whatever opens and closes between pages', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 3000 }),
        fc.integer({ min: 1, max: 500 }),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 400 }), fc.integer({ min: 0, max: 400 })), { maxLength: 40 }),
        (initial, pageSize, churn) => {
          const store = new IndexStore();
          let nextId = 1;
          for (let i = 0; i < initial; i++) store.index.add(sessionInfo(nextId++));
          // Survivors: ids divisible by 3 are never closed.
          const survivors = new Set([...store.index.values()].filter((s) => Number(s.id) % 3 === 0).map((s) => s.id));
          const seen: string[] = [];
          let after: string | undefined;
          for (let page = 0; page < 10_000; page++) {
            const result = readPage(store, {}, pageSize, after, 0);
            seen.push(...result.sessions.map((s) => s.id));
            const [closes, opens] = churn[page % Math.max(1, churn.length)] ?? [0, 0];
            const closable = [...store.index.values()].filter((s) => Number(s.id) % 3 !== 0);
            for (const s of closable.slice(0, closes)) store.index.delete(s.id);
            for (let i = 0; i < opens && page < churn.length; i++) store.index.add(sessionInfo(nextId++));
            if (result.next === undefined) break;
            after = result.next;
          }
          expect(new Set(seen).size).toBe(seen.length);
          for (const id of survivors) expect(seen).toContain(id);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('iteration continues correctly across a compaction', () => {
    const index = new SessionIndex<{ id: string }>();
    for (let i = 1; i <= 5000; i++) index.add({ id: String(i) });
    const out: string[] = [];
    for (const s of index.after('10')) {
      out.push(s.id);
      // Closing most sessions mid-iteration compacts the array under the iterator.
      if (s.id === '11') for (let i = 12; i <= 4000; i++) index.delete(String(i));
    }
    expect(out[0]).toBe('11');
    expect(out.slice(1)).toEqual(Array.from({ length: 1000 }, (_, i) => String(4001 + i)));
  });

  it('page tokens carry the epoch, the last id and the filter; anything else is INVALID_ARGUMENT', () => {
    const query = parseSessionFilter({ table: 'web' }, 'filter', []);
    const token = encodePageToken('epoch-1', '42', query);
    expect(decodePageToken(token, 'epoch-1', query)).toBe('42');
    expect(() => decodePageToken(token, 'epoch-2', query)).toThrow(/restarted/);
    expect(() => decodePageToken(token, 'epoch-1', parseSessionFilter({ table: 'db' }, 'filter', []))).toThrow(/another filter/);
    expect(() => decodePageToken('!!', 'epoch-1', query)).toThrow(InvalidRequestError);
  });

  it('a page scanning too many non-matching sessions stops early with a token', () => {
    const store = new IndexStore();
    for (let i = 1; i <= 100; i++) store.index.add(sessionInfo(i, { table: i === 100 ? 'x' : 't' }));
    const query = parseSessionFilter({ table: 'x' }, 'filter', []);
    const first = readPage(store, query, 10, undefined, 0, 30);
    expect(first).toEqual({ sessions: [], next: '30' });
    const rest = readPage(store, query, 10, first.next, 0);
    expect(rest.sessions.map((s) => s.id)).toEqual(['100']);
    expect(rest.next).toBeUndefined();
  });
});

describe('SessionWatchHub', () => {
  const fill = (buffer: DeltaBuffer, from: number, n: number): void => {
    for (let i = from; i < from + n; i++) buffer.push('open', sessionInfo(i));
  };

  it('numbers events, replays those still in the ring, refuses those overwritten or never issued', () => {
    const source = new DeltaBuffer();
    const hub = new SessionWatchHub(source, 10);
    expect(hub.current()).toBe(0);
    fill(source, 1, 25);
    expect(hub.current()).toBe(25);
    const replay = hub.eventsAfter(20, 100);
    expect(replay.ok && replay.events.map((e) => e.sequence)).toEqual([21, 22, 23, 24, 25]);
    expect(hub.eventsAfter(15, 100).ok).toBe(true);
    const old = hub.eventsAfter(14, 100);
    expect(old.ok).toBe(false);
    expect(!old.ok && old.why).toMatch(/no longer buffered/);
    expect(hub.eventsAfter(26, 1).ok).toBe(false);
    expect(hub.stats()).toMatchObject({ buffered: 10, capacity: 10, sequence: 25 });
  });

  it('a backend that lost deltas makes every earlier resume point invalid', () => {
    const source = new DeltaBuffer(5);
    const hub = new SessionWatchHub(source, 100);
    // The backend records deltas only once someone consumes them.
    expect(hub.current()).toBe(0);
    fill(source, 1, 3);
    expect(hub.current()).toBe(3);
    fill(source, 4, 8); // 8 pushed into a buffer of 5: 3 lost
    expect(hub.current()).toBe(8);
    expect(hub.stats().lostDeltas).toBe(3);
    // Whoever had events before the loss, even some of the batch after it, must resync.
    expect(hub.eventsAfter(3, 10).ok).toBe(false);
    expect(hub.eventsAfter(5, 10).ok).toBe(false);
    expect(hub.eventsAfter(8, 10)).toEqual({ ok: true, events: [] });
    fill(source, 20, 2);
    expect(hub.current()).toBe(10);
    const after = hub.eventsAfter(8, 10);
    expect(after.ok && after.events.map((e) => e.session.id)).toEqual(['20', '21']);
  });

  it('subscribers get every event in order, with close reasons', () => {
    const source = new DeltaBuffer();
    const hub = new SessionWatchHub(source, 4);
    const got: string[] = [];
    hub.subscribe((events) => got.push(...events.map((e) => `${e.sequence}:${e.kind}:${e.reason ?? ''}`)));
    source.push('open', sessionInfo(1));
    source.push('close', sessionInfo(1), 'deleted');
    hub.current();
    expect(got).toEqual(['1:open:', '2:close:deleted']);
  });
});

describe('flood tracking and counter deltas', () => {
  it('keeps the heaviest source prefixes in bounded memory', () => {
    expect(sourcePrefix('192.0.2.77')).toBe('192.0.2.0/24');
    expect(sourcePrefix('::ffff:192.0.2.77')).toBe('192.0.2.0/24');
    expect(sourcePrefix('2001:db8:1:2:3::4')).toBe('2001:db8:1:2::/64');
    // Space-Saving keeps every prefix above total/capacity (350/8 here).
    const tracker = new FloodTracker(8);
    for (let i = 0; i < 100; i++) tracker.record('10.0.0.1', 'rate');
    for (let i = 0; i < 50; i++) tracker.record('10.0.1.1', 'filter');
    for (let i = 0; i < 200; i++) tracker.record(`172.16.${i}.1`, 'cap');
    const { sources, error } = tracker.top(2);
    expect(sources.map((s) => s.prefix)).toEqual(['10.0.0.0/24', '10.0.1.0/24']);
    expect(sources[0]!.refused).toBe(100);
    expect(sources[0]!.byReason).toEqual({ rate: 100 });
    expect(error).toBeGreaterThan(0);
  });

  it('deltas and rates between samples; a restarted counter reports its totals', () => {
    const a = { ...emptyTrafficCounters(), bytesFromClient: 1000, sessionsOpened: 2, drops: { rate: 1 } };
    const b = { ...emptyTrafficCounters(), bytesFromClient: 3000, sessionsOpened: 5, drops: { rate: 3, cap: 1 } };
    const d = counterDelta(b, a, 2);
    expect(d).toMatchObject({ bytesFromClient: 2000, sessionsOpened: 3, drops: 3, restarted: false });
    expect(d.rates.bytesFromClient).toBe(1000);
    expect(counterDelta(a, b, 1)).toMatchObject({ bytesFromClient: 1000, restarted: true });
    expect(counterDelta(a, undefined, 0)).toMatchObject({ bytesFromClient: 1000, restarted: true, rates: { bytesFromClient: 0 } });
  });
});

describe('session ids', () => {
  it('sessionIdNumber accepts the decimal counter values backends issue and nothing else', () => {
    expect(['0', '1', '42', '9007199254740991'].map(sessionIdNumber)).toEqual([0, 1, 42, 9007199254740991]);
    expect(['', '01', '+1', '-1', '1.5', '1e3', ' 1', 'abc', '99999999999999999'].map(sessionIdNumber)).toEqual(Array(9).fill(undefined));
    expect([7, -1, 1.5].map(sessionIdNumber)).toEqual([7, undefined, undefined]);
  });

  it('SessionIndex finds a session by its id as text or number, never by another spelling', () => {
    const index = new SessionIndex<{ id: number }>();
    for (let i = 1; i <= 3; i++) index.add({ id: i });
    expect(index.get('2')).toEqual({ id: 2 });
    expect(index.get(2)).toEqual({ id: 2 });
    expect(index.get('02')).toBeUndefined();
    expect(index.delete('02')).toBe(false);
    expect([...index.after('1')].map((s) => s.id)).toEqual([2, 3]);
    expect(() => index.add({ id: 2 })).toThrow(/already indexed/);
  });
});
