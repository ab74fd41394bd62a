/**
 * Where and how a client reaches the daemon: its UNIX socket (the default
 * deployment), or TCP, optionally with TLS / mutual TLS, with a bearer token
 * when the daemon's policy admits callers by token.
 */
import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';

export interface ConnectOptions {
  /** The daemon's UNIX socket, e.g. `/var/lib/portplane/portplane.sock`. */
  socket?: string;
  /** `host:port` of a daemon serving TCP (`portplane serve --listen`); wins over `socket`. */
  address?: string;
  /** TLS for `address`: CA bundle that verifies the daemon; with cert and key, a client certificate (mutual TLS). PEM bytes, or a file path. */
  tls?: { ca: Buffer | string; cert?: Buffer | string; key?: Buffer | string };
  /** `<id>.<secret>` (`portplane hash-token`), sent as `authorization: Bearer`. */
  token?: string;
  /** Deadline of each unary call, ms (default 30 s). Streams have none. */
  timeoutMs?: number;
}

export const DEFAULT_TIMEOUT_MS = 30_000;

export function target(options: ConnectOptions): string {
  if (options.address) return options.address;
  if (options.socket) return `unix:${options.socket}`;
  throw new Error('connect: give socket (the daemon\'s UNIX socket) or address (host:port)');
}

function pem(value: Buffer | string): Buffer {
  return typeof value === 'string' ? readFileSync(value) : value;
}

export function channelCredentials(options: ConnectOptions): grpc.ChannelCredentials {
  const tls = options.tls;
  if (!tls) return grpc.credentials.createInsecure();
  if (!options.address) throw new Error('connect: tls secures a TCP address; give address (host:port)');
  if (Boolean(tls.cert) !== Boolean(tls.key)) throw new Error('connect: a client certificate needs both tls.cert and tls.key');
  return grpc.credentials.createSsl(pem(tls.ca), tls.key ? pem(tls.key) : null, tls.cert ? pem(tls.cert) : null);
}

/** Per-call metadata: the bearer token, when given. */
export function callMetadata(options: ConnectOptions): grpc.Metadata {
  const metadata = new grpc.Metadata();
  if (options.token) metadata.set('authorization', `Bearer ${options.token}`);
  return metadata;
}
