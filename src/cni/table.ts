/**
 * A container's port mappings as one portplane table: each mapping (host
 * port, container port, protocol, host address) becomes a single-port rule
 * forwarding to the container's address from the previous plugin's result.
 * The table is named after the network and the container, so ADD replaces
 * it whole (idempotent) and DEL removes exactly it.
 */
import { isIP } from 'node:net';
import { CNI_ERRORS, CniError, type CniResult, type PortMapping } from './spec.js';
import type { ForwardRule } from '../generated/types/portplane/v1/ForwardRule.js';
import type { PortRange__Output } from '../generated/types/portplane/v1/PortRange.js';

/** Table names: a letter or digit, then up to 62 of [A-Za-z0-9._-] (src/config/validate.ts). */
const MAX_NAME = 63;

function sanitize(text: string): string {
  return text.replace(/[^A-Za-z0-9._-]/g, '_');
}

export function tableName(network: string, containerId: string): string {
  const name = `cni-${sanitize(network)}-${sanitize(containerId)}`;
  return name.slice(0, MAX_NAME);
}

/** A rule the plugin publishes: the generated ForwardRule with the fields a port mapping sets. */
export type WireRule = ForwardRule & Required<Pick<ForwardRule, 'name' | 'listen_address' | 'target_address' | 'target_port'>> & {
  protocol: Extract<ForwardRule['protocol'], 'PROTOCOL_TCP' | 'PROTOCOL_UDP'>;
  ports: PortRange__Output;
};

function port(value: unknown, what: string, index: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 65535) {
    throw new CniError(CNI_ERRORS.invalidConfig, `runtimeConfig.portMappings[${index}].${what} must be a port number 1-65535`, `got ${JSON.stringify(value)}`);
  }
  return value;
}

/** The container's addresses (without prefix length), IPv4 first as the previous plugin listed them. */
function containerAddresses(prev: CniResult | undefined): string[] {
  const ips = (prev?.ips ?? []).map((ip) => String(ip.address ?? '').split('/')[0]!).filter((a) => isIP(a) !== 0);
  if (ips.length === 0) {
    throw new CniError(CNI_ERRORS.invalidConfig, 'no container address: portplane-portmap must be chained after a plugin that assigns one (prevResult.ips)');
  }
  return ips;
}

export function tableRules(mappings: PortMapping[], prev: CniResult | undefined): WireRule[] {
  if (mappings.length === 0) return [];
  const addresses = containerAddresses(prev);
  const seen = new Set<string>();
  return mappings.map((m, i) => {
    const hostPort = port(m.hostPort, 'hostPort', i);
    const containerPort = port(m.containerPort, 'containerPort', i);
    const protocol = (m.protocol ?? 'tcp').toLowerCase();
    if (protocol !== 'tcp' && protocol !== 'udp') {
      throw new CniError(CNI_ERRORS.unsupportedField, `runtimeConfig.portMappings[${i}].protocol ${JSON.stringify(m.protocol)} is not supported`, 'portplane forwards tcp and udp');
    }
    const hostIP = m.hostIP ?? '';
    if (hostIP !== '' && isIP(hostIP) === 0) {
      throw new CniError(CNI_ERRORS.invalidConfig, `runtimeConfig.portMappings[${i}].hostIP ${JSON.stringify(hostIP)} is not an IP address`);
    }
    // The container's address of the host address's family; any host address takes the first one.
    const family = hostIP === '' || hostIP === '0.0.0.0' || hostIP === '::' ? 0 : isIP(hostIP);
    const target = addresses.find((a) => family === 0 || isIP(a) === family);
    if (!target) throw new CniError(CNI_ERRORS.invalidConfig, `runtimeConfig.portMappings[${i}]: the container has no IPv${family} address for hostIP ${hostIP}`);
    const name = `${protocol}-${sanitize(hostIP || 'any')}-${hostPort}`;
    if (seen.has(name)) throw new CniError(CNI_ERRORS.invalidConfig, `runtimeConfig.portMappings: ${protocol} ${hostIP || '*'}:${hostPort} is mapped twice`);
    seen.add(name);
    return {
      name,
      protocol: protocol === 'tcp' ? 'PROTOCOL_TCP' : 'PROTOCOL_UDP',
      // "" is portplane's dual-stack any, like a mapping without hostIP in the reference portmap plugin.
      listen_address: hostIP === '0.0.0.0' ? '0.0.0.0' : hostIP,
      ports: { first: hostPort, last: hostPort },
      target_address: target,
      target_port: containerPort,
    };
  });
}
