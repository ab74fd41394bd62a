/**
 * Per-rule outcome of an apply, and counter-id assignment. A rule keeps its
 * counter id while its content is unchanged; a changed rule gets a new one,
 * so counters read under one id always describe one rule content.
 */
import { canonicalRule } from '../config/canonical.js';
import { editBetween } from '../config/table-delta.js';
import type { ForwardingConfig, ForwardRule } from '../config/model.js';
import type { Plan } from '../plan/model.js';
import { countPorts, portIntervals } from '../config/ports.js';
import type { RuleStatus } from '../dataplane/apply-result.js';
import type { PortBindFailure } from '../dataplane/config-sink.js';
import { ruleId } from '../plan/identity.js';
import type { CounterMap } from './counter-map.js';
import type { CounterAssignment } from './state-store.js';

export interface CounterTable {
  nextCounterId: number;
  counters: CounterMap;
}

/**
 * Counter ids for every rule of `config`, reusing those of rules unchanged
 * since `previousConfig` (the configuration `previous` was assigned for).
 * The comparison uses the rules' cached canonical text, so nothing but the
 * ids needs storing. A table of `config` that is the very table object of
 * `previousConfig` (see normalizeConfig) keeps its ids without a look at its
 * rules, and the map of ids changes only where rules changed (counter-map.ts):
 * the cost follows the tables that changed.
 */
export function assignCounters(config: ForwardingConfig, previous: CounterTable, previousConfig: ForwardingConfig): CounterTable {
  const desired = new Map(config.tables.map((t) => [t.name, t]));
  const prior = new Map(previousConfig.tables.map((t) => [t.name, t]));
  const changes = new Map<string, CounterAssignment | undefined>();
  const before = new Map<string, string>();
  // A rule in both (the same normalised object) keeps its id untouched.
  for (const table of previousConfig.tables) {
    const next = desired.get(table.name);
    if (next === table) continue;
    const edit = next && editBetween(table, next);
    const kept = !edit && next && new Set(next.rules);
    for (const rule of edit ? edit.removed.map((r) => r.rule) : table.rules) {
      if (kept && kept.has(rule)) continue;
      const id = ruleId(table.name, rule);
      before.set(id, canonicalRule(rule));
      changes.set(id, undefined);
    }
  }
  let next = previous.nextCounterId;
  for (const table of config.tables) {
    const old = prior.get(table.name);
    if (old === table) continue;
    const edit = old && editBetween(old, table);
    const had = !edit && old && new Set(old.rules);
    for (const rule of edit ? edit.added.map((r) => r.rule) : table.rules) {
      if (had && had.has(rule)) continue;
      const id = ruleId(table.name, rule);
      const kept = previous.counters.get(id);
      changes.set(id, kept && before.get(id) === canonicalRule(rule) ? kept : { counterId: next++ });
    }
  }
  return { nextCounterId: next, counters: previous.counters.with(changes) };
}

/** The ids the dataplane takes (SinkApplyRequest.counterIds): a view, not a copy. */
export function counterIdsOf(table: CounterTable): Record<string, number> {
  return table.counters.counterIds();
}

function statusOf(table: string, rule: ForwardRule, id: string, counters: CounterTable, failed: PortBindFailure[], ruleFailed: boolean): RuleStatus {
  return {
    table,
    name: rule.name,
    ruleId: id,
    counterId: counters.counters.get(id)?.counterId ?? 0,
    state: ruleFailed ? 'failed' : failed.length > 0 ? 'degraded' : 'active',
    portsBound: countPorts(portIntervals(rule)) - failed.length,
    portsFailed: failed.map((f) => ({ protocol: f.protocol, listenAddress: f.listenAddress, port: f.port, errno: f.errno, message: f.message })),
  };
}

function failuresByRule(failures: readonly PortBindFailure[]): Map<string, PortBindFailure[]> {
  const byRule = new Map<string, PortBindFailure[]>();
  for (const f of failures) {
    const list = byRule.get(f.ruleId);
    if (list) list.push(f);
    else byRule.set(f.ruleId, [f]);
  }
  return byRule;
}

/**
 * Status of every rule `plan` adds or changes, in plan order: what an apply
 * touched (see ApplyResult.rules). Costs the change, not the configuration.
 */
export function touchedStatuses(
  plan: Plan,
  counters: CounterTable,
  failures: readonly PortBindFailure[],
  failedRuleIds: ReadonlySet<string> = new Set(),
): RuleStatus[] {
  const byRule = failuresByRule(failures);
  return plan.rules
    .filter((c) => c.action === 'added' || c.action === 'changed')
    .map((c) => statusOf(c.table, c.rule, c.ruleId, counters, byRule.get(c.ruleId) ?? [], failedRuleIds.has(c.ruleId)));
}

/**
 * Status of every rule of `config` after an apply with `failures`. Rules the
 * apply did not touch keep the status they had (`carried`, by rule id): a weak
 * rule degraded by an earlier apply is still degraded.
 */
export function ruleStatuses(
  config: ForwardingConfig,
  counters: CounterTable,
  failures: readonly PortBindFailure[],
  failedRuleIds: ReadonlySet<string> = new Set(),
  carried: ReadonlyMap<string, RuleStatus> = new Map(),
): RuleStatus[] {
  const byRule = failuresByRule(failures);
  const statuses: RuleStatus[] = [];
  for (const table of config.tables) {
    for (const rule of table.rules) {
      const id = ruleId(table.name, rule);
      const kept = carried.get(id);
      if (kept) {
        statuses.push({ ...kept, portsFailed: kept.portsFailed.map((f) => ({ ...f })) });
        continue;
      }
      statuses.push(statusOf(table.name, rule, id, counters, byRule.get(id) ?? [], failedRuleIds.has(id)));
    }
  }
  return statuses;
}
