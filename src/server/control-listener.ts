/**
 * The control plane's listening socket. portplane accepts connections itself
 * and hands each one to grpc-js (a connection injector), because it must know
 * who is on the other end before any call arrives: the kernel's peer
 * credentials of a UNIX socket, or the uid behind a loopback TCP connection.
 * That identity travels with the connection as async context: grpc-js sets up
 * every call of a connection inside the context the connection was injected
 * in, where the auth interceptor reads it (peerOfCurrentCall).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { chmod, chown } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import type * as grpc from '@grpc/grpc-js';
import type { TransportPeer } from '../auth/principal.js';
import { isLoopback, isOwnSocket, loopbackPeer } from './loopback-peer.js';
import { peerCredentialsSupport } from './peer-credentials.js';

const connectionPeer = new AsyncLocalStorage<TransportPeer>();

/** The peer of the connection whose call grpc-js is setting up right now. */
export function peerOfCurrentCall(): TransportPeer | undefined {
  return connectionPeer.getStore();
}

export interface UnixListenOptions {
  path: string;
  /** Group that may connect too (mode 0660); otherwise only the owner may (0600). */
  group?: number;
}

export interface ControlListener {
  server: Server;
  /** `unix:/path` or `host:port` as bound. */
  address: string;
  /** How callers are identified, for the startup log. */
  identification: string;
  /** TCP: the bound address and port. */
  tcp?: { address: string; port: number };
  close(): Promise<void>;
}

function listen(server: Server, options: { path: string } | { host: string; port: number }): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

function closer(server: Server): () => Promise<void> {
  return () => new Promise((resolve) => server.close(() => resolve()));
}

/** Serves the UNIX socket at `options.path` (claimed by the caller), injecting each connection with its peer credentials. */
export async function listenUnix(options: UnixListenOptions, injector: grpc.ConnectionInjector): Promise<ControlListener> {
  const support = peerCredentialsSupport();
  // Without the addon, the socket's mode is the guarantee: only the owner (0600) or the group (0660) can connect.
  const fallback: TransportPeer =
    options.group === undefined
      ? { transport: 'unix', uid: process.getuid?.(), gid: process.getgid?.(), credentials: 'socket-mode' }
      : { transport: 'unix', gid: options.group, credentials: 'socket-mode' };
  const server = createServer((socket: Socket) => {
    let peer = fallback;
    if (support.available) {
      try {
        const cred = support.read(socket);
        peer = { transport: 'unix', uid: cred.uid, gid: cred.gid, groups: cred.groups ?? undefined, pid: cred.pid, credentials: 'peercred' };
      } catch {
        // A peer that is already gone: nothing to serve, and no identity to guess.
        socket.destroy();
        return;
      }
    }
    connectionPeer.run(peer, () => injector.injectConnection(socket));
  });
  // The socket is created with the umask's mode; narrow it before anyone can connect.
  const previous = process.umask(0o177);
  try {
    await listen(server, { path: options.path });
  } finally {
    process.umask(previous);
  }
  if (options.group !== undefined) {
    await chown(options.path, -1, options.group);
    await chmod(options.path, 0o660);
  } else {
    await chmod(options.path, 0o600);
  }
  const identification = support.available
    ? 'peer credentials (SO_PEERCRED)'
    : `socket mode (${options.group === undefined ? `uid ${fallback.uid}` : `gid ${options.group}`}): ${support.reason}`;
  return { server, address: `unix:${options.path}`, identification, close: closer(server) };
}

/** Serves TCP on `host:port`, injecting each connection with its peer address and, on loopback, its uid. */
export async function listenTcp(host: string, port: number, injector: grpc.ConnectionInjector): Promise<ControlListener> {
  // Paused until its identity is known: grpc-js reads the connection from then on.
  const server = createServer({ pauseOnConnect: true }, (socket: Socket) => {
    const { remoteAddress, remotePort, localAddress, localPort } = socket;
    if (!remoteAddress || remotePort === undefined || !localAddress || localPort === undefined) {
      socket.destroy();
      return;
    }
    const remote = remoteAddress.includes(':') ? `[${remoteAddress}]:${remotePort}` : `${remoteAddress}:${remotePort}`;
    const inject = (uid: number | undefined): void => {
      if (socket.destroyed) return;
      const peer: TransportPeer = { transport: 'tcp', remote, ...(uid !== undefined ? { uid, credentials: 'proc-net' as const } : {}) };
      // Reading starts here, in the same tick grpc-js takes the socket over: no byte is read before it listens.
      socket.resume();
      connectionPeer.run(peer, () => injector.injectConnection(socket));
    };
    if (!isLoopback(remoteAddress)) {
      inject(undefined);
      return;
    }
    const ownUid = process.getuid?.();
    loopbackPeer({ address: remoteAddress, port: remotePort }, { address: localAddress, port: localPort })
      .then(async (found) => {
        // A forward into this listener connects from the daemon's own socket: anonymous, not the daemon's uid.
        if (!found || (found.uid === ownUid && (await isOwnSocket(found.inode)))) return undefined;
        return found.uid;
      })
      .then(inject, () => inject(undefined));
  });
  await listen(server, { host, port });
  const bound = server.address();
  const tcp = typeof bound === 'object' && bound ? { address: bound.address, port: bound.port } : { address: host, port };
  const shown = host.includes(':') ? `[${host}]` : host;
  return {
    server,
    address: `${shown}:${tcp.port}`,
    identification: 'client certificate or bearer token; loopback peers also by uid (/proc/net/tcp)',
    tcp,
    close: closer(server),
  };
}
