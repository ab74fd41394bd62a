/**
 * Model -> wire for history entries, pending applies, callers and apply
 * events; wire -> model for durations. Same conventions as wire-results.ts.
 */
import type { Violation } from '../config/model.js';
import type { ApplyEvent, ApplyEventKind, PendingInfo } from '../control/apply-events.js';
import type { CallerIdentity, CallerKind } from '../control/caller.js';
import type { HistoryEntry, HistoryOutcome, HistoryTrigger } from '../control/history.js';
import { cut } from '../config/quote.js';
import { MAX_CONFIRM_TIMEOUT_MS } from '../control/pending-apply.js';
import { wireApplyResult, wirePlanSummary, wireTimestamp } from './wire-results.js';
import type { Duration__Output } from '../generated/types/google/protobuf/Duration.js';

const OUTCOME: Record<HistoryOutcome, string> = {
  pending: 'APPLY_HISTORY_OUTCOME_PENDING',
  committed: 'APPLY_HISTORY_OUTCOME_COMMITTED',
  rolled_back: 'APPLY_HISTORY_OUTCOME_ROLLED_BACK',
  rejected: 'APPLY_HISTORY_OUTCOME_REJECTED',
  failed: 'APPLY_HISTORY_OUTCOME_FAILED',
};
const TRIGGER: Record<HistoryTrigger, string> = {
  apply: 'APPLY_TRIGGER_APPLY',
  transaction: 'APPLY_TRIGGER_TRANSACTION',
  rollback: 'APPLY_TRIGGER_ROLLBACK',
  rollback_to: 'APPLY_TRIGGER_ROLLBACK_TO',
};
const CALLER_KIND: Record<CallerKind, string> = {
  unix: 'CALLER_KIND_UNIX',
  tls: 'CALLER_KIND_TLS',
  token: 'CALLER_KIND_TOKEN',
  tcp: 'CALLER_KIND_TCP',
  internal: 'CALLER_KIND_INTERNAL',
  etcd: 'CALLER_KIND_ETCD',
};
const EVENT_KIND: Record<ApplyEventKind | 'current', string> = {
  current: 'APPLY_EVENT_KIND_CURRENT',
  applied: 'APPLY_EVENT_KIND_APPLIED',
  pending: 'APPLY_EVENT_KIND_PENDING',
  confirmed: 'APPLY_EVENT_KIND_CONFIRMED',
  rolled_back: 'APPLY_EVENT_KIND_ROLLED_BACK',
  rejected: 'APPLY_EVENT_KIND_REJECTED',
  failed: 'APPLY_EVENT_KIND_FAILED',
};

export function wireCaller(c: CallerIdentity): object {
  return {
    kind: CALLER_KIND[c.kind],
    id: c.id,
    ...(c.uid !== undefined && { uid: c.uid }),
    ...(c.gid !== undefined && { gid: c.gid }),
    ...(c.pid !== undefined && { pid: c.pid }),
    subject: c.subject ?? '',
    token_id: c.tokenId ?? '',
  };
}

export function wireHistoryEntry(e: HistoryEntry): object {
  return {
    seq: String(e.seq),
    generation: String(e.generation),
    base_generation: String(e.baseGeneration),
    config_digest: e.configDigest,
    time: wireTimestamp(e.time),
    resolved_at: e.resolvedAt === undefined ? null : wireTimestamp(e.resolvedAt),
    confirm_deadline: e.confirmDeadline === undefined ? null : wireTimestamp(e.confirmDeadline),
    outcome: OUTCOME[e.outcome],
    trigger: TRIGGER[e.trigger],
    caller: e.caller ? wireCaller(e.caller) : null,
    comment: e.comment,
    detail: e.detail,
    restored_generation: String(e.restoredGeneration ?? 0),
    rolled_back_generation: String(e.rolledBackGeneration ?? 0),
    plan_summary: e.planSummary ? wirePlanSummary(e.planSummary) : null,
  };
}

export function wirePending(p: PendingInfo | undefined): object | null {
  if (!p) return null;
  return {
    generation: String(p.generation),
    base_generation: String(p.baseGeneration),
    deadline: p.deadline === undefined ? null : wireTimestamp(p.deadline),
    owner: p.owner === 'transaction' ? 'PENDING_OWNER_TRANSACTION' : 'PENDING_OWNER_CONFIRM',
    entry: wireHistoryEntry(p.entry),
  };
}

/** A WatchApplyResultsResponse. */
export function wireApplyEvent(kind: ApplyEvent['kind'] | 'current', event: Omit<ApplyEvent, 'kind' | 'entry'> & { entry?: HistoryEntry }, generation: number): object {
  return {
    kind: EVENT_KIND[kind],
    generation: String(generation),
    result: event.result ? wireApplyResult(event.result) : null,
    entry: event.entry ? wireHistoryEntry(event.entry) : null,
    restored: event.restored ? wireHistoryEntry(event.restored) : null,
    pending: wirePending(event.pending),
  };
}

/** google.protobuf.Duration's own bounds (duration.proto): about ±10,000 years, nanos below one second, signs that agree. */
const DURATION_MAX_SECONDS = 315_576_000_000;
const NANOS_PER_SECOND = 1_000_000_000;

/**
 * A google.protobuf.Duration as milliseconds; unset (null) is undefined.
 * A value google.protobuf.Duration itself does not allow, or one outside
 * (0, 24 h], becomes a violation at `path` (or at `path.nanos`).
 */
export function readDurationMs(value: Partial<Duration__Output> | null | undefined, path: string, violations: Violation[]): number | undefined {
  if (value === null || value === undefined) return undefined;
  const seconds = Number(value.seconds ?? 0);
  const nanos = Number(value.nanos ?? 0);
  if (!Number.isSafeInteger(seconds) || Math.abs(seconds) > DURATION_MAX_SECONDS) {
    violations.push({ path: `${path}.seconds`, message: `${cut(String(value.seconds))} is not a google.protobuf.Duration number of seconds (at most ±${DURATION_MAX_SECONDS})` });
    return undefined;
  }
  if (!Number.isInteger(nanos) || Math.abs(nanos) >= NANOS_PER_SECOND) {
    violations.push({ path: `${path}.nanos`, message: `${cut(String(value.nanos))} is not within -999999999..999999999, as google.protobuf.Duration requires` });
    return undefined;
  }
  if ((seconds > 0 && nanos < 0) || (seconds < 0 && nanos > 0)) {
    violations.push({ path, message: `seconds ${seconds} and nanos ${nanos} have different signs, which google.protobuf.Duration does not allow` });
    return undefined;
  }
  const ms = seconds * 1000 + nanos / 1e6;
  if (ms <= 0 || ms > MAX_CONFIRM_TIMEOUT_MS) {
    violations.push({ path, message: `must be more than 0 and at most ${MAX_CONFIRM_TIMEOUT_MS / 1000} s, got ${ms / 1000} s` });
    return undefined;
  }
  // Whole milliseconds, at least one: a positive duration never becomes 0 (no timeout at all).
  return Math.max(1, Math.round(ms));
}
