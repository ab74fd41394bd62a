/**
 * Kernel peer credentials of an accepted UNIX socket, through the optional
 * native addon in native/peercred (built by `npm ci`; Node.js has no API for
 * SO_PEERCRED). When the addon is missing, callers are identified by what the
 * socket file's mode guarantees instead (control-listener.ts).
 */
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { Socket } from 'node:net';
import { protoRoot } from './api-definition.js';

export interface PeerCredentials {
  pid: number;
  uid: number;
  gid: number;
  /** Supplementary groups; null on kernels without SO_PEERGROUPS. */
  groups: number[] | null;
}

interface Addon {
  peerCredentials(fd: number): PeerCredentials;
}

export type PeerCredentialsSupport =
  | { available: true; read(socket: Socket): PeerCredentials }
  | { available: false; reason: string };

let cached: PeerCredentialsSupport | undefined;

/** The addon next to proto/ (repo root), loaded once; why not, when it cannot be. */
export function peerCredentialsSupport(): PeerCredentialsSupport {
  if (cached) return cached;
  const path = join(protoRoot(), '..', 'native', 'peercred', 'build', process.env.PORTPLANE_NATIVE_BUILD ?? 'Release', 'peercred.node');
  try {
    const addon = createRequire(import.meta.url)(path) as Addon;
    cached = {
      available: true,
      read: (socket) => {
        // net.Socket keeps its libuv handle's descriptor here; there is no public accessor.
        const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
        if (typeof fd !== 'number' || fd < 0) throw new Error('socket has no file descriptor');
        return addon.peerCredentials(fd);
      },
    };
  } catch (err) {
    cached = { available: false, reason: `native addon ${path} not loadable: ${(err as Error).message.split('\n')[0]}` };
  }
  return cached;
}
