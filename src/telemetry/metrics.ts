/**
 * The Prometheus view of the counters: a prom-client registry whose values
 * are read at scrape time from the same CountersReading the gRPC
 * TelemetryService serves (one reading per scrape, so a scrape is
 * consistent and matches GetCounters taken at the same moment).
 *
 * Conventions (docs/api.md, "Prometheus"): one metric per quantity, the unit
 * as the suffix, and what tells series apart as labels. Every traffic metric
 * has one rule-less series (the global total: it also counts rules removed
 * since, so it is not the sum of the rule series) and one series per running
 * rule labelled `table`, `rule`, `protocol`. Label values are bounded: rules,
 * `direction` (from_client, to_client), and `reason`, whose values are
 * exactly DROP_REASONS or PACKET_DROP_REASONS. Nothing is per session or per
 * source. A rule's series restart at zero when the rule changes (new counter
 * id): Prometheus treats that as a counter reset. Process and Node.js
 * metrics come from prom-client's defaults.
 */
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import { BUILD_INFO } from '../build-info.js';
import type { ApplyStatsSnapshot } from '../control/apply-stats.js';
import type { DataplaneCondition } from '../dataplane/conditions.js';
import { DROP_REASONS, PACKET_DROP_REASONS, type Telemetry, type TrafficCounters } from '../dataplane/telemetry.js';
import type { SessionWatchHub } from '../sessions/watch-hub.js';
import { readCounters, type CountersReading } from './counters.js';

export interface MetricsSources {
  telemetry: Telemetry;
  applies(): ApplyStatsSnapshot;
  /** The dataplane backend's name, for portplane_build_info. */
  backend: string;
  hub?: SessionWatchHub;
  /** The dataplane's conditions (RuntimeDataPlane.conditions); absent: the backend has none. */
  conditions?: () => DataplaneCondition[];
}

const RULE_LABELS = ['table', 'rule', 'protocol'] as const;
const DIRECTIONS = [
  { direction: 'from_client', bytes: 'bytesFromClient', packets: 'packetsFromClient' },
  { direction: 'to_client', bytes: 'bytesToClient', packets: 'packetsToClient' },
] as const;

