/**
 * An HA pair in network namespaces this helper creates and removes, for the
 * takeover test and benchmark: a client and a server, two portplane nodes
 * (userspace backend on TUN devices) behind one virtual address on each
 * side that keepalived (VRRP, advert interval 1 s) moves, and a sync link
 * between the nodes. keepalived's notify scripts set each node's role with
 * `portplane ha role`; a track_script notices a dead daemon. Addresses are
 * 10.210.x.y on links inside these namespaces only.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateToken, hashToken } from '../../src/auth/tokens.js';
import { tunSupport } from '../../src/dataplane/userspace/ports/tun-device.js';
import { REPO } from './daemon-process.js';
import { ip, NetnsNode, netnsSkipReason } from './netns.js';
import { issueServerCertificate, makePki, type Pki } from './pki.js';

/** Why the pair cannot be built here, or undefined. */
export function haPairSkipReason(): string | undefined {
  const netns = netnsSkipReason({ tun: true });
  if (netns) return netns;
  const tun = tunSupport();
  if (!tun.available) return tun.reason;
  if (spawnSync('keepalived', ['--version']).error) return 'keepalived is not installed (apt-get install keepalived; .ci/run installs it)';
  if (spawnSync('nft', ['--version']).error) return 'nft is not installed (apt-get install nftables)';
  return undefined;
}

export const NODES = ['n1', 'n2'] as const;
export type NodeName = (typeof NODES)[number];

const CLIENT = '10.210.1.2';
const SERVER = '10.210.2.2';
const VIP_CLIENT_SIDE = '10.210.1.100';
const VIP_SERVER_SIDE = '10.210.2.100';
/** The forwarded address, routed into each node's TUN. */
const SERVICE = '10.210.9.1';
const SYNC: Record<NodeName, string> = { n1: '10.210.3.1', n2: '10.210.3.2' };
const CONTROL_PORT = 7443;
// Close priorities: the backup's VRRP skew time is (256 - priority) / 256 adverts, so 249 waits 27 ms, not 0.6 s.
const PRIORITY: Record<NodeName, number> = { n1: 250, n2: 249 };

/** The compiled CLI when built (CI builds it; it starts faster), else the sources through tsx. */
const ENTRY = existsSync(join(REPO, 'dist/portplane.js')) ? [join(REPO, 'dist/portplane.js')] : ['--import', 'tsx', join(REPO, 'src/cli/main.ts')];

const SERVER_SCRIPT = `
const net = require('net'), dgram = require('dgram');
net.createServer((s) => { s.on('error', () => {}); s.pipe(s); }).listen(8080, '${SERVER}');
const u = dgram.createSocket('udp4');
u.on('message', (m, r) => u.send(m, r.port, r.address));
u.bind(8053, '${SERVER}', () => console.log(JSON.stringify({ event: 'listening' })));
`;

/**
 * The client: argv[1] TCP connections and one UDP flow through the service address, each sending
 * every 20 ms and timing the echoes. Commands on stdin: "reset" starts measuring gaps afresh,
 * "stats" prints them, "new ID" opens one more connection and reports whether its echo came back,
 * "burst N" opens N short connections (one echo each) as fast as they complete, 50 at a time;
 * "udpflows N" opens N UDP flows of one datagram each and keeps them.
 */
