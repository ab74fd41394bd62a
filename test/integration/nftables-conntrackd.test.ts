/**
 * HA for the nftables backend on an existing engine: two portplane nodes
 * (nftables backend, same configuration) in namespaces this test creates,
 * Debian's conntrackd in FTFW mode on each, syncing over a dedicated link.
 * A TCP flow runs through node A; A fails (its links go down), node B takes
 * the virtual addresses, commits conntrackd's external cache into its kernel
 * (`conntrackd -c`, what keepalived's notify_master runs) and the same flow
 * keeps echoing through B: B's ruleset lets only a SYN open a NAT binding, so
 * the flow survives only because the synced entry carries it. The neighbour
 * caches of the client and server are flushed in place of keepalived's
 * gratuitous ARP. Addresses are 10.211.x.y on links inside these namespaces.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NftablesDataPlane } from '../../src/dataplane/nftables/index.js';
import { ServiceClient } from '../helpers/daemon-process.js';
import { startTestDaemon, type TestDaemon } from '../helpers/in-process-daemon.js';
import { ip, NetnsNode, netnsSkipReason } from '../helpers/netns.js';

function skipReason(): string | undefined {
  const netns = netnsSkipReason();
  if (netns) return netns;
  for (const tool of ['conntrackd', 'conntrack', 'nft']) {
    if (spawnSync(tool, ['--version']).error) return `${tool} is not installed (apt-get install conntrackd conntrack nftables; .ci/run installs them)`;
  }
  return undefined;
}
const skip = skipReason();

const id = process.pid % 100000;
const NS = { c: `ppct-c-${id}`, s: `ppct-s-${id}`, a: `ppct-a-${id}`, b: `ppct-b-${id}` };
const NODES = ['a', 'b'] as const;
const CLIENT = '10.211.1.2';
const SERVER = '10.211.2.2';
const VIP_C = '10.211.1.100';
const VIP_S = '10.211.2.100';
const NODE_IP = { a: { c: '10.211.1.11', s: '10.211.2.11', sync: '10.211.3.1' }, b: { c: '10.211.1.12', s: '10.211.2.12', sync: '10.211.3.2' } };
const table = `pp_ct_${id}`;

const inNs = (ns: string, ...cmd: string[]): string => {
  const r = spawnSync('ip', ['netns', 'exec', ns, ...cmd], { encoding: 'utf8', timeout: 20_000 });
  if (r.status !== 0) throw new Error(`${cmd.join(' ')} in ${ns}: ${(r.error?.message ?? r.stderr).trim()}`);
  return r.stdout;
};

const SERVER_SCRIPT = `
require('net').createServer((s) => { s.on('error', () => {}); s.pipe(s); })
  .listen(8080, '${SERVER}', () => console.log(JSON.stringify({ event: 'listening' })));`;

/** One TCP flow through the virtual address, one write every 20 ms; "stats" prints bytes echoed and the longest gap. */
const CLIENT_SCRIPT = `
const f = { sent: 0, received: 0, maxGap: 0, last: Date.now(), error: '' };
const s = require('net').connect({ host: '${VIP_C}', port: 80 }, () => {
  console.log(JSON.stringify({ event: 'connected', port: s.localPort }));
  setInterval(() => { if (s.writable) { s.write(Buffer.alloc(64, 1)); f.sent += 64; } }, 20);
});
s.on('data', (d) => { const t = Date.now(); f.maxGap = Math.max(f.maxGap, t - f.last); f.last = t; f.received += d.length; });
s.on('error', (e) => { f.error = e.code || e.message; });
s.on('close', () => { f.error = f.error || 'closed'; });
process.stdin.setEncoding('utf8').on('data', (l) => {
  if (l.includes('reset')) { f.maxGap = 0; f.last = Date.now(); }
  if (l.includes('stats')) console.log(JSON.stringify({ event: 'stats', seq: Date.now(), ...f }));
});`;

