/**
 * An etcd v3 client for the fleet (the `etcd3` package): endpoints from
 * `--etcd`, TLS from `--etcd-tls-*`, HTTP/2 keep-alive pings so a path that
 * died without a reset (a dropped NAT entry, a frozen peer) is noticed in
 * seconds, and watch reconnects that back off from 100 ms to 2 s rather
 * than the library's 30 s.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Etcd3, IOptions } from 'etcd3';

// Loaded on first connect: the library and its gRPC stack cost a daemon
// without --etcd (and every restore after a crash) some 60 ms of start-up.
const require = createRequire(import.meta.url);

export interface EtcdTlsFiles {
  ca: string;
  cert?: string;
  key?: string;
}

export interface EtcdConnectOptions {
  /** `http(s)://host:port`, one or more. */
  endpoints: string[];
  tls?: EtcdTlsFiles;
}

/** `--etcd a,b,c` to endpoint URLs; a bare host:port gets http:// (https:// with TLS). */
export function parseEndpoints(list: string, tls: boolean): string[] {
  const endpoints = list.split(',').map((e) => e.trim()).filter(Boolean);
  if (endpoints.length === 0) throw new Error('--etcd needs at least one endpoint, e.g. http://127.0.0.1:2379');
  return endpoints.map((e) => {
    const url = /^[a-z]+:\/\//.test(e) ? e : `${tls ? 'https' : 'http'}://${e}`;
    const parsed = new URL(url);
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new Error(`--etcd endpoint ${JSON.stringify(e)}: use http:// or https://`);
    if (parsed.protocol === 'http:' && tls) throw new Error(`--etcd endpoint ${JSON.stringify(e)} is http:// but --etcd-tls-ca was given`);
    return url;
  });
}

/** One backoff step of the watch reconnects (the shape cockatiel's backoffs have). */
interface WatchBackoff {
  duration: number;
  next(): WatchBackoff;
}

function watchBackoff(ms: number): WatchBackoff {
  return { duration: ms, next: () => watchBackoff(Math.min(ms * 2, 2_000)) };
}

export function connectEtcd(options: EtcdConnectOptions): Etcd3 {
  const { tls } = options;
  if (tls && Boolean(tls.cert) !== Boolean(tls.key)) throw new Error('an etcd client certificate needs both --etcd-tls-cert and --etcd-tls-key');
  const config: IOptions = {
    hosts: options.endpoints,
    dialTimeout: 5_000,
    grpcOptions: {
      // etcd refuses pings more often than every 5 s (--grpc-keepalive-min-time),
      // and any without an open stream; the agent always has its watch open.
      'grpc.keepalive_time_ms': 10_000,
      'grpc.keepalive_timeout_ms': 5_000,
    },
    faultHandling: { watchBackoff: watchBackoff(100) as unknown as NonNullable<IOptions['faultHandling']>['watchBackoff'] },
    ...(tls && {
      credentials: {
        rootCertificate: readFileSync(tls.ca),
        ...(tls.cert && tls.key && { certChain: readFileSync(tls.cert), privateKey: readFileSync(tls.key) }),
      },
    }),
  };
  const etcd3 = require('etcd3') as typeof import('etcd3');
  return new etcd3.Etcd3(config);
}
