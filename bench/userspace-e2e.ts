/**
 * The userspace backend end to end, as users deploy it, side by side with
 * plain kernel DNAT and the kernel-sockets backend in one run. Three network
 * namespaces this benchmark creates and removes (names carry its pid): a
 * client (A), a node (R) and a server (B) joined by veths. In R:
 *   - dnat:      an nftables DNAT of 10.200.8.1 to the server (no daemon);
 *   - kernel:    `serve --backend kernel`, listening on R's own 10.200.1.1;
 *   - userspace: `serve --backend userspace --tun`, 10.200.9.1 routed into
 *                the TUN and the server's replies from 10.200.2.3 policy-routed
 *                back into it (docs/api.md "Userspace backend on a TUN device");
 *   - userspace-js: the same with PORTPLANE_USERSPACE_NATIVE=0 (the JavaScript
 *                packet path), when PATHS lists it;
 *   - userspace-qN: the native loop on N TUN queues (--tun-queues N), when PATHS lists it;
 *   - userspace-poll: the native loop reading with poll and read instead of
 *                io_uring (PORTPLANE_TUN_URING=0), when PATHS lists it.
 * Per path: iperf3 TCP 1 and 4 streams, short TCP connections/s (wrk with
 * `Connection: close` against nginx in B), UDP 64 B and 1,400 B datagrams/s
 * received with loss (iperf3 -u -b 0, 2 MiB socket buffers), the daemon's CPU
 * per test (and per thread), the whole machine's busy share and its CPU time
 * per connection or datagram, and per connection the packets R forwarded and
 * the TUN carried.
 *
 *   npm run bench:userspace-e2e     (root; SECONDS=3 REPS=1 PATHS=dnat,kernel,userspace by default;
 *                                    TESTS=short,UDP a subset; path userspace-q2: the native loop on 2 TUN queues;
 *                                    UDP_WINDOW=default / UDP_PIN=1: see below)
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { removeDir, ServiceClient, startDaemon, stopDaemon, tempStateDir, type DaemonProcess } from '../test/helpers/daemon-process.js';
import { ip, netnsSkipReason } from '../test/helpers/netns.js';

const SECONDS = Number(process.env.SECONDS_PER_TEST ?? process.env.SECONDS ?? 3);
const REPS = Number(process.env.REPS ?? 1);
const PATHS = (process.env.PATHS ?? 'dnat,kernel,userspace').split(',').filter(Boolean);
/** A subset of the tests by name prefix (e.g. TESTS=UDP), for quick looks; all by default. */
const ONLY = (process.env.TESTS ?? '').split(',').filter(Boolean);

const skip = netnsSkipReason({ tun: true }) ?? missingTools();
if (skip) {
  console.log(`bench:userspace-e2e skipped: ${skip}`);
  process.exit(0);
}

function missingTools(): string | undefined {
  const missing = ['iperf3', 'wrk', 'nginx', 'nft'].filter((t) => spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0);
  return missing.length ? `missing ${missing.join(', ')} (apt-get install iperf3 wrk nginx nftables)` : undefined;
}

const tag = `ppe2e${process.pid}`;
const NS = { a: `${tag}-a`, r: `${tag}-r`, b: `${tag}-b` };
const NODE_A = '10.200.1.1';
const SERVER = '10.200.2.2';
/** The userspace path's target: a second server address, so only its replies are policy-routed into the TUN. */
const SERVER_US = '10.200.2.3';
const DNAT_VIP = '10.200.8.1';
const TUN_VIP = '10.200.9.1';
const TUN = `pt${process.pid}`.slice(0, 15);
const IPERF_PORT = 5201;
const HTTP_PORT = 8080;
const work = mkdtempSync(join(tmpdir(), 'portplane-e2e-'));

function inNs(ns: string, cmd: string[], timeoutMs = 60_000): string {
  const r = spawnSync('ip', ['netns', 'exec', ns, ...cmd], { encoding: 'utf8', timeout: timeoutMs });
  if (r.status !== 0) throw new Error(`${cmd.join(' ')} in ${ns} failed: ${(r.error?.message ?? r.stderr ?? '').trim()}`);
  return r.stdout;
}

function sysctl(ns: string, key: string, value: string): void {
  inNs(ns, ['sh', '-c', `echo ${value} > /proc/sys/${key.replaceAll('.', '/')}`]);
}

