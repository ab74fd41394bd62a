/**
 * The Prometheus view of the counters: a prom-client registry whose values
 * are read at scrape time from the same CountersReading the gRPC
 * TelemetryService serves (one reading per scrape, so a scrape is
 * consistent and matches GetCounters taken at the same moment).
 *
 * Labels are `table`, `rule` and `protocol` only, never anything per
 * session or per source, so the series count is bounded by the rules. A
 * drop reason is part of the metric name for the same reason. A rule's
 * series restart at zero when the rule changes (new counter id): Prometheus
 * treats that as a counter reset. Process and Node.js metrics come from
 * prom-client's defaults.
 */
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import type { ApplyStatsSnapshot } from '../control/apply-stats.js';
import { DROP_REASONS, PACKET_DROP_REASONS, type Telemetry, type TrafficCounters } from '../dataplane/telemetry.js';
import type { SessionWatchHub } from '../sessions/watch-hub.js';
import { readCounters, type CountersReading } from './counters.js';

export interface MetricsSources {
  telemetry: Telemetry;
  applies(): ApplyStatsSnapshot;
  hub?: SessionWatchHub;
}

type Traffic = keyof Omit<TrafficCounters, 'drops' | 'packetDrops'>;

/** Traffic counters as metric name stems (portplane_<stem>_total, portplane_rule_<stem>_total). */
const TRAFFIC: { key: Traffic; stem: string; help: string; gauge?: true }[] = [
  { key: 'sessionsOpened', stem: 'sessions_opened', help: 'Sessions (TCP connections, UDP flows) opened' },
  { key: 'sessionsClosed', stem: 'sessions_closed', help: 'Sessions closed' },
  { key: 'sessionsActive', stem: 'sessions_active', help: 'Sessions open now', gauge: true },
  { key: 'bytesFromClient', stem: 'bytes_from_client', help: 'Bytes relayed from clients to targets' },
  { key: 'bytesToClient', stem: 'bytes_to_client', help: 'Bytes relayed from targets to clients' },
  { key: 'packetsFromClient', stem: 'packets_from_client', help: 'Datagrams or reads relayed from clients' },
  { key: 'packetsToClient', stem: 'packets_to_client', help: 'Datagrams or reads relayed to clients' },
];

const RULE_LABELS = ['table', 'rule', 'protocol'] as const;

export function createMetricsRegistry(sources: MetricsSources): { registry: Registry; metrics(): Promise<string> } {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  // Gauges that prom-client names like counters (promtool rejects them); the
  // per-type gauges without the suffix carry the same numbers.
  for (const misnamed of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) {
    registry.removeSingleMetric(misnamed);
  }
  /** Set for the duration of one scrape. */
  let reading: CountersReading | undefined;
  const current = (): CountersReading => (reading ??= readCounters(sources.telemetry, sources.applies()));

  const counter = (name: string, help: string, value: (r: CountersReading) => number): void => {
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset();
        this.inc(value(current()));
      },
    });
  };
  const gauge = (name: string, help: string, value: (r: CountersReading) => number): void => {
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(value(current()));
      },
    });
  };
  const ruleMetric = (name: string, help: string, isGauge: boolean, value: (c: CountersReading['rules'][number]) => number | undefined): void => {
    const collect = function (this: Counter<(typeof RULE_LABELS)[number]> | Gauge<(typeof RULE_LABELS)[number]>): void {
      this.reset();
      for (const rule of current().rules) {
        const v = value(rule);
        if (v === undefined) continue;
        const labels = { table: rule.table, rule: rule.ruleName || rule.ruleId, protocol: rule.protocol };
        if (this instanceof Gauge) this.set(labels, v);
        else this.inc(labels, v);
      }
    };
    if (isGauge) new Gauge({ name, help, labelNames: RULE_LABELS, registers: [registry], collect });
    else new Counter({ name, help, labelNames: RULE_LABELS, registers: [registry], collect });
  };

  for (const t of TRAFFIC) {
    const global = `portplane_${t.stem}${t.gauge ? '' : '_total'}`;
    const rule = `portplane_rule_${t.stem}${t.gauge ? '' : '_total'}`;
    if (t.gauge) gauge(global, t.help, (r) => r.global[t.key]);
    else counter(global, t.help, (r) => r.global[t.key]);
    ruleMetric(rule, `${t.help}, per rule`, t.gauge === true, (c) => c[t.key]);
  }
  for (const reason of DROP_REASONS) {
    const help = `New sessions refused or sessions failed: ${reason.replace('_', ' ')}`;
    counter(`portplane_drops_${reason}_total`, help, (r) => r.global.drops[reason] ?? 0);
    // Only reasons that happened, so idle rules add no series per reason.
    ruleMetric(`portplane_rule_drops_${reason}_total`, `${help}, per rule`, false, (c) => c.drops[reason]);
  }
  for (const reason of PACKET_DROP_REASONS) {
    counter(`portplane_packet_drops_${reason}_total`, `Packets dropped before any session (packet backends): ${reason.replaceAll('_', ' ')}`, (r) => r.global.packetDrops?.[reason] ?? 0);
  }
  counter('portplane_bind_errors_total', 'Ports that failed to bind, in rolled-back applies and degraded weak rules', (r) => r.applies.bindErrors);
  counter('portplane_applies_succeeded_total', 'ApplyConfig calls (not validate-only) that succeeded', (r) => r.applies.succeeded);
  counter('portplane_applies_failed_total', 'ApplyConfig calls (not validate-only) that failed or rolled back', (r) => r.applies.failed);
  gauge('portplane_config_generation', 'Generation of the running configuration', (r) => r.generation);
  gauge('portplane_last_apply_timestamp_seconds', 'When the last apply of this process committed (0: none yet)', (r) => r.applies.lastCommitAt / 1000);
  gauge('portplane_last_apply_duration_seconds', 'How long the last committed apply took', (r) => r.applies.lastCommitDurationMicros / 1e6);
  const { hub } = sources;
  if (hub) {
    gauge('portplane_session_watch_buffered_events', 'Session events held for WatchSessions streams and resumes (bounded by the watch buffer)', () => hub.stats().buffered);
    gauge('portplane_session_watchers', 'Open WatchSessions streams', () => hub.stats().watchers);
    counter('portplane_session_watch_resyncs_total', 'WatchSessions streams sent RESYNC (resume too old, consumer too slow, backend restarted)', () => hub.stats().resyncs);
  }

  return {
    registry,
    async metrics() {
      reading = undefined;
      try {
        return await registry.metrics();
      } finally {
        reading = undefined;
      }
    },
  };
}
