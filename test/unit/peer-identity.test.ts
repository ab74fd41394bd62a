/**
 * What the kernel says about the other end of a control connection: SO_PEERCRED
 * through the native addon (built by npm ci), and the uid behind a loopback TCP
 * connection from /proc/net/tcp.
 */
import { existsSync } from 'node:fs';
import { createServer, connect, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isLoopback, loopbackPeer } from '../../src/server/loopback-peer.js';
import { peerCredentialsSupport } from '../../src/server/peer-credentials.js';

/** Accepts one connection from this process and hands both ends to `use`. */
async function withConnection<T>(listenOn: { path: string } | { host: string; port: 0 }, use: (server: Socket, client: Socket) => Promise<T>): Promise<T> {
  const server = createServer();
  await new Promise<void>((res) => server.listen(listenOn, res));
  try {
    const accepted = new Promise<Socket>((res) => server.once('connection', res));
    const address = server.address();
    // A dual-stack listener is reached over IPv4: the peer shows up as ::ffff:127.0.0.1.
    const client =
      typeof address === 'string'
        ? connect(address)
        : connect((address as AddressInfo).port, (address as AddressInfo).address === '::' ? '127.0.0.1' : (address as AddressInfo).address);
    await new Promise((res) => client.once('connect', res));
    const peer = await accepted;
    try {
      return await use(peer, client);
    } finally {
      client.destroy();
      peer.destroy();
    }
  } finally {
    await new Promise((res) => server.close(res));
  }
}

// npm ci builds the addon wherever a compiler and Node's headers exist: there it must have been built.
const headers = join(dirname(dirname(process.execPath)), 'include', 'node', 'node_api.h');
const canBuild = existsSync(headers) && ['/usr/bin/g++', '/usr/bin/c++'].some(existsSync);

describe('peer credentials of a UNIX socket', () => {
  it.runIf(canBuild)('are read by the addon npm ci built', async () => {
    const support = peerCredentialsSupport();
    expect(support.available ? 'available' : support.reason).toBe('available');
    if (!support.available) return;
    const cred = await withConnection({ path: join(tmpdir(), `portplane-peercred-${process.pid}.sock`) }, async (server) => support.read(server));
    expect(cred).toMatchObject({ pid: process.pid, uid: process.getuid?.(), gid: process.getgid?.() });
    expect(cred.groups === null || Array.isArray(cred.groups)).toBe(true);
  });

  it.runIf(!canBuild)('are reported unavailable, with the reason, where the addon cannot be built', () => {
    const support = peerCredentialsSupport();
    console.log(`peercred addon: ${support.available ? 'available' : support.reason}`);
    expect(support.available || support.reason.length > 0).toBe(true);
  });
});

describe('the uid behind a loopback TCP connection', () => {
  it.each(['127.0.0.1', '::1', '::'])('is found in the kernel socket table (listening on %s)', async (host) => {
    const uid = await withConnection({ host, port: 0 }, (server) => {
      expect(isLoopback(server.remoteAddress!)).toBe(true);
      return loopbackPeer({ address: server.remoteAddress!, port: server.remotePort! }, { address: server.localAddress!, port: server.localPort! });
    });
    expect(uid?.uid).toBe(process.getuid?.());
    expect(uid?.inode).toBeGreaterThan(0);
  });

  it('knows loopback from other addresses', () => {
    expect(['127.0.0.1', '127.9.9.9', '::1', '::ffff:127.0.0.1'].every(isLoopback)).toBe(true);
    expect(['10.0.0.1', '::', '0.0.0.0', 'fe80::1', 'localhost'].some(isLoopback)).toBe(false);
  });
});
