/**
 * Acceptance: three real daemons (`portplane serve --etcd ... --node ...`,
 * each its own process and state directory, forwarding on its own loopback
 * address 127.0.0.2-4) follow one real etcd. Each opens the forwards it was
 * told to and traffic flows through them; then, while a writer changes every
 * node's table, etcd restarts, the history is compacted and one daemon is
 * killed with SIGKILL and started again. In the end every node runs the last
 * write, and no write was applied twice in effect (no two generations in a
 * row with the same tables) nor lost.
 */
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nodeProgress, readFleet } from '../../src/fleet/fleet-view.js';
import { FleetKeys } from '../../src/fleet/keys.js';
import type { WireEntry } from '../helpers/apply-streams.js';
import { removeDir, ServiceClient, startDaemon, stopDaemon, tempStateDir, type DaemonProcess } from '../helpers/daemon-process.js';
import { EtcdServer, etcdUnavailable } from '../helpers/etcd.js';
import { putTable, waitFor, waitInEffect } from '../helpers/fleet.js';
import { freePortBlock, roundTrip, startEchoServer, type EchoServer } from '../helpers/tcp.js';

const unavailable = await etcdUnavailable();
const NODES = ['n1', 'n2', 'n3'] as const;
const WRITES = 24;

describe.skipIf(unavailable !== undefined)(`three daemons through one etcd${unavailable ? ` (skipped: ${unavailable})` : ''}`, () => {
  let etcdServer: EtcdServer;
  let etcd: Etcd3;
  let echo: EchoServer;
  let port: number;
  const keys = new FleetKeys('/e2e');
  const stateDirs = new Map<string, string>();
  const daemons = new Map<string, DaemonProcess>();

  const address = (i: number): string => `127.0.0.${i + 2}`;
  const table = (i: number, write: number): { name: string; rules: object[] } => ({
    name: 'svc',
    rules: [
      {
        name: 'tcp',
        protocol: 'PROTOCOL_TCP',
        listen_address: address(i),
        ports: { first: port, last: port },
        target_address: '127.0.0.1',
        target_port: echo.port,
        // Each write a different table, so each is a real change when applied.
        connect_timeout_ms: 1_000 + write,
      },
    ],
  });
  const start = async (node: string): Promise<void> => {
    const args = ['--log-level', 'warn', '--history-size', '500', '--etcd', etcdServer.url, '--node', node, '--etcd-prefix', keys.prefix, '--etcd-watchdog-ms', '1000', '--etcd-lease-ttl', '5'];
    daemons.set(node, await startDaemon(stateDirs.get(node)!, args));
  };

  beforeAll(async () => {
    etcdServer = await EtcdServer.start();
    etcd = new Etcd3({ hosts: etcdServer.url });
    echo = await startEchoServer('127.0.0.1', 'E:');
    port = await freePortBlock(1);
    for (const node of NODES) {
      stateDirs.set(node, await tempStateDir());
      await start(node);
    }
  }, 120_000);
  afterAll(async () => {
    for (const d of daemons.values()) await stopDaemon(d);
    for (const dir of stateDirs.values()) await removeDir(dir);
    etcd?.close();
    await echo?.close();
    await etcdServer?.destroy();
  });

  it('each node opens the forwards it was told to, on its own address, and reports them', async () => {
    const revisions = await Promise.all(NODES.map((node, i) => putTable(etcd, keys, node, table(i, 0))));
    for (const [i, node] of NODES.entries()) {
      const status = await waitInEffect(etcd, keys, node, 'svc', revisions[i]!);
      expect(status.conditions.find((c) => c.type === 'Ready')).toMatchObject({ status: true });
      expect((await roundTrip(port, `to ${node}`, address(i))).toString()).toBe(`E:to ${node}`);
    }
    // Only the node's own address: n1's table opened nothing on n2's address.
    await expect(roundTrip(port, 'x', '127.0.0.5', 1_000)).rejects.toThrow();
  });

  it('loses and duplicates no apply across an etcd restart, a compaction and a kill -9 during writes', async () => {
    const put = async (i: number, write: number): Promise<number> =>
      waitFor(`write ${write} to ${NODES[i]}`, async () => putTable(etcd, keys, NODES[i]!, table(i, write)), 30_000);
    for (let write = 1; write <= WRITES; write++) {
      for (let i = 0; i < NODES.length; i++) await put(i, write);
      if (write === 6) {
        await etcdServer.stop();
        await new Promise((r) => setTimeout(r, 300));
        await etcdServer.startAgain();
      }
      if (write === 12) {
        const { header } = await etcd.get('any').exec();
        await etcd.kv.compact({ revision: header.revision, physical: true });
      }
      if (write === 16) {
        await stopDaemon(daemons.get('n2')!, 'SIGKILL');
      }
      if (write === 19) await start('n2');
      await new Promise((r) => setTimeout(r, 50));
    }
    const view = await waitFor('every node in effect', async () => {
      const v = await readFleet(etcd, keys);
      return NODES.every((n) => v.nodes.get(n) && nodeProgress(v.nodes.get(n)!) === 'in_effect') ? v : undefined;
    }, 60_000);
    for (const [i, node] of NODES.entries()) {
      expect(view.nodes.get(node)!.status!.tables.svc).toMatchObject({ outcome: 'applied' });
      const client = new ServiceClient('ConfigService', daemons.get(node)!.target);
      const running = await client.call<{ tables: { rules: { connect_timeout_ms: number }[] }[] }>('GetConfig');
      // Not lost: the last write runs.
      expect(running.tables[0]!.rules[0]!.connect_timeout_ms).toBe(1_000 + WRITES);
      const { entries } = await client.call<{ entries: WireEntry[] }>('ListApplyHistory', { limit: 0 });
      const committed = entries.filter((e) => e.caller?.kind === 'CALLER_KIND_ETCD' && e.outcome === 'APPLY_HISTORY_OUTCOME_COMMITTED').reverse();
      // Not duplicated: no generation re-applied the tables of the one before it.
      for (let k = 1; k < committed.length; k++) expect(committed[k]!.config_digest).not.toBe(committed[k - 1]!.config_digest);
      // At most one generation per write (writes may coalesce).
      expect(committed.length).toBeGreaterThan(0);
      expect(committed.length).toBeLessThanOrEqual(WRITES + 1);
      expect((await roundTrip(port, `after ${node}`, address(i))).toString()).toBe(`E:after ${node}`);
      client.close();
    }
  }, 240_000);
});
