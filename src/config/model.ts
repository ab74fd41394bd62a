/**
 * The forwarding-table model every layer shares. It mirrors the proto
 * (`proto/portplane/v1/config.proto`) in camelCase, with defaults filled in:
 * a model value is always complete, so comparisons never see "absent vs zero".
 */

export type Protocol = 'tcp' | 'udp';

/** Inclusive range; `last >= first` once parsed (a wire `last` of 0 means `first`). */
export interface PortRange {
  first: number;
  last: number;
}

export interface ForwardRule {
  /** Identity tag, unique within the table; '' for an unnamed rule. */
  name: string;
  protocol: Protocol;
  /** '' means dual-stack any. IPv6 addresses may carry a `%zone`. */
  listenAddress: string;
  /** '' when not set. */
  interface: string;
  ports: PortRange;
  exclude: PortRange[];
  targetAddress: string;
  /** 0 keeps the listening port. */
  targetPort: number;
  weak: boolean;
}

export interface Table {
  name: string;
  rules: ForwardRule[];
}

/** A whole forwarding configuration: tables sorted by name once normalised. */
export interface ForwardingConfig {
  tables: Table[];
}

/** One rejected field: `path` is e.g. `tables[web].rules[2].ports`. */
export interface Violation {
  path: string;
  message: string;
  /** Set when a limit is exceeded: its name as GetCapabilities advertises it, e.g. `max_tables`. */
  limit?: keyof typeof LIMIT_NAMES;
}

export interface Limits {
  maxTables: number;
  maxRulesPerTable: number;
  maxRules: number;
  maxPorts: number;
}

/** Wire (proto) names of the Limits fields. */
export const LIMIT_NAMES = {
  max_tables: 'maxTables',
  max_rules_per_table: 'maxRulesPerTable',
  max_rules: 'maxRules',
  max_ports: 'maxPorts',
} as const satisfies Record<string, keyof Limits>;

export const DEFAULT_LIMITS: Readonly<Limits> = Object.freeze({
  maxTables: 1024,
  maxRulesPerTable: 4096,
  maxRules: 16384,
  maxPorts: 65536,
});