const CLIENT_SCRIPT = `
const net = require('net'), dgram = require('dgram');
const TCP_FLOWS = Number(process.argv[1]);
const flows = [];
const track = (name) => { const f = { name, sent: 0, received: 0, lastRx: Date.now(), maxGap: 0, error: '' }; flows.push(f); return f; };
const rx = (f, n) => { const t = Date.now(); f.maxGap = Math.max(f.maxGap, t - f.lastRx); f.lastRx = t; f.received += n; };
let opened = 0;
for (let i = 0; i < TCP_FLOWS; i++) {
  const f = track('tcp' + i);
  const s = net.connect({ host: '${SERVICE}', port: 80 }, () => {
    if (++opened === TCP_FLOWS) console.log(JSON.stringify({ event: 'connected' }));
    setInterval(() => { if (s.writable) { s.write(Buffer.alloc(256, i)); f.sent += 256; } }, 20);
  });
  s.on('data', (d) => rx(f, d.length));
  s.on('error', (e) => { f.error = e.code || e.message; });
}
const uf = track('udp');
const u = dgram.createSocket('udp4');
u.on('message', (m) => rx(uf, m.length));
u.connect(53, '${SERVICE}', () => setInterval(() => { u.send(Buffer.alloc(64, 7)); uf.sent += 64; }, 20));
const echoOnce = (done) => {
  const s = net.connect({ host: '${SERVICE}', port: 80 }, () => s.write('hello'));
  const timer = setTimeout(() => { s.destroy(); done('timeout'); }, 5000);
  s.on('data', () => { clearTimeout(timer); s.end(); done(''); });
  s.on('error', (e) => { clearTimeout(timer); done(e.code || e.message); });
};
require('readline').createInterface({ input: process.stdin }).on('line', (line) => {
  const [cmd, arg] = line.split(' ');
  if (cmd === 'reset') { const t = Date.now(); for (const f of flows) { f.maxGap = 0; f.lastRx = t; } console.log(JSON.stringify({ event: 'reset', id: arg })); }
  if (cmd === 'stats') console.log(JSON.stringify({ event: 'stats', id: arg, at: Date.now(), flows }));
  if (cmd === 'new') echoOnce((error) => console.log(JSON.stringify({ event: 'new', id: arg, ok: !error, error })));
  if (cmd === 'udpflows') {
    const [count, id] = arg.split(':');
    let answered = 0, reported = false;
    const report = () => { if (!reported) { reported = true; console.log(JSON.stringify({ event: 'udpflows', id, answered })); } };
    for (let i = 0; i < Number(count); i++) {
      const s = dgram.createSocket('udp4');
      s.on('message', () => { if (++answered === Number(count)) report(); });
      s.connect(53, '${SERVICE}', () => s.send(Buffer.alloc(16, 1)));
    }
    setTimeout(report, 5000);
  }
  if (cmd === 'burst') {
    const [count, id] = arg.split(':');
    let left = Number(count), running = 0, failed = 0; const t0 = Date.now();
    const next = () => {
      while (running < 50 && left > 0) { left--; running++; echoOnce((e) => { running--; if (e) failed++; if (left === 0 && running === 0) console.log(JSON.stringify({ event: 'burst', id, ms: Date.now() - t0, failed })); else next(); }); }
    };
    next();
  }
});
`;

export interface FlowStats {
  name: string;
  sent: number;
  received: number;
  /** Largest time between two echoes since the last reset, ms. */
  maxGap: number;
  error: string;
}

export interface SyncView {
  role: string;
  sync: { state: string; detail: string; late_heartbeats: string; sessions_imported: string; reconnects: string; lag_events: string };
}

export interface Takeover {
  /** SIGKILL of the active daemon to the virtual address on the standby, ms. */
  vipMs: number;
  /** SIGKILL to the standby reporting the active role (keepalived's notify script ran `portplane ha role active`), ms. */
  roleMs: number;
  before: FlowStats[];
  after: FlowStats[];
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Runs a command inside namespace `ns`; its stdout, or throws with its stderr. */
function inNs(ns: string, command: string[], options: { env?: Record<string, string>; input?: string } = {}): string {
  const r = spawnSync('ip', ['netns', 'exec', ns, ...command], {
    encoding: 'utf8',
    timeout: 30_000,
    env: { ...process.env, ...options.env },
    ...(options.input !== undefined && { input: options.input }),
  });
  if (r.status !== 0) throw new Error(`${command.join(' ')} in ${ns} failed: ${r.stderr || r.error?.message}`);
  return r.stdout;
}

function sysctl(ns: string, key: string, value: string): void {
  inNs(ns, ['sh', '-c', `echo ${value} > /proc/sys/${key.replaceAll('.', '/')}`]);
}

/** Polls `check` until it holds or `timeoutMs` passes; whether it held. */
async function waitFor(check: () => boolean, timeoutMs: number, everyMs = 50): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (check()) return true;
    if (Date.now() > deadline) return false;
    await sleep(everyMs);
  }
}

