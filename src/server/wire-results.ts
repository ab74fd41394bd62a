/**
 * Model -> wire (proto-loader object form, snake_case) for results, plans
 * and capabilities. The reverse direction for tables lives in src/config.
 */
import type { ControlLimits } from '../auth/control-limits.js';
import type { Limits, Protocol } from '../config/model.js';
import type { ApplyOutcome, ApplyResult, DivergedPort, PortFailureStatus, RuleState } from '../dataplane/apply-result.js';
import type { Capabilities } from '../dataplane/capabilities.js';
import type { DataplaneCondition } from '../dataplane/conditions.js';
import type { Plan, PlanSummary, PortAction, RuleAction } from '../plan/model.js';

const PROTOCOL: Record<Protocol, string> = { tcp: 'PROTOCOL_TCP', udp: 'PROTOCOL_UDP' };
const RULE_ACTION: Record<RuleAction, string> = {
  unchanged: 'RULE_ACTION_UNCHANGED',
  added: 'RULE_ACTION_ADDED',
  removed: 'RULE_ACTION_REMOVED',
  changed: 'RULE_ACTION_CHANGED',
};
const PORT_ACTION: Record<PortAction, string> = {
  keep: 'PORT_ACTION_KEEP',
  open: 'PORT_ACTION_OPEN',
  close: 'PORT_ACTION_CLOSE',
  retarget: 'PORT_ACTION_RETARGET',
};
const RULE_STATE: Record<RuleState, string> = {
  active: 'RULE_STATE_ACTIVE',
  degraded: 'RULE_STATE_DEGRADED',
  failed: 'RULE_STATE_FAILED',
};
const OUTCOME: Record<ApplyOutcome, string> = {
  applied: 'APPLY_OUTCOME_APPLIED',
  unchanged: 'APPLY_OUTCOME_UNCHANGED',
  validated: 'APPLY_OUTCOME_VALIDATED',
  rolled_back: 'APPLY_OUTCOME_ROLLED_BACK',
  pending: 'APPLY_OUTCOME_PENDING',
};

export function wireTimestamp(ms: number): { seconds: string; nanos: number } {
  return { seconds: String(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1_000_000 };
}

export function wireConditions(conditions: DataplaneCondition[]): object[] {
  return conditions.map((c) => ({
    type: c.type,
    status: c.status,
    reason: c.reason,
    message: c.message,
    last_transition: c.lastTransitionAt > 0 ? wireTimestamp(c.lastTransitionAt) : null,
    occurrences: String(c.occurrences),
  }));
}

export function wireCapabilities(caps: Capabilities): object {
  return {
    backend: caps.backend,
    supported: [...caps.supported],
    unsupported: caps.unsupported.map((u) => ({ feature: u.feature, reason: u.reason })),
  };
}

/** Forwarding limits, plus the control plane's per-caller limits where the caller has them. */
export function wireLimits(limits: Limits, control?: ControlLimits): object {
  return {
    max_tables: limits.maxTables,
    max_rules_per_table: limits.maxRulesPerTable,
    max_rules: limits.maxRules,
    max_ports: limits.maxPorts,
    ...(control && {
      max_message_bytes: control.maxMessageBytes,
      max_streams_per_caller: control.maxStreamsPerCaller,
      apply_rate_per_second: control.applyRatePerSecond,
      apply_burst: control.applyBurst,
    }),
  };
}

export function wirePlanSummary(s: PlanSummary): object {
  return {
    rules_added: s.rulesAdded,
    rules_removed: s.rulesRemoved,
    rules_changed: s.rulesChanged,
    rules_unchanged: s.rulesUnchanged,
    ports_opened: s.portsOpened,
    ports_closed: s.portsClosed,
    ports_retargeted: s.portsRetargeted,
    ports_kept: s.portsKept,
    tables_touched: [...s.tablesTouched],
    empty: s.empty,
  };
}

/**
 * Unchanged rules and KEEP ports are summarised only: a one-rule change of a
 * 10,000-port table must not echo back 10,000 no-ops.
 */
export function wirePlan(plan: Plan): object {
  return {
    rules: plan.rules
      .filter((r) => r.action !== 'unchanged')
      .map((r) => ({
      table: r.table,
      name: r.name,
      rule_id: r.ruleId,
      action: RULE_ACTION[r.action],
      changed_fields: [...r.changedFields],
      index: r.index,
    })),
    ports: plan.ports
      .filter((p) => p.action !== 'keep')
      .map((p) => ({
        protocol: PROTOCOL[p.protocol],
        listen_address: p.listenAddress,
        port: p.port,
        action: PORT_ACTION[p.action],
        table: (p.route ?? p.previous)?.table ?? '',
        rule_id: (p.route ?? p.previous)?.ruleId ?? '',
        target_address: p.route?.targetAddress ?? '',
        target_port: p.route?.targetPort ?? 0,
        previous_target_address: p.previous?.targetAddress ?? '',
        previous_target_port: p.previous?.targetPort ?? 0,
      })),
    summary: wirePlanSummary(plan.summary),
    base_generation: String(plan.baseGeneration),
  };
}

export function wirePortFailure(f: PortFailureStatus): object {
  return {
    protocol: PROTOCOL[f.protocol],
    listen_address: f.listenAddress,
    port: f.port,
    errno: f.errno,
    message: f.message,
  };
}

/**
 * Every port an apply opened, closed or retargeted, with its bind outcome
 * (a weak rule's port may have failed); KEEP ports are only counted.
 */
export function wirePortOutcomes(plan: Plan, result: ApplyResult): object[] {
  const failed = new Map<string, PortFailureStatus>();
  for (const rule of result.rules) {
    for (const f of rule.portsFailed) failed.set(`${f.protocol} ${f.listenAddress} ${f.port}`, f);
  }
  return plan.ports
    .filter((p) => p.action !== 'keep')
    .map((p) => {
      const failure = failed.get(`${p.protocol} ${p.listenAddress} ${p.port}`);
      const owner = p.route ?? p.previous;
      return {
        protocol: PROTOCOL[p.protocol],
        listen_address: p.listenAddress,
        port: p.port,
        action: PORT_ACTION[p.action],
        table: owner?.table ?? '',
        rule_id: owner?.ruleId ?? '',
        ok: failure === undefined,
        errno: failure?.errno ?? '',
        message: failure?.message ?? '',
      };
    });
}

export function wireApplyResult(r: ApplyResult): object {
  return {
    generation: String(r.generation),
    config_digest: r.configDigest,
    applied_at: wireTimestamp(r.appliedAt),
    duration_micros: String(r.durationMicros),
    backend: r.backend,
    capabilities: wireCapabilities(r.capabilities),
    rules: r.rules.map((s) => ({
      table: s.table,
      name: s.name,
      rule_id: s.ruleId,
      counter_id: String(s.counterId),
      state: RULE_STATE[s.state],
      ports_bound: s.portsBound,
      ports_failed: s.portsFailed.map(wirePortFailure),
    })),
    plan_summary: wirePlanSummary(r.planSummary),
    outcome: OUTCOME[r.outcome],
    rules_untouched: r.rulesUntouched,
    ...(r.sessionEffects && { session_effects: { ...r.sessionEffects } }),
    diverged: (r.diverged ?? []).map(wireDivergedPort),
  };
}

export function wireDivergedPort(p: DivergedPort): object {
  return {
    table: p.table,
    rule_id: p.ruleId,
    protocol: PROTOCOL[p.protocol],
    listen_address: p.listenAddress,
    port: p.port,
    errno: p.errno,
    message: p.message,
    since: wireTimestamp(p.since),
  };
}
