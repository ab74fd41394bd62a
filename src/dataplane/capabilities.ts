/**
 * Capabilities as data: what a backend supports, and for what it does not,
 * the reason. Validation rejects a rule that needs an unsupported feature
 * instead of letting the backend silently ignore it.
 */

/** Features a rule or request can depend on. */
export type Feature =
  | 'tcp'
  | 'udp'
  | 'ipv4'
  | 'ipv6'
  | 'dual_stack'
  | 'port_ranges'
  | 'socket_continuity'
  | 'interface_binding'
  | 'link_local_scope'
  | 'terminate_removed'
  | 'weak_rules'
  | 'source_filters'
  | 'proxy_protocol'
  | 'session_limits'
  | 'drain_policy'
  // Per-rule snat_address (masquerade).
  | 'snat'
  // A listen port can fail to bind, and such a failure rolls the apply back.
  | 'bind_errors'
  // What RuntimeDataPlane's sessions(), sessionDeltas(), telemetry() and tracer() serve.
  | 'sessions'
  | 'session_deltas'
  // SessionDeltaSource.importSessions: recreating sessions exported elsewhere (an HA takeover).
  | 'session_import'
  | 'telemetry'
  // Byte counters count payload (what the application sent), not IP packet bytes.
  | 'payload_bytes'
  // Flood counters name the heaviest source prefixes (RuleFloodCounters.sources).
  | 'flood_sources'
  | 'trace'
  // Packet I/O of a packet backend.
  | 'pcap_port'
  | 'tun_port'
  /** Userspace: established flows forwarded in C (native/tun), on the native loop's thread for a TUN port. */
  | 'native_fast_path'
  /** Userspace TUN offloads (TUNSETOFFLOAD): checksum, TCP segmentation (v4 and v6), UDP segmentation (v4 and v6). */
  | 'tun_offload_csum'
  | 'tun_offload_tso'
  | 'tun_offload_uso'
  /** TCP bytes relayed kernel to kernel (splice(2)), off the control plane's thread. */
  | 'splice_relay';

export interface UnsupportedFeature {
  feature: Feature;
  reason: string;
}

export interface Capabilities {
  backend: string;
  supported: Feature[];
  unsupported: UnsupportedFeature[];
}

export function supports(caps: Capabilities, feature: Feature): boolean {
  return caps.supported.includes(feature);
}

export function unsupportedReason(caps: Capabilities, feature: Feature): string | undefined {
  return caps.unsupported.find((u) => u.feature === feature)?.reason;
}
