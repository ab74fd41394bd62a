/**
 * The wire form of the configuration API as @grpc/proto-loader delivers it
 * with `{keepCase: true, longs: String, enums: String, defaults: true,
 * oneofs: true}`: snake_case field names, enums as their value names, uint64
 * as decimal strings and every scalar present with its proto default.
 * parse.ts turns this form (and the file form, a superset) into the model.
 */
import type { ForwardRule, Protocol, Table } from './model.js';

export type WireProtocol = 'PROTOCOL_UNSPECIFIED' | 'PROTOCOL_TCP' | 'PROTOCOL_UDP';

/** A `last` of 0 means the single port `first`. */
export interface WirePortRange {
  first: number;
  last: number;
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
    snat_address: rule.snatAddress,
  };
}

export function toWireTables(tables: Table[]): WireTable[] {
  return tables.map((t) => ({ name: t.name, rules: t.rules.map(toWireRule) }));
}
