/**
 * Checks of a rule's per-rule options: source filters, PROXY protocol,
 * limits, timeouts and drain policy. Called by validate.ts for each request
 * rule; `known(field)` is false for a field parsing already reported.
 */
import { parseCidr } from './cidr.js';
import { DEFAULT_RULE_LIMITS, type DrainPolicy, type ForwardRule, type RuleLimits } from './model.js';

/** Upper bounds: beyond these a value is a typo, not a setting. */
export const OPTION_BOUNDS = Object.freeze({
  maxSessions: 1_000_000,
  rate: 1_000_000,
  timeoutMs: 86_400_000,
  connectTimeoutMs: 600_000,
  filterEntries: 1024,
});

const LIMIT_WIRE_NAMES: Record<keyof RuleLimits, string> = {
  maxSessions: 'max_sessions',
  sessionRate: 'session_rate',
  sessionBurst: 'session_burst',
  sourceRate: 'source_rate',
  sourceBurst: 'source_burst',
  maxUdpFlows: 'max_udp_flows',
};

export interface OptionChecks {
  fail(path: string, message: string): void;
  /** Reports `what` on `path` unless the backend supports `feature`. */
  requireFeature(feature: 'source_filters' | 'proxy_protocol' | 'session_limits' | 'drain_policy', path: string, what: string): void;
}

function checkFilterList(checks: OptionChecks, list: string[], path: string): void {
  if (list.length > OPTION_BOUNDS.filterEntries) {
    checks.fail(path, `${list.length} entries exceed the limit of ${OPTION_BOUNDS.filterEntries}`);
  }
  list.forEach((text, i) => {
    const parsed = parseCidr(text);
    if (!parsed.ok) checks.fail(`${path}[${i}]`, parsed.message);
  });
  if (list.length > 0) checks.requireFeature('source_filters', path, 'a source filter');
}

/** Drain policy of a rule (`path` = `...rules[i].drain`) or of a request (`drain`). */
export function checkDrainPolicy(checks: OptionChecks, drain: DrainPolicy, path: string): void {
  if (drain.mode !== 'drain' && drain.timeoutMs !== 0) {
    checks.fail(`${path}.timeout_ms`, `timeout_ms applies only to DRAIN_MODE_DRAIN, not DRAIN_MODE_${drain.mode.toUpperCase()}`);
  }
  if (drain.timeoutMs > OPTION_BOUNDS.timeoutMs) {
    checks.fail(`${path}.timeout_ms`, `${drain.timeoutMs} ms exceeds ${OPTION_BOUNDS.timeoutMs} ms (one day)`);
  }
  if (drain.mode !== 'keep') checks.requireFeature('drain_policy', `${path}.mode`, `drain mode ${drain.mode}`);
}

export function checkRuleOptions(
  checks: OptionChecks,
  rule: ForwardRule,
  path: string,
  known: (field: string) => boolean,
): void {
  if (known('allow')) checkFilterList(checks, rule.allow, `${path}.allow`);
  if (known('deny')) checkFilterList(checks, rule.deny, `${path}.deny`);
  if (known('proxy_protocol') && rule.proxyProtocol !== 'none') {
    if (known('protocol') && rule.protocol === 'udp') {
      checks.fail(`${path}.proxy_protocol`, 'a PROXY protocol header is sent on TCP connections only; this rule is udp');
    } else {
      checks.requireFeature('proxy_protocol', `${path}.proxy_protocol`, `PROXY protocol ${rule.proxyProtocol}`);
    }
  }
  if (known('limits')) {
    const { limits } = rule;
    for (const key of Object.keys(LIMIT_WIRE_NAMES) as (keyof RuleLimits)[]) {
      const bound = key === 'maxSessions' || key === 'maxUdpFlows' ? OPTION_BOUNDS.maxSessions : OPTION_BOUNDS.rate;
      if (limits[key] > bound) checks.fail(`${path}.limits.${LIMIT_WIRE_NAMES[key]}`, `${limits[key]} exceeds ${bound}`);
    }
    if ((Object.keys(LIMIT_WIRE_NAMES) as (keyof RuleLimits)[]).some((k) => limits[k] !== DEFAULT_RULE_LIMITS[k])) {
      checks.requireFeature('session_limits', `${path}.limits`, 'per-rule limits');
    }
  }
  if (known('udp_idle_timeout_ms') && rule.udpIdleTimeoutMs > OPTION_BOUNDS.timeoutMs) {
    checks.fail(`${path}.udp_idle_timeout_ms`, `${rule.udpIdleTimeoutMs} ms exceeds ${OPTION_BOUNDS.timeoutMs} ms (one day)`);
  }
  if (known('connect_timeout_ms') && rule.connectTimeoutMs > OPTION_BOUNDS.connectTimeoutMs) {
    checks.fail(`${path}.connect_timeout_ms`, `${rule.connectTimeoutMs} ms exceeds ${OPTION_BOUNDS.connectTimeoutMs} ms`);
  }
  if (known('drain')) checkDrainPolicy(checks, rule.drain, `${path}.drain`);
}

/** Violations of a request-level drain policy and its agreement with `terminate_removed`. */
export function checkRequestDrain(drain: DrainPolicy | undefined, terminateRemoved: boolean, checks: OptionChecks): void {
  if (!drain) return;
  checkDrainPolicy(checks, drain, 'drain');
  if (terminateRemoved && drain.mode !== 'terminate') {
    checks.fail('terminate_removed', `terminate_removed contradicts drain mode ${drain.mode}: set one or the other`);
  }
}