type Labels = Record<string, string>;
/** One series: its labels beyond the rule's, and its value in a set of traffic counters (undefined: no series). */
type Series = (c: TrafficCounters, scope: 'global' | 'rule') => [Labels, number | undefined][];

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

  const counter = (name: string, help: string, value: (r: CountersReading) => number): void =>
    collectedCounter(registry, name, help, () => value(current()));
  const gauge = (name: string, help: string, value: (r: CountersReading) => number): void =>
    collectedGauge(registry, name, help, () => value(current()));
  /** A traffic metric: the rule-less global series, then one per running rule. */
  const traffic = (name: string, help: string, extraLabels: string[], series: Series, isGauge = false): void => {
    const labelNames = [...RULE_LABELS, ...extraLabels];
    const collect = function (this: Counter | Gauge): void {
      this.reset();
      const r = current();
      const put = (labels: Labels, v: number | undefined): void => {
        if (v === undefined) return;
        if (this instanceof Gauge) this.set(labels, v);
        else this.inc(labels, v);
      };
      for (const [labels, v] of series(r.global, 'global')) put(labels, v);
      for (const rule of r.rules) {
        const ruleLabels = { table: rule.table, rule: rule.ruleName || rule.ruleId, protocol: rule.protocol };
        for (const [labels, v] of series(rule, 'rule')) put({ ...ruleLabels, ...labels }, v);
      }
    };
    if (isGauge) new Gauge({ name, help, labelNames, registers: [registry], collect });
    else new Counter({ name, help, labelNames, registers: [registry], collect });
  };

  const ruleNote = ' (no table/rule labels: every rule, removed ones included; with them: one running rule)';
  traffic('portplane_sessions_opened_total', `Sessions (TCP connections, UDP flows) opened${ruleNote}`, [], (c) => [[{}, c.sessionsOpened]]);
  traffic('portplane_sessions_closed_total', `Sessions closed${ruleNote}`, [], (c) => [[{}, c.sessionsClosed]]);
  traffic('portplane_sessions_active', `Sessions open now${ruleNote}`, [], (c) => [[{}, c.sessionsActive]], true);
  traffic('portplane_relayed_bytes_total', `Bytes relayed, by direction${ruleNote}`, ['direction'], (c) =>
    DIRECTIONS.map((d) => [{ direction: d.direction }, c[d.bytes]]),
  );
  traffic('portplane_relayed_packets_total', `Datagrams or reads relayed, by direction${ruleNote}`, ['direction'], (c) =>
    DIRECTIONS.map((d) => [{ direction: d.direction }, c[d.packets]]),
  );
  // Every reason globally (a rate over a zero series is 0, not absent); per
  // rule only reasons that happened, so idle rules add no series per reason.
  traffic('portplane_drops_total', `New sessions refused or sessions failed, by reason${ruleNote}`, ['reason'], (c, scope) =>
    DROP_REASONS.map((reason) => [{ reason }, c.drops[reason] ?? (scope === 'global' ? 0 : undefined)]),
  );
  new Counter({
    name: 'portplane_packet_drops_total',
    help: 'Packets dropped before any session (packet backends; 0 on the kernel backend), by reason',
    labelNames: ['reason'],
    registers: [registry],
    collect() {
      this.reset();
      const { packetDrops } = current().global;
      for (const reason of PACKET_DROP_REASONS) this.inc({ reason }, packetDrops?.[reason] ?? 0);
    },
  });
  counter('portplane_bind_errors_total', 'Ports that failed to bind, in rolled-back applies, degraded weak rules and restores', (r) => r.applies.bindErrors);
  new Counter({
    name: 'portplane_applies_total',
    help: 'ApplyConfig calls (not validate-only), by result: succeeded, failed (failed or rolled back)',
    labelNames: ['result'],
    registers: [registry],
    collect() {
      this.reset();
      const { applies } = current();
      this.inc({ result: 'succeeded' }, applies.succeeded);
      this.inc({ result: 'failed' }, applies.failed);
    },
  });
  gauge('portplane_config_generation', 'Generation of the running configuration', (r) => r.generation);
  gauge('portplane_dataplane_diverged', 'Ports the running configuration says listen and that do not (a failed undo or re-open; the next apply retries them)', (r) => r.applies.divergedPorts);
  gauge('portplane_last_apply_timestamp_seconds', 'When the running configuration was committed (restored across restarts; 0: never)', (r) => r.applies.lastCommitAt / 1000);
  gauge('portplane_last_apply_duration_seconds', 'How long the commit of the running configuration took', (r) => r.applies.lastCommitDurationMicros / 1e6);
  new Gauge({
    name: 'portplane_build_info',
    help: 'The running build: package version, dataplane backend, Node.js version (always 1)',
    labelNames: ['version', 'backend', 'node_version'],
    registers: [registry],
  }).set({ version: BUILD_INFO.version, backend: sources.backend, node_version: BUILD_INFO.nodeVersion }, 1);
  const { conditions } = sources;
  if (conditions) {
    // Label values are the backend's condition types: a fixed, small set.
    new Gauge({
      name: 'portplane_dataplane_condition',
      help: 'Dataplane conditions, by type (e.g. Drifted on the nftables backend): 1 while it holds',
      labelNames: ['condition'],
      registers: [registry],
      collect() {
        this.reset();
        for (const c of conditions()) this.set({ condition: c.type }, c.status ? 1 : 0);
      },
    });
    new Counter({
      name: 'portplane_dataplane_condition_occurrences_total',
      help: 'Times each dataplane condition became true since the daemon started',
      labelNames: ['condition'],
      registers: [registry],
      collect() {
        this.reset();
        for (const c of conditions()) this.inc({ condition: c.type }, c.occurrences);
      },
    });
  }
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

/** A counter whose value is read at scrape time from `value` (a running total kept elsewhere). */
export function collectedCounter(registry: Registry, name: string, help: string, value: () => number): void {
  new Counter({
    name,
    help,
    registers: [registry],
    collect() {
      this.reset();
      this.inc(value());
    },
  });
}

/** A gauge whose value is read at scrape time from `value`. */
export function collectedGauge(registry: Registry, name: string, help: string, value: () => number): void {
  new Gauge({
    name,
    help,
    registers: [registry],
    collect() {
      this.set(value());
    },
  });
}
