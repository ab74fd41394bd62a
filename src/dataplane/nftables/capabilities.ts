/**
 * What the nftables backend can do: the kernel forwards (DNAT in the nat
 * hooks, conntrack holds the flows), portplane programs it. What needs a
 * process in the data path is not done, and says why.
 */
import type { Capabilities } from '../capabilities.js';

export const NFTABLES_BACKEND_NAME = 'nftables';

export function nftablesCapabilities(): Capabilities {
  return {
    backend: NFTABLES_BACKEND_NAME,
    supported: [
      'tcp',
      'udp',
      'ipv4',
      'ipv6',
      'dual_stack',
      'port_ranges',
      // A port in both tables keeps its map element: nothing about it changes in the kernel.
      'socket_continuity',
      'terminate_removed',
      'weak_rules',
      // A local listener on a port a DNAT rule would capture is reported like a bind failure.
      'bind_errors',
      'source_filters',
      'session_limits',
      'drain_policy',
      'sessions',
      'session_deltas',
      'telemetry',
      'trace',
    ],
    unsupported: [
      {
        feature: 'proxy_protocol',
        reason: 'the kernel NATs the client\'s own packets; inserting a PROXY header needs a process that terminates the TCP stream',
      },
      {
        feature: 'interface_binding',
        reason: 'not implemented: rules match on destination address and port only (an iifname match per rule would be needed)',
      },
      {
        feature: 'link_local_scope',
        reason: 'not implemented: nftables maps match addresses without zones, so link-local zones cannot be told apart',
      },
      {
        feature: 'snat',
        reason: 'not implemented: DNAT keeps the client address; only hairpin and loopback clients are masqueraded',
      },
      {
        feature: 'session_import',
        reason: 'conntrack entries are created by the kernel from packets; an HA peer\'s sessions are synchronised by conntrackd (FTFW), not imported through portplane',
      },
      {
        feature: 'payload_bytes',
        reason: 'byte counts come from conntrack accounting (nf_conntrack_acct), which counts whole IP packets, headers included',
      },
      {
        feature: 'flood_sources',
        reason: 'refusals are counted per rule and reason by named nftables counters; the kernel keeps no per-source tally portplane can read',
      },
      { feature: 'pcap_port', reason: 'the kernel forwards the packets; portplane sees none of them' },
      { feature: 'tun_port', reason: 'the kernel forwards the packets; portplane sees none of them' },
      { feature: 'splice_relay', reason: 'no relay: no userland process touches a forwarded byte' },
    ],
  };
}

/** Per-connection admission in userland is impossible here; trace and docs say so in these words. */
export const KERNEL_LIMITS_DETAIL = 'are enforced in the kernel (limit, per-source meter) whose token state is not readable: not evaluated';
