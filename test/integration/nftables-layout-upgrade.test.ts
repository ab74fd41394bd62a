/**
 * Review of the nftables backend's round-7 layout (#18): a table of the
 * previous layout (one chain per rule, written by daf6ef0 and kept by
 * `--nftables-persist` or a kill; test/fixtures/nftables-layout-daf6ef0.nft)
 * is replaced whole by the first apply of the new layout, in a network
 * namespace the test creates, while a flow it translated stays established
 * (its conntrack NAT binding and ct mark are the kernel's), is listed under
 * its rule, and new flows go through the shared chain. Needs root.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NftablesDataPlane } from '../../src/dataplane/nftables/index.js';
import { ServiceClient } from '../helpers/daemon-process.js';
import { startTestDaemon, type TestDaemon } from '../helpers/in-process-daemon.js';
import { ip, NetnsNode, nftIn, nftConntrackSkipReason, connectionHolderScript } from '../helpers/netns.js';

const skip = nftConntrackSkipReason();
if (skip) console.info(`skipped: ${skip}`);

const SERVER = `
const net = require('node:net');
let up = 0;
for (const port of [9100, 9101]) net.createServer((s) => s.on('data', (d) => s.write(port + ':' + d))).listen(port, '10.79.0.2', () => { if (++up === 2) console.log(JSON.stringify({ up })); });`;

const HOLDER = connectionHolderScript('10.79.0.1');

describe.skipIf(skip !== undefined)('nftables backend: upgrade from the one-chain-per-rule layout', () => {
  const ns = `pp-r7up-${process.pid}`;
  const tableName = `pp_r7up_${process.pid}`;
  let daemon: TestDaemon | undefined;
  let server: NetnsNode | undefined;
  let holder: NetnsNode | undefined;

  beforeAll(async () => {
    ip('netns', 'add', ns);
    ip('netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up');
    for (const a of ['10.79.0.1/32', '10.79.0.2/32']) ip('netns', 'exec', ns, 'ip', 'addr', 'add', a, 'dev', 'lo');
    server = new NetnsNode(ns, SERVER);
    await server.json<{ up: number }>((l) => l.up === 2);
    holder = new NetnsNode(ns, HOLDER);
  }, 60_000);
  afterAll(async () => {
    await daemon?.stop();
    await holder?.stop();
    await server?.stop();
    ip('netns', 'delete', ns);
  });

  it('replaces the old table in one apply; an established flow keeps its translation and its rule', async () => {
    const old = readFileSync(new URL('../fixtures/nftables-layout-daf6ef0.nft', import.meta.url), 'utf8').replaceAll('@TABLE@', tableName);
    const load = spawnSync('ip', ['netns', 'exec', ns, 'nft', '-f', '-'], { input: old, encoding: 'utf8' });
    expect(load.status, load.stderr).toBe(0);
    holder!.send('open 8001');
    const flow = await holder!.json<{ opened?: number; local?: number }>((l) => l.opened === 0);
    holder!.send('send 0 before');
    await holder!.json<{ conn?: number; data?: string }>((l) => l.conn === 0 && l.data === '9101:before');

    const dataplane = new NftablesDataPlane({ netns: ns, tableName, driftIntervalMs: 0 });
    daemon = await startTestDaemon({ dataplane });
    const config = new ServiceClient('ConfigService', daemon.target);
    const rule = {
      name: 'a',
      protocol: 'PROTOCOL_TCP',
      listen_address: '10.79.0.1',
      ports: { first: 8000, last: 8001 },
      target_address: '10.79.0.2',
      target_port: 9100,
      limits: { max_sessions: 1000000, session_rate: 1000000, session_burst: 1000000, source_rate: 1000000, source_burst: 1000000 },
    };
    const res = await config.call<{ result: { rules: { counter_id: string }[] } }>('ApplyConfig', { tables: [{ name: 't', rules: [rule] }] });
    // The fixture's counter id: a fresh daemon numbers its first rule 1 as daf6ef0 did.
    expect(res.result.rules[0]!.counter_id).toBe('1');
    const table = nftIn(ns, 'list', 'table', 'inet', tableName);
    expect(table).not.toMatch(/chain r\d+ /);
    expect(table).toMatch(/chain fwd4 /);
    expect(table).toMatch(/limit lim1 \{/);
    expect(nftIn(ns, 'list', 'map', 'inet', tableName, 'rules')).not.toMatch(/goto/);

    holder!.send('send 0 after');
    await holder!.json<{ conn?: number; data?: string }>((l) => l.conn === 0 && l.data === '9101:after');
    holder!.send('open 8000');
    await holder!.json<{ opened?: number }>((l) => l.opened === 1);
    holder!.send('send 1 new');
    await holder!.json<{ conn?: number; data?: string }>((l) => l.conn === 1 && l.data === '9100:new');
    const sessions = new ServiceClient('SessionService', daemon.target);
    const listed = (await sessions.call<{ sessions: { rule_name: string; client: { port: number }; target: { port: number } }[] }>('ListSessions', {})).sessions;
    expect(listed.find((s) => s.client.port === flow.local)).toMatchObject({ rule_name: 'a', target: { port: 9101 } });
    expect(listed).toHaveLength(2);
  }, 60_000);
});
