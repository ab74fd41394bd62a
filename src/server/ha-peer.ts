/**
 * The standby's gRPC connection to the active: SyncSessions on the peer's
 * control listener, authenticated like any controller (TLS or mutual TLS,
 * and a bearer token where the peer's policy wants one).
 */
import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import type { SyncSessionsResponse__Output } from '../generated/types/portplane/v1/SyncSessionsResponse.js';
import type { SyncConnect } from '../ha/sync-follower.js';
import { serviceClient } from './api-definition.js';
import { sessionEventFromWire } from './session-wire.js';

export interface HAPeerOptions {
  /** host:port of the peer's control listener. */
  address: string;
  /** CA that verifies the peer; with cert and key, this node's client certificate. Absent: plaintext (loopback only). */
  tls?: { ca: string; cert?: string; key?: string };
  /** `<id>.<secret>`, sent as `authorization: Bearer`. */
  token?: string;
  /** The peer's certificate name, when it is not the address (grpc.ssl_target_name_override). */
  serverName?: string;
}

type WireSyncResponse = Partial<SyncSessionsResponse__Output>;

function credentials(tls: HAPeerOptions['tls']): grpc.ChannelCredentials {
  if (!tls) return grpc.credentials.createInsecure();
  if (Boolean(tls.cert) !== Boolean(tls.key)) throw new Error('the HA peer client certificate needs both --ha-cert and --ha-key');
  return grpc.credentials.createSsl(readFileSync(tls.ca), tls.key ? readFileSync(tls.key) : null, tls.cert ? readFileSync(tls.cert) : null);
}

/** A SyncConnect that opens SyncSessions on the peer; one channel, reused across reconnects. */
export function haPeerConnect(options: HAPeerOptions): { connect: SyncConnect; close(): void } {
  const Ctor = serviceClient('HAService');
  const client = new Ctor(options.address, credentials(options.tls), {
    ...(options.serverName && { 'grpc.ssl_target_name_override': options.serverName }),
    // A dead peer behind a silent link is found by the follower's watchdog; keepalive pings help the channel notice too.
    'grpc.keepalive_time_ms': 5_000,
    'grpc.keepalive_timeout_ms': 5_000,
    'grpc.initial_reconnect_backoff_ms': 100,
    'grpc.max_reconnect_backoff_ms': 2_000,
  });
  const connect: SyncConnect = (hello, handlers) => {
    const metadata = new grpc.Metadata();
    if (options.token) metadata.set('authorization', `Bearer ${options.token}`);
    const open = (client as unknown as { SyncSessions(m: grpc.Metadata): grpc.ClientDuplexStream<object, WireSyncResponse> }).SyncSessions;
    const call = open.call(client, metadata);
    let done = false;
    const finish = (error: Error | undefined): void => {
      if (done) return;
      done = true;
      handlers.onEnd(error);
    };
    call.on('data', (message: WireSyncResponse) => {
      try {
        handlers.onBatch({
          events: (message.events ?? []).map(sessionEventFromWire),
          headSequence: Number(message.head_sequence ?? 0),
          epoch: message.backend_epoch ?? '',
          sentAt: Number(message.sent_at?.seconds ?? 0) * 1000 + Math.floor((message.sent_at?.nanos ?? 0) / 1e6),
        });
      } catch (err) {
        call.cancel();
        finish(new Error(`HA peer ${options.address} sent what this node cannot apply: ${(err as Error).message}`));
      }
    });
    call.on('error', (err: grpc.ServiceError) => finish(new Error(`HA peer ${options.address}: ${err.details || err.message}`)));
    call.on('end', () => finish(undefined));
    call.write({
      hello: {
        node: hello.node,
        ...(hello.resume && { resume_after_sequence: String(hello.resume.sequence), resume_backend_epoch: hello.resume.epoch }),
      },
    });
    return {
      ack: (sequence) => {
        if (!done) call.write({ ack: { sequence: String(sequence) } });
      },
      close: () => {
        call.cancel();
        finish(new Error('closed'));
      },
    };
  };
  return { connect, close: () => client.close() };
}