export class HaPair {
  readonly tag = `h${process.pid % 100_000}`;
  readonly ns = { client: `${this.tag}-c`, server: `${this.tag}-s`, n1: `${this.tag}-n1`, n2: `${this.tag}-n2`, sw: `${this.tag}-sw` };
  private dir = '';
  private pki!: Pki;
  private token = '';
  private readonly daemons = new Map<NodeName, ChildProcess>();
  private readonly keepaliveds: ChildProcess[] = [];
  /** What each node's keepalived printed, for errors. */
  private readonly keepalivedLogs: Record<NodeName, string[]> = { n1: [], n2: [] };
  private server: NetnsNode | undefined;
  client: NetnsNode | undefined;

  /** Namespaces, links, certificates, both daemons with the same tables, keepalived; n1 becomes MASTER and active. */
  async start(): Promise<void> {
    this.dir = await mkdtemp(join(tmpdir(), 'portplane-ha-'));
    this.pki = await makePki(this.dir);
    for (const node of NODES) await issueServerCertificate(this.dir, node, `IP:${SYNC[node]}`);
    this.token = generateToken('ha');
    await writeFile(join(this.dir, 'policy.yaml'), `tokens:\n  ha: ${hashToken(this.token)}\ngrants:\n  - token: ha\n    role: admin\n`);
    this.buildTopology();
    for (const node of NODES) await this.startDaemon(node);
    const tables = join(this.dir, 'tables.yaml');
    await writeFile(
      tables,
      `tables:
  - name: ha
    rules:
      - { name: web, protocol: tcp, listen_address: ${SERVICE}, ports: "80", target_address: ${SERVER}, target_port: 8080 }
      - { name: dns, protocol: udp, listen_address: ${SERVICE}, ports: "53", target_address: ${SERVER}, target_port: 8053 }
`,
    );
    // The operator applies the same tables on both nodes (docs/ha.md).
    for (const node of NODES) this.cli(node, 'apply', tables);
    // n1 first: it becomes MASTER after VRRP's master-down interval and its notify script makes it active. Started
    // together, either could win that race (the priorities are close and nopreempt keeps whoever won).
    await this.startKeepalived('n1');
    this.server = new NetnsNode(this.ns.server, SERVER_SCRIPT);
    await this.server.json<{ event: string }>((l) => l.event === 'listening');
    if (!(await waitFor(() => this.hasVip('n1'), 30_000, 200))) {
      throw new Error(`keepalived did not make n1 MASTER within 30 s; n1: ${this.keepalivedLogs.n1.join('').slice(-2000)}; n2: ${this.keepalivedLogs.n2.join('').slice(-2000)}`);
    }
    if (!(await waitFor(() => this.view('n1').role === 'HA_ROLE_ACTIVE', 30_000, 200))) throw new Error('n1 did not become active within 30 s');
    await this.startKeepalived('n2');
  }

