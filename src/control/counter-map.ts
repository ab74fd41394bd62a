/**
 * Counter assignments by rule id, immutable, that an apply changes at the
 * cost of the rules it changes. Every apply needs the assignments before
 * and after it side by side (a refused or unsaved apply keeps the old ones,
 * the ledger journals the difference), and copying a 1,000-key object per
 * apply cost more than the rest of a one-rule apply. Here ids hash into a
 * fixed number of small buckets; a change copies the bucket array and the
 * buckets it touches, and everything else is shared with the map before.
 *
 * It serialises (toJSON) as the plain record the state file has always held.
 */
import type { CounterAssignment } from './state-store.js';

/** Enough that a bucket holds a few ids at the default rule limits, few enough that copying the array is cheap. */
const BUCKETS = 1024;

type Bucket = ReadonlyMap<string, CounterAssignment>;

function bucketOf(id: string): number {
  // FNV-1a over the UTF-16 code units: rule ids are short.
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193);
  return (h >>> 0) % BUCKETS;
}

export class CounterMap {
  static readonly EMPTY = new CounterMap(new Array<Bucket | undefined>(BUCKETS).fill(undefined), 0);

  private constructor(
    private readonly buckets: readonly (Bucket | undefined)[],
    readonly size: number,
  ) {}

  static fromRecord(record: Readonly<Record<string, CounterAssignment>>): CounterMap {
    return CounterMap.EMPTY.with(Object.entries(record));
  }

  get(id: string): CounterAssignment | undefined {
    return this.buckets[bucketOf(id)]?.get(id);
  }

  has(id: string): boolean {
    return this.buckets[bucketOf(id)]?.has(id) ?? false;
  }

  *entries(): IterableIterator<[string, CounterAssignment]> {
    for (const bucket of this.buckets) if (bucket) yield* bucket;
  }

  /** This map with `changes` made: an assignment sets the id, undefined removes it; later changes of an id win. */
  with(changes: Iterable<readonly [string, CounterAssignment | undefined]>): CounterMap {
    let buckets: (Bucket | undefined)[] | undefined;
    // Buckets copied for this change, so each is copied once however many of its ids change.
    const copied = new Map<number, Map<string, CounterAssignment>>();
    let size = this.size;
    for (const [id, assignment] of changes) {
      const index = bucketOf(id);
      let bucket = copied.get(index);
      if (!bucket) {
        bucket = new Map(this.buckets[index]);
        copied.set(index, bucket);
        buckets ??= [...this.buckets];
        buckets[index] = bucket;
      }
      const had = bucket.has(id);
      if (assignment) {
        bucket.set(id, assignment);
        if (!had) size++;
      } else if (had) {
        bucket.delete(id);
        size--;
      }
    }
    if (!buckets) return this;
    for (const [index, bucket] of copied) if (bucket.size === 0) buckets[index] = undefined;
    return new CounterMap(buckets, size);
  }

  /**
   * The counter ids as the read-only record the dataplane contract takes
   * (SinkApplyRequest.counterIds), as a view instead of a copy: a backend
   * that follows the plan looks up the few rules it touches. Writes are
   * refused (a TypeError in strict code).
   */
  counterIds(): Record<string, number> {
    const descriptor = (value: number): PropertyDescriptor => ({ value, enumerable: true, configurable: true, writable: false });
    const refuse = (): boolean => false;
    return new Proxy({} as Record<string, number>, {
      get: (_target, key) => (typeof key === 'string' ? this.get(key)?.counterId : undefined),
      has: (_target, key) => typeof key === 'string' && this.has(key),
      ownKeys: () => [...this.entries()].map(([id]) => id),
      getOwnPropertyDescriptor: (_target, key) => {
        const assignment = typeof key === 'string' ? this.get(key) : undefined;
        return assignment && descriptor(assignment.counterId);
      },
      set: refuse,
      defineProperty: refuse,
      deleteProperty: refuse,
    });
  }

  toRecord(): Record<string, CounterAssignment> {
    return Object.fromEntries(this.entries());
  }

  toJSON(): Record<string, CounterAssignment> {
    return this.toRecord();
  }
}
