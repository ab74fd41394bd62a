/**
 * The userspace flow table through growth, tombstones and their purge: every
 * live key keeps its value, removed keys are gone, and a removed key can be
 * inserted again.
 */
import { describe, expect, it } from 'vitest';
import { FlowTable } from '../../src/dataplane/userspace/flow-table.js';
import { KEY_WORDS } from '../../src/dataplane/userspace/packet.js';

function key(i: number): Uint32Array {
  const k = new Uint32Array(KEY_WORDS);
  k[0] = 6 | (4 << 8);
  k[1] = (0x0a000000 + i) >>> 0;
  k[5] = 0xc0000201;
  k[9] = (((1024 + (i % 50000)) << 16) | 80) >>> 0;
  return k;
}

describe('userspace flow table', () => {
  it('keeps every live entry through doubling rebuilds and tombstone purges', () => {
    const table = new FlowTable();
    const n = 20_000;
    for (let i = 0; i < n; i++) expect(table.insert(key(i), 0, i)).toBe(true);
    expect(table.insert(key(7), 0, 99)).toBe(false);
    expect(table.size).toBe(n);
    // Remove every other entry, then churn so that tombstones force same-size rebuilds.
    for (let i = 0; i < n; i += 2) expect(table.remove(key(i), 0)).toBe(true);
    for (let round = 0; round < 3; round++) {
      for (let i = n; i < n + 5_000; i++) expect(table.insert(key(i + round * 5_000), 0, i)).toBe(true);
      for (let i = n; i < n + 5_000; i++) expect(table.remove(key(i + round * 5_000), 0)).toBe(true);
    }
    expect(table.size).toBe(n / 2);
    for (let i = 0; i < n; i++) expect(table.find(key(i), 0)).toBe(i % 2 === 0 ? -1 : i);
    expect(table.remove(key(0), 0)).toBe(false);
    expect(table.insert(key(0), 0, 5)).toBe(true);
    expect(table.find(key(0), 0)).toBe(5);
    // A key read at an offset inside a larger array.
    const wide = new Uint32Array(3 + KEY_WORDS);
    wide.set(key(1), 3);
    expect(table.find(wide, 3)).toBe(1);
    table.clear();
    expect(table.size).toBe(0);
    expect(table.find(key(1), 0)).toBe(-1);
    expect(table.insert(key(1), 0, 1)).toBe(true);
  });
});
