/**
 * The nftables backend's incremental applies as hand-built netlink batches
 * (src/dataplane/nftables/netlink-batch.ts, native/nftables `batch`), in a
 * network namespace the test creates: after a delta sent that way the table
 * lists exactly as a whole rewrite of the same state through libnftables
 * does (every statement kind, filter sets of both families, v4 and v6,
 * any-address, UDP, rules added, changed and removed), and the addon
 * refuses messages for another table and batches at a stale generation.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NftablesDataPlane } from '../../src/dataplane/nftables/index.js';
import { createNftRunner } from '../../src/dataplane/nftables/nft-runner.js';
import { ServiceClient } from '../helpers/daemon-process.js';
import { startTestDaemon, type TestDaemon } from '../helpers/in-process-daemon.js';
import { ip, nftIn, nftSkipReason } from '../helpers/netns.js';

const skip = nftSkipReason();
if (skip) console.info(`skipped: ${skip}`);


/** The table as nft lists it, without handles, elements in a stable order. */
function listing(ns: string, table: string): unknown[] {
  const strip = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(strip);
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).filter(([k]) => k !== 'handle').map(([k, x]) => [k, k === 'elem' && Array.isArray(x) ? x.map(strip).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))) : strip(x)]));
    return v;
  };
  const items = (JSON.parse(nftIn(ns, '-j', 'list', 'table', 'inet', table)) as { nftables: Record<string, unknown>[] }).nftables.filter((i) => !('metainfo' in i));
  return items.map(strip).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
}

/**
 * The table as the kernel holds it, as libnftnl prints it (`--debug=netlink`): every rule's expressions
 * with registers and userdata, every element's raw key, value and flags. Without rule handles; a set's
 * elements sorted, a chain's rules in order; a rule's anonymous map in place of its name.
 */
function bytecode(ns: string, table: string): string[] {
  // The debug lines, without the listing that follows them (listing() compares that).
  const [debug] = nftIn(ns, '--debug=netlink', 'list', 'table', 'inet', table).split(/^table inet /m);
  const blocks = debug!
    .split(/\n(?=inet )/)
    .map((block) => {
      const [head, ...lines] = block.trimEnd().split('\n');
      const header = head!.replace(/(\s+\d+)+\s*$/, ''); // handle, position
      return header.includes(' @') ? [header, ...lines.sort()].join('\n') : [header, ...lines].join('\n');
    });
  // An anonymous map's name is the kernel's counter (creation order): a rule's own map is compared by its elements.
  const anonymous = new Map<string, string>();
  for (const block of blocks) {
    const name = /^inet \S+ @(__map\d+)/.exec(block)?.[1];
    if (name) anonymous.set(name, block.split('\n').slice(1).join(' ').replace(/\s+/g, ' '));
  }
  return blocks
    .filter((block) => !/^inet \S+ @__map\d+/.test(block))
    .map((block) => block.replace(/set (__map\d+)/g, (_, name: string) => `set { ${anonymous.get(name) ?? name} }`))
    .sort((a, b) => a.split('\n')[0]!.localeCompare(b.split('\n')[0]!));
}

const LIMITS = { max_sessions: 1000000, session_rate: 1000000, session_burst: 1000000, source_rate: 1000000, source_burst: 1000000 };
const tcp = (name: string, port: number, extra: Record<string, unknown> = {}) => ({
  name,
  protocol: 'PROTOCOL_TCP',
  listen_address: '10.30.0.1',
  ports: { first: port, last: port + 4 },
  target_address: '10.30.0.2',
  target_port: 9000,
  limits: LIMITS,
  ...extra,
});