function topology(): void {
  for (const ns of Object.values(NS)) ip('netns', 'add', ns);
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
  ip('-n', NS.b, 'address', 'add', `${SERVER_US}/24`, 'dev', 'eth0');
  ip('-n', NS.r, 'link', 'set', 'lo', 'up');
}

const children: { kill: () => void }[] = [];

function background(ns: string, cmd: string[]): number {
  const child = spawn('ip', ['netns', 'exec', ns, ...cmd], { stdio: 'ignore' });
  children.push({ kill: () => child.kill('SIGKILL') });
  // `ip netns exec` execs the command: the pid is the command's.
  return child.pid ?? 0;
}

/** The iperf3 servers' pids (UDP tests pin them). */
const iperfServers: number[] = [];

function servers(): void {
  // One iperf3 server per address: a UDP reply leaves from the address its socket is bound to.
  iperfServers.push(background(NS.b, ['iperf3', '-s', '-B', SERVER, '-p', String(IPERF_PORT)]));
  iperfServers.push(background(NS.b, ['iperf3', '-s', '-B', SERVER_US, '-p', String(IPERF_PORT)]));
  writeFileSync(
    join(work, 'nginx.conf'),
    `daemon off; master_process off; worker_processes 1; pid ${work}/nginx.pid; error_log ${work}/nginx.err;
events { worker_connections 4096; }
http { access_log off; keepalive_timeout 0;
  client_body_temp_path ${work}/b; proxy_temp_path ${work}/p; fastcgi_temp_path ${work}/f; uwsgi_temp_path ${work}/u; scgi_temp_path ${work}/s;
  server { listen ${HTTP_PORT}; location / { return 200 "ok\\n"; } } }
`,
  );
  background(NS.b, ['nginx', '-p', work, '-c', join(work, 'nginx.conf')]);
}

function cpuTicks(pid: number, path = `/proc/${pid}/stat`): number {
  const stat = readFileSync(path, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

/** CPU ticks of each of the daemon's threads by tid (the JavaScript thread's tid is the pid; loop and relay threads are others). */
function threadTicks(pid: number): Map<number, number> {
  const ticks = new Map<number, number>();
  let tids: string[] = [];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return ticks;
  }
  for (const tid of tids) {
    try {
      ticks.set(Number(tid), cpuTicks(Number(tid), `/proc/${pid}/task/${tid}/stat`));
    } catch {
      // The thread ended meanwhile.
    }
  }
  return ticks;
}

/** The daemon's CPU by thread over a test: the JavaScript thread, the two busiest others, the rest (percent of one core). */
function threadShares(pid: number, before: Map<number, number>, seconds: number): string {
  const after = threadTicks(pid);
  const used = [...after].map(([tid, t]) => [tid, (t - (before.get(tid) ?? 0)) / 100 / seconds * 100] as const).sort((a, b) => b[1] - a[1]);
  const main = used.find(([tid]) => tid === pid)?.[1] ?? 0;
  const others = used.filter(([tid]) => tid !== pid);
  const rest = others.slice(2).reduce((sum, [, c]) => sum + c, 0);
  return `JS thread ${main.toFixed(0)}%, ${others.slice(0, 2).map(([tid, c]) => `thread ${tid} ${c.toFixed(0)}%`).join(', ')}, other threads ${rest.toFixed(0)}%`;
}

/** Busy and total CPU time of the whole machine so far (/proc/stat, clock ticks; idle and iowait are not busy). */
function machineTicks(): { busy: number; total: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1, 9).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: total - f[3]! - f[4]!, total };
}

interface Result {
  value: number;
  loss?: number;
  cpu?: number;
  /** The whole machine's busy share during the test (every process: client, server, daemon, kernel), 0-100% of all cores. */
  machine?: number;
  /** Machine CPU time per unit of the result (per connection, per datagram): what one costs end to end, in microseconds. */
  cpuPerUnitUs?: number;
}

function iperfTcp(host: string, port: number, streams: number): Result {
  const out = JSON.parse(inNs(NS.a, ['iperf3', '-c', host, '-p', String(port), '-t', String(SECONDS), '-P', String(streams), '--json'])) as {
    end: { sum_received?: { bits_per_second: number } };
    error?: string;
  };
  if (!out.end.sum_received) throw new Error(`iperf3 failed: ${out.error}`);
  return { value: out.end.sum_received.bits_per_second / 1e9 };
}

