/**
 * One consistent reading of every counter: the backend's Telemetry (global,
 * per rule, read in one event-loop turn with the generation they belong to),
 * per-table sums of the rules, and the control plane's apply counts. The
 * gRPC TelemetryService and the Prometheus endpoint both serve this, so
 * their numbers agree.
 */
import type { ApplyStatsSnapshot } from '../control/apply-stats.js';
import { addTrafficCounters, DROP_REASONS, emptyTrafficCounters, type RuleCounters, type Telemetry, type TrafficCounters } from '../dataplane/telemetry.js';

export interface RuleReading extends RuleCounters {
  /** Generation of the configuration the counters were read under. */
  generation: number;
}

export interface TableReading {
  table: string;
  traffic: TrafficCounters;
}

export interface CountersReading {
  readAt: number;
  generation: number;
  global: TrafficCounters;
  applies: ApplyStatsSnapshot;
  tables: TableReading[];
  rules: RuleReading[];
}

export function dropsTotal(counters: TrafficCounters): number {
  let n = 0;
  for (const reason of DROP_REASONS) n += counters.drops[reason] ?? 0;
  return n;
}

/** Reads everything now; `table` narrows tables and rules to one table. */
export function readCounters(telemetry: Telemetry, applies: ApplyStatsSnapshot, table?: string): CountersReading {
  // Same turn: no apply can commit between these two reads.
  const generation = telemetry.generation();
  const all = telemetry.rules();
  const global = telemetry.global();
  const rules = all.filter((r) => !table || r.table === table).map((r) => ({ ...r, generation }));
  const tables = new Map<string, TableReading>();
  for (const rule of rules) {
    let entry = tables.get(rule.table);
    if (!entry) {
      entry = { table: rule.table, traffic: emptyTrafficCounters() };
      tables.set(rule.table, entry);
    }
    addTrafficCounters(entry.traffic, rule);
  }
  return { readAt: Date.now(), generation, global, applies, tables: [...tables.values()], rules };
}
