/**
 * Review of the nftables backend's shared-chain layout (#18, round 7) with
 * real traffic, in a network namespace the test creates (listen 10.77.0.1 /
 * fd77::1, targets 10.77.0.2 / fd77::2 on its loopback; the client and the
 * servers are node processes inside it, so traffic crosses the output hook's
 * DNAT): each shared-chain rule has a session-rate bucket of its own (not
 * shared with another rule, not inherited by a rule added back), a rule moves
 * between the shared chain and a chain of its own in one apply and keeps
 * forwarding, port offsets and exclusions and IPv6 go through `n4`/`n6`,
 * and a foreign edit of the shared data maps is found and repaired.
 */
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DRIFT_CONDITION, NftablesDataPlane } from '../../src/dataplane/nftables/index.js';
import { ServiceClient } from '../helpers/daemon-process.js';
import { startTestDaemon, type TestDaemon } from '../helpers/in-process-daemon.js';
import { ip, NetnsNode, nftIn, nftSkipReason } from '../helpers/netns.js';

const skip = nftSkipReason();
if (skip) console.info(`skipped: ${skip}`);

// Limits that keep a rule in the shared chain: no ct count below nf_conntrack_max, no per-source meter.
const SHARED = { max_sessions: 1000000, max_udp_flows: 1000000, session_rate: 1000000, session_burst: 1000000, source_rate: 1000000, source_burst: 1000000 };
const rule = (name: string, port: number, extra: Record<string, unknown> = {}) => ({
  name,
  protocol: 'PROTOCOL_TCP',
  listen_address: '10.77.0.1',
  ports: { first: port, last: port },
  target_address: '10.77.0.2',
  target_port: 9000,
  limits: SHARED,
  ...extra,
});

/** Every server port answers with its own address and port, then closes. */
const SERVER = `
const net = require('node:net');
const ends = JSON.parse(process.argv[1]);
let up = 0;
for (const [host, port] of ends) {
  net.createServer((s) => s.end(host + ' ' + port)).listen(port, host, () => { if (++up === ends.length) console.log(JSON.stringify({ up })); });
}`;

/** Sequential connections; each answer is what the server wrote, or the error code. */
const CLIENT = `
const net = require('node:net');
const targets = JSON.parse(process.argv[1]);
(async () => {
  const out = [];
  for (const [host, port] of targets) {
    out.push(await new Promise((resolve) => {
      let data = '';
      const s = net.connect({ host, port, timeout: 3000 }, () => {});
      s.setEncoding('utf8').on('data', (d) => (data += d));
      s.on('end', () => resolve(data));
      s.on('timeout', () => { s.destroy(); resolve('ETIMEDOUT'); });
      s.on('error', (e) => resolve(e.code));
    }));
  }
  console.log(JSON.stringify(out));
})();`;

