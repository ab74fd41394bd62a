/**
 * The TUN port end to end, as root, in namespaces this test creates and
 * removes: a client in namespace A connects to a forwarded address that
 * router namespace R routes into portplane's TUN device (a real daemon,
 * --backend userspace --tun, running in R); portplane rewrites the
 * destination to a server in namespace B, and R policy-routes B's replies
 * back into the TUN so the engine translates them. The server sees A's own
 * address. Only 10.200.x.y addresses on links inside these namespaces.
 * Twice: with the native packet loop and TUN offloads (the default where
 * the addon loads), and with PORTPLANE_USERSPACE_NATIVE=0 (JavaScript).
 */
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tunSupport } from '../../src/dataplane/userspace/ports/tun-device.js';
import { removeDir, ServiceClient, startDaemon, stopDaemon, tempStateDir, type DaemonProcess } from '../helpers/daemon-process.js';
import { ip, NetnsNode, netnsSkipReason } from '../helpers/netns.js';
import type { TraceResponse__Output } from '../../src/generated/types/portplane/v1/TraceResponse.js';

const skipReason = (() => {
  const netns = netnsSkipReason({ tun: true });
  if (netns) return netns;
  const tun = tunSupport();
  return tun.available ? undefined : tun.reason;
})();
if (skipReason) console.info(`skipped userspace TUN end-to-end test: ${skipReason}`);

const CLIENT = '10.200.1.2';
const SERVER = '10.200.2.2';
const SERVER_PORT = 8080;
/** The forwarded address: R routes its subnet into the TUN device (the address given with --tun-address). */
const SERVICE = '10.200.9.1';
const SERVICE_PORT = 80;
const TUN = 'pptun0';
const REPLIES_TABLE = '100';

/** The server: echoes what it gets and reports each connection's peer and end. */
const SERVER_SCRIPT = `
const net = require('net');
net.createServer((s) => {
  console.log(JSON.stringify({ event: 'connection', remoteAddress: s.remoteAddress, remotePort: s.remotePort }));
  s.pipe(s);
  s.on('error', (e) => console.log(JSON.stringify({ event: 'error', code: e.code })));
  s.on('close', () => console.log(JSON.stringify({ event: 'close', remotePort: s.remotePort })));
}).listen(${SERVER_PORT}, '${SERVER}', () => console.log(JSON.stringify({ event: 'listening' })));
`;

/** The client: sends argv[1] random bytes, reports when the echo is complete, and resets the connection on a line on stdin. */
const CLIENT_SCRIPT = `
const net = require('net');
const payload = require('crypto').randomBytes(Number(process.argv[1]));
const s = net.connect({ host: '${SERVICE}', port: ${SERVICE_PORT} }, () => {
  console.log(JSON.stringify({ event: 'connected', localPort: s.localPort }));
  s.write(payload);
});
const chunks = [];
let received = 0;
s.on('data', (d) => {
  chunks.push(d);
  received += d.length;
  if (received >= payload.length) console.log(JSON.stringify({ event: 'echoed', bytes: received, equal: Buffer.concat(chunks).equals(payload) }));
});
s.on('error', (e) => console.log(JSON.stringify({ event: 'error', code: e.code, message: e.message })));
process.stdin.once('data', () => {
  s.resetAndDestroy();
  console.log(JSON.stringify({ event: 'reset' }));
});
`;

interface Line {
  event: string;
  [key: string]: unknown;
}

type WireTrace = TraceResponse__Output;

/** Writes a sysctl of namespace `ns` (/proc/sys/net is per namespace). */
function sysctl(ns: string, key: string, value: string): void {
  ip('netns', 'exec', ns, 'sh', '-c', `echo ${value} > /proc/sys/${key.replaceAll('.', '/')}`);
}

interface Counters {
  global: { traffic: { bytes_from_client: string; bytes_to_client: string; packets_from_client: string } };
}

