/**
 * The caller identity of a gRPC call, as far as the transport tells. grpc-js
 * reports no peer for a UNIX socket (getPeer() is "unknown"); the socket's
 * mode (0600) already limits it to its owner, so such callers are recorded
 * as the generic UNIX identity until peer credentials are read.
 */
import type { CallerIdentity } from '../control/caller.js';

export const UNIX_CALLER: CallerIdentity = Object.freeze({ kind: 'unix', id: 'unix' });

export function callerOf(call: { getPeer(): string }): CallerIdentity {
  const peer = call.getPeer();
  if (peer === 'unknown' || peer === '' || peer.startsWith('unix:')) return { ...UNIX_CALLER };
  return { kind: 'tcp', id: peer };
}
