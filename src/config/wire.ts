/**
 * The wire form of the configuration API as @grpc/proto-loader delivers it
 * with `{keepCase: true, longs: String, enums: String, defaults: true,
 * oneofs: true}`: snake_case field names, enums as their value names, uint64
 * as decimal strings and every scalar present with its proto default.
 * parse.ts turns this form (and the file form, a superset) into the model.
 */
import type { DrainMode, ForwardRule, OnFilterChange, Protocol, ProxyProtocol, Table } from './model.js';

export type WireProtocol = 'PROTOCOL_UNSPECIFIED' | 'PROTOCOL_TCP' | 'PROTOCOL_UDP';

/** A `last` of 0 means the single port `first`. */
export interface WirePortRange {
  first: number;
  last: number;
}

export interface WireRuleLimits {
  max_sessions: number;
  session_rate: number;
  session_burst: number;
  source_rate: number;
  source_burst: number;
  max_udp_flows: number;
}

export interface WireDrainPolicy {
  mode: string;
  timeout_ms: number;
}

export interface WireForwardRule {
  name: string;
  protocol: WireProtocol;
  listen_address: string;
  interface: string;
  /** proto-loader delivers an unset message field as null. */
  ports?: WirePortRange | null;
  exclude: WirePortRange[];
  target_address: string;
  target_port: number;
  weak: boolean;
  allow: string[];
  deny: string[];
  on_filter_change: string;
  proxy_protocol: string;
  limits?: WireRuleLimits | null;
  udp_idle_timeout_ms: number;
  connect_timeout_ms: number;
  drain?: WireDrainPolicy | null;
  /** '' when not set. */
  snat_address: string;
}

export interface WireTable {
  name: string;
  rules: WireForwardRule[];
}

export const WIRE_PROTOCOLS: Readonly<Record<Protocol, WireProtocol>> = Object.freeze({
  tcp: 'PROTOCOL_TCP',
  udp: 'PROTOCOL_UDP',
});

export const WIRE_ON_FILTER_CHANGE: Readonly<Record<OnFilterChange, string>> = Object.freeze({
  reevaluate: 'ON_FILTER_CHANGE_REEVALUATE',
  keep: 'ON_FILTER_CHANGE_KEEP',
});

export const WIRE_PROXY_PROTOCOL: Readonly<Record<ProxyProtocol, string>> = Object.freeze({
  none: 'PROXY_PROTOCOL_NONE',
  v1: 'PROXY_PROTOCOL_V1',
  v2: 'PROXY_PROTOCOL_V2',
});

export const WIRE_DRAIN_MODE: Readonly<Record<DrainMode, string>> = Object.freeze({
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