  private buildTopology(): void {
    const { ns } = this;
    for (const name of Object.values(ns)) ip('netns', 'add', name);
    for (const name of Object.values(ns)) ip('-n', name, 'link', 'set', 'lo', 'up');
    for (const bridge of ['brc', 'brs']) {
      ip('-n', ns.sw, 'link', 'add', bridge, 'type', 'bridge');
      ip('-n', ns.sw, 'link', 'set', bridge, 'up');
    }
    const attach = (target: string, ifname: string, swName: string, bridge: string, address: string): void => {
      ip('-n', ns.sw, 'link', 'add', swName, 'type', 'veth', 'peer', 'name', ifname, 'netns', target);
      ip('-n', ns.sw, 'link', 'set', swName, 'master', bridge);
      ip('-n', ns.sw, 'link', 'set', swName, 'up');
      ip('-n', target, 'address', 'add', address, 'dev', ifname);
      ip('-n', target, 'link', 'set', ifname, 'up');
    };
    attach(ns.client, 'eth0', 'c0', 'brc', `${CLIENT}/24`);
    attach(ns.server, 'eth0', 's0', 'brs', `${SERVER}/24`);
    ip('-n', ns.client, 'route', 'add', 'default', 'via', VIP_CLIENT_SIDE);
    ip('-n', ns.server, 'route', 'add', 'default', 'via', VIP_SERVER_SIDE);
    for (const [i, node] of NODES.entries()) {
      attach(ns[node], 'ec', `${node}c`, 'brc', `10.210.1.${11 + i}/24`);
      attach(ns[node], 'es', `${node}s`, 'brs', `10.210.2.${11 + i}/24`);
      sysctl(ns[node], 'net.ipv4.ip_forward', '1');
      sysctl(ns[node], 'net.ipv4.conf.all.rp_filter', '0');
      sysctl(ns[node], 'net.ipv4.conf.default.rp_filter', '0');
      // The server's replies (to the client's own address) go into the TUN, where the engine translates them back;
      // without the TUN (the daemon died) they are dropped, never routed on untranslated: the client would answer
      // the server's real address with a RST and end the very flow the standby is about to carry.
      ip('-n', ns[node], 'route', 'add', 'blackhole', 'default', 'table', '100', 'metric', '4000');
      ip('-n', ns[node], 'rule', 'add', 'iif', 'es', 'lookup', '100');
    }
    ip('-n', ns.n1, 'link', 'add', 'sy', 'type', 'veth', 'peer', 'name', 'sy', 'netns', ns.n2);
    for (const node of NODES) {
      ip('-n', ns[node], 'address', 'add', `${SYNC[node]}/24`, 'dev', 'sy');
      ip('-n', ns[node], 'link', 'set', 'sy', 'up');
    }
  }

  private cliArgs(node: NodeName): string[] {
    return [process.execPath, ...ENTRY, '--address', `${SYNC[node]}:${CONTROL_PORT}`, '--ca', this.pki.cert('ca'), '--timeout', '5000'];
  }

  /** `portplane ARGS` against `node`'s daemon, from inside its namespace; its stdout. */
  cli(node: NodeName, ...args: string[]): string {
    return inNs(this.ns[node], [...this.cliArgs(node), ...args], { env: { PORTPLANE_TOKEN: this.token } });
  }

  view(node: NodeName): SyncView {
    return JSON.parse(this.cli(node, 'ha', 'status', '--json')) as SyncView;
  }

  hasVip(node: NodeName): boolean {
    return inNs(this.ns[node], ['ip', '-4', 'addr', 'show', 'dev', 'ec']).includes(VIP_CLIENT_SIDE);
  }

  /** Bytes sent plus received on `node`'s end of the sync link. */
  syncLinkBytes(node: NodeName): number {
    const stats = JSON.parse(inNs(this.ns[node], ['ip', '-s', '-j', 'link', 'show', 'dev', 'sy'])) as { stats64: { rx: { bytes: number }; tx: { bytes: number } } }[];
    return stats[0]!.stats64.rx.bytes + stats[0]!.stats64.tx.bytes;
  }

