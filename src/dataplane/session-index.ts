/**
 * Sessions by id with ordered iteration that starts anywhere in O(log n):
 * what SessionStore.iterate(afterId) needs so that paging through 100,000
 * sessions costs one pass, not one pass per page. Backend-neutral: every
 * backend keeps its own session objects in it.
 *
 * Session ids are decimal counter values (see sessionIdNumber), kept here as
 * numbers. They live in an array in id order (they are created increasing,
 * so adding is an append); a removed id stays in the array as a tombstone
 * until tombstones outnumber live entries, when the array is compacted.
 * Iteration skips tombstones, so it is safe while sessions open and close.
 */
import { sessionIdNumber } from './session-store.js';

/** Compaction waits for at least this many tombstones, so small tables do not compact on every close. */
const MIN_COMPACT = 1024;

export class SessionIndex<T extends { readonly id: string | number }> {
  private readonly byId = new Map<number, T>();
  private order: number[] = [];

  get size(): number {
    return this.byId.size;
  }

  get(id: string | number): T | undefined {
    const n = sessionIdNumber(id);
    return n === undefined ? undefined : this.byId.get(n);
  }

  add(session: T): void {
    const id = sessionIdNumber(session.id);
    if (id === undefined) throw new Error(`session id ${JSON.stringify(session.id)} is not a decimal counter value`);
    const last = this.order[this.order.length - 1];
    // Every indexed id is in `order`, so one past its last cannot be indexed yet: only an insertion needs the check.
    if (last === undefined || id > last) this.order.push(id);
    else if (this.byId.has(id)) throw new Error(`session ${id} is already indexed`);
    else this.order.splice(this.firstAfter(id), 0, id);
    this.byId.set(id, session);
  }

  delete(id: string | number): boolean {
    const n = sessionIdNumber(id);
    if (n === undefined || !this.byId.delete(n)) return false;
    const dead = this.order.length - this.byId.size;
    if (dead >= MIN_COMPACT && dead > this.byId.size) this.order = this.order.filter((i) => this.byId.has(i));
    return true;
  }

  /** Live sessions in id order, after `afterId` when given (an id that was never issued starts at the beginning). */
  *after(afterId?: string | number): Generator<T> {
    const start = afterId === undefined ? undefined : sessionIdNumber(afterId);
    // A compaction during iteration replaces the array: find our place again by id.
    let order = this.order;
    let i = start === undefined ? 0 : this.firstAfter(start);
    let lastId: number | undefined;
    while (i < order.length) {
      if (order !== this.order) {
        order = this.order;
        i = lastId === undefined ? 0 : this.firstAfter(lastId);
        continue;
      }
      const id = order[i++] as number;
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
  private firstAfter(id: number): number {
    let lo = 0;
    let hi = this.order.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.order[mid] as number) <= id) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
