/**
 * The nftables backend's ownership of its table, in a network namespace the
 * test creates (the backend programs it through its `netns` option, so the
 * host's nftables are never touched): a concurrent `nft` change is detected
 * within one timer period and repaired; the ruleset uses verdict maps (one
 * element per port); a clean stop removes the table unless persist is set.
 */
import { spawnSync } from 'node:child_process';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NftablesDataPlane } from '../../src/dataplane/nftables/index.js';
import { ServiceClient } from '../helpers/daemon-process.js';
import { startTestDaemon, type TestDaemon } from '../helpers/in-process-daemon.js';
import { ip, netnsSkipReason } from '../helpers/netns.js';

const skip = netnsSkipReason() ?? (spawnSync('nft', ['--version']).status === 0 ? undefined : 'nft (nftables) is not installed');
if (skip) console.info(`skipped: ${skip}`);

function nft(ns: string, ...args: string[]): string {
  const r = spawnSync('ip', ['netns', 'exec', ns, 'nft', ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`nft ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

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

  const start = async (persist = false): Promise<ServiceClient> => {
    dataplane = new NftablesDataPlane({ netns: ns, tableName, driftIntervalMs: 300, persist });
    daemon = await startTestDaemon({ dataplane });
    return new ServiceClient('ConfigService', daemon.target);
  };

  it('writes one map element per port (exclusions absent, offsets mapped) and repairs a concurrent change within one timer period', async () => {
    const config = await start();
    await config.call('ApplyConfig', { tables: [{ name: 't', rules: [rule(8000)] }] });
    const listing = nft(ns, 'list', 'map', 'inet', tableName, 'l4');
    expect(listing.match(/10\.20\.0\.1 \. tcp \. 80\d\d : goto r\d+/g)).toHaveLength(9);
    expect(listing).not.toContain('8005');
    expect(nft(ns, 'list', 'table', 'inet', tableName)).toContain('8009 : 9009');

    nft(ns, 'add', 'rule', 'inet', tableName, 'lookup', 'counter', 'comment', '"intruder"');
    const t0 = Date.now();
    while (dataplane.drift.detected === 0 && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 20));
    expect(dataplane.drift.detected).toBe(1);
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(dataplane.drift).toMatchObject({ repaired: true });
    expect(nft(ns, 'list', 'chain', 'inet', tableName, 'lookup')).not.toContain('intruder');

    // An element deleted behind portplane's back: the next apply rewrites the table in its transaction.
    nft(ns, 'delete', 'element', 'inet', tableName, 'l4', '{ 10.20.0.1 . tcp . 8000 }');
    dataplane.checkOwnership(false);
    expect(dataplane.drift.detected).toBe(2);
    await config.call('ApplyConfig', { tables: [{ name: 't', rules: [rule(8000), { ...rule(8100), name: 'other' }] }] });
    expect(nft(ns, 'list', 'map', 'inet', tableName, 'l4')).toContain('10.20.0.1 . tcp . 8000');
    expect(dataplane.drift.repaired).toBe(true);
    config.close();
  });

  it('a clean stop removes the table; with persist it stays and keeps forwarding', async () => {
    let config = await start();
    await config.call('ApplyConfig', { tables: [{ name: 't', rules: [rule(8000)] }] });
    config.close();
    await daemon!.stop();
    daemon = undefined;
    expect(nft(ns, 'list', 'tables')).not.toContain(tableName);
    config = await start(true);
    await config.call('ApplyConfig', { tables: [{ name: 't', rules: [rule(8000)] }] });
    config.close();
    await daemon!.stop();
    daemon = undefined;
    expect(nft(ns, 'list', 'tables')).toContain(tableName);
  });
});