/** A /proc/net/snmp counter of `ns` (this namespace's UDP stack). */
function snmp(ns: string, proto: string, field: string): number {
  const lines = inNs(ns, ['cat', '/proc/net/snmp']).split('\n').filter((l) => l.startsWith(`${proto}:`));
  const names = lines[0]?.split(/\s+/) ?? [];
  const values = lines[1]?.split(/\s+/) ?? [];
  return Number(values[names.indexOf(field)] ?? NaN);
}

function linkStat(ns: string, dev: string, name: string): number {
  try {
    return Number(inNs(ns, ['cat', `/sys/class/net/${dev}/statistics/${name}`]).trim());
  } catch {
    return NaN;
  }
}

/** Packets the backlog queues dropped (/proc/net/softnet_stat column 2, all CPUs; not per namespace). */
function backlogDrops(): number {
  return readFileSync('/proc/net/softnet_stat', 'utf8')
    .trim()
    .split('\n')
    .reduce((sum, line) => sum + parseInt(line.split(/\s+/)[1]!, 16), 0);
}

/**
 * Where a UDP test's datagrams went missing, from the counters along the
 * way: the sender's socket, the TUN queue (tx_dropped: the kernel could not
 * queue for portplane), the CPUs' backlog queues, the server's socket buffer.
 */
function lossCounters(): Record<string, number> {
  return {
    senderSndbufErrors: snmp(NS.a, 'Udp', 'SndbufErrors'),
    routerForwarded: snmp(NS.r, 'Ip', 'ForwDatagrams'),
    tunTxDropped: linkStat(NS.r, TUN, 'tx_dropped'),
    tunRxPackets: linkStat(NS.r, TUN, 'rx_packets'),
    backlogDrops: backlogDrops(),
    serverVethRxDropped: linkStat(NS.b, 'eth0', 'rx_dropped'),
    serverInDatagrams: snmp(NS.b, 'Udp', 'InDatagrams'),
    serverRcvbufErrors: snmp(NS.b, 'Udp', 'RcvbufErrors'),
    serverInErrors: snmp(NS.b, 'Udp', 'InErrors'),
  };
}

/**
 * UDP_PIN=1 pins the UDP tests' sender (iperf3 client) to CPU 0 and the
 * receiver (both iperf3 servers) to CPU 1, every path alike (daemons are
 * never pinned). Off by default: on this shared 2-core machine it made
 * DNAT's figure hang on whatever else ran on CPU 0 (docs/benchmarks.md,
 * fifth round).
 */
const UDP_PIN = process.env.UDP_PIN === '1' && availableParallelism() >= 2;
/**
 * The UDP sockets' buffer (iperf3 -w: the receiver's SO_RCVBUF, the sender's
 * SO_SNDBUF), the same for every path. 2 MiB by default, so the figure is
 * what the path forwards and the receiver takes, not how many of a burst the
 * default ~208 KiB receive buffer (a few hundred 64 B datagrams) happened to
 * hold; UDP_WINDOW=default keeps the system default (rounds 1 to 4).
 */
const UDP_WINDOW = process.env.UDP_WINDOW === 'default' ? undefined : (process.env.UDP_WINDOW ?? '2M');

function pinServers(cpus: string): void {
  for (const pid of iperfServers) spawnSync('taskset', ['-a', '-p', '-c', cpus, String(pid)], { stdio: 'ignore' });
}

function iperfUdp(host: string, port: number, size: number): Result {
  if (UDP_PIN) pinServers('1');
  try {
    return iperfUdpRun(host, port, size);
  } finally {
    if (UDP_PIN) pinServers(`0-${availableParallelism() - 1}`);
  }
}

function iperfUdpRun(host: string, port: number, size: number): Result {
  const before = lossCounters();
  const pin = UDP_PIN ? ['taskset', '-c', '0'] : [];
  const window = UDP_WINDOW ? ['-w', UDP_WINDOW] : [];
  const out = JSON.parse(inNs(NS.a, [...pin, 'iperf3', '-c', host, '-p', String(port), '-u', '-b', '0', '-l', String(size), ...window, '-t', String(SECONDS), '--json'])) as {
    end: { sum?: { packets: number; lost_packets: number; seconds: number; lost_percent: number } };
    error?: string;
  };
  const s = out.end.sum;
  if (!s) throw new Error(`iperf3 failed: ${out.error}`);
  const after = lossCounters();
  const moved = Object.entries(after)
    .filter(([k]) => Number.isFinite(after[k]!) && Number.isFinite(before[k]!))
    .map(([k, v]) => `${k} ${v - before[k]!}`);
  console.log(`  UDP ${size} B: iperf3 sent ${s.packets}, lost ${s.lost_packets}; counters: ${moved.join(', ')}`);
  return { value: (s.packets - s.lost_packets) / s.seconds / 1000, loss: s.lost_percent };
}

