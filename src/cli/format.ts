/**
 * Human-readable output of plans, results and errors for the CLI.
 */
import type { PortplaneError } from '../client/errors.js';

import type { ApplyHistoryEntry__Output } from '../generated/types/portplane/v1/ApplyHistoryEntry.js';
import type { ApplyResult__Output } from '../generated/types/portplane/v1/ApplyResult.js';
import type { PendingApply__Output } from '../generated/types/portplane/v1/PendingApply.js';
import type { Plan__Output } from '../generated/types/portplane/v1/Plan.js';
import type { WatchApplyResultsResponse__Output } from '../generated/types/portplane/v1/WatchApplyResultsResponse.js';
import type { Timestamp__Output } from '../generated/types/google/protobuf/Timestamp.js';

// The messages as the client decodes them: the generated types are the one definition.
export type WirePlan = Plan__Output;
export type WireApplyResult = ApplyResult__Output;
export type WireHistoryEntry = ApplyHistoryEntry__Output;
export type WirePending = PendingApply__Output;
export type WireApplyEvent = WatchApplyResultsResponse__Output;
type WireTimestamp = Timestamp__Output | null;

const strip = (value: string, prefix: string): string => value.replace(prefix, '').toLowerCase();
const endpoint = (addr: string, port: number): string =>
  addr === '' ? `[::]:${port} (dual-stack)` : addr.includes(':') ? `[${addr}]:${port}` : `${addr}:${port}`;
const ruleLabel = (table: string, name: string, id: string): string => `${table}/${name || id}`;

export function formatPlan(plan: WirePlan | null): string {
  if (!plan) return 'no plan';
  const lines: string[] = [];
  const s = plan.summary;
  lines.push(
    `plan against generation ${plan.base_generation}: ` +
      (!s
        ? 'no summary'
        : s.empty
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

export function formatResult(result: WireApplyResult | null): string {
  if (!result) return 'no result';
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

/** Dataplane conditions (LastApplyResult.conditions), one line each; nothing when there are none. */
export function formatConditions(conditions: { type: string; status: boolean; reason: string; message: string; occurrences: string }[]): string {
  return conditions
    .map((c) => `condition ${c.type}=${c.status ? 'True' : 'False'} (${c.reason}; ${c.occurrences} times since start): ${c.message}`)
    .join('\n');
}

/** An error with every structured detail the daemon attached. */
export function formatError(err: PortplaneError): string {
  const lines = [`error: ${err.message}`];
  for (const detail of err.details) {
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

const isoTime = (t: WireTimestamp): string => (t ? new Date(Number(t.seconds) * 1000 + Math.floor(t.nanos / 1e6)).toISOString() : '-');

export function formatPending(p: WirePending): string {
  return p.owner === 'PENDING_OWNER_TRANSACTION'
    ? `generation ${p.generation} is pending: a Transaction stream must COMMIT it`
    : `generation ${p.generation} is pending: confirm it with \`portplane confirm ${p.generation}\` before ${isoTime(p.deadline)}, ` +
        `or it rolls back to the tables of generation ${p.base_generation}`;
}

/** One line per entry, newest first, like the list it gets. */
export function formatHistory(entries: WireHistoryEntry[], capacity: number): string {
  const lines = [`${'GEN'.padStart(5)}  ${'OUTCOME'.padEnd(11)}  ${'TRIGGER'.padEnd(11)}  ${'TIME'.padEnd(24)}  ${'DIGEST'.padEnd(12)}  CALLER  COMMENT / DETAIL`];
  for (const e of entries) {
    const notes = [e.comment, e.detail].filter(Boolean).join(' | ');
    lines.push(
      `${(e.generation === '0' ? '-' : e.generation).padStart(5)}  ${strip(e.outcome, 'APPLY_HISTORY_OUTCOME_').padEnd(11)}  ` +
        `${strip(e.trigger, 'APPLY_TRIGGER_').padEnd(11)}  ${isoTime(e.time).padEnd(24)}  ${(e.config_digest.slice(0, 12) || '-').padEnd(12)}  ` +
        `${e.caller?.id ?? '-'}  ${notes}`,
    );
  }
  lines.push(`(${entries.length} entries; the daemon keeps the last ${capacity})`);
  return lines.join('\n');
}

export function formatEvent(e: WireApplyEvent): string {
  const kind = strip(e.kind, 'APPLY_EVENT_KIND_');
  const parts = [`${new Date().toISOString()} ${kind.padEnd(11)} generation ${e.generation}`];
  if (e.entry && e.kind !== 'APPLY_EVENT_KIND_CURRENT') {
    const subject = e.entry.generation !== '0' && e.entry.generation !== e.generation ? ` (generation ${e.entry.generation})` : '';
    parts.push(`${subject}${e.entry.caller ? ` by ${e.entry.caller.id}` : ''}${e.entry.comment ? `: ${e.entry.comment}` : ''}`);
    if (e.entry.detail) parts.push(` - ${e.entry.detail}`);
  }
  if (e.result) parts.push(` digest ${e.result.config_digest.slice(0, 12)}`);
  if (e.pending) parts.push(`\n  ${formatPending(e.pending)}`);
  return parts.join('');
}
