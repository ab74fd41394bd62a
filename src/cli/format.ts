/**
 * Human-readable output of plans, results and errors for the CLI.
 */
import type * as grpc from '@grpc/grpc-js';
import { decodeStatusDetails } from '../server/status-details.js';

interface WireRuleChange {
  table: string;
  name: string;
  rule_id: string;
  action: string;
  changed_fields: string[];
}
interface WirePortChange {
  protocol: string;
  listen_address: string;
  port: number;
  action: string;
  target_address: string;
  target_port: number;
  previous_target_address: string;
  previous_target_port: number;
}
interface WireSummary {
  rules_added: number;
  rules_removed: number;
  rules_changed: number;
  rules_unchanged: number;
  ports_opened: number;
  ports_closed: number;
  ports_retargeted: number;
  ports_kept: number;
  empty: boolean;
}
export interface WirePlan {
  rules: WireRuleChange[];
  ports: WirePortChange[];
  summary: WireSummary;
  base_generation: string;
}
interface WireRuleStatus {
  table: string;
  name: string;
  rule_id: string;
  counter_id: string;
  state: string;
  ports_bound: number;
  ports_failed: { protocol: string; listen_address: string; port: number; errno: string }[];
}
export interface WireApplyResult {
  generation: string;
  config_digest: string;
  applied_at: { seconds: string; nanos: number } | null;
  duration_micros: string;
  backend: string;
  rules: WireRuleStatus[];
  plan_summary: WireSummary;
  outcome: string;
}

const strip = (value: string, prefix: string): string => value.replace(prefix, '').toLowerCase();
const endpoint = (addr: string, port: number): string =>
  addr === '' ? `[::]:${port} (dual-stack)` : addr.includes(':') ? `[${addr}]:${port}` : `${addr}:${port}`;
const ruleLabel = (table: string, name: string, id: string): string => `${table}/${name || id}`;

export function formatPlan(plan: WirePlan): string {
  const lines: string[] = [];
  const s = plan.summary;
  lines.push(
    `plan against generation ${plan.base_generation}: ` +
      (s.empty
        ? 'no changes'
        : `rules +${s.rules_added} -${s.rules_removed} ~${s.rules_changed} =${s.rules_unchanged}; ` +
          `ports open ${s.ports_opened}, close ${s.ports_closed}, retarget ${s.ports_retargeted}, keep ${s.ports_kept}`),
  );
  for (const r of plan.rules) {
    if (r.action === 'RULE_ACTION_UNCHANGED') continue;
    const fields = r.changed_fields.length ? ` (${r.changed_fields.join(', ')})` : '';
    lines.push(`  ${strip(r.action, 'RULE_ACTION_').padEnd(8)} ${ruleLabel(r.table, r.name, r.rule_id)}${fields}`);
  }
  const shown = plan.ports.slice(0, 50);
  for (const p of shown) {
    const proto = strip(p.protocol, 'PROTOCOL_');
    const to = p.action === 'PORT_ACTION_CLOSE' ? '' : ` -> ${endpoint(p.target_address, p.target_port)}`;
    const from =
      p.action === 'PORT_ACTION_RETARGET' ? ` (was ${endpoint(p.previous_target_address, p.previous_target_port)})` : '';
    lines.push(`  ${strip(p.action, 'PORT_ACTION_').padEnd(8)} ${proto} ${endpoint(p.listen_address, p.port)}${to}${from}`);
  }
  if (plan.ports.length > shown.length) lines.push(`  ... ${plan.ports.length - shown.length} more port changes`);
  return lines.join('\n');
}

export function formatResult(result: WireApplyResult): string {
  const at = result.applied_at ? new Date(Number(result.applied_at.seconds) * 1000).toISOString() : '-';
  const lines = [
    `generation ${result.generation} (${strip(result.outcome, 'APPLY_OUTCOME_')}) on backend ${result.backend}`,
    `digest ${result.config_digest}`,
    `applied at ${at} in ${(Number(result.duration_micros) / 1000).toFixed(1)} ms`,
  ];
  for (const r of result.rules) {
    const failed = r.ports_failed.map((f) => `${f.port}:${f.errno}`).join(' ');
    lines.push(
      `  ${strip(r.state, 'RULE_STATE_').padEnd(8)} ${ruleLabel(r.table, r.name, r.rule_id)} ` +
        `ports ${r.ports_bound} bound${failed ? `, failed ${failed}` : ''} [counter ${r.counter_id}]`,
    );
  }
  return lines.join('\n');
}

/** An error with every structured detail the daemon attached. */
export function formatError(err: grpc.ServiceError): string {
  const lines = [`error: ${err.details || err.message}`];
  for (const detail of decodeStatusDetails(err.metadata)) {
    switch (detail.type) {
      case 'BadRequest':
        for (const v of detail.fieldViolations) lines.push(`  ${v.field}: ${v.description}`);
        break;
      case 'PreconditionFailure':
        for (const v of detail.violations) lines.push(`  ${v.subject} ${v.type}: ${v.description}`);
        break;
      case 'ErrorInfo':
        for (const [k, v] of Object.entries(detail.metadata)) lines.push(`  ${k}: ${v}`);
        break;
      case 'QuotaFailure':
        for (const v of detail.violations) lines.push(`  ${v.subject}: ${v.description}`);
        break;
    }
  }
  return lines.join('\n');
}