/** wrk's threads for short connections (WRK_THREADS; default 1): one thread caps plain DNAT near a core of client work. */
const WRK_THREADS = Number(process.env.WRK_THREADS ?? 1);

/** Packets per connection through the node: what R's stack forwarded, what the TUN carried each way (NaN: no TUN on this path). */
function nodePackets(): { forwarded: number; intoTun: number; fromTun: number } {
  return { forwarded: snmp(NS.r, 'Ip', 'ForwDatagrams'), intoTun: linkStat(NS.r, TUN, 'tx_packets'), fromTun: linkStat(NS.r, TUN, 'rx_packets') };
}

function shortConns(host: string, port: number): Result {
  const before = nodePackets();
  const out = inNs(NS.a, ['wrk', '-t', String(WRK_THREADS), '-c', '32', '-d', `${SECONDS}s`, '-H', 'Connection: close', `http://${host}:${port}/`]);
  const after = nodePackets();
  const rate = /Requests\/sec:\s+([\d.]+)/.exec(out);
  if (!rate) throw new Error(`wrk printed no rate: ${out}`);
  const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? NaN);
  const per = (k: keyof ReturnType<typeof nodePackets>) => ((after[k] - before[k]) / requests).toFixed(1);
  // A TUN packet is one pass through R's stack into the device and one back out: the forwarded count holds the second.
  console.log(`  per connection: R forwarded ${per('forwarded')} packets${Number.isFinite(after.intoTun) ? `, into the TUN ${per('intoTun')}, out of it ${per('fromTun')}` : ''}`);
  const errors = /Socket errors: (.*)/.exec(out);
  if (errors) console.log(`  wrk socket errors: ${errors[1]}`);
  const latency = /Latency\s+(\S+)\s+(\S+)\s+(\S+)/.exec(out);
  if (latency) console.log(`  wrk latency: mean ${latency[1]}, stdev ${latency[2]}, max ${latency[3]}`);
  return { value: Number(rate[1]) / 1000 };
}

interface Path {
  name: string;
  /** Where the client connects: iperf3 and HTTP addresses/ports. */
  iperf: { host: string; port: number };
  http: { host: string; port: number };
  daemon?: DaemonProcess;
  teardown: () => Promise<void>;
}

const IPERF_LISTEN = 15201;
const HTTP_LISTEN = 18080;

function rules(listen: string, target: string, perPort: boolean): object {
  const limits = { max_sessions: 1_000_000, session_rate: 1_000_000, session_burst: 1_000_000, source_rate: 1_000_000, source_burst: 1_000_000 };
  const iperfPort = perPort ? IPERF_LISTEN : IPERF_PORT;
  const httpPort = perPort ? HTTP_LISTEN : HTTP_PORT;
  return {
    tables: [
      {
        name: 'bench',
        rules: [
          { name: 'iperf-tcp', protocol: 'PROTOCOL_TCP', listen_address: listen, ports: { first: iperfPort }, target_address: target, target_port: IPERF_PORT, limits },
          { name: 'iperf-udp', protocol: 'PROTOCOL_UDP', listen_address: listen, ports: { first: iperfPort }, target_address: target, target_port: IPERF_PORT, limits },
          { name: 'http', protocol: 'PROTOCOL_TCP', listen_address: listen, ports: { first: httpPort }, target_address: target, target_port: HTTP_PORT, limits },
        ],
      },
    ],
  };
}

async function daemonPath(name: string, args: string[], env: Record<string, string>, listen: string, target: string, perPort: boolean): Promise<{ daemon: DaemonProcess; stateDir: string }> {
  const stateDir = await tempStateDir();
  const saved = { ...process.env };
  Object.assign(process.env, env);
  const daemon = await startDaemon(stateDir, ['--log-level', 'info', ...args], { prefix: ['ip', 'netns', 'exec', NS.r], compiled: true });
  process.env = saved;
  const config = new ServiceClient('ConfigService', daemon.target);
  await config.call('ApplyConfig', rules(listen, target, perPort));
  const caps = await config.call<{ capabilities: { supported: string[]; details?: Record<string, string> } }>('GetCapabilities', {});
  config.close();
  console.log(`${name}: daemon pid ${daemon.pid}; capabilities ${JSON.stringify(caps.capabilities)}`);
  return { daemon, stateDir };
}

