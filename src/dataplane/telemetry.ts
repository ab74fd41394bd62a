/**
 * Telemetry: counters a backend keeps, read without side effects. Rule
 * counters are keyed by counter id (see ApplyResult.RuleStatus): a rule keeps
 * its counters across applies that leave it unchanged.
 */
/**
 * Why an attempt was refused or a session failed: `filter` (source filter),
 * `rate` (rule's new-session rate), `source_rate` (one client address's
 * rate), `cap` (max sessions or UDP flows), upstream failures by kind, and
 * `resource` (out of file descriptors or memory).
 */
export type DropReason = 'filter' | 'rate' | 'source_rate' | 'cap' | 'upstream_refused' | 'upstream_reset' | 'upstream_timeout' | 'upstream_error' | 'resource';

/**
 * Why a packet backend dropped a packet before (or instead of) any session:
 * what it cannot parse or does not handle, and what no rule or session wants.
 */
export type PacketDropReason =
  | 'truncated'
  | 'bad_ip_header'
  | 'bad_l4_header'
  | 'fragment'
  | 'unsupported_protocol'
  | 'ipv6_extension_header'
  | 'no_rule'
  | 'no_session'
  | 'address_family'
  | 'nat_exhausted'
  | 'tuple_conflict';

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
  counterId: number;
}

export interface Telemetry {
  global(): TrafficCounters;
  rules(): RuleCounters[];
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