function connect(ns: string, targets: [string, number][]): string[] {
  const r = spawnSync('ip', ['netns', 'exec', ns, process.execPath, '-e', CLIENT, JSON.stringify(targets)], { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`client: ${r.stderr}`);
  return JSON.parse(r.stdout) as string[];
}

/** The counter id (ct mark) the lookup map gives a listening address and port. */
function markOf(ns: string, table: string, map: 'l4' | 'l6', key: RegExp): number | undefined {
  for (const line of nftIn(ns, 'list', 'map', 'inet', table, map).split(/,\s*|\n/)) {
    const m = new RegExp(`${key.source} : 0x([0-9a-f]{8})`).exec(line);
    if (m) return Number.parseInt(m[1]!, 16);
  }
  return undefined;
}

function limitNames(ns: string, table: string): string[] {
  return [...nftIn(ns, 'list', 'table', 'inet', table).matchAll(/^\s*limit (lim\d+) \{/gm)].map((m) => m[1]!).sort();
}

describe.skipIf(skip !== undefined).each(['addon', 'cli'] as const)('nftables backend: shared chain under traffic (%s transport)', (transport) => {
  const ns = `pp-r7sc-${transport}-${process.pid}`;
  const tableName = `pp_r7sc_${transport}_${process.pid}`;
  let daemon: TestDaemon | undefined;
  let server: NetnsNode | undefined;
  let dataplane: NftablesDataPlane;
  let config: ServiceClient;
  const apply = (rules: unknown[]) => config.call<{ generation?: string }>('ApplyConfig', { tables: [{ name: 't', rules }] });

  beforeAll(async () => {
    ip('netns', 'add', ns);
    ip('netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up');
    for (const a of ['10.77.0.1/32', '10.77.0.2/32']) ip('netns', 'exec', ns, 'ip', 'addr', 'add', a, 'dev', 'lo');
    for (const a of ['fd77::1/128', 'fd77::2/128']) ip('netns', 'exec', ns, 'ip', '-6', 'addr', 'add', a, 'dev', 'lo');
    const ends: [string, number][] = [];
    for (let p = 9000; p <= 9012; p++) ends.push(['10.77.0.2', p], ['fd77::2', p]);
    ends.push(['10.77.0.2', 8300]);
    server = new NetnsNode(ns, SERVER, [JSON.stringify(ends)]);
    await server.json<{ up: number }>((l) => l.up === ends.length);
    dataplane = new NftablesDataPlane({ netns: ns, tableName, driftIntervalMs: 300, transport });
    daemon = await startTestDaemon({ dataplane });
    config = new ServiceClient('ConfigService', daemon.target);
  }, 60_000);
  afterAll(async () => {
    await daemon?.stop();
    await server?.stop();
    ip('netns', 'delete', ns);
  });

  it('gives each shared-chain rule a session-rate bucket of its own', async () => {
    const slow = { ...SHARED, session_rate: 1, session_burst: 2 };
    await apply([rule('a', 8000, { limits: slow }), rule('b', 8100, { target_port: 9001, limits: slow })]);
    const table = nftIn(ns, 'list', 'table', 'inet', tableName);
    expect(table).not.toMatch(/chain r\d+ /);
    expect(limitNames(ns, tableName)).toHaveLength(2);
    const a = connect(ns, Array.from({ length: 8 }, () => ['10.77.0.1', 8000] as [string, number]));
    const admitted = a.filter((x) => x === '10.77.0.2 9000').length;
    expect(admitted).toBeGreaterThan(0);
    expect(admitted).toBeLessThan(8);
    expect(a.filter((x) => x !== '10.77.0.2 9000').every((x) => x === 'ECONNREFUSED')).toBe(true);
    // Rule a's bucket is empty now; rule b's is full: the same number of its sessions are admitted.
    const b = connect(ns, Array.from({ length: 8 }, () => ['10.77.0.1', 8100] as [string, number]));
    expect(b.filter((x) => x === '10.77.0.2 9001').length).toBe(admitted);
    // Each rule's refusals are counted under its own id, reason rate.
    const telemetry = new ServiceClient('TelemetryService', daemon!.target);
    const rules = (await telemetry.call<{ rules: { rule_name: string; traffic: { sessions_opened: string; drops: { reason: string; count: string }[] } }[] }>('GetCounters', {})).rules;
    for (const name of ['a', 'b']) {
      const traffic = rules.find((r) => r.rule_name === name)!.traffic;
      expect(Number(traffic.sessions_opened)).toBe(admitted);
      expect(traffic.drops.filter((d) => Number(d.count) > 0).map((d) => [d.reason, Number(d.count)])).toEqual([[expect.stringMatching(/RATE/), 8 - admitted]]);
    }
  }, 60_000);

  it('gives a rule put back (or changed) a fresh bucket and removes the old limit object', async () => {
    const slow = { ...SHARED, session_rate: 1, session_burst: 2 };
    await apply([]);
    await apply([rule('a', 8000, { limits: slow })]);
    const before = limitNames(ns, tableName);
    const a = connect(ns, Array.from({ length: 8 }, () => ['10.77.0.1', 8000] as [string, number]));
    const admitted = a.filter((x) => x === '10.77.0.2 9000').length;
    await apply([]);
    expect(limitNames(ns, tableName)).toEqual([]);
    await apply([rule('a', 8000, { limits: slow })]);
    const after = limitNames(ns, tableName);
    expect(after).toHaveLength(1);
    expect(after).not.toEqual(before);
    expect(connect(ns, Array.from({ length: 8 }, () => ['10.77.0.1', 8000] as [string, number])).filter((x) => x === '10.77.0.2 9000').length).toBe(admitted);
    // A changed rate: a new object with the new rate, the old one gone.
    await apply([rule('a', 8000, { limits: { ...slow, session_rate: 7, session_burst: 9 } })]);
    const changed = limitNames(ns, tableName);
    expect(changed).toHaveLength(1);
    expect(changed).not.toEqual(after);
    expect(nftIn(ns, 'list', 'table', 'inet', tableName)).toMatch(/rate over 7\/second burst 9 packets/);
  }, 60_000);

  it('moves a rule between the shared chain and a chain of its own in one apply, forwarding on both sides', async () => {
    await apply([rule('m', 8000)]);
    expect(connect(ns, [['10.77.0.1', 8000]])).toEqual(['10.77.0.2 9000']);
    // A source filter (and a cap) needs a chain of its own.
    await apply([rule('m', 8000, { allow: ['10.77.0.0/24'], limits: { ...SHARED, max_sessions: 5 } })]);
    let table = nftIn(ns, 'list', 'table', 'inet', tableName);
    expect(table.match(/chain r\d+ /g)).toHaveLength(1);
    expect(limitNames(ns, tableName)).toEqual([]);
    expect(nftIn(ns, 'list', 'map', 'inet', tableName, 'n4')).not.toMatch(/ : 10\.77/);
    expect(connect(ns, [['10.77.0.1', 8000]])).toEqual(['10.77.0.2 9000']);
    // The client (10.77.0.1 on this host) denied: refused in the rule's own chain.
    await apply([rule('m', 8000, { deny: ['10.77.0.1'], limits: { ...SHARED, max_sessions: 5 } })]);
    expect(connect(ns, [['10.77.0.1', 8000]])).toEqual(['ECONNREFUSED']);
    // And back to the shared chain: no chain left, its target in n4 again.
    await apply([rule('m', 8000)]);
    table = nftIn(ns, 'list', 'table', 'inet', tableName);
    expect(table).not.toMatch(/chain r\d+ /);
    expect(nftIn(ns, 'list', 'map', 'inet', tableName, 'rules')).not.toMatch(/goto/);
    expect(limitNames(ns, tableName)).toHaveLength(1);
    expect(connect(ns, [['10.77.0.1', 8000]])).toEqual(['10.77.0.2 9000']);
  }, 60_000);

  it('maps port offsets and leaves excluded ports out, IPv4 and IPv6, and keeps the port with target_port 0', async () => {
    await apply([
      rule('range', 8000, { ports: { first: 8000, last: 8009 }, exclude: [{ first: 8005, last: 8005 }] }),
      rule('range6', 8000, { listen_address: 'fd77::1', target_address: 'fd77::2', ports: { first: 8000, last: 8009 }, exclude: [{ first: 8003, last: 8004 }] }),
      rule('same', 8300, { target_port: 0 }),
    ]);
    expect(nftIn(ns, 'list', 'table', 'inet', tableName)).not.toMatch(/chain r\d+ /);
    expect(connect(ns, [['10.77.0.1', 8000], ['10.77.0.1', 8004], ['10.77.0.1', 8005], ['10.77.0.1', 8009], ['10.77.0.1', 8300]])).toEqual([
      '10.77.0.2 9000',
      '10.77.0.2 9004',
      'ECONNREFUSED',
      '10.77.0.2 9009',
      '10.77.0.2 8300',
    ]);
    expect(connect(ns, [['fd77::1', 8002], ['fd77::1', 8003], ['fd77::1', 8009]])).toEqual(['fd77::2 9002', 'ECONNREFUSED', 'fd77::2 9009']);
  }, 60_000);

  it('forwards an any-address shared-chain rule to local destinations, IPv4 and IPv6', async () => {
    await apply([
      rule('any', 8000, { listen_address: '', target_port: 9007 }),
      rule('any6', 8001, { listen_address: '::', target_address: 'fd77::2', target_port: 9008 }),
    ]);
    expect(nftIn(ns, 'list', 'table', 'inet', tableName)).not.toMatch(/chain r\d+ /);
    expect(connect(ns, [['10.77.0.1', 8000], ['127.0.0.1', 8000], ['fd77::1', 8001], ['fd77::1', 8000]])).toEqual(['10.77.0.2 9007', '10.77.0.2 9007', 'fd77::2 9008', 'ECONNREFUSED']);
  }, 60_000);

  it('refuses an apply whose port a local listener holds without touching the table, and applies it once freed', async () => {
    await apply([rule('k', 8100, { target_port: 9010 })]);
    const strip = (t: string) => t.replace(/counter packets \d+ bytes \d+/g, '');
    const before = strip(nftIn(ns, 'list', 'table', 'inet', tableName));
    const writes = { ...dataplane.writes };
    const local = new NetnsNode(ns, SERVER, [JSON.stringify([['10.77.0.1', 8002]])]);
    const c = rule('c', 8000, { ports: { first: 8000, last: 8004 }, limits: { ...SHARED, session_rate: 500, session_burst: 50 } });
    try {
      await local.json<{ up: number }>((l) => l.up === 1);
      await expect(apply([rule('k', 8100, { target_port: 9011 }), c])).rejects.toThrow(/FAILED_PRECONDITION.*10\.77\.0\.1:8002 EADDRINUSE/);
      // Nothing of it reached the kernel: the table as before, no write made (not written and undone).
      expect(strip(nftIn(ns, 'list', 'table', 'inet', tableName))).toBe(before);
      expect(dataplane.writes).toEqual(writes);
      expect(connect(ns, [['10.77.0.1', 8100], ['10.77.0.1', 8001], ['10.77.0.1', 8002]])).toEqual(['10.77.0.2 9010', 'ECONNREFUSED', '10.77.0.1 8002']);
    } finally {
      await local.stop();
    }
    await apply([rule('k', 8100, { target_port: 9011 }), c]);
    expect(connect(ns, [['10.77.0.1', 8002], ['10.77.0.1', 8100]])).toEqual(['10.77.0.2 9002', '10.77.0.2 9011']);
    expect(nftIn(ns, 'list', 'table', 'inet', tableName).match(/rate over 500\/second burst 50 packets/g)).toHaveLength(1);
  }, 60_000);

  it('finds and repairs a foreign edit of the shared data maps (a lim element gone, an n4 target replaced), counters carried', async () => {
    await apply([rule('d', 8000, { limits: { ...SHARED, session_rate: 1, session_burst: 2 } })]);
    const telemetry = new ServiceClient('TelemetryService', daemon!.target);
    const opened = async () =>
      Number((await telemetry.call<{ rules: { rule_name: string; traffic: { sessions_opened: string } }[] }>('GetCounters', {})).rules.find((r) => r.rule_name === 'd')!.traffic.sessions_opened);
    expect(connect(ns, [['10.77.0.1', 8000]])).toEqual(['10.77.0.2 9000']);
    const before = await opened();
    expect(before).toBeGreaterThanOrEqual(1);
    const mark = markOf(ns, tableName, 'l4', /10\.77\.0\.1 \. tcp \. 8000/);
    expect(mark).toBeDefined();
    const drift = () => dataplane.conditions().find((c) => c.type === DRIFT_CONDITION)!;
    const seen = drift().occurrences;
    // Without its lim element the rule's limit statement never matches: unlimited sessions.
    nftIn(ns, 'delete', 'element', 'inet', tableName, 'lim', `{ ${mark} }`);
    nftIn(ns, 'delete', 'element', 'inet', tableName, 'n4', `{ ${mark} . 8000 }`);
    nftIn(ns, 'add', 'element', 'inet', tableName, 'n4', `{ ${mark} . 8000 : 10.77.0.2 . 9012 }`);
    const t0 = Date.now();
    while (drift().occurrences === seen && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 20));
    expect(drift().occurrences).toBe(seen + 1);
    expect(drift()).toMatchObject({ status: false, reason: 'Restored' });
    expect(nftIn(ns, 'list', 'map', 'inet', tableName, 'lim')).toContain(`lim${mark}`);
    // The repair re-created the counter sets at zero; the counters go on from where they were.
    expect(await opened()).toBe(before);
    expect(connect(ns, [['10.77.0.1', 8000]])).toEqual(['10.77.0.2 9000']);
    expect(await opened()).toBe(before + 1);
  }, 60_000);
});
