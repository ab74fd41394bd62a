/**
 * Sessions by id with ordered iteration that starts anywhere in O(log n):
 * what SessionStore.iterate(afterId) needs so that paging through 100,000
 * sessions costs one pass, not one pass per page. Backend-neutral; a backend
 * keeps its own session objects in it.
 *
 * Ids live in an array in id order (they are created increasing, so adding
 * is an append); a removed id stays in the array as a tombstone until
 * tombstones outnumber live entries, when the array is compacted. Iteration
 * skips tombstones, so it is safe while sessions open and close.
 */
import { compareSessionIds } from './session-store.js';

/** Compaction waits for at least this many tombstones, so small tables do not compact on every close. */
const MIN_COMPACT = 1024;

export class SessionIndex<T extends { readonly id: string }> {
  private readonly byId = new Map<string, T>();
  private order: string[] = [];

  get size(): number {
    return this.byId.size;
  }

  get(id: string): T | undefined {
    return this.byId.get(id);
  }

  add(session: T): void {
    if (this.byId.has(session.id)) throw new Error(`session ${session.id} is already indexed`);
    this.byId.set(session.id, session);
    const last = this.order[this.order.length - 1];
    if (last === undefined || compareSessionIds(session.id, last) > 0) this.order.push(session.id);
    else this.order.splice(this.firstAfter(session.id), 0, session.id);
  }

  delete(id: string): boolean {
    if (!this.byId.delete(id)) return false;
    const dead = this.order.length - this.byId.size;
    if (dead >= MIN_COMPACT && dead > this.byId.size) this.order = this.order.filter((i) => this.byId.has(i));
    return true;
  }

  /** Live sessions in id order, after `afterId` when given. */
  *after(afterId?: string): Generator<T> {
    // A compaction during iteration replaces the array: find our place again by id.
    let order = this.order;
    let i = afterId === undefined ? 0 : this.firstAfter(afterId);
    let lastId: string | undefined;
    while (i < order.length) {
      if (order !== this.order) {
        order = this.order;
        i = lastId === undefined ? 0 : this.firstAfter(lastId);
        continue;
      }
      const id = order[i++] as string;
      const session = this.byId.get(id);
      if (!session) continue;
      lastId = id;
      yield session;
    }
  }

  values(): IterableIterator<T> {
    return this.byId.values();
  }

  /** Index of the first id in `order` greater than `id`. */
  private firstAfter(id: string): number {
    let lo = 0;
    let hi = this.order.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareSessionIds(this.order[mid] as string, id) <= 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
