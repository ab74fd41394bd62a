/**
 * Per-rule outcome of an apply, and counter-id assignment. A rule keeps its
 * counter id while its content is unchanged; a changed rule gets a new one,
 * so counters read under one id always describe one rule content.
 */
import { canonicalRule } from '../config/canonical.js';
import type { ForwardingConfig } from '../config/model.js';
import { countPorts, portIntervals } from '../config/ports.js';
import type { RuleStatus } from '../dataplane/apply-result.js';
import type { PortBindFailure } from '../dataplane/config-sink.js';
import { ruleId } from '../plan/identity.js';
import type { CounterAssignment } from './state-store.js';

export interface CounterTable {
  nextCounterId: number;
  counters: Record<string, CounterAssignment>;
}

/**
 * Counter ids for every rule of `config`, reusing those of rules unchanged
 * since `previousConfig` (the configuration `previous` was assigned for).
 * The comparison uses the rules' cached canonical text, so nothing but the
 * ids needs storing.
 */
export function assignCounters(config: ForwardingConfig, previous: CounterTable, previousConfig: ForwardingConfig): CounterTable {
  const before = new Map<string, string>();
  for (const table of previousConfig.tables) {
    for (const rule of table.rules) before.set(ruleId(table.name, rule), canonicalRule(rule));
  }
  let next = previous.nextCounterId;
  const counters: Record<string, CounterAssignment> = {};
  for (const table of config.tables) {
    for (const rule of table.rules) {
      const id = ruleId(table.name, rule);
      const prior = previous.counters[id];
      counters[id] = prior && before.get(id) === canonicalRule(rule) ? prior : { counterId: next++ };
    }
  }
  return { nextCounterId: next, counters };
}

export function counterIdsOf(table: CounterTable): Record<string, number> {
  const ids: Record<string, number> = {};
  for (const [ruleId, assignment] of Object.entries(table.counters)) ids[ruleId] = assignment.counterId;
  return ids;
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
  const failuresByRule = new Map<string, PortBindFailure[]>();
  for (const f of failures) {
    const list = failuresByRule.get(f.ruleId) ?? [];
    list.push(f);
    failuresByRule.set(f.ruleId, list);
  }
  const statuses: RuleStatus[] = [];
  for (const table of config.tables) {
    for (const rule of table.rules) {
      const id = ruleId(table.name, rule);
      const kept = carried.get(id);
      if (kept) {
        statuses.push({ ...kept, portsFailed: kept.portsFailed.map((f) => ({ ...f })) });
        continue;
      }
      const failed = failuresByRule.get(id) ?? [];
      const total = countPorts(portIntervals(rule));
      statuses.push({
        table: table.name,
        name: rule.name,
        ruleId: id,
        counterId: counters.counters[id]?.counterId ?? 0,
        state: failedRuleIds.has(id) ? 'failed' : failed.length > 0 ? 'degraded' : 'active',
        portsBound: total - failed.length,
        portsFailed: failed.map((f) => ({
          protocol: f.protocol,
          listenAddress: f.listenAddress,
          port: f.port,
          errno: f.errno,
          message: f.message,
        })),
      });
    }
  }
  return statuses;
}
