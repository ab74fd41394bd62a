/**
 * A rule's admission policy: its source filter and its session limits.
 * Backends get policies from a PolicySource, so filter and limit semantics
 * live here once. The rule model has no filter or limit fields yet (issue
 * #3 adds allow/deny and limits); `rulePolicySpec` is the one place that
 * will read them, and until then every rule is open and unlimited.
 */
import type { ForwardRule } from '../../config/model.js';
import { NO_LIMITS, type SessionLimits } from './admission.js';

export interface RulePolicySpec {
  allow: string[];
  deny: string[];
  limits: SessionLimits;
}

/** Policy of a rule of a table; backends call it once per rule per apply. */
export type PolicySource = (table: string, rule: ForwardRule) => RulePolicySpec;

export const OPEN_POLICY: Readonly<RulePolicySpec> = Object.freeze({ allow: [], deny: [], limits: NO_LIMITS });

export const rulePolicySpec: PolicySource = () => OPEN_POLICY;
