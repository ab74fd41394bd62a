/**
 * Which rules an apply's bind failures make fail. Shared by every backend so
 * that "weak" means the same thing everywhere: a non-weak rule fails on any
 * failed port; a weak rule fails only when none of its ports is bound.
 */
import { listenerKey } from '../plan/listeners.js';
import type { Plan } from '../plan/model.js';
import type { PortBindFailure } from './config-sink.js';

export interface RuleBindTally {
  ruleId: string;
  weak: boolean;
  /** Ports the rule has after the apply (kept, retargeted and opened). */
  total: number;
  failed: number;
}

/** Ports a plan only retries (`PortChange.retry`) count for no rule. */
export function tallyBinds(plan: Plan, failures: readonly PortBindFailure[]): Map<string, RuleBindTally> {
  const tallies = new Map<string, RuleBindTally>();
  const retried = new Set<string>();
  for (const change of plan.ports) {
    if (change.retry) retried.add(change.key);
    if (change.action === 'close' || !change.route || change.retry) continue;
    const { ruleId, weak } = change.route;
    let tally = tallies.get(ruleId);
    if (!tally) {
      tally = { ruleId, weak, total: 0, failed: 0 };
      tallies.set(ruleId, tally);
    }
    tally.total++;
  }
  for (const failure of failures) {
    if (retried.size > 0 && retried.has(listenerKey(failure))) continue;
    const tally = tallies.get(failure.ruleId);
    if (tally) tally.failed++;
  }
  return tallies;
}

/** Rule ids whose failures must roll the whole apply back. */
export function failedRuleIds(plan: Plan, failures: readonly PortBindFailure[]): string[] {
  const failed: string[] = [];
  for (const tally of tallyBinds(plan, failures).values()) {
    if (tally.failed === 0) continue;
    if (!tally.weak || tally.failed >= tally.total) failed.push(tally.ruleId);
  }
  return failed.sort();
}