describe.skipIf(skip !== undefined)('nftables backend: incremental applies as netlink batches', () => {
  const ns = `pp-nl-${process.pid}`;
  const tableName = `pp_nl_${process.pid}`;
  let daemon: TestDaemon | undefined;

  beforeAll(() => {
    ip('netns', 'add', ns);
  });
  afterAll(async () => {
    await daemon?.stop();
    ip('netns', 'delete', ns);
  });

  it('lists the same table after a netlink delta as after a whole rewrite of the same state', async () => {
    const dataplane = new NftablesDataPlane({ netns: ns, tableName, driftIntervalMs: 0 });
    daemon = await startTestDaemon({ dataplane });
    const config = new ServiceClient('ConfigService', daemon.target);
    const before = [
      tcp('kept', 8000),
      tcp('retargeted', 8100),
      tcp('removed', 8200, { allow: ['192.0.2.0/24'], deny: ['192.0.2.7'] }),
      // Classes (a cap, a per-source meter) that rules of the next apply join by an element: a new class goes through libnftables.
      tcp('classes', 9500, { limits: { ...LIMITS, max_sessions: 50, source_rate: 5, source_burst: 2 } }),
    ];
    await config.call('ApplyConfig', { tables: [{ name: 't', rules: before }] });
    expect(dataplane.writes).toEqual({ netlink: 0, libnftables: 1 });

    const after = [
      tcp('kept', 8000),
      tcp('retargeted', 8100, { target_port: 9100, exclude: [{ first: 8102, last: 8102 }] }),
      // Every statement: filters of both families (adjacent and overlapping CIDRs merge), ct count, both buckets.
      tcp('filtered', 8300, {
        allow: ['198.51.100.0/25', '198.51.100.128/25', '203.0.113.0/24', '203.0.113.64/26', '2001:db8::/32'],
        deny: ['198.51.100.9', '0.0.0.0/1', '2001:db8::1'],
        limits: { max_sessions: 7, session_rate: 100, session_burst: 20, source_rate: 5, source_burst: 2 },
      }),
      tcp('v6', 8400, { listen_address: '2001:db8:1::1', target_address: '2001:db8:1::2', allow: ['2001:db8:2::/48'], limits: { ...LIMITS, source_rate: 3, source_burst: 1 } }),
      { ...tcp('any', 8500, { listen_address: '' }), protocol: 'PROTOCOL_UDP', target_address: '10.30.0.3', limits: { ...LIMITS, max_sessions: 50 } },
      tcp('any6', 8600, { listen_address: '::', target_address: '2001:db8:1::3' }),
      // Its own target: a hairpin pair of its own.
      tcp('hairpin', 8700, { target_address: '10.30.0.4' }),
      // A chain's own DNAT targets without a map (a source filter keeps them in a chain of their own): one port for the
      // rule's one port; the listening port kept (IPv4 and IPv6).
      tcp('one-port', 8800, { ports: { first: 8800, last: 8800 }, allow: ['10.0.0.0/8'] }),
      tcp('same-port6', 9100, { listen_address: '2001:db8:1::1', target_address: '2001:db8:1::2', target_port: 0, allow: ['2001:db8::/32'] }),
      // Default-like limits in the shared chain: members of the classes m_50 and s_5_2 by an element.
      tcp('class-member', 9600, { limits: { ...LIMITS, max_sessions: 50, source_rate: 5, source_burst: 2 } }),
      // Shared-chain rules: the listening port kept, IPv6 with offsets, UDP on any address.
      tcp('same-port', 8900, { target_port: 0 }),
      tcp('v6-shared', 9200, { listen_address: '2001:db8:1::1', target_address: '2001:db8:1::2', target_port: 9300, limits: { ...LIMITS, session_rate: 300, session_burst: 30 } }),
      { ...tcp('udp-shared', 9400, { listen_address: '', limits: { ...LIMITS, max_udp_flows: 1000000 } }), protocol: 'PROTOCOL_UDP', target_address: '10.30.0.5' },
    ];
    await config.call('ApplyConfig', { tables: [{ name: 't', rules: after }] });
    expect(dataplane.writes).toEqual({ netlink: 1, libnftables: 1 });
    const delta = listing(ns, tableName);
    const deltaCode = bytecode(ns, tableName);
    expect(deltaCode.join('\n')).toContain('[ nat dnat ip6 addr_min reg 1 addr_max reg 1 proto_min reg 2 proto_max reg 2');
    // Port offsets through the rule's own anonymous map, created in the same batch.
    expect(nftIn(ns, 'list', 'table', 'inet', tableName)).toMatch(/dnat ip6 to \[2001:db8:1::2\]:tcp dport map \{ 8400 : 9000, [^}]*8404 : 9004 \}/);
    expect(nftIn(ns, 'list', 'table', 'inet', tableName)).toMatch(/ct count over 7/);
    // The classes' rules (kept when their last member, 'classes', goes), and their members ('any' is UDP with a cap of 50: the same class as TCP's).
    expect(nftIn(ns, 'list', 'chain', 'inet', tableName, 'cap')).toMatch(/meta l4proto udp ct mark @m_50 add @cnt \{ ct mark ct count over 50 \} ct mark @c_cap reject$/m);
    expect(nftIn(ns, 'list', 'chain', 'inet', tableName, 'srate4')).toMatch(/meta l4proto tcp ct mark @s_5_2 update @src4 \{ ct mark \. ip saddr limit rate over 5\/second burst 2 packets \} ct mark @c_srate reject with tcp reset/);
    expect(nftIn(ns, 'list', 'set', 'inet', tableName, 'm_50')).toMatch(/elements = \{ 0x[0-9a-f]{8}, 0x[0-9a-f]{8} \}/);
    expect(nftIn(ns, 'list', 'table', 'inet', tableName)).toMatch(/dnat ip to 10\.30\.0\.2:9000 comment "portplane t\/one-port"/);
    // The shared chain's data: each port's target by id . port (offsets mapped, the excluded port absent), each rule's named limit.
    const n4 = nftIn(ns, 'list', 'map', 'inet', tableName, 'n4');
    expect(n4).toMatch(/\. 8900 : 10\.30\.0\.2 \. 8900\b/);
    expect(n4).toMatch(/\. 8101 : 10\.30\.0\.2 \. 9101\b/);
    expect(n4).not.toMatch(/\. 8102 :/);
    expect(n4).toMatch(/\. 9404 : 10\.30\.0\.5 \. 9004\b/);
    expect(nftIn(ns, 'list', 'map', 'inet', tableName, 'n6')).toMatch(/\. 9204 : 2001:db8:1::2 \. 9304\b/);
    expect(nftIn(ns, 'list', 'table', 'inet', tableName)).toMatch(/limit lim\d+ \{\s*rate over 300\/second burst 30 packets/);
    expect(deltaCode.join('\n')).toContain('[ objref sreg 1 set lim ]');
    // Only the rules with source filters have a chain of their own (filtered, v6, one-port, same-port6).
    expect(nftIn(ns, 'list', 'table', 'inet', tableName).match(/chain r\d+ /g)).toHaveLength(4);
    expect(nftIn(ns, 'list', 'table', 'inet', tableName)).toMatch(/dnat ip6 to 2001:db8:1::2 comment "portplane t\/same-port6"/);

    // A foreign change makes the ownership check rewrite the same state whole, through libnftables.
    nftIn(ns, 'add', 'rule', 'inet', tableName, 'lookup', 'counter');
    dataplane.checkOwnership(true);
    expect(dataplane.writes).toEqual({ netlink: 1, libnftables: 2 });
    expect(listing(ns, tableName)).toEqual(delta);
    expect(bytecode(ns, tableName)).toEqual(deltaCode);

    // And back: removals and changes as a delta, again equal to the whole rewrite.
    await config.call('ApplyConfig', { tables: [{ name: 't', rules: before }] });
    expect(dataplane.writes).toEqual({ netlink: 2, libnftables: 2 });
    const back = listing(ns, tableName);
    const backCode = bytecode(ns, tableName);
    nftIn(ns, 'add', 'rule', 'inet', tableName, 'lookup', 'counter');
    dataplane.checkOwnership(true);
    expect(listing(ns, tableName)).toEqual(back);
    expect(bytecode(ns, tableName)).toEqual(backCode);
  });

  it('refuses messages naming another table and a batch at a stale generation', () => {
    const runner = createNftRunner(ns);
    if (!runner.batch) throw new Error('the addon did not load');
    nftIn(ns, 'add', 'table', 'inet', `${tableName}_x`);
    // NEWCHAIN r1 in table <other>, family inet, as netlink-batch.ts builds it.
    const chainMessage = (table: string, flags = 0x400, alsoTable?: string): Buffer => {
      const attr = (type: number, value: string): Buffer => {
        const v = Buffer.from(`${value}\0`);
        const head = Buffer.alloc(4);
        head.writeUInt16LE(4 + v.length);
        head.writeUInt16LE(type, 2);
        return Buffer.concat([head, v, Buffer.alloc((4 - (v.length % 4)) % 4)]);
      };
      const body = Buffer.concat([attr(1, table), attr(3, 'r1'), ...(alsoTable === undefined ? [] : [attr(1, alsoTable)])]);
      const head = Buffer.alloc(20);
      head.writeUInt32LE(20 + body.length);
      head.writeUInt16LE((10 << 8) | 3, 4);
      head.writeUInt16LE(flags, 6);
      head.writeUInt8(1, 16);
      return Buffer.concat([head, body]);
    };
    expect(() => runner.batch!(tableName, chainMessage(`${tableName}_x`), runner.generation()!)).toThrow(/names another table/);
    // The kernel reads the last of two table attributes: ours first does not vouch for the message.
    expect(() => runner.batch!(tableName, chainMessage(tableName, 0x400, `${tableName}_x`), runner.generation()!)).toThrow(/names another table/);
    expect(nftIn(ns, 'list', 'table', 'inet', `${tableName}_x`)).not.toContain('r1');
    expect(() => runner.batch!(tableName, chainMessage(tableName), 0)).toThrow(/generation as an integer 1\.\.2\^32-1/);
    expect(() => runner.batch!(tableName, chainMessage(tableName).subarray(0, 30), runner.generation()!)).toThrow(/bad length/);
    const stale = runner.generation()! - 1;
    expect(runner.batch(`${tableName}_x`, chainMessage(`${tableName}_x`), stale)).toMatchObject({ ok: false, restart: true });
    expect(nftIn(ns, 'list', 'table', 'inet', `${tableName}_x`)).not.toContain('r1');
    expect(runner.batch(`${tableName}_x`, chainMessage(`${tableName}_x`), runner.generation()!)).toMatchObject({ ok: true });
    expect(nftIn(ns, 'list', 'table', 'inet', `${tableName}_x`)).toContain('chain r1');
    // Refused by the kernel (create, exclusive: the chain exists): which message, why, and nothing of the batch committed.
    const other = chainMessage(`${tableName}_x`);
    other.write('r2\0', other.length - 4);
    const generation = runner.generation()!;
    expect(runner.batch(`${tableName}_x`, Buffer.concat([other, chainMessage(`${tableName}_x`, 0x400 | 0x200)]), generation)).toMatchObject({ ok: false, restart: false, errno: 17, index: 1 });
    expect(runner.generation()).toBe(generation);
    expect(nftIn(ns, 'list', 'table', 'inet', `${tableName}_x`)).not.toContain('chain r2');
  });
});
