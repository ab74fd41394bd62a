/**
 * What the userspace packet backend can do. It owns no sockets: a
 * forwarded port exists as an entry of its compiled lookup table, so a
 * port is "bound" as soon as the apply that routes it is swapped in.
 */
import type { Capabilities, Feature, UnsupportedFeature } from '../capabilities.js';
import { nativeFastPathSupport } from './native-fast-path.js';
import { tunSupport } from './ports/tun-device.js';

export const USERSPACE_BACKEND_NAME = 'userspace';

/** The offload features and the TUNSETOFFLOAD flags each stands for (tun.c OFFLOAD_SETS). */
const OFFLOAD_FEATURES: readonly [Feature, readonly string[]][] = [
  ['tun_offload_csum', ['csum']],
  ['tun_offload_tso', ['tso4', 'tso6']],
  ['tun_offload_uso', ['uso4', 'uso6']],
];

/**
 * `nativeRunning`: the backend runs the native fast path; `offloads`: the
 * TUN port's enabled offloads once open (undefined without a TUN port).
 */
export function userspaceCapabilities(nativeRunning = nativeFastPathSupport().available, offloads?: string): Capabilities {
  const unsupported: UnsupportedFeature[] = [
    {
      feature: 'interface_binding',
      reason: 'a packet port carries no interface identity, so a rule cannot be scoped to a device',
    },
    {
      feature: 'link_local_scope',
      reason: 'a packet port carries no interface identity, so link-local zones cannot be told apart',
    },
    {
      feature: 'bind_errors',
      reason: 'no OS sockets: a port is claimed in the lookup table only, so binds cannot fail and nothing rolls back on them',
    },
    {
      feature: 'proxy_protocol',
      reason: 'a packet backend forwards the client\'s own segments and cannot insert a header into the TCP stream without terminating it',
    },
    {
      feature: 'drain_policy',
      reason: 'not implemented for packet sessions: a removed rule\'s sessions continue until they end or time out, or close with terminate_removed',
    },
  ];
  const tun = tunSupport();
  if (!tun.available) unsupported.push({ feature: 'tun_port', reason: tun.reason });
  const native = nativeFastPathSupport();
  if (!nativeRunning) unsupported.push({ feature: 'native_fast_path', reason: native.available ? 'this backend instance runs the JavaScript path' : native.reason });
  const enabled = new Set((offloads ?? '').split(',').filter(Boolean));
  const offloadFeatures: Feature[] = [];
  for (const [feature, flags] of OFFLOAD_FEATURES) {
    if (flags.every((f) => enabled.has(f))) {
      offloadFeatures.push(feature);
      continue;
    }
    let reason: string;
    if (offloads === undefined) reason = 'offloads are probed when a TUN port opens; this backend has none open';
    else if (!nativeRunning) reason = 'the JavaScript path reads the TUN device without offloads (the native fast path is off)';
    else if (process.env.PORTPLANE_TUN_OFFLOAD === '0') reason = 'turned off with PORTPLANE_TUN_OFFLOAD=0';
    else reason = `the kernel refused TUNSETOFFLOAD ${flags.join('/')} (enabled: ${offloads || 'none'})`;
    unsupported.push({ feature, reason });
  }
  return {
    backend: USERSPACE_BACKEND_NAME,
    supported: [
      'tcp',
      'udp',
      'ipv4',
      'ipv6',
      'dual_stack',
      'port_ranges',
      // No sockets to keep: a port present before and after an apply never stops matching (one atomic swap).
      'socket_continuity',
      'terminate_removed',
      // Accepted and trivially met: every port of a weak rule is claimed.
      'weak_rules',
      'snat',
      'source_filters',
      'session_limits',
      'sessions',
      'session_deltas',
      'session_import',
      'telemetry',
      'payload_bytes',
      'flood_sources',
      'trace',
      'pcap_port',
      ...(tun.available ? (['tun_port'] as Feature[]) : []),
      ...(nativeRunning ? (['native_fast_path'] as Feature[]) : []),
      ...offloadFeatures,
    ],
    unsupported,
  };
}
