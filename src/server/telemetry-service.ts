/**
 * portplane.v1.TelemetryService handlers: one reading of the neutral
 * Telemetry plus the controller's apply counts (src/telemetry/counters.ts),
 * in wire form. Table-scoped readers are confined by the access table's
 * response filter, for every sample of a stream too.
 */
import type * as grpc from '@grpc/grpc-js';
import type { ApplyStatsSnapshot } from '../control/apply-stats.js';
import type { Telemetry, TrafficCounters } from '../dataplane/telemetry.js';
import { readCounters } from '../telemetry/counters.js';
import { counterDelta } from '../telemetry/deltas.js';
import { unary } from './unary.js';
import { wireCounters, wireDelta, wireFlood, wireGlobal, wireRule, wireTable } from './telemetry-wire.js';
import { wireTimestamp } from './wire-results.js';

export interface TelemetryServiceDeps {
  telemetry: Telemetry;
  applies(): ApplyStatsSnapshot;
  backend: string;
}

export const DEFAULT_WATCH_INTERVAL_MS = 1000;
export const MIN_WATCH_INTERVAL_MS = 100;
export const DEFAULT_FLOOD_TOP_N = 10;
export const MAX_FLOOD_TOP_N = 256;

export function telemetryServiceHandlers(deps: TelemetryServiceDeps): grpc.UntypedServiceImplementation {
  const { telemetry, backend } = deps;
  return {
    GetCounters: unary<{ table?: string }>((req) => wireCounters(readCounters(telemetry, deps.applies(), req.table || undefined), backend)),

    WatchCounters: (call: grpc.ServerWritableStream<{ interval_ms?: number; table?: string }, object>) => {
      const intervalMs = Math.max(MIN_WATCH_INTERVAL_MS, call.request.interval_ms || DEFAULT_WATCH_INTERVAL_MS);
      const table = call.request.table || undefined;
      let previous: { at: number; global: TrafficCounters; tables: Map<string, TrafficCounters>; rules: Map<string, { counterId: number; c: TrafficCounters }> } | undefined;
      /** A sample still in the transport: the next tick is skipped rather than queued behind it. */
      let writing = false;
      const sample = (): void => {
        if (writing) return;
        const reading = readCounters(telemetry, deps.applies(), table);
        const elapsed = previous ? (reading.readAt - previous.at) / 1000 : 0;
        const before = previous;
        const message = {
          read_at: wireTimestamp(reading.readAt),
          generation: String(reading.generation),
          elapsed_seconds: elapsed,
          global: wireGlobal(reading),
          global_delta: wireDelta(counterDelta(reading.global, before?.global, elapsed)),
          tables: reading.tables.map((t) => ({ counters: wireTable(t), delta: wireDelta(counterDelta(t.traffic, before?.tables.get(t.table), elapsed)) })),
          rules: reading.rules.map((r) => {
            const prior = before?.rules.get(r.ruleId);
            return { counters: wireRule(r), delta: wireDelta(counterDelta(r, prior?.counterId === r.counterId ? prior.c : undefined, elapsed)) };
          }),
        };
        previous = {
          at: reading.readAt,
          global: reading.global,
          tables: new Map(reading.tables.map((t) => [t.table, t.traffic])),
          rules: new Map(reading.rules.map((r) => [r.ruleId, { counterId: r.counterId, c: r }])),
        };
        writing = true;
        call.write(message, () => {
          writing = false;
        });
      };
      const timer = setInterval(sample, intervalMs);
      const stop = (): void => clearInterval(timer);
      call.on('cancelled', stop);
      call.on('close', stop);
      call.on('error', stop);
      sample();
    },

    GetFloodCounters: unary<{ top_n?: number; table?: string }>((req) => {
      const topN = Math.min(req.top_n || DEFAULT_FLOOD_TOP_N, MAX_FLOOD_TOP_N);
      const generation = telemetry.generation();
      const rules = telemetry
        .flood(topN)
        .filter((r) => r.refused > 0 && (!req.table || r.table === req.table))
        .sort((a, b) => b.refused - a.refused)
        .slice(0, topN);
      return { generation: String(generation), rules: rules.map(wireFlood) };
    }),
  };
}
