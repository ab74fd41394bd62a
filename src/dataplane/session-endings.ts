/**
 * Session endings an apply decides (TERMINATE, a DRAIN deadline, a changed
 * filter refusing a client) wait until the controller settles that apply:
 * an apply can still be undone (a pending apply rolled back, a commit that
 * could not be saved), and a reset connection cannot be un-reset. So every
 * backend records what an apply ends here, keyed by its own session handle,
 * and nothing ends before settle(generation, 'committed'). 'undone' drops
 * them: the sessions continue under the restored rules.
 *
 * A DRAIN deadline counts from the apply, not from its confirmation.
 */
import type { SessionEffects } from './apply-result.js';

export type EndingReason = 'terminate' | 'drain' | 'filter';

export type SettleOutcome = 'committed' | 'undone';

interface Held {
  generation: number;
  reason: EndingReason;
  /** Milliseconds since the epoch; for 'drain' the deadline, otherwise the apply's time. */
  deadline: number;
}

/** Drain deadlines armed together share one timer. */
interface DrainGroup<K> {
  keys: Set<K>;
  deadline: number;
  timer: NodeJS.Timeout;
}

export function noSessionEffects(): SessionEffects {
  return { ended: 0, draining: 0, held: 0, restored: 0 };
}

export function addSessionEffects(a: SessionEffects, b: SessionEffects): SessionEffects {
  return { ended: a.ended + b.ended, draining: a.draining + b.draining, held: a.held + b.held, restored: a.restored + b.restored };
}

function pushTo<G, K>(groups: Map<G, K[]>, group: G, key: K): void {
  const list = groups.get(group);
  if (list) list.push(key);
  else groups.set(group, [key]);
}

export class SessionEndings<K> {
  private readonly held = new Map<K, Held>();
  private readonly armed = new Map<K, DrainGroup<K>>();

  /**
   * @param end ends `keys` now with `reason` and answers how many were still
   *   running (a session may have closed on its own since).
   */
  constructor(
    private readonly end: (keys: K[], reason: EndingReason) => number,
    private readonly clock: () => number = Date.now,
  ) {}

  /** Apply `generation` ends `key`: at settle (terminate, filter) or at `drainMs` after now (drain). */
  hold(generation: number, key: K, reason: EndingReason, drainMs = 0): void {
    const deadline = this.clock() + (reason === 'drain' ? drainMs : 0);
    const earlier = this.held.get(key);
    // Two applies ending one session: the sooner ending wins.
    if (earlier && earlier.deadline <= deadline) return;
    this.held.set(key, { generation, reason, deadline });
  }

  /** Sessions apply `generation` holds an ending for. */
  heldBy(generation: number): number {
    let n = 0;
    for (const h of this.held.values()) if (h.generation === generation) n++;
    return n;
  }

  /** Handles with an ending held or a drain deadline armed, for a backend that re-adopts sessions its rules route again. */
  *pending(): IterableIterator<K> {
    yield* this.held.keys();
    yield* this.armed.keys();
  }

  /**
   * The session continues after all (its route is in effect again): its held
   * ending or armed drain deadline is dropped. True when there was one.
   */
  cancel(key: K): boolean {
    const had = this.held.delete(key);
    return this.disarm(key) || had;
  }

  /** The session ended by itself. */
  forget(key: K): void {
    this.held.delete(key);
    this.disarm(key);
  }

  /** committed: apply `generation`'s endings take effect; undone: they are dropped and the sessions continue. */
  settle(generation: number, outcome: SettleOutcome): SessionEffects {
    const effects = noSessionEffects();
    const now = new Map<EndingReason, K[]>();
    const drains = new Map<number, K[]>();
    const time = this.clock();
    for (const [key, h] of this.held) {
      if (h.generation !== generation) continue;
      this.held.delete(key);
      if (outcome === 'undone') {
        effects.restored++;
      } else if (h.reason === 'drain' && h.deadline > time) {
        // An earlier deadline already armed stays; a sooner one replaces it.
        const group = this.armed.get(key);
        if (group && group.deadline <= h.deadline) continue;
        this.disarm(key);
        pushTo(drains, h.deadline, key);
        effects.draining++;
      } else {
        pushTo(now, h.reason, key);
      }
    }
    for (const [reason, keys] of now) {
      for (const key of keys) this.disarm(key);
      effects.ended += this.end(keys, reason);
    }
    for (const [deadline, keys] of drains) this.arm(deadline, keys);
    return effects;
  }

  /** Shutdown: nothing more ends by a deadline. */
  clear(): void {
    for (const group of new Set(this.armed.values())) clearTimeout(group.timer);
    this.armed.clear();
    this.held.clear();
  }

  private arm(deadline: number, keys: K[]): void {
    const group: DrainGroup<K> = {
      keys: new Set(keys),
      deadline,
      timer: setTimeout(() => {
        for (const key of group.keys) this.armed.delete(key);
        this.end([...group.keys], 'drain');
      }, Math.max(0, deadline - this.clock())),
    };
    group.timer.unref();
    for (const key of keys) this.armed.set(key, group);
  }

  private disarm(key: K): boolean {
    const group = this.armed.get(key);
    if (!group) return false;
    this.armed.delete(key);
    group.keys.delete(key);
    if (group.keys.size === 0) clearTimeout(group.timer);
    return true;
  }
}
