/**
 * Prometheus /metrics and --log-sessions on a real daemon process: the text
 * passes promtool (Debian's prometheus package, installed when root), its
 * values equal GetCounters after real traffic, the metrics port is
 * protected from rules, and session closes are logged only when asked.
 */
import { execFile } from 'node:child_process';
import { connect } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUILD_INFO } from '../../src/build-info.js';
import { DROP_REASONS, PACKET_DROP_REASONS } from '../../src/dataplane/telemetry.js';
import { ensureCommand } from '../helpers/apt.js';
import { callError, removeDir, ServiceClient, startDaemon, stopDaemon, tempStateDir, type DaemonProcess } from '../helpers/daemon-process.js';
import { freePort, freePortBlock, roundTrip, startEchoServer, type EchoServer } from '../helpers/tcp.js';
import { startUdpEcho, udpClient, udpRoundTrip, type UdpEcho } from '../helpers/udp.js';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Sample lines of the text format (promtool has checked the syntax). */
function samples(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`unparsable sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

async function scrape(port: number): Promise<string> {
  // The daemon answers on its control socket a moment before /metrics listens (it starts second): retry, bounded.
  let res: Response | undefined;
  for (let attempt = 0; !res; attempt++) {
    try {
      res = await fetch(`http://127.0.0.1:${port}/metrics`);
    } catch (err) {
      if (attempt >= 50) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return res.text();
}

