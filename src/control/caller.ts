/**
 * Who made a control-plane call, as far as the transport can tell. The server
 * fills it in per call; the control layer records it (history, audit) and
 * never derives it itself.
 */
export type CallerKind = 'unix' | 'tls' | 'token' | 'tcp' | 'internal' | 'etcd';

export interface CallerIdentity {
  kind: CallerKind;
  /** Display form, e.g. "uid:1000", "CN=ctrl-a", "token:ci-bot". */
  id: string;
  uid?: number;
  gid?: number;
  pid?: number;
  /** TLS client certificate subject or SAN. */
  subject?: string;
  /** TLS client certificate subject alternative names, e.g. "DNS:ctrl-a.example". */
  san?: string[];
  /**
   * How uid/gid were learned: the kernel's peer credentials of a UNIX socket,
   * the socket file's mode when those are unavailable, or the kernel's socket
   * table (/proc/net/tcp) for a loopback TCP peer.
   */
  credentials?: 'peercred' | 'socket-mode' | 'proc-net';
  /** Bearer token id (never the token). */
  tokenId?: string;
}

export const INTERNAL_CALLER: CallerIdentity = Object.freeze({ kind: 'internal', id: 'portplane' });
