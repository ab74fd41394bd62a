/**
 * What runs now, as the controller's record has it: the running tables,
 * generation and counter ids, the status of every running rule, the last
 * apply's result, and the last confirmed configuration (what a pending
 * apply's rollback restores). The apply pipeline and the pending-apply
 * state machine change it, always inside the controller's serial queue.
 */
import type { ForwardingConfig } from '../config/model.js';
import type { ApplyResult, RuleStatus } from '../dataplane/apply-result.js';
import { ruleId } from '../plan/identity.js';
import type { Plan } from '../plan/model.js';
import { CounterMap } from './counter-map.js';
import type { CounterTable } from './rule-status.js';
import type { ConfigState } from './state-store.js';

export const EMPTY_CONFIG: ForwardingConfig = { tables: [] };

export class RunningState {
  config: ForwardingConfig = EMPTY_CONFIG;
  generation = 0;
  counters: CounterTable = { nextCounterId: 1, counters: CounterMap.EMPTY };
  /** The last apply's result as its caller got it: scoped to what it touched. */
  lastResult: ApplyResult | undefined;
  /** Status of every running rule, by rule id: what LastApplyResult lists. */
  statuses = new Map<string, RuleStatus>();
  /** The last confirmed configuration, as saved; what a rollback restores. */
  confirmed: { config: ForwardingConfig; state: ConfigState } = {
    config: EMPTY_CONFIG,
    state: { generation: 0, tables: [], nextCounterId: 1, counters: CounterMap.EMPTY },
  };

  /** `result` with `rules` holding every running rule's status, in configuration order. */
  wholeResult(result: ApplyResult): ApplyResult {
    const rules: RuleStatus[] = [];
    for (const table of this.config.tables) {
      for (const rule of table.rules) {
        const status = this.statuses.get(ruleId(table.name, rule));
        if (status) rules.push(status);
      }
    }
    return { ...result, rules, rulesUntouched: 0 };
  }

  /** Takes the statuses of the rules `plan` touched into the running set. */
  trackStatuses(plan: Plan, touched: readonly RuleStatus[]): void {
    for (const change of plan.rules) if (change.action === 'removed') this.statuses.delete(change.ruleId);
    for (const status of touched) this.statuses.set(status.ruleId, status);
  }

  /** Every running rule's status is `rules` (a restore or rollback reports them all). */
  replaceStatuses(rules: readonly RuleStatus[]): void {
    this.statuses = new Map(rules.map((r) => [r.ruleId, r]));
  }
}
