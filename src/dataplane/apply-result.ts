/**
 * ApplyResult: everything a caller needs after an apply, so nobody has to
 * reach back into a backend. Recorded only on success and deep-copied on the
 * way in and out, so a holder can never alter the recorded one.
 */
import type { Capabilities } from './capabilities.js';
import type { PlanSummary } from '../plan/model.js';
import type { Protocol } from '../config/model.js';

/** pending: applied and running, but rolled back unless confirmed. */
export type ApplyOutcome = 'applied' | 'unchanged' | 'validated' | 'rolled_back' | 'pending';
export type RuleState = 'active' | 'degraded' | 'failed';

export interface PortFailureStatus {
  protocol: Protocol;
  listenAddress: string;
  port: number;
  errno: string;
  message: string;
}

export interface RuleStatus {
  table: string;
  name: string;
  ruleId: string;
  /** Changes when the rule's content changes; counters restart with it. */
  counterId: number;
  state: RuleState;
  portsBound: number;
  portsFailed: PortFailureStatus[];
}

/**
 * What an apply did to established sessions of the ports and rules it
 * closed, retargeted or re-filtered. Sessions end only once the apply that
 * ends them is committed (see session-endings.ts).
 */
export interface SessionEffects {
  /** Ended: TERMINATE, refused by a changed filter, a past drain deadline, UDP flows of a closed port. */
  ended: number;
  /** Given their DRAIN deadline, which counts from the apply. */
  draining: number;
  /** A pending apply: sessions it ends or drains once confirmed; until then they continue. */
  held: number;
  /** Sessions an apply that was undone (or an earlier drain) would have ended, which continue under the rules now in effect. */
  restored: number;
}

export interface ApplyResult {
  generation: number;
  configDigest: string;
  /** Milliseconds since the epoch. */
  appliedAt: number;
  durationMicros: number;
  backend: string;
  capabilities: Capabilities;
  /**
   * The rules the apply added or changed; every running rule in the result
   * LastApplyResult and a rollback give (see `rulesUntouched`).
   */
  rules: RuleStatus[];
  /** Running rules not in `rules`: the apply left them as they were. */
  rulesUntouched: number;
  planSummary: PlanSummary;
  outcome: ApplyOutcome;
  /** Absent when the apply touched no session (validate-only, unchanged, results saved before it existed). */
  sessionEffects?: SessionEffects;
  /**
   * When the result was given: ports the running generation says listen
   * and that do not (see control/divergence.ts). Absent or empty: the
   * dataplane runs what the record says.
   */
  diverged?: DivergedPort[];
}

/** A port of the running generation that does not listen, and why. */
export interface DivergedPort {
  table: string;
  ruleId: string;
  protocol: Protocol;
  listenAddress: string;
  port: number;
  errno: string;
  message: string;
  /** Milliseconds since the epoch when it stopped matching the record. */
  since: number;
}

/** A deep copy; written out field by field because structuredClone of a 1,000-rule result cost more than the apply it describes. */
export function copyApplyResult(result: ApplyResult): ApplyResult {
  return {
    ...result,
    capabilities: {
      backend: result.capabilities.backend,
      supported: [...result.capabilities.supported],
      unsupported: result.capabilities.unsupported.map((u) => ({ ...u })),
    },
    rules: result.rules.map((r) => ({ ...r, portsFailed: r.portsFailed.map((f) => ({ ...f })) })),
    planSummary: { ...result.planSummary, tablesTouched: [...result.planSummary.tablesTouched] },
    ...(result.sessionEffects && { sessionEffects: { ...result.sessionEffects } }),
    ...(result.diverged && { diverged: result.diverged.map((p) => ({ ...p })) }),
  };
}
