/**
 * Acceptance: a daemon that runs out of file descriptors (started with a low
 * RLIMIT_NOFILE through prlimit) survives, logs the condition at most once
 * per interval rather than once per attempt, and accepts again as soon as
 * descriptors are free.
 */
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeDir, ServiceClient, startDaemon, stopDaemon, tempStateDir, type DaemonProcess } from '../helpers/daemon-process.js';
import { freePort, roundTrip, startEchoServer, type EchoServer } from '../helpers/tcp.js';

/** Enough for the daemon to start and serve gRPC, and few enough to exhaust with a few dozen connections. */
const FD_LIMIT = 128;
const ATTEMPTS = 120;

describe('fd exhaustion', () => {
  let stateDir: string;
  let daemon: DaemonProcess;
  let echo: EchoServer;
  const clients: Socket[] = [];

  beforeAll(async () => {
    stateDir = await tempStateDir();
    echo = await startEchoServer();
    daemon = await startDaemon(stateDir, [], { prefix: ['prlimit', `--nofile=${FD_LIMIT}:${FD_LIMIT}`, '--'] });
  });

  afterAll(async () => {
    for (const c of clients) c.destroy();
    await stopDaemon(daemon);
    await echo.close();
    await removeDir(stateDir);
  });

  it('survives EMFILE (at accept or on the upstream socket), logs it rarely, and resumes accepting', async () => {
    const port = await freePort();
    const api = new ServiceClient('ConfigService', daemon.target);
    await api.call('ApplyConfig', {
      tables: [{ name: 'fd', rules: [{ name: 'e', protocol: 'PROTOCOL_TCP', listen_address: '127.0.0.1', ports: { first: port }, target_address: '127.0.0.1', target_port: echo.port }] }],
    });
    api.close();

    // Each relayed connection costs the daemon two descriptors: far more attempts than it has.
    const outcomes: string[] = [];
    for (let i = 0; i < ATTEMPTS; i++) {
      const socket = connect({ host: '127.0.0.1', port });
      clients.push(socket);
      socket.on('error', () => undefined);
      outcomes.push(
        await new Promise<string>((resolve) => {
          const timer = setTimeout(() => resolve('pending'), 2000);
          const settle = (what: string) => () => {
            clearTimeout(timer);
            resolve(what);
          };
          socket.once('data', settle('relayed'));
          socket.once('close', settle('refused'));
          socket.once('connect', () => socket.write('x'));
        }),
      );
    }
    const relayed = outcomes.filter((o) => o === 'relayed').length;
    const refused = outcomes.length - relayed;
    expect(relayed).toBeGreaterThan(0);
    expect(refused).toBeGreaterThan(0);
    expect(daemon.child.exitCode).toBeNull();

    for (const c of clients.splice(0)) c.destroy();
    // Descriptors come back as the relays close; then new connections work again.
    let reply = '';
    for (let attempt = 0; attempt < 100 && reply !== 'after'; attempt++) {
      reply = await roundTrip(port, 'after').then(
        (b) => b.toString(),
        () => '',
      );
      if (reply !== 'after') await new Promise((r) => setTimeout(r, 100));
    }
    expect(reply).toBe('after');
    const api2 = new ServiceClient('ConfigService', daemon.target);
    expect((await api2.call<{ generation: string }>('GetConfig')).generation).toBe('1');
    api2.close();
    expect(daemon.child.exitCode).toBeNull();
    const emfileLogs = daemon.logs.filter((l) => l.includes("out of file descriptors"));
    // Logged, but at most once per 10 s interval however many attempts failed.
    expect(emfileLogs.length).toBeGreaterThanOrEqual(1);
    expect(emfileLogs.length).toBeLessThanOrEqual(2);
    expect(emfileLogs.length).toBeLessThan(refused);
  });
});
