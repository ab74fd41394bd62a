/**
 * The forwarding-table model every layer shares. It mirrors the proto
 * (`proto/portplane/v1/config.proto`) in camelCase, with defaults filled in:
 * a model value is always complete, so comparisons never see "absent vs zero".
 */

export type Protocol = 'tcp' | 'udp';

/** What an apply that changes a rule's allow/deny lists does to its established sessions. */
export type OnFilterChange = 'reevaluate' | 'keep';

/** PROXY protocol header sent to the target before any client byte. */
export type ProxyProtocol = 'none' | 'v1' | 'v2';

/** What happens to sessions of a removed or retargeted rule. */
export type DrainMode = 'keep' | 'terminate' | 'drain';

export interface DrainPolicy {
  mode: DrainMode;
  /** For 'drain': sessions still open after this long are closed. */
  timeoutMs: number;
}

/**
 * Flood protection of one rule. Rates are new sessions per second (token
 * buckets of `*Burst` tokens); a session is a TCP connection or a UDP flow.
 */
export interface RuleLimits {
  maxSessions: number;
  sessionRate: number;
  sessionBurst: number;
  /** Per client address (port ignored). */
  sourceRate: number;
  sourceBurst: number;
  /** UDP rules: concurrent flows. */
  maxUdpFlows: number;
}

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
  /** Client CIDRs admitted ([] admits every source); canonical `address/prefix`. */
  allow: string[];
  /** Client CIDRs refused; deny wins over allow. */
  deny: string[];
  onFilterChange: OnFilterChange;
  proxyProtocol: ProxyProtocol;
  limits: RuleLimits;
  udpIdleTimeoutMs: number;
  connectTimeoutMs: number;
  drain: DrainPolicy;
  /**
   * '' when not set. Source address a packet backend rewrites the client's
   * address to (masquerade), for targets that would not route replies back.
   */
  snatAddress: string;
}

/**
 * Defaults of the per-rule options; a wire 0 (or an absent field) means the
 * default, so parsed rules always carry the effective value.
 */
export const DEFAULT_RULE_LIMITS: Readonly<RuleLimits> = Object.freeze({
  maxSessions: 16384,
  sessionRate: 10000,
  sessionBurst: 20000,
  sourceRate: 2000,
  sourceBurst: 4000,
  maxUdpFlows: 4096,
});
export const DEFAULT_UDP_IDLE_TIMEOUT_MS = 60_000;
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
export const DEFAULT_DRAIN_TIMEOUT_MS = 30_000;

/** The per-rule options a rule has when none is given. */
export type RuleOptions = Pick<
  ForwardRule,
  | 'allow'
  | 'deny'
  | 'onFilterChange'
  | 'proxyProtocol'
  | 'limits'
  | 'udpIdleTimeoutMs'
  | 'connectTimeoutMs'
  | 'drain'
  | 'snatAddress'
>;

export function defaultRuleOptions(): RuleOptions {
  return {
    allow: [],
    deny: [],
    onFilterChange: 'reevaluate',
    proxyProtocol: 'none',
    limits: { ...DEFAULT_RULE_LIMITS },
    udpIdleTimeoutMs: DEFAULT_UDP_IDLE_TIMEOUT_MS,
    connectTimeoutMs: DEFAULT_CONNECT_TIMEOUT_MS,
    drain: { mode: 'keep', timeoutMs: 0 },
    snatAddress: '',
  };
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
