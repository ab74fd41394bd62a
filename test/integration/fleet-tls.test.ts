/**
 * Fleet mode against an etcd that serves TLS and requires client
 * certificates (--etcd-tls-ca/-cert/-key): the daemon follows its node and
 * reports, and one without a client certificate gets nothing.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Etcd3 } from 'etcd3';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FleetKeys } from '../../src/fleet/keys.js';
import { EtcdServer, etcdUnavailable } from '../helpers/etcd.js';
import { putTable, readStatus, waitInEffect } from '../helpers/fleet.js';
import { startTestDaemon, type TestDaemon } from '../helpers/in-process-daemon.js';
import { makePki, type Pki } from '../helpers/pki.js';
import { freePortBlock, roundTrip, startEchoServer, type EchoServer } from '../helpers/tcp.js';
import { singlePortRule } from '../helpers/wire-rules.js';

const unavailable = await etcdUnavailable();

describe.skipIf(unavailable !== undefined)(`fleet over TLS with client certificates${unavailable ? ` (skipped: ${unavailable})` : ''}`, () => {
  let dir: string;
  let pki: Pki;
  let etcdServer: EtcdServer;
  let etcd: Etcd3;
  let echo: EchoServer;
  const daemons: TestDaemon[] = [];
  const keys = new FleetKeys('/tls');

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'portplane-etcd-pki-'));
    pki = await makePki(dir);
    etcdServer = await EtcdServer.start([], { ca: pki.cert('ca'), serverCert: pki.cert('server'), serverKey: pki.key('server'), clientCert: pki.cert('admin'), clientKey: pki.key('admin') });
    etcd = etcdServer.client();
    echo = await startEchoServer('127.0.0.1', 'E:');
  });
  afterAll(async () => {
    for (const d of daemons) await d.stop();
    etcd?.close();
    await echo?.close();
    await etcdServer?.destroy();
    await rm(dir, { recursive: true, force: true });
  });

  it('follows its node through a TLS etcd with a client certificate; without one, nothing', async () => {
    const port = await freePortBlock(2);
    const logger = pino({ level: 'silent' });
    daemons.push(await startTestDaemon({ logger, fleet: { endpoints: [etcdServer.url], node: 'secure', prefix: keys.prefix, tls: { ca: pki.cert('ca'), cert: pki.cert('reader'), key: pki.key('reader') } } }));
    daemons.push(await startTestDaemon({ logger, fleet: { endpoints: [etcdServer.url], node: 'nocert', prefix: keys.prefix, tls: { ca: pki.cert('ca') } } }));
    const rev = await putTable(etcd, keys, 'secure', { name: 'web', rules: [singlePortRule('http', port, echo.port)] });
    await waitInEffect(etcd, keys, 'secure', 'web', rev);
    expect((await roundTrip(port, 'tls')).toString()).toBe('E:tls');
    await putTable(etcd, keys, 'nocert', { name: 'web', rules: [singlePortRule('http', port + 1, echo.port)] });
    await new Promise((r) => setTimeout(r, 2_000));
    expect(await readStatus(etcd, keys, 'nocert')).toBeUndefined();
    expect(daemons[1]!.daemon.controller.getConfig().tables).toEqual([]);
  });
});
