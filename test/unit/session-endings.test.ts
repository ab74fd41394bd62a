import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { SessionEndings, type EndingReason } from '../../src/dataplane/session-endings.js';

/** Endings over a set of running session names; `ended` records what ended and why. */
function endingsOver(...running: string[]) {
  const alive = new Set(running);
  const ended: [string, EndingReason][] = [];
  const endings = new SessionEndings<string>((keys, reason) => {
    let n = 0;
    for (const key of keys) {
      if (!alive.delete(key)) continue;
      ended.push([key, reason]);
      n++;
    }
    return n;
  });
  return { endings, alive, ended };
}

describe('SessionEndings', () => {
  // Deadlines on a fake clock (Date.now and timers): exact to the millisecond, and no
  // real sleep that a loaded machine could stretch past a deadline the test relies on.
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });
  const sleep = (ms: number) => vi.advanceTimersByTimeAsync(ms);

  it('ends nothing before the apply is settled, then ends what it held', () => {
    const { endings, ended } = endingsOver('a', 'b', 'c');
    endings.hold(5, 'a', 'terminate');
    endings.hold(5, 'b', 'filter');
    expect(endings.heldBy(5)).toBe(2);
    expect(ended).toEqual([]);
    expect(endings.settle(5, 'committed')).toEqual({ ended: 2, draining: 0, held: 0, restored: 0 });
    expect(ended).toEqual([
      ['a', 'terminate'],
      ['b', 'filter'],
    ]);
    expect(endings.heldBy(5)).toBe(0);
  });

  it('an undone apply ends nothing and counts its sessions as restored; another generation is untouched', () => {
    const { endings, ended } = endingsOver('a', 'b');
    endings.hold(5, 'a', 'terminate');
    endings.hold(6, 'b', 'terminate');
    expect(endings.settle(5, 'undone')).toEqual({ ended: 0, draining: 0, held: 0, restored: 1 });
    expect(endings.settle(6, 'committed').ended).toBe(1);
    expect(ended).toEqual([['b', 'terminate']]);
  });

  it('a drain deadline counts from the apply and is armed at settle; cancel stops it', async () => {
    const { endings, ended } = endingsOver('a', 'b');
    endings.hold(1, 'a', 'drain', 60);
    endings.hold(1, 'b', 'drain', 60);
    await sleep(20);
    expect(endings.settle(1, 'committed')).toMatchObject({ draining: 2 });
    expect(endings.cancel('b')).toBe(true);
    expect(endings.cancel('b')).toBe(false);
    // 60 ms after the hold, not after the settle.
    await sleep(39);
    expect(ended).toEqual([]);
    await sleep(1);
    expect(ended).toEqual([['a', 'drain']]);
    await sleep(100);
    expect(ended).toEqual([['a', 'drain']]);
  });

  it('a deadline already past when settled ends the session at once', async () => {
    const { endings, ended } = endingsOver('a');
    endings.hold(1, 'a', 'drain', 5);
    await sleep(20);
    expect(endings.settle(1, 'committed')).toMatchObject({ ended: 1, draining: 0 });
    expect(ended).toEqual([['a', 'drain']]);
  });

  it('of two endings of one session the sooner wins, and an armed earlier deadline stays', async () => {
    const { endings, ended } = endingsOver('a');
    endings.hold(1, 'a', 'drain', 40);
    endings.settle(1, 'committed');
    endings.hold(2, 'a', 'drain', 10_000);
    expect(endings.settle(2, 'committed').draining).toBe(0);
    await sleep(100);
    expect(ended).toEqual([['a', 'drain']]);
  });

  it('a session that ends by itself is forgotten; clear stops every deadline', async () => {
    const { endings, ended } = endingsOver('a', 'b');
    endings.hold(1, 'a', 'terminate');
    endings.forget('a');
    expect(endings.settle(1, 'committed').ended).toBe(0);
    endings.hold(2, 'b', 'drain', 30);
    endings.settle(2, 'committed');
    endings.clear();
    expect([...endings.pending()]).toEqual([]);
    await sleep(80);
    expect(ended).toEqual([]);
  });
});
