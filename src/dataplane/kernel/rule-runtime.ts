/**
 * The live side of one rule in the kernel backend: its admission (filter,
 * limits, session counts; the neutral RuleAdmission) plus its counters under
 * the current counter id. One object per rule id, kept across applies and
 * updated in place, so a rule whose options change keeps its sockets and
 * sessions while new sessions see the new policy.
 */
import type { ForwardRule } from '../../config/model.js';
import { RuleAdmission } from '../admission.js';
import { FloodTracker } from '../flood-tracker.js';
import type { RuleCounters } from '../telemetry.js';
import { emptyTrafficCounters } from '../telemetry.js';

export class RuleRuntime extends RuleAdmission {
  /** Counters under the rule's current counter id; sessions keep the object they opened under. */
  counters: RuleCounters;
  /** Refusals by source prefix, under the current counter id like `counters`. */
  floods = new FloodTracker();
  /** Its admission in the native engine, which admits TCP connections there (splice-engine.ts). */
  engineRule: number | undefined;

  constructor(
    readonly table: string,
    readonly ruleId: string,
    rule: ForwardRule,
    counterId: number,
  ) {
    super(rule);
    this.counters = { table, ruleId, ruleName: rule.name, protocol: rule.protocol, counterId, ...emptyTrafficCounters() };
  }

  /** Takes a new version of the rule and its counter id. */
  updateRule(rule: ForwardRule, counterId: number): void {
    this.update(rule);
    if (counterId !== this.counters.counterId) {
      this.counters = { table: this.table, ruleId: this.ruleId, ruleName: rule.name, protocol: rule.protocol, counterId, ...emptyTrafficCounters() };
      this.floods = new FloodTracker();
    }
  }
}