function conntrackdConfig(node: 'a' | 'b', dir: string, syncIf: string): string {
  const own = NODE_IP[node].sync;
  const peer = NODE_IP[node === 'a' ? 'b' : 'a'].sync;
  return `Sync {
  Mode FTFW {
  }
  UDP {
    IPv4_address ${own}
    IPv4_Destination_Address ${peer}
    Port 3780
    Interface ${syncIf}
    Checksum on
  }
}
General {
  HashSize 8192
  HashLimit 65536
  Syslog off
  LogFile ${dir}/conntrackd-${node}.log
  LockFile ${dir}/conntrackd-${node}.lock
  UNIX {
    Path ${dir}/conntrackd-${node}.ctl
  }
  NetlinkBufferSize 2097152
  NetlinkBufferSizeMaxGrowth 8388608
  Filter From Userspace {
    Protocol Accept {
      TCP
      UDP
    }
    Address Ignore {
      IPv4_address 127.0.0.1
      IPv4_address ${NODE_IP.a.sync}
      IPv4_address ${NODE_IP.b.sync}
    }
  }
}
`;
}

describe.skipIf(skip !== undefined)('nftables backend: session continuity with conntrackd (FTFW) across a takeover', () => {
  let dir = '';
  const daemons: TestDaemon[] = [];
  const conntrackd: ChildProcess[] = [];
  let server: NetnsNode | undefined;
  let client: NetnsNode | undefined;
  const conf = (node: 'a' | 'b'): string => join(dir, `conntrackd-${node}.conf`);
  const ifName = (what: string, node: string): string => `${what}${node}${id}`; // <= 15 characters

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'portplane-ctd-'));
    for (const ns of Object.values(NS)) {
      ip('netns', 'add', ns);
      ip('-n', ns, 'link', 'set', 'lo', 'up');
    }
    // The client's and the server's LANs: a bridge in their namespace, one port per node.
    for (const [side, ns, addr] of [['c', NS.c, CLIENT], ['s', NS.s, SERVER]] as const) {
      ip('-n', ns, 'link', 'add', 'br0', 'type', 'bridge');
      ip('-n', ns, 'addr', 'add', `${addr}/24`, 'dev', 'br0');
      ip('-n', ns, 'link', 'set', 'br0', 'up');
      for (const node of NODES) {
        const ours = ifName(`${side}l`, node);
        const theirs = ifName(`${side}n`, node);
        ip('link', 'add', ours, 'netns', ns, 'type', 'veth', 'peer', 'name', theirs, 'netns', NS[node]);
        ip('-n', ns, 'link', 'set', ours, 'master', 'br0', 'up');
        ip('-n', NS[node], 'addr', 'add', `${NODE_IP[node][side]}/24`, 'dev', theirs);
        ip('-n', NS[node], 'link', 'set', theirs, 'up');
      }
    }
    ip('-n', NS.s, 'route', 'add', 'default', 'via', VIP_S);
    ip('link', 'add', ifName('sy', 'a'), 'netns', NS.a, 'type', 'veth', 'peer', 'name', ifName('sy', 'b'), 'netns', NS.b);
    for (const node of NODES) {
      ip('-n', NS[node], 'addr', 'add', `${NODE_IP[node].sync}/24`, 'dev', ifName('sy', node));
      ip('-n', NS[node], 'link', 'set', ifName('sy', node), 'up');
      inNs(NS[node], 'sysctl', '-qw', 'net.ipv4.ip_forward=1');
    }
    // A is active: it holds the virtual addresses.
    ip('-n', NS.a, 'addr', 'add', `${VIP_C}/24`, 'dev', ifName('cn', 'a'));
    ip('-n', NS.a, 'addr', 'add', `${VIP_S}/24`, 'dev', ifName('sn', 'a'));

    server = new NetnsNode(NS.s, SERVER_SCRIPT);
    await server.json<{ event: string }>((l) => l.event === 'listening');
    // Both nodes: the same configuration, so the same counter ids and ct marks.
    const rules = [{ name: 'web', protocol: 'PROTOCOL_TCP', listen_address: VIP_C, ports: { first: 80, last: 80 }, target_address: SERVER, target_port: 8080 }];
    for (const node of NODES) {
      const dataplane = new NftablesDataPlane({ netns: NS[node], tableName: table, driftIntervalMs: 0 });
      const daemon = await startTestDaemon({ dataplane });
      daemons.push(daemon);
      const config = new ServiceClient('ConfigService', daemon.target);
      await config.call('ApplyConfig', { tables: [{ name: 't', rules }] });
      config.close();
      // Synced entries carry no TCP window history: a standby that takes over must not call their segments invalid.
      inNs(NS[node], 'sysctl', '-qw', 'net.netfilter.nf_conntrack_tcp_be_liberal=1');
      await writeFile(conf(node), conntrackdConfig(node, dir, ifName('sy', node)));
      const child = spawn('ip', ['netns', 'exec', NS[node], 'conntrackd', '-C', conf(node)], { stdio: 'ignore' });
      conntrackd.push(child);
    }
    // conntrackd answers on its UNIX socket once it runs.
    for (const node of NODES) {
      const deadline = Date.now() + 10_000;
      while (spawnSync('ip', ['netns', 'exec', NS[node], 'conntrackd', '-C', conf(node), '-s']).status !== 0) {
        if (Date.now() > deadline) throw new Error(`conntrackd in ${NS[node]} did not start`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }, 60_000);

  afterAll(async () => {
    await client?.stop();
    await server?.stop();
    for (const c of conntrackd) if (c.exitCode === null) c.kill('SIGKILL');
    for (const d of daemons) await d.stop();
    for (const ns of Object.values(NS)) spawnSync('ip', ['netns', 'delete', ns]);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('the standby commits the synced NAT binding and the established flow goes on through it', async () => {
    client = new NetnsNode(NS.c, CLIENT_SCRIPT);
    const { port } = await client.json<{ event: string; port: number }>((l) => l.event === 'connected');
    const stats = async (): Promise<{ received: number; maxGap: number; error: string }> => {
      const after = Date.now();
      client!.send('stats');
      return client!.json<{ event: string; seq: number; received: number; maxGap: number; error: string }>((l) => l.event === 'stats' && l.seq >= after);
    };
    await new Promise((r) => setTimeout(r, 500));
    expect((await stats()).received).toBeGreaterThan(0);
    expect(inNs(NS.a, 'conntrack', '-L', '-p', 'tcp', '--sport', String(port))).toContain(`src=${SERVER} dst=${CLIENT}`);

    // The flow's entry reaches B's external cache (FTFW: sequenced, acknowledged).
    const deadline = Date.now() + 10_000;
    let external = '';
    while (!external.includes(`sport=${port}`)) {
      if (Date.now() > deadline) throw new Error(`the flow never reached B's external cache: ${external}`);
      await new Promise((r) => setTimeout(r, 200));
      external = inNs(NS.b, 'conntrackd', '-C', conf('b'), '-e');
    }
    expect(inNs(NS.b, 'conntrack', '-L', '-p', 'tcp', '--sport', String(port))).not.toContain(`sport=${port}`);

    // A fails; B takes the addresses and commits what conntrackd synced (keepalived's notify_master).
    for (const side of ['c', 's'] as const) ip('-n', NS.a, 'link', 'set', ifName(`${side}n`, 'a'), 'down');
    ip('-n', NS.b, 'addr', 'add', `${VIP_C}/24`, 'dev', ifName('cn', 'b'));
    ip('-n', NS.b, 'addr', 'add', `${VIP_S}/24`, 'dev', ifName('sn', 'b'));
    inNs(NS.b, 'conntrackd', '-C', conf('b'), '-c');
    ip('-n', NS.c, 'neigh', 'flush', 'dev', 'br0');
    ip('-n', NS.s, 'neigh', 'flush', 'dev', 'br0');
    const committed = inNs(NS.b, 'conntrack', '-L', '-p', 'tcp', '--sport', String(port));
    expect(committed).toContain(`src=${SERVER} dst=${CLIENT}`);
    expect(committed).toMatch(/mark=[1-9]/);

    client.send('reset');
    const before = (await stats()).received;
    await new Promise((r) => setTimeout(r, 1500));
    const after = await stats();
    expect(after.error).toBe('');
    expect(after.received - before).toBeGreaterThan(64 * 20);
    // The flow is B's now: its conntrack entry counts the packets.
    expect(inNs(NS.b, 'conntrack', '-L', '-p', 'tcp', '--sport', String(port))).toContain('ESTABLISHED');

    // B's portplane sees the session under the rule the mark names.
    const sessions = new ServiceClient('SessionService', daemons[1]!.target);
    const listed = await sessions.call<{ sessions: { client: { address: string; port: number } }[] }>('ListSessions', {});
    sessions.close();
    expect(listed.sessions.some((s) => s.client.address === CLIENT && Number(s.client.port) === port)).toBe(true);
  }, 60_000);
});
