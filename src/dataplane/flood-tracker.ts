/**
 * Refused attempts of one rule by source prefix, in bounded memory, for
 * Telemetry.flood(). A flood may come from millions of addresses, so the
 * heavy hitters are tracked with the Space-Saving algorithm: at most
 * `capacity` prefixes are kept; a new prefix arriving when full takes the
 * place of the lightest one and inherits its count as a possible
 * overestimate (`error`). Any prefix whose true count exceeds total/capacity
 * is guaranteed to be kept. Backend-neutral: a socket backend feeds it
 * addresses as text, a packet backend as bytes.
 */
import { clientAddressBytes } from '../config/cidr.js';
import type { FloodReason, RuleCounters, RuleFloodCounters, SourceFloodCounters } from './telemetry.js';

/** Prefixes kept per rule. */
export const FLOOD_TRACKER_CAPACITY = 256;

interface Entry {
  refused: number;
  /** Count inherited from the entry this one replaced. */
  error: number;
  byReason: Partial<Record<FloodReason, number>>;
}

/** /24 of an IPv4 address (4 bytes), /64 of an IPv6 one (16 bytes). */
export function bytesPrefix(bytes: Uint8Array): string {
  if (bytes.length === 4) return `${bytes[0]}.${bytes[1]}.${bytes[2]}.0/24`;
  const groups: string[] = [];
  for (let i = 0; i < 8; i += 2) groups.push((((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0)).toString(16));
  return `${groups.join(':')}::/64`;
}

/** /24 of an IPv4 client (IPv4-mapped IPv6 included), /64 of an IPv6 one; undefined when not an address. */
export function sourcePrefix(address: string): string | undefined {
  const bytes = clientAddressBytes(address);
  return bytes && bytesPrefix(bytes);
}

export class FloodTracker {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly capacity = FLOOD_TRACKER_CAPACITY) {}

  /** A refusal of a client whose address is text, as a socket reports it. */
  record(address: string, reason: FloodReason): void {
    this.recordPrefix(sourcePrefix(address) ?? address, reason);
  }

  /** A refusal of a client whose address is bytes (4 or 16), as a packet carries it. */
  recordBytes(address: Uint8Array, reason: FloodReason): void {
    this.recordPrefix(bytesPrefix(address), reason);
  }

  private recordPrefix(prefix: string, reason: FloodReason): void {
    let entry = this.entries.get(prefix);
    if (!entry) {
      let error = 0;
      if (this.entries.size >= this.capacity) {
        let lightest: string | undefined;
        let min = Infinity;
        for (const [key, e] of this.entries) {
          if (e.refused < min) {
            min = e.refused;
            lightest = key;
          }
        }
        if (lightest !== undefined) this.entries.delete(lightest);
        error = min;
      }
      entry = { refused: error, error, byReason: {} };
      this.entries.set(prefix, entry);
    }
    entry.refused++;
    entry.byReason[reason] = (entry.byReason[reason] ?? 0) + 1;
  }

  /** The `n` heaviest prefixes, heaviest first, and the largest overestimate among all kept. */
  top(n: number): { sources: SourceFloodCounters[]; error: number } {
    let error = 0;
    for (const e of this.entries.values()) error = Math.max(error, e.error);
    const sources = [...this.entries]
      .sort((a, b) => b[1].refused - a[1].refused || (a[0] < b[0] ? -1 : 1))
      .slice(0, Math.max(0, n))
      .map(([prefix, e]) => ({ prefix, refused: e.refused, byReason: { ...e.byReason } }));
    return { sources, error };
  }
}

/**
 * A rule's Telemetry.flood() entry: its exact refusal counts (from its
 * counters) and the `topSources` heaviest prefixes of its tracker.
 */
export function ruleFloodCounters(counters: RuleCounters, tracker: FloodTracker, topSources: number): RuleFloodCounters {
  const { drops } = counters;
  const byReason = { filter: drops.filter ?? 0, rate: drops.rate ?? 0, source_rate: drops.source_rate ?? 0, cap: drops.cap ?? 0 };
  const { sources, error } = tracker.top(topSources);
  return {
    table: counters.table,
    ruleId: counters.ruleId,
    ruleName: counters.ruleName,
    counterId: counters.counterId,
    refused: byReason.filter + byReason.rate + byReason.source_rate + byReason.cap,
    byReason,
    sources,
    sourceError: error,
  };
}
