/**
 * WatchCounters samples: what changed since the previous sample and the
 * rates over the time between them. A counter that restarted (a changed rule
 * under a new counter id, or an entry not seen before) gets its totals as
 * the delta, flagged `restarted`, never a negative delta.
 */
import type { TrafficCounters } from '../dataplane/telemetry.js';
import { dropsTotal } from './counters.js';

export interface CounterDelta {
  sessionsOpened: number;
  sessionsClosed: number;
  bytesFromClient: number;
  bytesToClient: number;
  packetsFromClient: number;
  packetsToClient: number;
  drops: number;
  restarted: boolean;
  /** Per second, over `elapsedSeconds`; 0 when no time passed. */
  rates: Record<'sessionsOpened' | 'sessionsClosed' | 'bytesFromClient' | 'bytesToClient' | 'packetsFromClient' | 'packetsToClient' | 'drops', number>;
}

const MONOTONIC = ['sessionsOpened', 'sessionsClosed', 'bytesFromClient', 'bytesToClient', 'packetsFromClient', 'packetsToClient'] as const;

export function counterDelta(now: TrafficCounters, before: TrafficCounters | undefined, elapsedSeconds: number): CounterDelta {
  const restarted = before === undefined || MONOTONIC.some((k) => now[k] < before[k]) || dropsTotal(now) < dropsTotal(before);
  const base = restarted ? undefined : before;
  const diff = (k: (typeof MONOTONIC)[number]): number => now[k] - (base?.[k] ?? 0);
  const delta = {
    sessionsOpened: diff('sessionsOpened'),
    sessionsClosed: diff('sessionsClosed'),
    bytesFromClient: diff('bytesFromClient'),
    bytesToClient: diff('bytesToClient'),
    packetsFromClient: diff('packetsFromClient'),
    packetsToClient: diff('packetsToClient'),
    drops: dropsTotal(now) - (base ? dropsTotal(base) : 0),
  };
  const rate = (n: number): number => (elapsedSeconds > 0 ? n / elapsedSeconds : 0);
  return {
    ...delta,
    restarted,
    rates: {
      sessionsOpened: rate(delta.sessionsOpened),
      sessionsClosed: rate(delta.sessionsClosed),
      bytesFromClient: rate(delta.bytesFromClient),
      bytesToClient: rate(delta.bytesToClient),
      packetsFromClient: rate(delta.packetsFromClient),
      packetsToClient: rate(delta.packetsToClient),
      drops: rate(delta.drops),
    },
  };
}
