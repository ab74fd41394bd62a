/** DeltaBuffer: records once consumed, bounded, reports what it lost, batches drains. */
import { describe, expect, it } from 'vitest';
import { DeltaBuffer } from '../../src/dataplane/delta-buffer.js';
import { sessionInfo } from '../helpers/session-info.js';

const info = (id: number) => sessionInfo(id, { client: { address: '127.0.0.1', port: id } });

describe('DeltaBuffer', () => {
  it('keeps nothing until a consumer appears, then batches in order', () => {
    const buffer = new DeltaBuffer(10);
    buffer.push('open', info(1));
    expect(buffer.recording).toBe(false);
    expect(buffer.drain(5)).toEqual({ deltas: [], truncated: false, lost: 0 });
    for (let i = 2; i <= 8; i++) buffer.push('open', info(i));
    const first = buffer.drain(5);
    expect(first.deltas.map((d) => d.session.id)).toEqual(['2', '3', '4', '5', '6']);
    expect(first.truncated).toBe(true);
    expect(buffer.drain(5)).toMatchObject({ truncated: false, lost: 0 });
  });

  it('drops the oldest past its capacity and says how many', () => {
    const buffer = new DeltaBuffer(4);
    buffer.drain(1);
    for (let i = 1; i <= 10_000; i++) buffer.push('update', info(i));
    expect(buffer.pending).toBe(4);
    const result = buffer.drain(10);
    expect(result.lost).toBe(9_996);
    expect(result.deltas.map((d) => d.session.id)).toEqual(['9997', '9998', '9999', '10000']);
  });
});
