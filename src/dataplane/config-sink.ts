/**
 * ConfigSink: the one way configuration reaches a backend. The control layer
 * validates and plans; the sink executes the plan's port operations and
 * either commits all of them or restores exactly what ran before.
 */
import type { DrainPolicy, ForwardingConfig } from '../config/model.js';
import type { SessionEffects } from './apply-result.js';
import type { SettleOutcome } from './session-endings.js';
import type { ListenerBinding, Plan } from '../plan/model.js';

export interface SinkApplyRequest {
  /** The generation this apply commits as, if it succeeds. */
  generation: number;
  /** The whole desired configuration, normalised. */
  config: ForwardingConfig;
  /** `computePlan(running, config)`; the sink executes `plan.ports`. */
  plan: Plan;
  /**
   * The apply's drain policy for sessions of removed or retargeted rules,
   * overriding each rule's own `drain`; absent: each rule's own (the desired
   * rule's for a rule that stays, the running rule's for a removed one).
   * The one drain input of a backend: the wire's `terminate_removed` arrives
   * here as `{mode: 'terminate'}`. A backend without drain_policy reads only
   * its mode, for closed ports (see its capabilities).
   */
  drain?: DrainPolicy;
  /** Counter id of every rule of `config`, by rule id (see ApplyResult.RuleStatus.counterId). */
  counterIds: Record<string, number>;
  /**
   * Every port binds what it can and the apply commits whatever failed
   * (restore, rollback, the undo of an unsaved apply): nothing is left to
   * roll back to. The failures are still reported.
   */
  bestEffort?: boolean;
}

/** One port that failed to bind. */
export interface PortBindFailure extends ListenerBinding {
  table: string;
  ruleId: string;
  /** errno name, e.g. EADDRINUSE. */
  errno: string;
  message: string;
}

/**
 * What runs after an apply:
 * - committed: the request's configuration (weak rules' failed ports aside,
 *   listed in `failures`);
 * - restored: a bind failure made a rule fail (see bind-verdict.ts) and
 *   every listener the sink had before the call is back, as it was;
 * - diverged: as restored, except the ports in `diverged`, which the sink
 *   closed to make room and could not re-open (someone took the address
 *   meanwhile): what runs is no longer what the running record says.
 */
export type SinkOutcomeKind = 'committed' | 'restored' | 'diverged';

export interface SinkApplyOutcome {
  outcome: SinkOutcomeKind;
  /** Every port that failed to bind, weak rules' included. */
  failures: PortBindFailure[];
  /**
   * Sessions this call ended already (UDP flows of a closed port, which
   * reply through its socket), held until settle(), or restored (their
   * route is in effect again, so a held ending or drain deadline was dropped).
   */
  sessionEffects: SessionEffects;
  /** Ports of the configuration in force before the call that no longer listen (set exactly when `outcome` is 'diverged'). */
  diverged: PortBindFailure[];
}

export interface ConfigSink {
  /**
   * Calls are serialised by the caller; never invoked concurrently. A
   * successful apply ends no established session: its TERMINATE, DRAIN
   * and filter endings wait for settle(), since the apply may be undone.
   */
  applyConfig(request: SinkApplyRequest): Promise<SinkApplyOutcome>;
  /**
   * The caller settles every successful applyConfig exactly once:
   * 'committed' once it is saved and (if pending) confirmed, when its
   * endings take effect; 'undone' once it was rolled back, when they are
   * dropped and the sessions continue.
   */
  settle(generation: number, outcome: SettleOutcome): SessionEffects;
}