describe('Prometheus /metrics and session logs', () => {
  let echo: EchoServer;
  let udpEcho: UdpEcho;
  let promtoolMissing: string | undefined;

  beforeAll(async () => {
    echo = await startEchoServer();
    udpEcho = await startUdpEcho();
    promtoolMissing = await ensureCommand('promtool', 'prometheus');
  }, 600_000);
  afterAll(async () => {
    await echo.close();
    await udpEcho.close();
  });

  it('serves valid Prometheus text whose values equal GetCounters; rules cannot take its port', async (ctx) => {
    const stateDir = await tempStateDir();
    const metricsPort = await freePort();
    const d: DaemonProcess = await startDaemon(stateDir, [`--metrics-listen=127.0.0.1:${metricsPort}`]);
    const config = new ServiceClient('ConfigService', d.target);
    const telemetry = new ServiceClient('TelemetryService', d.target);
    try {
      const base = await freePortBlock(3);
      await config.call('ApplyConfig', {
        tables: [
          {
            name: 'web',
            rules: [
              { name: 'http', protocol: 'PROTOCOL_TCP', listen_address: '127.0.0.1', ports: { first: base, last: base }, target_address: '127.0.0.1', target_port: echo.port },
              { name: 'dns', protocol: 'PROTOCOL_UDP', listen_address: '127.0.0.1', ports: { first: base + 1, last: base + 1 }, target_address: '127.0.0.1', target_port: udpEcho.port },
              { name: 'closed', protocol: 'PROTOCOL_TCP', listen_address: '127.0.0.1', ports: { first: base + 2, last: base + 2 }, target_address: '127.0.0.1', target_port: echo.port, deny: ['127.0.0.0/8'] },
            ],
          },
        ],
      });
      for (let i = 0; i < 3; i++) expect((await roundTrip(base, 'x'.repeat(1000 * (i + 1)))).length).toBe(1000 * (i + 1));
      const udp = await udpClient();
      await udpRoundTrip(udp, base + 1, Buffer.alloc(512));
      udp.close();
      await new Promise<void>((res) => {
        const refused = connect({ host: '127.0.0.1', port: base + 2 });
        refused.on('error', () => res());
        refused.on('close', () => res());
      });
      const invalid = await callError(config.call('ApplyConfig', { tables: [{ name: 'bad', rules: [{ name: 'x', protocol: 'PROTOCOL_TCP', listen_address: '127.0.0.1', ports: { first: 0, last: 0 } }] }] }));
      expect(invalid.code).toBe(grpc.status.INVALID_ARGUMENT);

      // Rules may neither listen on the metrics port nor forward into it.
      const onMetrics = await callError(
        config.call('ApplyConfig', {
          tables: [{ name: 'steal', rules: [{ name: 'm', protocol: 'PROTOCOL_TCP', listen_address: '127.0.0.1', ports: { first: metricsPort, last: metricsPort }, target_address: '127.0.0.1', target_port: echo.port }] }],
        }),
      );
      expect(onMetrics.code).toBe(grpc.status.INVALID_ARGUMENT);
      expect(onMetrics.details).toMatch(/metrics/);

      // Quiet now: the TCP sessions ended (round trips), the UDP flow stays until idle.
      const deadline = Date.now() + 20_000;
      let counters: { generation: string; global: Record<string, unknown> & { traffic: Record<string, string> }; rules: { rule_name: string; traffic: Record<string, string> & { drops: { reason: string; count: string }[] } }[] };
      for (;;) {
        counters = await telemetry.call('GetCounters', {});
        if (counters.global.traffic.sessions_closed === '3' || Date.now() > deadline) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      const text = await scrape(metricsPort);
      const again = await telemetry.call<typeof counters>('GetCounters', {});
      expect(again.global).toEqual(counters.global);

      if (promtoolMissing) {
        console.log(`promtool check skipped: ${promtoolMissing}`);
      } else {
        const child = execFile('promtool', ['check', 'metrics']);
        const result = new Promise<{ code: number | null; out: string }>((res) => {
          let out = '';
          child.stdout?.on('data', (c: Buffer) => (out += c.toString()));
          child.stderr?.on('data', (c: Buffer) => (out += c.toString()));
          child.on('exit', (code) => res({ code, out }));
        });
        child.stdin?.end(text);
        const { code, out } = await result;
        expect(out).toBe('');
        expect(code).toBe(0);
      }

      const all = samples(text);
      /** `undefined` as a label value: the series has no such label (the rule-less global series). */
      const one = (name: string, labels: Record<string, string | undefined> = {}): number | undefined =>
        all.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
      const g = counters.global;
      const global = { rule: undefined };
      expect(one('portplane_sessions_opened_total', global)).toBe(Number(g.traffic.sessions_opened));
      expect(one('portplane_sessions_closed_total', global)).toBe(Number(g.traffic.sessions_closed));
      expect(one('portplane_sessions_active', global)).toBe(Number(g.traffic.sessions_active));
      expect(one('portplane_relayed_bytes_total', { ...global, direction: 'from_client' })).toBe(Number(g.traffic.bytes_from_client));
      expect(one('portplane_relayed_bytes_total', { ...global, direction: 'to_client' })).toBe(Number(g.traffic.bytes_to_client));
      expect(one('portplane_relayed_bytes_total', { ...global, direction: 'from_client' })).toBe(6000 + 512);
      expect(one('portplane_drops_total', { ...global, reason: 'filter' })).toBe(1);
      // Every reason has its global series, and only the listed reasons exist.
      const globalReasons = all.filter((s) => s.name === 'portplane_drops_total' && s.labels.rule === undefined).map((s) => s.labels.reason);
      expect(globalReasons.sort()).toEqual([...DROP_REASONS].sort());
      const packetReasons = all.filter((s) => s.name === 'portplane_packet_drops_total').map((s) => s.labels.reason);
      expect(packetReasons.sort()).toEqual([...PACKET_DROP_REASONS].sort());
      expect(one('portplane_applies_total', { result: 'succeeded' })).toBe(Number(g.applies_succeeded));
      expect(one('portplane_applies_total', { result: 'failed' })).toBe(Number(g.applies_failed));
      expect(one('portplane_applies_total', { result: 'failed' })).toBe(2);
      expect(one('portplane_config_generation')).toBe(Number(counters.generation));
      expect(one('portplane_build_info', { backend: 'kernel', version: BUILD_INFO.version, node_version: process.version })).toBe(1);
      const committedAt = one('portplane_last_apply_timestamp_seconds')!;
      expect(committedAt).toBeGreaterThan(Date.now() / 1000 - 120);
      for (const rule of counters.rules) {
        const labels = { table: 'web', rule: rule.rule_name };
        expect(one('portplane_relayed_bytes_total', { ...labels, direction: 'from_client' })).toBe(Number(rule.traffic.bytes_from_client));
        expect(one('portplane_relayed_bytes_total', { ...labels, direction: 'to_client' })).toBe(Number(rule.traffic.bytes_to_client));
        expect(one('portplane_sessions_opened_total', labels)).toBe(Number(rule.traffic.sessions_opened));
        expect(one('portplane_relayed_packets_total', { ...labels, direction: 'from_client' })).toBe(Number(rule.traffic.packets_from_client));
        for (const drop of rule.traffic.drops) {
          const reason = drop.reason.replace('DROP_REASON_', '').toLowerCase();
          expect(one('portplane_drops_total', { ...labels, reason })).toBe(Number(drop.count));
        }
      }
      expect(one('portplane_sessions_opened_total', { table: 'web', rule: 'dns', protocol: 'udp' })).toBe(1);
      // Bounded labels: the rule's, the direction, the drop reason, the apply result, build info, HA role and sync state.
      const labelNames = new Set(all.filter((s) => s.name.startsWith('portplane_')).flatMap((s) => Object.keys(s.labels)));
      expect([...labelNames].sort()).toEqual(['backend', 'direction', 'node_version', 'protocol', 'reason', 'result', 'role', 'rule', 'state', 'table', 'version']);
      // Process metrics.
      expect(one('process_cpu_seconds_total')).toBeGreaterThan(0);
      expect(one('process_resident_memory_bytes')).toBeGreaterThan(0);
      expect((await fetch(`http://127.0.0.1:${metricsPort}/other`)).status).toBe(404);
      ctx.annotate(`${all.length} samples`);
    } finally {
      config.close();
      telemetry.close();
      await stopDaemon(d);
      await removeDir(stateDir);
    }
  });

  it('logs one line per session close with its totals under --log-sessions, and none without it', async () => {
    const runOnce = async (args: string[]): Promise<Record<string, unknown>[]> => {
      const stateDir = await tempStateDir();
      const d = await startDaemon(stateDir, args);
      const config = new ServiceClient('ConfigService', d.target);
      try {
        const port = await freePort();
        await config.call('ApplyConfig', {
          tables: [{ name: 't', rules: [{ name: 'r', protocol: 'PROTOCOL_TCP', listen_address: '127.0.0.1', ports: { first: port, last: port }, target_address: '127.0.0.1', target_port: echo.port }] }],
        });
        expect((await roundTrip(port, 'y'.repeat(4321))).length).toBe(4321);
        // The close is logged on the event loop turn after it happens; wait for the daemon to report it.
        const telemetry = new ServiceClient('TelemetryService', d.target);
        const deadline = Date.now() + 20_000;
        while (Date.now() < deadline) {
          const c = await telemetry.call<{ global: { traffic: { sessions_closed: string } } }>('GetCounters', {});
          if (c.global.traffic.sessions_closed === '1') break;
          await new Promise((r) => setTimeout(r, 50));
        }
        telemetry.close();
        await new Promise((r) => setTimeout(r, 200));
      } finally {
        config.close();
        await stopDaemon(d);
        await removeDir(stateDir);
      }
      return d.logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === 'session closed');
    };
    const logged = await runOnce(['--log-sessions']);
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatchObject({ level: 30, table: 't', rule: 'r', protocol: 'tcp', bytesFromClient: 4321, bytesToClient: 4321, reason: 'client' });
    expect(logged[0]!.durationMs).toEqual(expect.any(Number));
    expect(await runOnce([])).toEqual([]);
  });

  it('keeps the commit time of the running configuration across a restart that restores it', async () => {
    const stateDir = await tempStateDir();
    const metricsPort = await freePort();
    const args = [`--metrics-listen=127.0.0.1:${metricsPort}`];
    let d = await startDaemon(stateDir, args);
    try {
      const config = new ServiceClient('ConfigService', d.target);
      const port = await freePort();
      await config.call('ApplyConfig', {
        tables: [{ name: 'web', rules: [{ name: 'http', protocol: 'PROTOCOL_TCP', listen_address: '127.0.0.1', ports: { first: port, last: port }, target_address: '127.0.0.1', target_port: echo.port }] }],
      });
      config.close();
      const before = samples(await scrape(metricsPort)).find((s) => s.name === 'portplane_last_apply_timestamp_seconds')!.value;
      expect(before).toBeGreaterThan(0);
      await stopDaemon(d);
      d = await startDaemon(stateDir, args);
      const after = samples(await scrape(metricsPort));
      expect(after.find((s) => s.name === 'portplane_config_generation')?.value).toBe(1);
      expect(after.find((s) => s.name === 'portplane_last_apply_timestamp_seconds')?.value).toBe(before);
    } finally {
      await stopDaemon(d);
      await removeDir(stateDir);
    }
  });
});