async function setupPath(name: string): Promise<Path> {
  switch (name) {
    case 'dnat': {
      const table = `ppbench${process.pid}`;
      writeFileSync(
        join(work, 'dnat.nft'),
        `table ip ${table} {\n  chain pre {\n    type nat hook prerouting priority -100;\n    ip daddr ${DNAT_VIP} dnat to ${SERVER};\n  }\n}\n`,
      );
      inNs(NS.r, ['nft', '-f', join(work, 'dnat.nft')]);
      return {
        name,
        iperf: { host: DNAT_VIP, port: IPERF_PORT },
        http: { host: DNAT_VIP, port: HTTP_PORT },
        teardown: async () => void inNs(NS.r, ['nft', 'delete', 'table', 'ip', table]),
      };
    }
    case 'kernel': {
      const { daemon, stateDir } = await daemonPath(name, ['--backend', 'kernel'], {}, NODE_A, SERVER, true);
      return {
        name,
        daemon,
        iperf: { host: NODE_A, port: IPERF_LISTEN },
        http: { host: NODE_A, port: HTTP_LISTEN },
        teardown: async () => {
          await stopDaemon(daemon);
          await removeDir(stateDir);
        },
      };
    }
    case 'userspace':
    case 'userspace-js':
    case 'userspace-poll':
    case /^userspace-q\d+$/.test(name) ? name : '': {
      const env: Record<string, string> =
        name === 'userspace-js' ? { PORTPLANE_USERSPACE_NATIVE: '0' } : name === 'userspace-poll' ? { PORTPLANE_TUN_URING: '0' } : {};
      const queues = /^userspace-q(\d+)$/.exec(name)?.[1];
      const args = ['--backend', 'userspace', '--tun', TUN, '--tun-address', '10.200.9.254/24', ...(queues ? ['--tun-queues', queues] : [])];
      const { daemon, stateDir } = await daemonPath(name, args, env, TUN_VIP, SERVER_US, false);
      ip('-n', NS.r, 'route', 'replace', 'default', 'dev', TUN, 'table', '100');
      ip('-n', NS.r, 'rule', 'add', 'from', SERVER_US, 'iif', 'rb', 'lookup', '100');
      return {
        name,
        daemon,
        iperf: { host: TUN_VIP, port: IPERF_PORT },
        http: { host: TUN_VIP, port: HTTP_PORT },
        teardown: async () => {
          const counters = new ServiceClient('TelemetryService', daemon.target);
          const reading = await counters.call<{ global?: { packet_drops?: { reason: string; count: string }[] } }>('GetCounters', {}).catch((err: Error) => ({ error: err.message }));
          counters.close();
          console.log(`  ${name} packet drops (GetCounters): ${JSON.stringify((reading as { global?: { packet_drops?: unknown } }).global?.packet_drops ?? reading)}`);
          ip('-n', NS.r, 'rule', 'del', 'from', SERVER_US, 'iif', 'rb', 'lookup', '100');
          const logs = daemon.logs.filter((l) => /offload|native|drop/i.test(l));
          for (const l of logs.slice(0, 12)) console.log(`  log: ${l}`);
          await stopDaemon(daemon);
          await removeDir(stateDir);
        },
      };
    }
    default:
      throw new Error(`unknown path ${name} (dnat, kernel, userspace, userspace-js, userspace-poll, userspace-qN)`);
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** perUnit: what one unit of the result is, for the machine's CPU time per unit (rates in thousands per second only). */
const TESTS: { name: string; unit: string; perUnit?: string; run: (p: Path) => Result }[] = [
  { name: 'TCP 1 stream', unit: 'Gbit/s', run: (p) => iperfTcp(p.iperf.host, p.iperf.port, 1) },
  { name: 'TCP 4 streams', unit: 'Gbit/s', run: (p) => iperfTcp(p.iperf.host, p.iperf.port, 4) },
  { name: 'short TCP conns', unit: 'k/s', perUnit: 'connection', run: (p) => shortConns(p.http.host, p.http.port) },
  { name: 'UDP 64 B', unit: 'kpps', perUnit: 'datagram received', run: (p) => iperfUdp(p.iperf.host, p.iperf.port, 64) },
  { name: 'UDP 1400 B', unit: 'kpps', perUnit: 'datagram received', run: (p) => iperfUdp(p.iperf.host, p.iperf.port, 1400) },
];

async function main(): Promise<void> {
  const table = new Map<string, Map<string, Result>>();
  try {
    topology();
    servers();
    await new Promise((r) => setTimeout(r, 500));
    for (const name of PATHS) {
      const path = await setupPath(name);
      const results = new Map<string, Result>();
      try {
        for (const test of TESTS.filter((t) => ONLY.length === 0 || ONLY.some((o) => t.name.startsWith(o)))) {
          const runs: Result[] = [];
          for (let i = 0; i < REPS; i++) {
            const before = path.daemon ? cpuTicks(path.daemon.pid) : 0;
            const machineBefore = machineTicks();
            const threadsBefore = path.daemon ? threadTicks(path.daemon.pid) : undefined;
            const t0 = Date.now();
            let r: Result;
            try {
              r = test.run(path);
            } catch (err) {
              console.log(`${name.padEnd(12)} ${test.name.padEnd(16)} failed: ${(err as Error).message.split('\n')[0]}`);
              r = { value: 0 };
            }
            if (path.daemon) r.cpu = ((cpuTicks(path.daemon.pid) - before) / 100 / ((Date.now() - t0) / 1000)) * 100;
            const machine = machineTicks();
            if (path.daemon && threadsBefore) console.log(`  daemon CPU by thread: ${threadShares(path.daemon.pid, threadsBefore, (Date.now() - t0) / 1000)}`);
            r.machine = ((machine.busy - machineBefore.busy) / (machine.total - machineBefore.total)) * 100;
            // The test's own seconds of traffic (k units/s x SECONDS): busy ticks are 10 ms each.
            if (r.value > 0 && test.perUnit) r.cpuPerUnitUs = ((machine.busy - machineBefore.busy) * 10_000) / (r.value * 1000 * SECONDS);
            runs.push(r);
          }
          const value = median(runs.map((r) => r.value));
          const chosen = runs.find((r) => r.value === value)!;
          results.set(test.name, chosen);
          const loss = chosen.loss === undefined ? '' : ` loss ${chosen.loss.toFixed(1)}%`;
          const cpu = chosen.cpu === undefined ? '' : ` daemon CPU ${chosen.cpu.toFixed(0)}%`;
          const machine = ` machine busy ${chosen.machine!.toFixed(0)}%${chosen.cpuPerUnitUs === undefined ? '' : `, ${chosen.cpuPerUnitUs.toFixed(1)} us CPU per ${test.perUnit}`}`;
          console.log(`${name.padEnd(12)} ${test.name.padEnd(16)} ${value.toFixed(2)} ${test.unit}${loss}${cpu}${machine}  (runs: ${runs.map((r) => r.value.toFixed(2)).join(', ')})`);
        }
      } finally {
        await path.teardown();
      }
      table.set(name, results);
    }
  } finally {
    for (const c of children) c.kill();
    for (const ns of Object.values(NS)) {
      try {
        ip('netns', 'delete', ns);
      } catch {
        // Not created: setup failed before it.
      }
    }
    rmSync(work, { recursive: true, force: true });
  }
  console.log(`\n| test | ${PATHS.join(' | ')} | userspace / kernel | userspace / dnat |`);
  console.log(`|---|${PATHS.map(() => '---|').join('')}---|---|`);
  for (const test of TESTS) {
    const cells = PATHS.map((p) => {
      const r = table.get(p)?.get(test.name);
      if (!r) return '-';
      return `${r.value.toFixed(2)} ${test.unit}${r.loss === undefined ? '' : `, ${r.loss.toFixed(1)}% lost`}${r.cpu === undefined ? '' : `, CPU ${r.cpu.toFixed(0)}%`}`;
    });
    const us = table.get('userspace')?.get(test.name)?.value;
    const k = table.get('kernel')?.get(test.name)?.value;
    const d = table.get('dnat')?.get(test.name)?.value;
    const ratio = (a?: number, b?: number) => (a !== undefined && b ? `${(a / b).toFixed(2)}x` : '-');
    console.log(`| ${test.name} | ${cells.join(' | ')} | ${ratio(us, k)} | ${ratio(us, d)} |`);
  }
}

await main();
