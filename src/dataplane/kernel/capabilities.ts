/**
 * What the kernel-sockets backend can do. Returned as a fresh object each
 * time so a caller that edits its copy cannot change what others see.
 */
import type { Capabilities } from '../capabilities.js';

export const KERNEL_BACKEND_NAME = 'kernel';

export function kernelCapabilities(): Capabilities {
  return {
    backend: KERNEL_BACKEND_NAME,
    supported: [
      'tcp',
      'ipv4',
      'ipv6',
      'dual_stack',
      'port_ranges',
      'socket_continuity',
      'link_local_scope',
      'terminate_removed',
      'weak_rules',
      'bind_errors',
      'trace',
    ],
    unsupported: [
      { feature: 'udp', reason: 'UDP forwarding is not implemented by the kernel backend yet' },
      {
        feature: 'interface_binding',
        reason: 'Node.js cannot set SO_BINDTODEVICE; an interface scopes only a link-local listen address',
      },
      {
        feature: 'snat',
        reason: 'the kernel relay connects to the target from a host address the OS picks; a per-rule source address is not implemented',
      },
      { feature: 'source_filters', reason: 'source filters are not implemented by the kernel backend yet' },
      { feature: 'session_limits', reason: 'session limits are not implemented by the kernel backend yet' },
      { feature: 'sessions', reason: 'the kernel backend does not expose a SessionStore yet' },
      { feature: 'session_deltas', reason: 'the kernel backend does not expose session deltas yet' },
      { feature: 'telemetry', reason: 'the kernel backend does not keep traffic counters yet' },
      { feature: 'pcap_port', reason: 'the kernel backend relays sockets, not packets' },
      { feature: 'tun_port', reason: 'the kernel backend relays sockets, not packets' },
    ],
  };
}
