/**
 * What the kernel-sockets backend can do. Returned as a fresh object each
 * time so a caller that edits its copy cannot change what others see.
 */
import type { Capabilities } from '../capabilities.js';
import { spliceEngine } from './splice-engine.js';

export const KERNEL_BACKEND_NAME = 'kernel';

/** Why importSessions() rejects every entry here. */
export const KERNEL_IMPORT_UNSUPPORTED =
  'a kernel session is a pair of OS sockets; an exported session cannot be recreated from its record (export and reconcile work)';

export function kernelCapabilities(): Capabilities {
  const splice = spliceEngine();
  const caps: Capabilities = {
    backend: KERNEL_BACKEND_NAME,
    supported: [
      'tcp',
      'udp',
      'ipv4',
      'ipv6',
      'dual_stack',
      'port_ranges',
      'socket_continuity',
      'link_local_scope',
      'terminate_removed',
      'weak_rules',
      'bind_errors',
      'source_filters',
      'proxy_protocol',
      'session_limits',
      'drain_policy',
      'sessions',
      'session_deltas',
      'telemetry',
      'payload_bytes',
      'flood_sources',
      'trace',
    ],
    unsupported: [
      {
        feature: 'interface_binding',
        reason: 'Node.js cannot set SO_BINDTODEVICE; an interface scopes only a link-local listen address',
      },
      {
        feature: 'snat',
        reason: 'the kernel relay connects to the target from a host address the OS picks; a per-rule source address is not implemented',
      },
      { feature: 'session_import', reason: KERNEL_IMPORT_UNSUPPORTED },
      { feature: 'pcap_port', reason: 'the kernel backend relays sockets, not packets' },
      { feature: 'tun_port', reason: 'the kernel backend relays sockets, not packets' },
    ],
  };
  if (splice.engine) caps.supported.push('splice_relay');
  else caps.unsupported.push({ feature: 'splice_relay', reason: `TCP and UDP are relayed in JavaScript: ${splice.reason}` });
  return caps;
}
