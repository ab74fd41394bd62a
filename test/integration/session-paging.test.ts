/**
 * ListSessions paging under churn on a real daemon: 5,000 long-lived UDP
 * flows (two descriptors each in this process, so they fit the fd limit)
 * interleaved in id order with 500 TCP sessions that close while the
 * listing runs, and 500 more TCP sessions that open and close between
 * pages. Every long-lived flow must be listed exactly once, and no session
 * twice.
 */
import { connect, type Socket } from 'node:net';
import type { Socket as UdpSocket } from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ServiceClient } from '../helpers/daemon-process.js';
import { startTestDaemon, type TestDaemon } from '../helpers/in-process-daemon.js';
import { freePortBlock, startEchoServer, type EchoServer } from '../helpers/tcp.js';
import { startUdpEcho, udpClient, udpRoundTrip, type UdpEcho } from '../helpers/udp.js';

const LONG_LIVED = 5000;
const DOOMED_EVERY = 10;
const PAGE_SIZE = 400;
const NEW_PER_PAGE = 40;

interface Listed {
  id: string;
  protocol: string;
  client: { port: number };
}

function openTcp(port: number): Promise<Socket> {
  return new Promise((res, rej) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => res(socket));
    socket.once('error', rej);
  });
}

describe('ListSessions paging while sessions open and close', () => {
  let d: TestDaemon;
  let echo: EchoServer;
  let udpEcho: UdpEcho;
  let base: number;
  const udpClients: UdpSocket[] = [];
  const tcp: Socket[] = [];

  beforeAll(async () => {
    echo = await startEchoServer();
    udpEcho = await startUdpEcho();
    d = await startTestDaemon();
    base = await freePortBlock(2);
    const config = new ServiceClient('ConfigService', d.target);
    await config.call('ApplyConfig', {
      tables: [
        {
          name: 'p',
          rules: [
            { name: 'udp', protocol: 'PROTOCOL_UDP', listen_address: '127.0.0.1', ports: { first: base, last: base }, target_address: '127.0.0.1', target_port: udpEcho.port, udp_idle_timeout_ms: 3_600_000, limits: { max_udp_flows: 10_000, source_rate: 100_000, source_burst: 100_000, session_rate: 100_000, session_burst: 100_000 } },
            { name: 'tcp', protocol: 'PROTOCOL_TCP', listen_address: '127.0.0.1', ports: { first: base + 1, last: base + 1 }, target_address: '127.0.0.1', target_port: echo.port },
          ],
        },
      ],
    });
    config.close();
  }, 120_000);
  afterAll(async () => {
    for (const s of udpClients) s.close();
    for (const s of tcp) s.destroy();
    await d.stop();
    await echo.close();
    await udpEcho.close();
  });

  it('lists each of 5,000 long-lived sessions exactly once while 1,000 others open and close', async () => {
    // Long-lived flows, with a soon-to-close TCP session after every tenth so closes land between them in id order.
    const doomed: Socket[] = [];
    for (let i = 0; i < LONG_LIVED; i += DOOMED_EVERY) {
      const batch = await Promise.all(Array.from({ length: DOOMED_EVERY }, () => udpClient()));
      udpClients.push(...batch);
      await Promise.all(batch.map((s) => udpRoundTrip(s, base, Buffer.from('hello'))));
      doomed.push(await openTcp(base + 1));
    }
    tcp.push(...doomed);
    const longLived = new Set(udpClients.map((s) => s.address().port));
    expect(longLived.size).toBe(LONG_LIVED);

    const sessions = new ServiceClient('SessionService', d.target);
    const seen = new Map<string, number>();
    const udpPorts: number[] = [];
    let token = '';
    let pages = 0;
    let opened = 0;
    let closed = 0;
    const fresh: Socket[] = [];
    do {
      const page = await sessions.call<{ sessions: Listed[]; next_page_token: string; total?: string }>('ListSessions', { page_size: PAGE_SIZE, page_token: token });
      pages++;
      for (const s of page.sessions) {
        seen.set(s.id, (seen.get(s.id) ?? 0) + 1);
        if (s.protocol === 'PROTOCOL_UDP') udpPorts.push(s.client.port);
      }
      token = page.next_page_token;
      // Churn between pages: close some early TCP sessions (listed or not), open new ones, close the previous page's new ones.
      for (const s of doomed.splice(0, NEW_PER_PAGE)) {
        s.destroy();
        closed++;
      }
      for (const s of fresh.splice(0)) {
        s.destroy();
        closed++;
      }
      const added = await Promise.all(Array.from({ length: NEW_PER_PAGE }, () => openTcp(base + 1)));
      fresh.push(...added);
      tcp.push(...added);
      opened += added.length;
    } while (token && pages < 1000);
    sessions.close();

    expect(token).toBe('');
    expect(opened + closed).toBeGreaterThanOrEqual(1000);
    const duplicates = [...seen].filter(([, n]) => n > 1);
    expect(duplicates).toEqual([]);
    expect(udpPorts.length).toBe(LONG_LIVED);
    expect(new Set(udpPorts)).toEqual(longLived);
  }, 300_000);
});
