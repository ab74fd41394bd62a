/**
 * Counters, deltas and flood counters, model -> wire (proto-loader object form).
 */
import { WIRE_PROTOCOLS } from '../config/wire.js';
import { DROP_REASONS, PACKET_DROP_REASONS, type DropReason, type RuleFloodCounters, type TrafficCounters } from '../dataplane/telemetry.js';
import { dropsTotal, type CountersReading, type RuleReading, type TableReading } from '../telemetry/counters.js';
import type { CounterDelta } from '../telemetry/deltas.js';
import { wireTimestamp } from './wire-results.js';

const u64 = (n: number): string => String(n);

export function wireDropReason(reason: DropReason): string {
  return `DROP_REASON_${reason.toUpperCase()}`;
}

function wireDrops(drops: Partial<Record<DropReason, number>>): object[] {
  return DROP_REASONS.filter((r) => (drops[r] ?? 0) > 0).map((r) => ({ reason: wireDropReason(r), count: u64(drops[r] ?? 0) }));
}

export function wireTraffic(c: TrafficCounters): object {
  return {
    sessions_opened: u64(c.sessionsOpened),
    sessions_closed: u64(c.sessionsClosed),
    sessions_active: u64(c.sessionsActive),
    bytes_from_client: u64(c.bytesFromClient),
    bytes_to_client: u64(c.bytesToClient),
    packets_from_client: u64(c.packetsFromClient),
    packets_to_client: u64(c.packetsToClient),
    drops: wireDrops(c.drops),
    drops_total: u64(dropsTotal(c)),
  };
}

export function wireGlobal(reading: CountersReading): object {
  return {
    traffic: wireTraffic(reading.global),
    bind_errors: u64(reading.applies.bindErrors),
    applies_succeeded: u64(reading.applies.succeeded),
    applies_failed: u64(reading.applies.failed),
    packet_drops: PACKET_DROP_REASONS.filter((r) => (reading.global.packetDrops?.[r] ?? 0) > 0).map((reason) => ({
      reason,
      count: u64(reading.global.packetDrops?.[reason] ?? 0),
    })),
  };
}

export function wireTable(t: TableReading): object {
  return { table: t.table, traffic: wireTraffic(t.traffic) };
}

export function wireRule(r: RuleReading): object {
  return {
    table: r.table,
    rule_id: r.ruleId,
    rule_name: r.ruleName,
    protocol: WIRE_PROTOCOLS[r.protocol],
    counter_id: u64(r.counterId),
    generation: u64(r.generation),
    traffic: wireTraffic(r),
  };
}

export function wireCounters(reading: CountersReading, backend: string): object {
  return {
    read_at: wireTimestamp(reading.readAt),
    generation: u64(reading.generation),
    backend,
    global: wireGlobal(reading),
    tables: reading.tables.map(wireTable),
    rules: reading.rules.map(wireRule),
  };
}

export function wireDelta(d: CounterDelta): object {
  return {
    sessions_opened: u64(d.sessionsOpened),
    sessions_closed: u64(d.sessionsClosed),
    bytes_from_client: u64(d.bytesFromClient),
    bytes_to_client: u64(d.bytesToClient),
    packets_from_client: u64(d.packetsFromClient),
    packets_to_client: u64(d.packetsToClient),
    drops: u64(d.drops),
    restarted: d.restarted,
    rates: {
      sessions_opened_per_second: d.rates.sessionsOpened,
      sessions_closed_per_second: d.rates.sessionsClosed,
      bytes_from_client_per_second: d.rates.bytesFromClient,
      bytes_to_client_per_second: d.rates.bytesToClient,
      packets_from_client_per_second: d.rates.packetsFromClient,
      packets_to_client_per_second: d.rates.packetsToClient,
      drops_per_second: d.rates.drops,
    },
  };
}

export function wireFlood(r: RuleFloodCounters): object {
  return {
    table: r.table,
    rule_id: r.ruleId,
    rule_name: r.ruleName,
    counter_id: u64(r.counterId),
    refused: u64(r.refused),
    by_reason: wireDrops(r.byReason),
    sources: r.sources.map((s) => ({ prefix: s.prefix, refused: u64(s.refused), by_reason: wireDrops(s.byReason) })),
    source_error: u64(r.sourceError),
  };
}
