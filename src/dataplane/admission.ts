/**
 * Admission of a rule's new sessions, the same on every backend: its source
 * filter, its caps (max_sessions, max_udp_flows) and its token buckets (the
 * rule's rate and each client address's rate), with the session counts the
 * caps need. One per rule id, kept across applies and updated in place, so
 * a rule whose options change keeps its counts while new sessions see the
 * new policy. Trace explains a decision with the same code, taking nothing.
 */
import { clientAddressBytes } from '../config/cidr.js';
import { addressKey } from '../config/ip.js';
import type { ForwardRule } from '../config/model.js';
import type { Plan } from '../plan/model.js';
import { compileSourceFilter, type FilterVerdict, type SourceFilter } from './source-filter.js';
import type { DropReason } from './telemetry.js';
import { SourceBuckets, TokenBucket } from './token-bucket.js';

export type AdmissionRefusal = Extract<DropReason, 'filter' | 'cap' | 'source_rate' | 'rate'>;

export interface AdmissionExplanation {
  filter: FilterVerdict;
  /** Absent when the filter refused (limits were not consulted). */
  limit?: { verdict: 'allow' | 'cap' | 'rate'; detail: string };
  refused?: AdmissionRefusal;
}

export class RuleAdmission {
  private current: ForwardRule;
  private sourceFilter: SourceFilter;
  /** Sessions (TCP connections and UDP flows) open now, whatever counter id they count under. */
  active = 0;
  udpFlows = 0;
  private ruleBucket: TokenBucket;
  private sourceBuckets: SourceBuckets;

  /** `now`: the clock admit() will be called with (a new bucket is full from then on). */
  constructor(rule: ForwardRule, now = performance.now()) {
    this.current = rule;
    this.sourceFilter = compileSourceFilter(rule.allow, rule.deny);
    this.ruleBucket = new TokenBucket(rule.limits.sessionRate, rule.limits.sessionBurst, now);
    this.sourceBuckets = new SourceBuckets(rule.limits.sourceRate, rule.limits.sourceBurst);
  }

  get rule(): ForwardRule {
    return this.current;
  }

  get filter(): SourceFilter {
    return this.sourceFilter;
  }

  /** Takes a new version of the rule; buckets restart only when their limits change. */
  update(rule: ForwardRule, now = performance.now()): void {
    const before = this.current.limits;
    const after = rule.limits;
    if (before.sessionRate !== after.sessionRate || before.sessionBurst !== after.sessionBurst) {
      this.ruleBucket = new TokenBucket(after.sessionRate, after.sessionBurst, now);
    }
    if (before.sourceRate !== after.sourceRate || before.sourceBurst !== after.sourceBurst) {
      this.sourceBuckets = new SourceBuckets(after.sourceRate, after.sourceBurst);
    }
    if (rule.allow !== this.current.allow || rule.deny !== this.current.deny) this.sourceFilter = compileSourceFilter(rule.allow, rule.deny);
    this.current = rule;
  }

  opened(udp: boolean): void {
    this.active++;
    if (udp) this.udpFlows++;
  }

  closed(udp: boolean): void {
    this.active--;
    if (udp) this.udpFlows--;
  }

  /**
   * Whether a new session from the client address `bytes` (4 or 16) may
   * open, or why not; an admitted session takes a token from its source's
   * bucket and from the rule's. A refused one takes none, so one flooding
   * client exhausts only its own tokens, not everyone's.
   */
  admit(bytes: Uint8Array, udp: boolean, now = performance.now()): AdmissionRefusal | undefined {
    if (!this.sourceFilter.admitsBytes(bytes)) return 'filter';
    const source = addressKey(bytes);
    const refused = this.limitRefusal(source, udp, now);
    if (refused) return refused;
    this.sourceBuckets.take(source, now);
    this.ruleBucket.take(now);
    return undefined;
  }

  /** admit() for a client address as its socket reports it (text). */
  admitAddress(address: string, udp: boolean, now = performance.now()): AdmissionRefusal | undefined {
    const bytes = clientAddressBytes(address);
    if (bytes) return this.admit(bytes, udp, now);
    return this.sourceFilter.open ? undefined : 'filter';
  }

  /** What admit() would decide, with details; changes nothing. */
  explain(bytes: Uint8Array, udp: boolean, now = performance.now()): AdmissionExplanation {
    const filter = this.sourceFilter.explain(bytes);
    if (!filter.allowed) return { filter, refused: 'filter' };
    const { limits } = this.current;
    const refused = this.limitRefusal(addressKey(bytes), udp, now);
    const detail =
      refused === 'cap'
        ? udp && this.udpFlows >= limits.maxUdpFlows
          ? `${this.udpFlows} UDP flows open, max_udp_flows ${limits.maxUdpFlows}`
          : `${this.active} sessions open, max_sessions ${limits.maxSessions}`
        : refused === 'source_rate'
          ? `this source's rate ${limits.sourceRate}/s (burst ${limits.sourceBurst}) is used up`
          : refused === 'rate'
            ? `the rule's rate ${limits.sessionRate}/s (burst ${limits.sessionBurst}) is used up`
            : `${this.active} of ${limits.maxSessions} sessions open; tokens left`;
    const verdict = refused === undefined ? 'allow' : refused === 'cap' ? 'cap' : 'rate';
    return refused === undefined ? { filter, limit: { verdict, detail } } : { filter, limit: { verdict, detail }, refused };
  }

  private limitRefusal(source: number | string, udp: boolean, now: number): AdmissionRefusal | undefined {
    const { limits } = this.current;
    if (this.active >= limits.maxSessions || (udp && this.udpFlows >= limits.maxUdpFlows)) return 'cap';
    if (!this.sourceBuckets.peek(source, now)) return 'source_rate';
    if (!this.ruleBucket.peek(now)) return 'rate';
    return undefined;
  }
}

/**
 * Ids of the rules whose filter `plan` changes and whose open sessions the
 * new filter must judge again (on_filter_change REEVALUATE); a refused one
 * closes with reason "filter" and counts as a filter drop.
 */
export function filterReevaluations(plan: Plan): Set<string> {
  const ids = new Set<string>();
  for (const change of plan.rules) {
    if (change.action !== 'changed' || change.rule.onFilterChange !== 'reevaluate') continue;
    if (change.changedFields.includes('allow') || change.changedFields.includes('deny')) ids.add(change.ruleId);
  }
  return ids;
}