  async startDaemon(node: NodeName): Promise<void> {
    const peer: NodeName = node === 'n1' ? 'n2' : 'n1';
    const child = spawn(
      'ip',
      [
        'netns', 'exec', this.ns[node], process.execPath, ...ENTRY, '--state-dir', join(this.dir, `state-${node}`), 'serve', '--metrics-listen=',
        '--backend', 'userspace', '--tun', `${this.tag}${node}`, '--tun-address', '10.210.9.254/24',
        '--listen', `${SYNC[node]}:${CONTROL_PORT}`, '--tls-cert', this.pki.cert(node), '--tls-key', this.pki.key(node),
        '--auth-policy', join(this.dir, 'policy.yaml'),
        '--ha-peer', `${SYNC[peer]}:${CONTROL_PORT}`, '--ha-ca', this.pki.cert('ca'), '--ha-node', node, '--grace-ms', '500',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PORTPLANE_HA_TOKEN: this.token } },
    );
    const logs: string[] = [];
    child.stdout?.setEncoding('utf8').on('data', (c: string) => logs.push(...c.split('\n').filter(Boolean)));
    child.stderr?.setEncoding('utf8').on('data', (c: string) => logs.push(c));
    this.daemons.set(node, child);
    const serving = await waitFor(() => child.exitCode !== null || logs.some((l) => l.includes('portplane serving')), 60_000, 100);
    if (!serving || child.exitCode !== null) throw new Error(`daemon ${node} did not start: ${logs.join('\n')}`);
    inNs(this.ns[node], ['ip', 'route', 'replace', 'default', 'dev', `${this.tag}${node}`, 'table', '100', 'metric', '10']);
    await writeFile(join(this.dir, `${node}.pid`), String(child.pid));
  }

  private async startKeepalived(node: NodeName): Promise<void> {
    const { dir } = this;
    const notify = join(dir, `notify-${node}.sh`);
    await writeFile(notify, `#!/bin/sh\nPORTPLANE_TOKEN='${this.token}' exec ${this.cliArgs(node).join(' ')} ha role "$1" --reason "keepalived $1" >> ${join(dir, `notify-${node}.log`)} 2>&1\n`, { mode: 0o700 });
    const check = join(dir, `check-${node}.sh`);
    await writeFile(check, `#!/bin/sh\nexec kill -0 "$(cat ${join(dir, `${node}.pid`)})"\n`, { mode: 0o700 });
    const conf = join(dir, `keepalived-${node}.conf`);
    await writeFile(
      conf,
      `global_defs {
  router_id ${this.tag}${node}
  script_user root
}
vrrp_script portplane_alive {
  script "${check}"
  interval 1
  fall 1
  rise 1
}
vrrp_instance ${this.tag} {
  state BACKUP
  # A node that comes back does not take the address from the node that took over.
  nopreempt
  interface ec
  virtual_router_id 51
  priority ${PRIORITY[node]}
  advert_int 1
  virtual_ipaddress {
    ${VIP_CLIENT_SIDE}/24 dev ec
    ${VIP_SERVER_SIDE}/24 dev es
  }
  track_script {
    portplane_alive
  }
  notify_master "${notify} active"
  notify_backup "${notify} standby"
  notify_fault "${notify} standby"
}
`,
    );
    const k = spawn('ip', ['netns', 'exec', this.ns[node], 'keepalived', '-n', '-l', '-P', '-f', conf, '-p', join(dir, `ka-${node}.pid`), '-r', join(dir, `ka-vrrp-${node}.pid`)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const log = this.keepalivedLogs[node];
    k.stdout?.setEncoding('utf8').on('data', (c: string) => log.push(c));
    k.stderr?.setEncoding('utf8').on('data', (c: string) => log.push(c));
    this.keepaliveds.push(k);
  }

  /** The client with `tcpFlows` long-lived connections and one UDP flow. */
  async startClient(tcpFlows: number): Promise<void> {
    this.client = new NetnsNode(this.ns.client, CLIENT_SCRIPT, [String(tcpFlows)]);
    await this.client.json<{ event: string }>((l) => l.event === 'connected');
  }

  private nextId = 0;

  /** Sends `command ID` (or `command ARG:ID`) to the client and waits for its answer of `event` with that id. */
  private async ask<T>(command: string, event: string, timeoutMs = 30_000): Promise<T> {
    const id = String(++this.nextId);
    this.client!.send(command.includes(' ') ? `${command}:${id}` : `${command} ${id}`);
    return this.client!.json<T & { event: string; id?: string }>((l) => l.event === event && l.id === id, timeoutMs);
  }

  async stats(): Promise<FlowStats[]> {
    return (await this.ask<{ flows: FlowStats[] }>('stats', 'stats')).flows;
  }

  /** Opens one new connection through the virtual address; whether its echo came back. */
  async newConnection(): Promise<{ ok: boolean; error: string }> {
    return this.ask('new', 'new');
  }

  /** Opens `count` short connections, 50 at a time; how long it took and how many failed. */
  async burst(count: number): Promise<{ ms: number; failed: number }> {
    return this.ask(`burst ${count}`, 'burst', 120_000);
  }

  /** Opens `count` UDP flows (one datagram each) that stay open until they idle out; how many were answered within 5 s. */
  async udpFlows(count: number): Promise<number> {
    return (await this.ask<{ answered: number }>(`udpflows ${count}`, 'udpflows', 60_000)).answered;
  }

  /** SIGKILLs `active`'s daemon, waits for keepalived to move the address and the other node to become active. */
  async killActive(active: NodeName, settleMs: number): Promise<Takeover> {
    const standby: NodeName = active === 'n1' ? 'n2' : 'n1';
    await this.ask('reset', 'reset');
    const before = await this.stats();
    const killedAt = Date.now();
    this.daemons.get(active)!.kill('SIGKILL');
    let vipMs = -1;
    if (await waitFor(() => this.hasVip(standby), 20_000, 10)) vipMs = Date.now() - killedAt;
    let roleMs = -1;
    if (await waitFor(() => this.view(standby).role === 'HA_ROLE_ACTIVE', 20_000, 10)) roleMs = Date.now() - killedAt;
    await sleep(settleMs);
    return { vipMs, roleMs, before, after: await this.stats() };
  }

  /** SIGKILLs `node`'s daemon (keepalived's track script notices). */
  killDaemon(node: NodeName): void {
    this.daemons.get(node)!.kill('SIGKILL');
  }

  /** Drops a share (0..1) of the sync link's packets both ways at `node`, or (0) stops dropping. */
  lossySyncLink(node: NodeName, share: number): void {
    const table = `${this.tag}loss`;
    if (share === 0) {
      inNs(this.ns[node], ['nft', '-f', '-'], { input: `delete table inet ${table}\n` });
      return;
    }
    const every = Math.round(1 / share);
    inNs(this.ns[node], ['nft', '-f', '-'], {
      input: `table inet ${table} {\n chain in { type filter hook input priority 0; iifname "sy" numgen random mod ${every} 0 drop; }\n chain out { type filter hook output priority 0; oifname "sy" numgen random mod ${every} 0 drop; }\n}\n`,
    });
  }

  /** `node` receives nothing over the sync link (what it sends still leaves), or (false) again everything. */
  oneWaySyncLink(node: NodeName, on: boolean): void {
    const table = `${this.tag}oneway`;
    inNs(this.ns[node], ['nft', '-f', '-'], {
      input: on ? `table inet ${table} {\n chain in { type filter hook input priority 0; iifname "sy" drop; }\n}\n` : `delete table inet ${table}\n`,
    });
  }

  async waitForSync(node: NodeName, state: string, timeoutMs: number): Promise<SyncView> {
    let last = this.view(node);
    await waitFor(() => (last = this.view(node)).sync.state === state, timeoutMs, 100);
    return last;
  }

  async stop(): Promise<void> {
    await this.client?.stop();
    await this.server?.stop();
    for (const k of this.keepaliveds) if (k.exitCode === null) k.kill('SIGKILL');
    for (const child of this.daemons.values()) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await sleep(200);
    for (const name of Object.values(this.ns)) {
      try {
        ip('netns', 'delete', name);
      } catch {
        // Not created (setup failed before it); nothing to remove.
      }
    }
    if (this.dir) await rm(this.dir, { recursive: true, force: true });
  }
}
