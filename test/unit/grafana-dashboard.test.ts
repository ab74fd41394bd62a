/**
 * The shipped Grafana dashboard stays true to the code: every portplane
 * metric it queries is one the /metrics registry exposes, and it has the
 * panels the issue asks for (per-rule throughput, sessions, drops, applies).
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { createDataPlane } from '../../src/backends.js';
import { ApplyStats } from '../../src/control/apply-stats.js';
import { registerHaMetrics } from '../../src/ha/ha-metrics.js';
import { HANode } from '../../src/ha/ha-node.js';
import { createMetricsRegistry } from '../../src/telemetry/metrics.js';
import { SessionWatchHub } from '../../src/sessions/watch-hub.js';

const file = join(dirname(fileURLToPath(import.meta.url)), '../../deploy/grafana/portplane.json');

interface Panel {
  title: string;
  type: string;
  targets?: { expr: string }[];
}

describe('deploy/grafana/portplane.json', () => {
  it('queries only metrics that /metrics exposes, and charts throughput, sessions, drops and applies', async () => {
    const dashboard = JSON.parse(readFileSync(file, 'utf8')) as { panels: Panel[]; templating: { list: { definition?: string }[] } };
    const dataplane = createDataPlane('kernel', { logger: pino({ enabled: false }) });
    const logger = pino({ enabled: false });
    const { registry, metrics } = createMetricsRegistry({ telemetry: dataplane.telemetry(), applies: () => new ApplyStats().snapshot(), backend: 'kernel', hub: new SessionWatchHub(dataplane.sessionDeltas()) });
    // The daemon registers the HA metrics on the same registry (every daemon has a role).
    registerHaMetrics(registry, new HANode({ initialRole: 'active', controller: undefined, logger }));
    const exposed = new Set([...(await metrics()).matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]!));
    const exprs = [
      ...dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr)),
      ...dashboard.templating.list.flatMap((v) => (v.definition ? [v.definition] : [])),
    ];
    expect(exprs.length).toBeGreaterThan(10);
    for (const expr of exprs) {
      for (const [name] of expr.matchAll(/\b(?:portplane|process)_[a-z_]+\b/g)) {
        if (name.endsWith('_')) continue;
        expect(exposed, `${name} in ${expr}`).toContain(name);
      }
      for (const [, pattern] of expr.matchAll(/__name__=~"([^"]+)"/g)) {
        const re = new RegExp(`^${pattern!}$`);
        expect([...exposed].some((n) => re.test(n)), `${pattern} matches some metric`).toBe(true);
      }
    }
    const titles = dashboard.panels.map((p) => p.title.toLowerCase()).join('\n');
    for (const topic of ['bytes/s from clients, per rule', 'active sessions, per rule', 'drops/s by reason, per rule', 'config generation', 'applies']) {
      expect(titles).toContain(topic);
    }
  });
});
