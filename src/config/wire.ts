/**
 * The wire form of the configuration API as @grpc/proto-loader delivers it
 * with `{keepCase: true, longs: String, enums: String, defaults: true,
 * oneofs: true}`: snake_case field names, enums as their value names, uint64
 * as decimal strings and every scalar present with its proto default.
 * parse.ts turns this form (and the file form, a superset) into the model.
 */
import type { DrainMode, ForwardRule, OnFilterChange, Protocol, ProxyProtocol, Table } from './model.js';
import type { DrainMode__Output } from '../generated/types/portplane/v1/DrainMode.js';
import type { DrainPolicy__Output } from '../generated/types/portplane/v1/DrainPolicy.js';
import type { ForwardRule__Output } from '../generated/types/portplane/v1/ForwardRule.js';
import type { OnFilterChange__Output } from '../generated/types/portplane/v1/OnFilterChange.js';
import type { PortRange__Output } from '../generated/types/portplane/v1/PortRange.js';
import type { Protocol__Output } from '../generated/types/portplane/v1/Protocol.js';
import type { ProxyProtocol__Output } from '../generated/types/portplane/v1/ProxyProtocol.js';
import type { RuleLimits__Output } from '../generated/types/portplane/v1/RuleLimits.js';
import type { Table__Output } from '../generated/types/portplane/v1/Table.js';

// The generated types (npm run proto) are the one definition of the wire form.
export type WireProtocol = Protocol__Output;
/** A `last` of 0 means the single port `first`. */
export type WirePortRange = PortRange__Output;
export type WireRuleLimits = RuleLimits__Output;
export type WireDrainPolicy = DrainPolicy__Output;
/** proto-loader delivers an unset message field (ports, limits, drain) as null. */
export type WireForwardRule = ForwardRule__Output;
export type WireTable = Table__Output;

export const WIRE_PROTOCOLS: Readonly<Record<Protocol, WireProtocol>> = Object.freeze({
  tcp: 'PROTOCOL_TCP',
  udp: 'PROTOCOL_UDP',
});

export const WIRE_ON_FILTER_CHANGE: Readonly<Record<OnFilterChange, OnFilterChange__Output>> = Object.freeze({
  reevaluate: 'ON_FILTER_CHANGE_REEVALUATE',
  keep: 'ON_FILTER_CHANGE_KEEP',
});

export const WIRE_PROXY_PROTOCOL: Readonly<Record<ProxyProtocol, ProxyProtocol__Output>> = Object.freeze({
  none: 'PROXY_PROTOCOL_NONE',
  v1: 'PROXY_PROTOCOL_V1',
  v2: 'PROXY_PROTOCOL_V2',
});

export const WIRE_DRAIN_MODE: Readonly<Record<DrainMode, DrainMode__Output>> = Object.freeze({
  keep: 'DRAIN_MODE_KEEP',
  terminate: 'DRAIN_MODE_TERMINATE',
  drain: 'DRAIN_MODE_DRAIN',
});

function toWireRule(rule: ForwardRule): WireForwardRule {
  return {
    name: rule.name,
    protocol: WIRE_PROTOCOLS[rule.protocol],
    listen_address: rule.listenAddress,
    interface: rule.interface,
    // `last` is always explicit so readers never need the 0-means-first rule.
    ports: { first: rule.ports.first, last: rule.ports.last },
    exclude: rule.exclude.map((r) => ({ first: r.first, last: r.last })),
    target_address: rule.targetAddress,
    target_port: rule.targetPort,
    weak: rule.weak,
    allow: [...rule.allow],
    deny: [...rule.deny],
    on_filter_change: WIRE_ON_FILTER_CHANGE[rule.onFilterChange],
    proxy_protocol: WIRE_PROXY_PROTOCOL[rule.proxyProtocol],
    limits: {
      max_sessions: rule.limits.maxSessions,
      session_rate: rule.limits.sessionRate,
      session_burst: rule.limits.sessionBurst,
      source_rate: rule.limits.sourceRate,
      source_burst: rule.limits.sourceBurst,
      max_udp_flows: rule.limits.maxUdpFlows,
    },
    udp_idle_timeout_ms: rule.udpIdleTimeoutMs,
    connect_timeout_ms: rule.connectTimeoutMs,
    drain: { mode: WIRE_DRAIN_MODE[rule.drain.mode], timeout_ms: rule.drain.timeoutMs },
    snat_address: rule.snatAddress,
  };
}

export function toWireTables(tables: Table[]): WireTable[] {
  return tables.map((t) => ({ name: t.name, rules: t.rules.map(toWireRule) }));
}
