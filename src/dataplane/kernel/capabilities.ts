/**
 * What the kernel-sockets backend can do. Returned as a fresh object each
 * time so a caller that edits its copy cannot change what others see.
 */
import type { Capabilities } from '../capabilities.js';
import { spliceEngine } from './splice-engine.js';

export const KERNEL_BACKEND_NAME = 'kernel';

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
      'source_filters',
      'proxy_protocol',
      'session_limits',
      'drain_policy',
    ],
    unsupported: [
      {
        feature: 'interface_binding',
        reason: 'Node.js cannot set SO_BINDTODEVICE; an interface scopes only a link-local listen address',
      },
    ],
  };
  if (splice.engine) caps.supported.push('splice_relay');
  else caps.unsupported.push({ feature: 'splice_relay', reason: `TCP is relayed in JavaScript: ${splice.reason}` });
  return caps;
}
