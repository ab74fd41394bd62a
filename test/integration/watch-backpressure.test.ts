/**
 * A WatchSessions consumer that stops reading must not make the daemon
 * buffer without bound. A real daemon process (--watch-buffer 2000) streams
 * to a real gRPC client that pauses after the snapshot while 6,000 TCP
 * sessions (about 24,000 events) pass through. What the daemon held for the
 * paused stream is exactly what arrives before the RESYNC marker once the
 * client reads again: it must be at most a few batches (what the transport's
 * flow-control windows take), not the 24,000 events. The daemon's RSS growth and the hub's buffered-event gauge are
 * checked as well.
 */
import { readFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeDir, ServiceClient, startDaemon, stopDaemon, tempStateDir, type DaemonProcess } from '../helpers/daemon-process.js';
import { freePort, startEchoServer, type EchoServer } from '../helpers/tcp.js';
import { WATCH_BATCH } from '../../src/sessions/watch-stream.js';
import { Watch } from '../helpers/watch.js';

const WATCH_BUFFER = 2000;
const CONNECTIONS = 6000;
const CONCURRENCY = 64;

async function rssBytes(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = /VmRSS:\s+(\d+) kB/.exec(status)?.[1];
  if (!kb) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(kb) * 1024;
}

/** Opens, sends a byte, reads the echo and closes `count` connections, `CONCURRENCY` at a time. */
async function churn(port: number, count: number): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      next++;
      await new Promise<void>((res, rej) => {
        const socket = connect({ host: '127.0.0.1', port });
        const timer = setTimeout(() => {
          socket.destroy();
          rej(new Error('connection through the daemon timed out'));
        }, 20_000);
        socket.once('connect', () => socket.end('x'));
        socket.on('data', () => undefined);
        socket.once('close', () => {
          clearTimeout(timer);
          res();
        });
        socket.once('error', () => undefined);
      });
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
}

async function gauge(metricsPort: number, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  if (!line) throw new Error(`${name} not in /metrics`);
  return Number(line.split(' ')[1]);
}

describe('WatchSessions with a paused consumer', () => {
  let echo: EchoServer;
  let stateDir: string;
  let d: DaemonProcess;
  let metricsPort: number;

  beforeAll(async () => {
    echo = await startEchoServer();
    stateDir = await tempStateDir();
    metricsPort = await freePort();
    d = await startDaemon(stateDir, ['--watch-buffer', String(WATCH_BUFFER), `--metrics-listen=127.0.0.1:${metricsPort}`]);
  });
  afterAll(async () => {
    await stopDaemon(d);
    await removeDir(stateDir);
    await echo.close();
  });

  it('keeps daemon memory bounded and moves the consumer to RESYNC', async (ctx) => {
    const config = new ServiceClient('ConfigService', d.target);
    const sessions = new ServiceClient('SessionService', d.target);
    const port = await freePort();
    const big = 1_000_000;
    await config.call('ApplyConfig', {
      tables: [
        {
          name: 'w',
          rules: [
            {
              name: 'r',
              protocol: 'PROTOCOL_TCP',
              listen_address: '127.0.0.1',
              ports: { first: port, last: port },
              target_address: '127.0.0.1',
              target_port: echo.port,
              limits: { session_rate: big, session_burst: big, source_rate: big, source_burst: big },
            },
          ],
        },
      ],
    });

    // A reader that keeps up, so every event is produced; and the one that pauses.
    const steady = new Watch(sessions);
    const paused = new Watch(sessions);
    await paused.until((ev) => ev.some((e) => e.kind === 'SESSION_EVENT_KIND_SNAPSHOT_END'), 'the snapshot');
    paused.call.pause();
    const before = paused.events.length;

    // Warm the daemon up, then measure its memory across the main run.
    await churn(port, 500);
    const rssBefore = await rssBytes(d.pid);
    await churn(port, CONNECTIONS);
    await steady.until((ev) => ev.filter((e) => e.kind === 'SESSION_EVENT_KIND_CLOSE').length >= CONNECTIONS + 500, 'every close event', 60_000);
    const rssAfter = await rssBytes(d.pid);
    const produced = steady.events.length;
    const buffered = await gauge(metricsPort, 'portplane_session_watch_buffered_events');
    expect(buffered).toBeLessThanOrEqual(WATCH_BUFFER);
    expect(produced).toBeGreaterThan(10 * WATCH_BUFFER);

    // Read again: what the daemon held for us arrives first, then RESYNC and a fresh (empty) snapshot.
    paused.call.resume();
    await paused.until((ev) => ev.some((e) => e.kind === 'SESSION_EVENT_KIND_RESYNC'), 'RESYNC', 60_000);
    const resyncAt = paused.events.findIndex((e) => e.kind === 'SESSION_EVENT_KIND_RESYNC');
    const heldForUs = resyncAt - before;
    expect(paused.events[resyncAt]!.detail).toMatch(/consumer too slow/);
    await paused.until((ev) => ev.slice(resyncAt).some((e) => e.kind === 'SESSION_EVENT_KIND_SNAPSHOT_END'), 'the fresh snapshot');
    // The daemon held at most what the transport's flow-control windows and one batch take, never the backlog. The
    // windows are bytes (HTTP/2 stream window, the client's read buffer), so how many events they hold follows the
    // events' encoded sizes: 1,000-2,900 of these here (2 to 6 batches), against the 26,000 a backlog would be.
    expect(heldForUs).toBeLessThan(8 * WATCH_BATCH);
    expect(heldForUs).toBeLessThan(produced / 5);
    const growth = rssAfter - rssBefore;
    ctx.annotate(`events produced ${produced}, held for the paused stream ${heldForUs}, daemon RSS ${(rssBefore / 2 ** 20).toFixed(1)} -> ${(rssAfter / 2 ** 20).toFixed(1)} MiB`);
    console.log(`paused watcher: ${produced} events produced, ${heldForUs} held for the paused stream, daemon RSS growth ${(growth / 2 ** 20).toFixed(1)} MiB`);
    // Holding the backlog would cost far more than this (each event is a full session record).
    expect(growth).toBeLessThan(96 * 2 ** 20);

    steady.cancel();
    paused.cancel();
    config.close();
    sessions.close();
  }, 300_000);
});
