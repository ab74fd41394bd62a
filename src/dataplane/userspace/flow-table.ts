/**
 * The flow table: flow key (see packet.ts) -> int32 value, open addressing
 * with linear probing over typed arrays, so a lookup allocates nothing and
 * a million entries cost a few tens of megabytes, not a million objects.
 * Deleted entries become tombstones; the table is rebuilt when live entries
 * plus tombstones pass half its capacity. A row is the value then the key,
 * in one buffer, so a probe touches one cache line rather than two.
 *
 * The native fast path (native/tun/fastpath.c) reads the rows from another
 * thread: a row's key is written before its value, and the value with a
 * release store (Atomics), so a live value always comes with its whole key;
 * a rebuild hands the new rows over through `onRows` before the old ones go.
 */
import { KEY_WORDS } from './packet.js';

const EMPTY = -1;
const TOMBSTONE = -2;
const MIN_CAPACITY = 1024;
const ROW = KEY_WORDS + 1;

function hashKey(key: Uint32Array, off: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < KEY_WORDS; i++) {
    h = Math.imul(h ^ key[off + i]!, 0x01000193);
    h ^= h >>> 15;
  }
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  return (h ^ (h >>> 13)) >>> 0;
}

export class FlowTable {
  /** Row i: key words at [i * ROW + 1, i * ROW + ROW). */
  private keys: Uint32Array;
  /** Row i: value (or EMPTY, TOMBSTONE) at [i * ROW], over the same buffer as `keys`. */
  private values: Int32Array;
  private mask: number;
  private live = 0;
  private used = 0;
  /** Called with the rows whenever they are replaced (and at once when set), for the native fast path. */
  private rowsListener: ((rows: Int32Array) => void) | undefined;

  constructor(capacity = MIN_CAPACITY) {
    let size = MIN_CAPACITY;
    while (size < capacity * 2) size *= 2;
    [this.keys, this.values] = FlowTable.rows(size);
    this.mask = size - 1;
  }

  private static rows(size: number): [Uint32Array, Int32Array] {
    const values = new Int32Array(size * ROW);
    for (let i = 0; i < values.length; i += ROW) values[i] = EMPTY;
    return [new Uint32Array(values.buffer), values];
  }

  set onRows(listener: ((rows: Int32Array) => void) | undefined) {
    this.rowsListener = listener;
    listener?.(this.values);
  }

  private get capacity(): number {
    return this.mask + 1;
  }

  get size(): number {
    return this.live;
  }

  /** Bytes held by the table's arrays. */
  get byteLength(): number {
    return this.values.byteLength;
  }

  private equals(i: number, key: Uint32Array, off: number): boolean {
    const keys = this.keys;
    const base = i * ROW + 1;
    for (let w = 0; w < KEY_WORDS; w++) if (keys[base + w] !== key[off + w]) return false;
    return true;
  }

  /** The value stored for the key at `key[off..off+KEY_WORDS)`, or -1. */
  find(key: Uint32Array, off: number): number {
    const values = this.values;
    let i = hashKey(key, off) & this.mask;
    for (;;) {
      const v = values[i * ROW]!;
      if (v === EMPTY) return -1;
      if (v !== TOMBSTONE && this.equals(i, key, off)) return v;
      i = (i + 1) & this.mask;
    }
  }

  /** Stores `value` (>= 0) for the key; false (and nothing stored) if the key is present. */
  insert(key: Uint32Array, off: number, value: number): boolean {
    const capacity = this.capacity;
    if ((this.used + 1) * 2 > capacity) this.rebuild(this.live * 4 > capacity ? capacity * 2 : capacity);
    const values = this.values;
    let i = hashKey(key, off) & this.mask;
    let slot = -1;
    for (;;) {
      const v = values[i * ROW]!;
      if (v === EMPTY) break;
      if (v === TOMBSTONE) {
        if (slot < 0) slot = i;
      } else if (this.equals(i, key, off)) {
        return false;
      }
      i = (i + 1) & this.mask;
    }
    if (slot < 0) {
      slot = i;
      this.used++;
    }
    const keys = this.keys;
    const base = slot * ROW;
    for (let w = 0; w < KEY_WORDS; w++) keys[base + 1 + w] = key[off + w]!;
    Atomics.store(values, base, value);
    this.live++;
    return true;
  }

  remove(key: Uint32Array, off: number): boolean {
    const values = this.values;
    let i = hashKey(key, off) & this.mask;
    for (;;) {
      const v = values[i * ROW]!;
      if (v === EMPTY) return false;
      if (v !== TOMBSTONE && this.equals(i, key, off)) {
        Atomics.store(values, i * ROW, TOMBSTONE);
        this.live--;
        return true;
      }
      i = (i + 1) & this.mask;
    }
  }

  clear(): void {
    const values = this.values;
    for (let i = 0; i < values.length; i += ROW) values[i] = EMPTY;
    this.live = 0;
    this.used = 0;
  }

  private rebuild(size: number): void {
    const oldKeys = this.keys;
    const oldValues = this.values;
    [this.keys, this.values] = FlowTable.rows(size);
    this.mask = size - 1;
    this.live = 0;
    this.used = 0;
    // The new rows hold no tombstone and no duplicate: each entry goes to the first empty row of its probe.
    const keys = this.keys;
    const values = this.values;
    for (let o = 0; o < oldValues.length; o += ROW) {
      const v = oldValues[o]!;
      if (v < 0) continue;
      let i = hashKey(oldKeys, o + 1) & this.mask;
      while (values[i * ROW] !== EMPTY) i = (i + 1) & this.mask;
      const base = i * ROW;
      values[base] = v;
      for (let w = 1; w <= KEY_WORDS; w++) keys[base + w] = oldKeys[o + w]!;
      this.live++;
      this.used++;
    }
    this.rowsListener?.(values);
  }
}
