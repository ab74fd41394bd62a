/**
 * The shipped Grafana dashboard and alert rules against the real tools:
 * Debian's prometheus scrapes a daemon that forwards real traffic and drops
 * sessions for two reasons on one rule; every panel query of
 * deploy/grafana/portplane.json (variables filled in as Grafana would) runs
 * through Prometheus's HTTP API and must return data without error or
 * warning. deploy/prometheus/alerts.yml passes `promtool check rules` and its
 * `promtool test rules` unit test.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureCommand } from '../helpers/apt.js';
import { REPO, removeDir, ServiceClient, startDaemon, stopDaemon, tempStateDir, type DaemonProcess } from '../helpers/daemon-process.js';
import { freePort, freePortBlock, roundTrip, startEchoServer, type EchoServer } from '../helpers/tcp.js';

const run = promisify(execFile);

interface Panel {
  title: string;
  type: string;
  targets?: { expr: string }[];
}
interface Variable {
  name: string;
  definition?: string;
  allValue?: string;
}

/** One TCP attempt from `localAddress`, ended by the daemon (refused or reset) or by the echo. */
function attempt(port: number, localAddress: string): Promise<void> {
  return new Promise((res) => {
    const s = connect({ host: '127.0.0.1', port, localAddress });
    s.setTimeout(5_000, () => s.destroy());
    s.on('connect', () => s.write('x'));
    s.on('error', () => res());
    s.on('close', () => res());
  });
}

/** Grafana's substitution: `$__rate_interval` etc. as ranges, variables as regex alternatives. */
function fill(expr: string, values: Record<string, string>): string {
  return expr
    .replaceAll('$__rate_interval', '10s')
    .replaceAll('$__interval', '2s')
    .replaceAll('$__range', '1m')
    .replace(/\$(\w+)/g, (m, name: string) => values[name] ?? m);
}

