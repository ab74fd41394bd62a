/**
 * One daemon per state directory, checked before anything is restored: a
 * second daemon must say "another daemon serves here" at once, not first
 * try to bind every committed port (EADDRINUSE for each) and only then find
 * the control socket taken. The control socket (or TCP control address) is
 * the lock: a live daemon answers on it; a socket file nobody answers on is
 * what a crash left, and is removed.
 */
import { unlink } from 'node:fs/promises';
import { connect, type NetConnectOpts } from 'node:net';

function answers(endpoint: NetConnectOpts): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const probe = connect(endpoint);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
}

/** Throws when a daemon answers on the UNIX socket `path`; removes a stale socket file. */
export async function claimSocketPath(path: string): Promise<void> {
  if (await answers({ path })) throw new Error(`another portplane daemon is already serving on ${path} (same --state-dir); stop it first`);
  await unlink(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
  });
}

/** Throws when something already accepts on the TCP control address `host:port`. */
export async function checkTcpAddressFree(host: string, port: number): Promise<void> {
  if (port === 0) return;
  if (await answers({ host: host === '' || host === '::' ? '::1' : host === '0.0.0.0' ? '127.0.0.1' : host, port })) {
    throw new Error(`${host.includes(':') ? `[${host}]` : host}:${port} is already served (another portplane daemon?); stop it first`);
  }
}
