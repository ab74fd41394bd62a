/**
 * Opening and closing one listening TCP socket. A bind error is a result,
 * not an exception: the apply transaction collects them per port and
 * reports each by its errno name.
 */
import { createServer, type Server, type Socket } from 'node:net';
import type { ListenerBinding } from '../../plan/model.js';

export interface ListenSpec {
  host: string;
  ipv6Only: boolean;
}

/**
 * How a rule's listen address binds: '' is dual-stack any (one `::` socket
 * that also accepts IPv4), '::' is IPv6-only any, anything else (an IPv6
 * zone included, e.g. 'fe80::1%eth0') is passed to the kernel as written.
 */
export function listenSpec(listenAddress: string): ListenSpec {
  if (listenAddress === '') return { host: '::', ipv6Only: false };
  return { host: listenAddress, ipv6Only: listenAddress === '::' };
}

export type OpenResult = { ok: true; server: Server } | { ok: false; errno: string; message: string };

/** Paused on connect: libuv never reads an accepted socket before its session decides who relays it (tcp-session.ts). */
const SERVER_OPTIONS = { allowHalfOpen: true, pauseOnConnect: true, noDelay: true } as const;

/**
 * Binds and listens. `onError` receives errors after the socket listens
 * (accept failures such as EMFILE), which would otherwise crash the process.
 */
export function openTcpListener(
  binding: ListenerBinding,
  onConnection: (socket: Socket) => void,
  onError: (err: Error) => void,
): Promise<OpenResult> {
  if (binding.protocol !== 'tcp') {
    return Promise.resolve({
      ok: false,
      errno: 'EPROTONOSUPPORT',
      message: `the kernel backend cannot listen on ${binding.protocol}`,
    });
  }
  const { host, ipv6Only } = listenSpec(binding.listenAddress);
  const server = createServer(SERVER_OPTIONS, onConnection);
  return new Promise((resolve) => {
    const onListening = (): void => {
      server.off('error', onListenError);
      server.on('error', onError);
      resolve({ ok: true, server });
    };
    const onListenError = (err: NodeJS.ErrnoException): void => {
      server.off('listening', onListening);
      resolve({ ok: false, errno: err.code ?? 'EUNKNOWN', message: err.message });
    };
    server.once('listening', onListening);
    server.once('error', onListenError);
    try {
      server.listen({ host, port: binding.port, ipv6Only, exclusive: true, backlog: 511 });
    } catch (err) {
      // Argument errors (e.g. ERR_SOCKET_BAD_PORT) throw instead of emitting.
      onListenError(err as NodeJS.ErrnoException);
    }
  });
}

/**
 * Stops listening. The socket's fd is closed before this returns, so its
 * address can be bound again at once; accepted connections are not touched.
 */
export function closeTcpListener(server: Server): void {
  server.close();
}

/** The listening socket's file descriptor (Node keeps it on the private handle). */
export function listenerFd(server: Server): number | undefined {
  const handle = (server as unknown as { _handle?: { fd?: number } | null })._handle;
  return handle?.fd;
}
