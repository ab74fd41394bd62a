/**
 * The nftables backend's ownership of its table, in a network namespace the
 * test creates (the backend programs it through its `netns` option, so the
 * host's nftables are never touched): a concurrent `nft` change is detected
 * within one timer period and repaired; the ruleset maps each port to its
 * rule's id, and the id to the rule's own chain or, in the shared chain, to
 * its named limit and its ports' targets; a table of the earlier layout
 * (a goto per port) left by a previous version is replaced whole by the
 * first apply; a clean stop removes the table unless persist is set.
 */
import { readFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DRIFT_CONDITION, NftablesDataPlane } from '../../src/dataplane/nftables/index.js';
import { ServiceClient } from '../helpers/daemon-process.js';
import { startTestDaemon, type TestDaemon } from '../helpers/in-process-daemon.js';
import { ip, nftIn, nftSkipReason } from '../helpers/netns.js';
import type { DataplaneCondition__Output } from '../../src/generated/types/portplane/v1/DataplaneCondition.js';

const skip = nftSkipReason();
if (skip) console.info(`skipped: ${skip}`);


const rule = (port: number) => ({
  name: 'web',
  protocol: 'PROTOCOL_TCP',
  listen_address: '10.20.0.1',
  ports: { first: port, last: port + 9 },
  exclude: [{ first: port + 5, last: port + 5 }],
  target_address: '10.20.0.2',
  target_port: 9000,
});

