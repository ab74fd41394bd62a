/**
 * Running under systemd: socket activation (the sockets a socket unit
 * opened, passed as fds 3.. with $LISTEN_FDS, $LISTEN_PID, $LISTEN_FDNAMES)
 * and readiness notification (sd_notify: READY=1, STOPPING=1, STATUS=...
 * as datagrams on $NOTIFY_SOCKET), the protocols of sd_listen_fds(3) and
 * sd_notify(3). Datagrams go through the optional native addon in
 * native/sdnotify (Node.js has no UNIX datagram sockets, and systemd takes
 * notifications only from the main pid with NotifyAccess=main).
 */
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { protoRoot } from './api-definition.js';

/** The first descriptor systemd passes (SD_LISTEN_FDS_START). */
export const LISTEN_FDS_START = 3;

export interface ActivatedSocket {
  fd: number;
  /** The socket unit's FileDescriptorName= (default: the unit's name). */
  name: string;
}

/**
 * The sockets systemd passed to this process, and forgets them from the
 * environment so that no child process takes them for its own.
 * Empty when not socket-activated (or activated for another pid).
 */
export function takeActivatedSockets(env: NodeJS.ProcessEnv = process.env): ActivatedSocket[] {
  const { LISTEN_PID: pid, LISTEN_FDS: count, LISTEN_FDNAMES: names } = env;
  delete env.LISTEN_PID;
  delete env.LISTEN_FDS;
  delete env.LISTEN_FDNAMES;
  if (count === undefined || !/^\d+$/.test(count)) return [];
  if (pid !== undefined && pid !== String(process.pid)) return [];
  const nameList = names?.split(':') ?? [];
  return Array.from({ length: Number(count) }, (_, i) => ({ fd: LISTEN_FDS_START + i, name: nameList[i] ?? 'unknown' }));
}

interface Addon {
  notify(socketPath: string, message: string): void;
}

export interface Notifier {
  /** Where notifications go, or undefined when not run by systemd with Type=notify. */
  readonly socket: string | undefined;
  /** Sends `KEY=value` lines; throws when the socket is set but the message cannot be sent. */
  send(fields: Record<string, string>): void;
}

let addon: Addon | Error | undefined;

function loadAddon(): Addon | Error {
  if (addon) return addon;
  const path = join(protoRoot(), '..', 'native', 'sdnotify', 'build', 'Release', 'sdnotify.node');
  try {
    addon = createRequire(import.meta.url)(path) as Addon;
  } catch (err) {
    addon = new Error(`sd_notify needs the native addon ${path}, which is not loadable: ${(err as Error).message.split('\n')[0]}`);
  }
  return addon;
}

/** A notifier for $NOTIFY_SOCKET (taken from the environment, like the sockets, so children do not inherit it). */
export function systemdNotifier(env: NodeJS.ProcessEnv = process.env): Notifier {
  const socket = env.NOTIFY_SOCKET || undefined;
  delete env.NOTIFY_SOCKET;
  return {
    socket,
    send(fields) {
      if (!socket) return;
      const sender = loadAddon();
      if (sender instanceof Error) throw sender;
      // Newlines would start a new field: a status text is one line.
      const message = Object.entries(fields)
        .map(([k, v]) => `${k}=${v.replace(/\n/g, ' ')}`)
        .join('\n');
      sender.notify(socket, message);
    },
  };
}