// The native loop on one queue and on two (IFF_MULTI_QUEUE, a loop thread each; the default is one per core), and the JavaScript path.
for (const { native, queues } of [
  { native: true, queues: 1 },
  { native: true, queues: 2 },
  { native: false, queues: 1 },
]) {
  const variant = native ? `native loop, ${queues} queue${queues > 1 ? 's' : ''}` : 'JavaScript path';
  describe.skipIf(skipReason !== undefined)(`userspace backend on a TUN device (${variant}): namespaces end to end`, () => {
    const tag = `pp${process.pid}${native ? `n${queues}` : 'j'}`;
    const NS = { a: `${tag}-a`, b: `${tag}-b`, r: `${tag}-r` };
    let daemon: DaemonProcess | undefined;
    let stateDir = '';
    let server: NetnsNode | undefined;
    let client: NetnsNode | undefined;
    let config: ServiceClient | undefined;
    let trace: ServiceClient | undefined;
    let telemetry: ServiceClient | undefined;

    beforeAll(async () => {
      for (const ns of Object.values(NS)) ip('netns', 'add', ns);
      // R forwards between A, B and the TUN; packets the engine rewrote arrive on the TUN from addresses routed elsewhere.
      sysctl(NS.r, 'net.ipv4.ip_forward', '1');
      sysctl(NS.r, 'net.ipv4.conf.all.rp_filter', '0');
      sysctl(NS.r, 'net.ipv4.conf.default.rp_filter', '0');
      for (const [side, subnet] of [['a', '1'], ['b', '2']] as const) {
        const ns = NS[side];
        ip('-n', NS.r, 'link', 'add', `r${side}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns);
        ip('-n', NS.r, 'address', 'add', `10.200.${subnet}.1/24`, 'dev', `r${side}`);
        ip('-n', NS.r, 'link', 'set', `r${side}`, 'up');
        ip('-n', ns, 'address', 'add', `10.200.${subnet}.2/24`, 'dev', 'eth0');
        ip('-n', ns, 'link', 'set', 'eth0', 'up');
        ip('-n', ns, 'link', 'set', 'lo', 'up');
        ip('-n', ns, 'route', 'add', 'default', 'via', `10.200.${subnet}.1`);
      }
      stateDir = await tempStateDir();
      // The daemon inherits this process's environment.
      const saved = process.env.PORTPLANE_USERSPACE_NATIVE;
      if (!native) process.env.PORTPLANE_USERSPACE_NATIVE = '0';
      try {
        daemon = await startDaemon(stateDir, ['--backend', 'userspace', '--tun', TUN, '--tun-address', '10.200.9.254/24', '--tun-txqueuelen', '2000', ...(native ? ['--tun-queues', String(queues)] : [])], {
          prefix: ['ip', 'netns', 'exec', NS.r],
        });
      } finally {
        if (saved === undefined) delete process.env.PORTPLANE_USERSPACE_NATIVE;
        else process.env.PORTPLANE_USERSPACE_NATIVE = saved;
      }
      // The server's replies go to the client's real address: send them through the TUN, not straight to A.
      ip('-n', NS.r, 'route', 'add', 'default', 'dev', TUN, 'table', REPLIES_TABLE);
      ip('-n', NS.r, 'rule', 'add', 'iif', 'rb', 'lookup', REPLIES_TABLE);
      config = new ServiceClient('ConfigService', daemon.target);
      trace = new ServiceClient('TraceService', daemon.target);
      telemetry = new ServiceClient('TelemetryService', daemon.target);
      server = new NetnsNode(NS.b, SERVER_SCRIPT);
      await server.json<Line>((l) => l.event === 'listening');
    }, 120_000);

    /** Forwards SERVICE:SERVICE_PORT to the server (the same table every time: applying it again changes nothing). */
    const applyService = () =>
      config!.call('ApplyConfig', {
        tables: [
          {
            name: 'e2e',
            rules: [{ name: 'web', protocol: 'PROTOCOL_TCP', listen_address: SERVICE, ports: { first: SERVICE_PORT }, target_address: SERVER, target_port: SERVER_PORT }],
          },
        ],
      });

    afterAll(async () => {
      config?.close();
      trace?.close();
      telemetry?.close();
      await client?.stop();
      await server?.stop();
      if (daemon) await stopDaemon(daemon);
      // Deleting a namespace removes its veths (both ends), routes and rules, and the TUN device the daemon created.
      for (const ns of Object.values(NS)) {
        try {
          ip('netns', 'delete', ns);
        } catch {
          // Not created (setup failed before it); nothing to remove.
        }
      }
      if (stateDir) await removeDir(stateDir);
    }, 60_000);

    it('reaches the server with the client\'s real address, both ways, and closing removes the session', async () => {
      const caps = (await config!.call<{ capabilities: { supported: string[]; unsupported: { feature: string; reason: string }[] } }>('GetCapabilities', {})).capabilities;
      expect(caps.supported).toContain('tun_port');
      if (native) {
        // Which path runs and which offloads the kernel took (checksum and TSO on every kernel this runs on).
        expect(caps.supported).toEqual(expect.arrayContaining(['native_fast_path', 'tun_offload_csum', 'tun_offload_tso']));
      } else {
        expect(caps.unsupported.find((u) => u.feature === 'native_fast_path')?.reason).toMatch(/PORTPLANE_USERSPACE_NATIVE=0/);
        expect(caps.unsupported.find((u) => u.feature === 'tun_offload_tso')?.reason).toMatch(/JavaScript path/);
      }
      const link = execFileSync('ip', ['-d', '-n', NS.r, 'link', 'show', TUN], { encoding: 'utf8' });
      expect(link).toMatch(/qlen 2000/);
      // Two queues: the device is multi-queue and the startup line says how many loops read it.
      if (queues > 1) {
        expect(link).toMatch(/multi_queue/);
        expect(daemon!.logs.some((l) => /userspace dataplane started/.test(l) && l.includes(`"queues":${queues}`))).toBe(true);
      }
      await applyService();

      // Many segments each way, through the TUN's 1500-byte MTU.
      const bytes = 200_000;
      client = new NetnsNode(NS.a, CLIENT_SCRIPT, [String(bytes)]);
      const connected = await client.json<Line & { localPort: number }>((l) => l.event === 'connected' || l.event === 'error');
      expect(connected.event).toBe('connected');
      const seen = await server!.json<Line & { remoteAddress: string; remotePort: number }>((l) => l.event === 'connection');
      // Only the destination is rewritten: the server sees A's address and port, not R's or the TUN's.
      expect(seen.remoteAddress).toBe(CLIENT);
      expect(seen.remotePort).toBe(connected.localPort);
      expect(await client.json<Line>((l) => l.event === 'echoed')).toMatchObject({ bytes, equal: true });
      // Whatever path moved them, every payload byte is counted each way (the native loop's counts are folded in).
      const counters = await telemetry!.call<Counters>('GetCounters', {});
      expect(Number(counters.global.traffic.bytes_from_client)).toBeGreaterThanOrEqual(bytes);
      expect(Number(counters.global.traffic.bytes_to_client)).toBeGreaterThanOrEqual(bytes);

      const probe = () =>
        trace!.call<WireTrace>('Trace', {
          protocol: 'PROTOCOL_TCP',
          source: { address: CLIENT, port: connected.localPort },
          destination: { address: SERVICE, port: SERVICE_PORT },
          tcp_flags: { ack: true },
        });
      const open = await probe();
      expect(open).toMatchObject({ verdict: 'TRACE_VERDICT_FORWARD', session: 'SESSION_LOOKUP_HIT', nat: { destination: { address: SERVER, port: SERVER_PORT } } });

      client.send('reset');
      await client.json<Line>((l) => l.event === 'reset');
      // The RST crossed the TUN too: the server's connection ends.
      expect(await server!.json<Line>((l) => l.event === 'close' && l.remotePort === connected.localPort)).toBeDefined();
      // A reset session is CLOSED and collected once its short CLOSED timeout passes (10 s); bounded wait.
      let last = open;
      for (let i = 0; i < 120 && last.session === 'SESSION_LOOKUP_HIT'; i++) {
        await new Promise((r) => setTimeout(r, 500));
        last = await probe();
      }
      expect(last.session).toBe('SESSION_LOOKUP_MISS');
    }, 120_000);

    // GRO: a client that sends one MTU-sized segment per packet (gso_max_segs 1, as a sender without GSO would); the loop
    // writes runs of them as TSO super-packets, so the TUN takes back fewer packets than it gave, and every byte arrives intact.
    it.skipIf(!native)('coalesces MTU-sized TCP segments of one flow into super-packets before writing them back', async () => {
      await applyService();
      ip('-n', NS.a, 'link', 'set', 'eth0', 'gso_max_segs', '1');
      const stat = (name: string) => Number(execFileSync('ip', ['netns', 'exec', NS.r, 'cat', `/sys/class/net/${TUN}/statistics/${name}`], { encoding: 'utf8' }));
      const before = { out: stat('tx_packets'), back: stat('rx_packets') };
      const bytes = 4_000_000;
      const sender = new NetnsNode(NS.a, CLIENT_SCRIPT, [String(bytes)]);
      try {
        expect(await sender.json<Line>((l) => l.event === 'connected' || l.event === 'error')).toMatchObject({ event: 'connected' });
        expect(await sender.json<Line>((l) => l.event === 'echoed')).toMatchObject({ bytes, equal: true });
      } finally {
        await sender.stop();
      }
      // At least ~2,700 segments of the client went to portplane; without coalescing every packet read is one packet
      // written, so back would equal out. How many merge depends on how many wait per read round (like the kernel's GRO
      // within one NAPI poll): idle, about half of all packets; on a loaded host, where the sender is the slow side,
      // fewer. At least a tenth of the client's segments merged is coalescing, not noise.
      const out = stat('tx_packets') - before.out;
      const back = stat('rx_packets') - before.back;
      const segments = bytes / 1500;
      expect(out).toBeGreaterThan(segments);
      expect(out - back).toBeGreaterThan(segments / 10);
    }, 120_000);
  });
}