describe.skipIf(skip !== undefined)('nftables backend: table ownership', () => {
  const ns = `pp-own-${process.pid}`;
  const tableName = `pp_own_${process.pid}`;
  let daemon: TestDaemon | undefined;
  let dataplane: NftablesDataPlane;

  beforeEach(() => {
    ip('netns', 'add', ns);
  });
  afterEach(async () => {
    await daemon?.stop();
    daemon = undefined;
    ip('netns', 'delete', ns);
  });

  const start = async (persist = false, driftRepair?: 'apply'): Promise<ServiceClient> => {
    dataplane = new NftablesDataPlane({ netns: ns, tableName, driftIntervalMs: 300, persist, driftRepair });
    daemon = await startTestDaemon({ dataplane, metricsListen: '127.0.0.1:0' });
    return new ServiceClient('ConfigService', daemon.target);
  };

  it('writes one map element per port (exclusions absent, offsets mapped) and repairs a concurrent change within one timer period', async () => {
    const config = await start();
    await config.call('ApplyConfig', { tables: [{ name: 't', rules: [rule(8000)] }] });
    const listing = nftIn(ns, 'list', 'map', 'inet', tableName, 'l4');
    // Ports map to the rule's id (its ct mark); a default-limit rule runs in the shared chain (no goto of its own).
    const ids = [...listing.matchAll(/10\.20\.0\.1 \. tcp \. 80\d\d : 0x([0-9a-f]{8})/g)].map((m) => Number.parseInt(m[1]!, 16));
    expect(ids).toHaveLength(9);
    expect(new Set(ids).size).toBe(1);
    const mark = `0x${ids[0]!.toString(16).padStart(8, '0')}`;
    expect(nftIn(ns, 'list', 'map', 'inet', tableName, 'rules')).not.toContain(mark);
    expect(listing).not.toContain('8005');
    // Its targets in n4: id . listening port -> target . target port (offsets mapped; the excluded port is absent).
    const n4 = [...nftIn(ns, 'list', 'map', 'inet', tableName, 'n4').matchAll(new RegExp(`${mark} \\. (\\d+) : 10\\.20\\.0\\.2 \\. (\\d+)`, 'g'))].map((m) => `${m[1]} : ${m[2]}`);
    expect(n4.sort()).toEqual([8000, 8001, 8002, 8003, 8004, 8006, 8007, 8008, 8009].map((p) => `${p} : ${p + 1000}`));

    nftIn(ns, 'add', 'rule', 'inet', tableName, 'lookup', 'counter', 'comment', '"intruder"');
    const t0 = Date.now();
    const drift = () => dataplane!.conditions().find((c) => c.type === DRIFT_CONDITION)!;
    while (drift().occurrences === 0 && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 20));
    expect(drift().occurrences).toBe(1);
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(drift()).toMatchObject({ status: false, reason: 'Restored' });
    expect(nftIn(ns, 'list', 'chain', 'inet', tableName, 'lookup')).not.toContain('intruder');

    // An element deleted behind portplane's back: the next apply rewrites the table in its transaction.
    nftIn(ns, 'delete', 'element', 'inet', tableName, 'l4', '{ 10.20.0.1 . tcp . 8000 }');
    dataplane.checkOwnership(false);
    expect(drift()).toMatchObject({ status: true, reason: 'ChangedByAnotherProgram', occurrences: 2 });
    await config.call('ApplyConfig', { tables: [{ name: 't', rules: [rule(8000), { ...rule(8100), name: 'other' }] }] });
    expect(nftIn(ns, 'list', 'map', 'inet', tableName, 'l4')).toContain('10.20.0.1 . tcp . 8000');
    expect(drift()).toMatchObject({ status: false, reason: 'Restored' });
    config.close();
  });

  it('gives a rule only the statements that can act on it', async () => {
    const config = await start();
    const unbounded = { max_sessions: 1000000, session_rate: 5000, session_burst: 100, source_rate: 5000, source_burst: 100 };
    const tables = (extra: unknown[]) => [
      { name: 't', rules: [{ ...rule(8000), name: 'capped' }, { ...rule(8100), name: 'open', listen_address: '', limits: unbounded }, ...extra] },
    ];
    await config.call('ApplyConfig', { tables: tables([]) });
    // The first apply may be the one that loads conntrack (so nf_conntrack_max becomes readable);
    // any later apply builds the chains for the capacity read then.
    await config.call('ApplyConfig', { tables: tables([{ ...rule(8200), name: 'third' }]) });
    const max = Number(readFileSync('/proc/sys/net/netfilter/nf_conntrack_max', 'utf8'));
    expect(max).toBeLessThan(1000000);
    const chains = nftIn(ns, 'list', 'table', 'inet', tableName).split(/\n\s*chain /);
    const chainOf = (name: string): string => chains.find((c) => c.includes(`portplane t/${name}"`))!;
    const markOf = (port: number): string => /: (0x[0-9a-f]{8})/.exec([nftIn(ns, 'list', 'map', 'inet', tableName, 'l4'), nftIn(ns, 'list', 'map', 'inet', tableName, 'a4')].join(',').split(',').find((e) => e.includes(`tcp . ${port} :`))!)![1]!;
    // Default limits: a cap below the conntrack table's capacity and a per-source bucket stricter than the rule's,
    // as members of their classes (no chain of its own): `ct count` per element of cnt, the meter keyed by mark . saddr.
    expect(chainOf('capped')).toBeUndefined();
    expect(nftIn(ns, 'list', 'set', 'inet', tableName, 'm_16384')).toContain(markOf(8000));
    expect(nftIn(ns, 'list', 'set', 'inet', tableName, 's_2000_4000')).toContain(markOf(8000));
    expect(nftIn(ns, 'list', 'chain', 'inet', tableName, 'cap')).toMatch(/ct mark @m_16384 add @cnt \{ ct mark ct count over 16384 \}/);
    expect(nftIn(ns, 'list', 'chain', 'inet', tableName, 'srate4')).toMatch(/ct mark @s_2000_4000 update @src4 \{ ct mark \. ip saddr limit rate over 2000\/second burst 4000 packets \}/);
    // A cap the conntrack table cannot reach and a per-source bucket as fast and deep as the rule's: neither is emitted,
    // so the rule has no chain of its own; the shared chain takes its rate from its named limit and its targets from n4.
    expect(chainOf('open')).toBeUndefined();
    expect(nftIn(ns, 'list', 'set', 'inet', tableName, 'm_16384')).not.toContain(markOf(8100));
    const open = Number.parseInt(/tcp \. 8100 : 0x([0-9a-f]{8})/.exec(nftIn(ns, 'list', 'map', 'inet', tableName, 'a4'))![1]!, 16);
    expect(nftIn(ns, 'list', 'map', 'inet', tableName, 'lim')).toMatch(new RegExp(`0x${open.toString(16).padStart(8, '0')} : "lim${open}"`));
    expect(nftIn(ns, 'list', 'limit', 'inet', tableName, `lim${open}`)).toMatch(/rate over 5000\/second burst 100 packets/);
    expect(nftIn(ns, 'list', 'map', 'inet', tableName, 'n4')).toMatch(new RegExp(`0x${open.toString(16).padStart(8, '0')} \\. 8100 : 10\\.20\\.0\\.2 \\. 9000`));
    expect(nftIn(ns, 'list', 'map', 'inet', tableName, 'rules')).not.toContain(`r${open}`);
    // An any-address rule checks for a local destination after the map hit, before the shared chain.
    expect(nftIn(ns, 'list', 'chain', 'inet', tableName, 'any4').trim().split('\n')[2]).toMatch(/fib daddr type != local ct mark set 0x00000000 return/);
    expect(nftIn(ns, 'list', 'chain', 'inet', tableName, 'lookup')).not.toContain('fib');
    config.close();
  });

  it('reports a concurrent nft change in LastApplyResult and /metrics until the next apply restores the table', async () => {
    const config = await start(false, 'apply');
    const tables = [{ name: 't', rules: [rule(8000)] }];
    await config.call('ApplyConfig', { tables });
    type Wire = DataplaneCondition__Output;
    const status = async (): Promise<Wire> =>
      (await config.call<{ conditions: Wire[] }>('LastApplyResult', {})).conditions.find((c) => c.type === DRIFT_CONDITION)!;
    const metric = async (name: string): Promise<number> => {
      const text = await (await fetch(`http://${daemon!.daemon.metricsAddress}/metrics`)).text();
      const line = text.split('\n').find((l) => l.startsWith(`${name}{condition="${DRIFT_CONDITION}"}`));
      if (!line) throw new Error(`no ${name} series for ${DRIFT_CONDITION} in /metrics`);
      return Number(line.split(' ').pop());
    };
    expect(await status()).toMatchObject({ status: false, occurrences: '0' });
    expect(await metric('portplane_dataplane_condition')).toBe(0);

    nftIn(ns, 'add', 'rule', 'inet', tableName, 'lookup', 'counter', 'comment', '"intruder"');
    const t0 = Date.now();
    while (!(await status()).status && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 50));
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(await status()).toMatchObject({ status: true, reason: 'ChangedByAnotherProgram', occurrences: '1' });
    expect(await metric('portplane_dataplane_condition')).toBe(1);
    expect(await metric('portplane_dataplane_condition_occurrences_total')).toBe(1);
    // Repair is the next apply's: until then the intruder stays (and stays reported).
    await new Promise((r) => setTimeout(r, 700));
    expect(nftIn(ns, 'list', 'chain', 'inet', tableName, 'lookup')).toContain('intruder');
    expect((await status()).status).toBe(true);

    // An apply that changes nothing is not sent to the dataplane (the plan is empty); one that changes anything is.
    await config.call('ApplyConfig', { tables: [{ name: 't', rules: [rule(8000), { ...rule(8100), name: 'other' }] }] });
    expect(nftIn(ns, 'list', 'chain', 'inet', tableName, 'lookup')).not.toContain('intruder');
    expect(await status()).toMatchObject({ status: false, reason: 'Restored', occurrences: '1' });
    expect(await metric('portplane_dataplane_condition')).toBe(0);
    expect(await metric('portplane_dataplane_condition_occurrences_total')).toBe(1);
    config.close();
  });

  it('replaces a table of the earlier layout (a goto per port) left by a previous version at the first apply', async () => {
    // What a version before the per-rule verdict map left behind with --nftables-persist.
    nftIn(ns, `table inet ${tableName} {
      map l4 { type ipv4_addr . inet_proto . inet_service : verdict; }
      chain r1 { ct mark set 1 meta l4proto tcp dnat ip to 10.20.0.2:9000; }
      chain lookup { ip daddr . meta l4proto . th dport vmap @l4; }
    }
    add element inet ${tableName} l4 { 10.20.0.1 . tcp . 8000 : goto r1 }`);
    expect(nftIn(ns, 'list', 'map', 'inet', tableName, 'l4')).toContain(': goto r1');
    const config = await start();
    await config.call('ApplyConfig', { tables: [{ name: 't', rules: [rule(8000)] }] });
    const table = nftIn(ns, 'list', 'table', 'inet', tableName);
    expect(table).toMatch(/map l4 \{\s*type ipv4_addr \. inet_proto \. inet_service : mark/);
    expect(nftIn(ns, 'list', 'map', 'inet', tableName, 'l4')).toMatch(/10\.20\.0\.1 \. tcp \. 8000 : 0x[0-9a-f]{8}/);
    expect(nftIn(ns, 'list', 'map', 'inet', tableName, 'l4')).not.toContain('goto');
    expect(nftIn(ns, 'list', 'chain', 'inet', tableName, 'lookup')).toContain('map @l4 goto fwd4');
    // Later applies are deltas on the new layout.
    await config.call('ApplyConfig', { tables: [{ name: 't', rules: [rule(8000), { ...rule(8100), name: 'other' }] }] });
    expect(nftIn(ns, 'list', 'map', 'inet', tableName, 'l4')).toMatch(/10\.20\.0\.1 \. tcp \. 8100 : 0x[0-9a-f]{8}/);
    expect(dataplane.writes.netlink).toBe(1);
    config.close();
  });

  it('a clean stop removes the table; with persist it stays and keeps forwarding', async () => {
    let config = await start();
    await config.call('ApplyConfig', { tables: [{ name: 't', rules: [rule(8000)] }] });
    config.close();
    await daemon!.stop();
    daemon = undefined;
    expect(nftIn(ns, 'list', 'tables')).not.toContain(tableName);
    config = await start(true);
    await config.call('ApplyConfig', { tables: [{ name: 't', rules: [rule(8000)] }] });
    config.close();
    await daemon!.stop();
    daemon = undefined;
    expect(nftIn(ns, 'list', 'tables')).toContain(tableName);
  });
});
