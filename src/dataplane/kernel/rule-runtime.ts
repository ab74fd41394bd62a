/**
 * The live side of one rule in the kernel backend: its options (filter,
 * limits, PROXY protocol, timeouts, drain), its counters under the current
 * counter id, its token buckets and its session counts. One object per rule
 * id, kept across applies and updated in place, so a rule whose options
 * change keeps its sockets and sessions while new sessions see the new policy.
 */
import type { ForwardRule } from '../../config/model.js';
import { FloodTracker } from '../flood-tracker.js';
import { compileSourceFilter, type SourceFilter } from '../source-filter.js';
import type { DropReason, RuleCounters } from '../telemetry.js';
import { emptyTrafficCounters } from '../telemetry.js';
import { SourceBuckets, TokenBucket } from '../token-bucket.js';

export class RuleRuntime {
  rule: ForwardRule;
  filter: SourceFilter;
  /** Counters under the rule's current counter id; sessions keep the object they opened under. */
  counters: RuleCounters;
  /** Refusals by source prefix, under the current counter id like `counters`. */
  floods = new FloodTracker();
  /** Sessions (TCP connections and UDP flows) open now, whatever counter id they count under. */
  active = 0;
  udpFlows = 0;
  private ruleBucket: TokenBucket;
  private sourceBuckets: SourceBuckets;

  constructor(
    readonly table: string,
    readonly ruleId: string,
    rule: ForwardRule,
    counterId: number,
  ) {
    this.rule = rule;
    this.filter = compileSourceFilter(rule.allow, rule.deny);
    this.counters = { table, ruleId, ruleName: rule.name, protocol: rule.protocol, counterId, ...emptyTrafficCounters() };
    this.ruleBucket = new TokenBucket(rule.limits.sessionRate, rule.limits.sessionBurst);
    this.sourceBuckets = new SourceBuckets(rule.limits.sourceRate, rule.limits.sourceBurst);
  }

  /** Takes a new version of the rule; buckets restart only when their limits change. */
  update(rule: ForwardRule, counterId: number): void {
    const before = this.rule.limits;
    const after = rule.limits;
    if (before.sessionRate !== after.sessionRate || before.sessionBurst !== after.sessionBurst) {
      this.ruleBucket = new TokenBucket(after.sessionRate, after.sessionBurst);
    }
    if (before.sourceRate !== after.sourceRate || before.sourceBurst !== after.sourceBurst) {
      this.sourceBuckets = new SourceBuckets(after.sourceRate, after.sourceBurst);
    }
    if (rule.allow !== this.rule.allow || rule.deny !== this.rule.deny) this.filter = compileSourceFilter(rule.allow, rule.deny);
    this.rule = rule;
    if (counterId !== this.counters.counterId) {
      this.counters = { table: this.table, ruleId: this.ruleId, ruleName: rule.name, protocol: rule.protocol, counterId, ...emptyTrafficCounters() };
      this.floods = new FloodTracker();
    }
  }

  /**
   * Whether a new session from `clientAddress` may open, or why not. Order
   * matters: a source's own bucket is charged before the rule's, so one
   * flooding client exhausts only its own tokens, not everyone's.
   */
  admit(clientAddress: string, udp: boolean): DropReason | undefined {
    if (!this.filter.admits(clientAddress)) return 'filter';
    const { limits } = this.rule;
    if (this.active >= limits.maxSessions || (udp && this.udpFlows >= limits.maxUdpFlows)) return 'cap';
    const now = performance.now();
    if (!this.sourceBuckets.take(clientAddress, now)) return 'source_rate';
    if (!this.ruleBucket.take(now)) return 'rate';
    return undefined;
  }
}
