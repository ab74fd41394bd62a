/**
 * The plan: the structural difference between running and desired tables,
 * at two levels. Rule level (identity = table + name, or table + content for
 * an unnamed rule) is what operators read; port level (identity = protocol +
 * bind address + port, i.e. the listening socket) is what a backend executes,
 * so a port present on both sides keeps its socket whatever happened to the
 * rule around it.
 *
 * Plan.ports leaves out the sockets of unchanged rules: a socket whose owner
 * is an 'unchanged' rule on the desired side and that rule's counterpart on
 * the running side is kept and only counted in `summary.portsKept`. Listing
 * them would make a one-rule edit of a 10,000-port configuration cost 10,000
 * no-op entries to build and to execute. Every other socket of either side
 * is listed exactly once, 'keep' included (e.g. a port of a changed rule
 * whose route stayed the same).
 */
import type { ForwardRule, Protocol } from '../config/model.js';

export type RuleAction = 'unchanged' | 'added' | 'removed' | 'changed';

export interface RuleChange {
  table: string;
  name: string;
  /** Stable identity of the rule: see `ruleId()` in identity.ts. */
  ruleId: string;
  action: RuleAction;
  /** For 'changed': the model fields that differ (proto names, e.g. "target_address"). */
  changedFields: string[];
  /** Index in the desired table, or in the running one for 'removed'. */
  index: number;
  /** The desired rule, or the running one for 'removed'. */
  rule: ForwardRule;
}

/** Where one listening port sends new connections. */
export interface Route {
  table: string;
  ruleId: string;
  ruleName: string;
  targetAddress: string;
  /** Resolved for this port (mapping already applied). */
  targetPort: number;
  weak: boolean;
}

/** A listening socket's identity. */
export interface ListenerBinding {
  protocol: Protocol;
  /** As in the rule: '' is dual-stack any, '::' is IPv6-only any. */
  listenAddress: string;
  port: number;
}

export type PortAction = 'keep' | 'open' | 'close' | 'retarget';

export interface PortChange extends ListenerBinding {
  /** `listenerKey()` of the binding. */
  key: string;
  action: PortAction;
  /** The route after the change; absent for 'close'. */
  route?: Route;
  /** The route before the change; absent for 'open'. */
  previous?: Route;
  /**
   * For 'open': the socket can only bind once these running listeners
   * (keys; same protocol and port, overlapping address) have closed.
   */
  needsRoomFrom?: string[];
  /**
   * A socket of an unchanged rule that is not open although the running
   * record says it is (see control/divergence.ts): opened again if it can
   * be; its failure fails no rule.
   */
  retry?: boolean;
}

export interface PlanSummary {
  rulesAdded: number;
  rulesRemoved: number;
  rulesChanged: number;
  rulesUnchanged: number;
  portsOpened: number;
  portsClosed: number;
  portsRetargeted: number;
  /** Sockets kept with the same route: 'keep' entries plus the unlisted ones of unchanged rules. */
  portsKept: number;
  tablesTouched: string[];
  empty: boolean;
}

export interface Plan {
  baseGeneration: number;
  /**
   * Every rule of both sides, sorted by (table, index, action), except, in
   * a plan computed with `valid`, the rules of a table that is the running
   * table object itself (see normalizeConfig) and the rules of a changed
   * table that are the running rule objects themselves: those are only
   * counted in `summary.rulesUnchanged`.
   */
  rules: RuleChange[];
  /**
   * Port operations in execution order: opens that need no room, then
   * closes, then opens that need room, then retargets; 'keep' last. Sockets
   * of unchanged rules are not listed (see above): a socket absent from
   * this list stays as it is.
   */
  ports: PortChange[];
  summary: PlanSummary;
  /** True exactly when running and desired are structurally equal. */
  empty: boolean;
  /**
   * Tables created or deleted as a whole, sorted. Rule changes alone cannot
   * say whether an emptied table stays or an empty one appears.
   */
  tables?: { added: string[]; removed: string[] };
}