describe('Grafana dashboard and alert rules against a real Prometheus', () => {
  let missing: string | undefined;
  let echo: EchoServer;

  beforeAll(async () => {
    missing = (await ensureCommand('prometheus', 'prometheus')) ?? (await ensureCommand('promtool', 'prometheus'));
    echo = await startEchoServer();
  }, 600_000);
  afterAll(async () => {
    await echo.close();
  });

  it('alerts.yml passes promtool check rules and its promtool unit test', async (ctx) => {
    if (missing) return ctx.skip(missing);
    const dir = join(REPO, 'deploy/prometheus');
    const check = await run('promtool', ['check', 'rules', 'alerts.yml'], { cwd: dir });
    expect(check.stdout).toMatch(/SUCCESS: \d+ rules found/);
    const test = await run('promtool', ['test', 'rules', 'alerts.test.yml'], { cwd: dir });
    expect(test.stdout).toContain('SUCCESS');
  });

  it('every panel query returns data from Prometheus scraping a forwarding daemon', async (ctx) => {
    if (missing) return ctx.skip(missing);
    const dashboard = JSON.parse(readFileSync(join(REPO, 'deploy/grafana/portplane.json'), 'utf8')) as {
      panels: Panel[];
      templating: { list: Variable[] };
    };
    const stateDir = await tempStateDir();
    const promDir = await mkdtemp(join(tmpdir(), 'portplane-prom-'));
    const metricsPort = await freePort();
    const d: DaemonProcess = await startDaemon(stateDir, [`--metrics-listen=127.0.0.1:${metricsPort}`]);
    const config = new ServiceClient('ConfigService', d.target);
    const telemetry = new ServiceClient('TelemetryService', d.target);
    let prometheus: ChildProcess | undefined;
    try {
      const [base, closedPort] = [await freePortBlock(2), await freePort()];
      await config.call('ApplyConfig', {
        tables: [
          {
            name: 'web',
            rules: [
              { name: 'http', protocol: 'PROTOCOL_TCP', listen_address: '127.0.0.1', ports: { first: base, last: base }, target_address: '127.0.0.1', target_port: echo.port },
              // Two drop reasons on one rule: a denied source (filter), a target that refuses (upstream_refused).
              { name: 'flaky', protocol: 'PROTOCOL_TCP', listen_address: '127.0.0.1', ports: { first: base + 1, last: base + 1 }, target_address: '127.0.0.1', target_port: closedPort, deny: ['127.0.0.2/32'] },
            ],
          },
        ],
      });
      const promPort = await freePort();
      await writeFile(
        join(promDir, 'prometheus.yml'),
        `global: {scrape_interval: 1s, evaluation_interval: 1s}\nscrape_configs:\n  - job_name: portplane\n    static_configs: [{targets: ['127.0.0.1:${metricsPort}']}]\n`,
      );
      prometheus = spawn(
        'prometheus',
        [`--config.file=${join(promDir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(promDir, 'data')}`, `--web.listen-address=127.0.0.1:${promPort}`],
        { stdio: ['ignore', 'ignore', 'pipe'] },
      );
      let promLog = '';
      prometheus.stderr?.setEncoding('utf8').on('data', (c: string) => (promLog = (promLog + c).slice(-4000)));
      const api = async (path: string, params: Record<string, string>): Promise<{ status: string; data: unknown; warnings?: string[]; error?: string }> => {
        const res = await fetch(`http://127.0.0.1:${promPort}/api/v1/${path}?${new URLSearchParams(params)}`);
        return (await res.json()) as { status: string; data: unknown; warnings?: string[]; error?: string };
      };
      const query = async (expr: string): Promise<{ status: string; result: unknown[]; warnings?: string[]; error?: string }> => {
        const out = await api('query', { query: expr });
        return { ...out, result: (out.data as { result?: unknown[] } | undefined)?.result ?? [] };
      };

      // Traffic and drops while Prometheus scrapes, so rates see them change.
      const deadline = Date.now() + 60_000;
      for (let round = 0; ; round++) {
        expect((await roundTrip(base, 'y'.repeat(1000))).length).toBe(1000);
        await attempt(base + 1, '127.0.0.2');
        await attempt(base + 1, '127.0.0.1');
        await new Promise((r) => setTimeout(r, 250));
        let scrapes = 0;
        try {
          const ready = await query('count_over_time(portplane_build_info[1m])');
          scrapes = Number((ready.result[0] as { value?: [number, string] } | undefined)?.value?.[1] ?? 0);
        } catch {
          // Not listening yet.
        }
        if (scrapes >= 12 && round >= 12) break;
        if (Date.now() > deadline) throw new Error(`Prometheus did not scrape within 60 s: ${promLog}`);
      }
      const counters = await telemetry.call<{ rules: { rule_name: string; traffic: { drops: { reason: string; count: string }[] } }[] }>('GetCounters', {});
      const flaky = counters.rules.find((r) => r.rule_name === 'flaky');
      expect(flaky?.traffic.drops.map((x) => x.reason).sort()).toEqual(['DROP_REASON_FILTER', 'DROP_REASON_UPSTREAM_REFUSED']);

      // Variables: the queries Grafana runs to offer values.
      const instance = `127.0.0.1:${metricsPort}`;
      const selections: Record<string, string>[] = [];
      const allValues: Record<string, string> = {};
      const picked: Record<string, string> = {};
      for (const v of dashboard.templating.list) {
        if (!v.definition) continue;
        const m = /^label_values\((.+), (\w+)\)$/.exec(v.definition);
        expect(m, v.definition).not.toBeNull();
        const values = await api(`label/${m![2]}/values`, { 'match[]': fill(m![1]!, { ...picked }) });
        expect(values.status, v.definition).toBe('success');
        const offered = values.data as string[];
        const want = { instance, table: 'web', rule: 'flaky' }[v.name];
        expect(offered, v.definition).toContain(want);
        picked[v.name] = want!;
        allValues[v.name] = v.allValue ?? '.*';
      }
      selections.push(picked, allValues);

      let queries = 0;
      for (const values of selections) {
        for (const panel of dashboard.panels) {
          for (const target of panel.targets ?? []) {
            const expr = fill(target.expr, values);
            expect(expr, 'every variable filled').not.toMatch(/\$/);
            const out = await query(expr);
            expect(out.error, `${panel.title}: ${expr}`).toBeUndefined();
            expect(out.status, `${panel.title}: ${expr}`).toBe('success');
            expect(out.warnings ?? [], `${panel.title}: ${expr}`).toEqual([]);
            expect(out.result.length, `${panel.title} returns data: ${expr}`).toBeGreaterThan(0);
            queries++;
          }
        }
      }
      // Both drop reasons of the one rule, as separate series of the per-rule panel.
      const byReason = await query(fill('sum by (table, rule, reason) (increase(portplane_drops_total{table=~"$table", rule=~"$rule"}[1m]))', picked));
      const reasons = byReason.result.map((s) => (s as { metric: { reason: string } }).metric.reason).sort();
      expect(reasons).toEqual(['filter', 'upstream_refused']);
      ctx.annotate(`${queries} panel queries returned data`);
    } finally {
      config.close();
      telemetry.close();
      if (prometheus && prometheus.exitCode === null) {
        const exited = new Promise((r) => prometheus!.once('exit', r));
        prometheus.kill('SIGTERM');
        await exited;
      }
      await stopDaemon(d);
      await removeDir(stateDir);
      await rm(promDir, { recursive: true, force: true });
    }
  }, 120_000);
});
