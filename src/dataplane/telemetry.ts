/**
 * Telemetry: counters a backend keeps, read without side effects. Rule
 * counters are keyed by counter id (see ApplyResult.RuleStatus): a rule keeps
 * its counters across applies that leave it unchanged.
 */
import type { Protocol } from '../config/model.js';

/**
 * Why an attempt was refused or a session failed: `filter` (source filter),
 * `rate` (rule's new-session rate), `source_rate` (one client address's
 * rate), `cap` (max sessions or UDP flows), upstream failures by kind, and
 * `resource` (out of file descriptors or memory).
 */
export const DROP_REASONS = [
  'filter',
  'rate',
  'source_rate',
  'cap',
  'upstream_refused',
  'upstream_reset',
  'upstream_timeout',
  'upstream_error',
  'resource',
] as const;

export type DropReason = (typeof DROP_REASONS)[number];

/** Refusals at admission: what a flood from some source provokes (upstream failures are the target's doing). */
export const FLOOD_REASONS = ['filter', 'rate', 'source_rate', 'cap'] as const satisfies readonly DropReason[];

export type FloodReason = (typeof FLOOD_REASONS)[number];

/**
 * Why a packet backend dropped a packet before (or instead of) any session:
 * what it cannot parse or does not handle, and what no rule or session wants;
 * then losses in its packet I/O: the TUN device's queue towards portplane
 * was full (the device's tx_dropped), the kernel dropped what portplane wrote
 * (rx_dropped), a write failed, or the native loop found every batch for the
 * JavaScript engine still taken.
 */
export const PACKET_DROP_REASONS = [
  'truncated',
  'bad_ip_header',
  'bad_l4_header',
  'fragment',
  'unsupported_protocol',
  'ipv6_extension_header',
  'no_rule',
  'no_session',
  'address_family',
  'nat_exhausted',
  'tuple_conflict',
  'tun_queue_full',
  'tun_rx_dropped',
  'tun_write_failed',
  'slow_path_overflow',
  // A new flow reached a node in the HA standby role, which forwards none (src/ha).
  'ha_standby',
] as const;

export type PacketDropReason = (typeof PACKET_DROP_REASONS)[number];

export interface TrafficCounters {
  sessionsOpened: number;
  sessionsClosed: number;
  sessionsActive: number;
  bytesFromClient: number;
  bytesToClient: number;
  packetsFromClient: number;
  packetsToClient: number;
  drops: Partial<Record<DropReason, number>>;
  /** Packet backends only (global counters): packets dropped by reason. */
  packetDrops?: Partial<Record<PacketDropReason, number>>;
}

export interface RuleCounters extends TrafficCounters {
  table: string;
  ruleId: string;
  /** The rule's name, '' for an unnamed rule. */
  ruleName: string;
  protocol: Protocol;
  counterId: number;
}

/** Refused attempts from one source prefix (/24 for IPv4, /64 for IPv6). */
export interface SourceFloodCounters {
  /** CIDR text, e.g. "192.0.2.0/24". */
  prefix: string;
  refused: number;
  byReason: Partial<Record<FloodReason, number>>;
}

export interface RuleFloodCounters {
  table: string;
  ruleId: string;
  ruleName: string;
  counterId: number;
  /** Every refused attempt of the rule (exact, unlike the per-source figures). */
  refused: number;
  byReason: Partial<Record<FloodReason, number>>;
  /** Heaviest sources first; their counts may overestimate by up to `sourceError`. */
  sources: SourceFloodCounters[];
  /** Largest overestimate of any source count: the tracker keeps a bounded number of prefixes. */
  sourceError: number;
}

export interface Telemetry {
  global(): TrafficCounters;
  /** Counters of every running rule under its current counter id. */
  rules(): RuleCounters[];
  /**
   * Generation of the configuration the backend runs: the one rules() is
   * keyed under. Read in the same event-loop turn as rules() to pair them.
   */
  generation(): number;
  /** Per running rule: refusals by reason and the `topSources` heaviest source prefixes. */
  flood(topSources: number): RuleFloodCounters[];
}

export function emptyTrafficCounters(): TrafficCounters {
  return {
    sessionsOpened: 0,
    sessionsClosed: 0,
    sessionsActive: 0,
    bytesFromClient: 0,
    bytesToClient: 0,
    packetsFromClient: 0,
    packetsToClient: 0,
    drops: {},
  };
}

/** Adds `c` into `sum` (a table's or the host's total of its rules). */
export function addTrafficCounters(sum: TrafficCounters, c: TrafficCounters): void {
  sum.sessionsOpened += c.sessionsOpened;
  sum.sessionsClosed += c.sessionsClosed;
  sum.sessionsActive += c.sessionsActive;
  sum.bytesFromClient += c.bytesFromClient;
  sum.bytesToClient += c.bytesToClient;
  sum.packetsFromClient += c.packetsFromClient;
  sum.packetsToClient += c.packetsToClient;
  for (const reason of DROP_REASONS) {
    const n = c.drops[reason];
    if (n) sum.drops[reason] = (sum.drops[reason] ?? 0) + n;
  }
}
