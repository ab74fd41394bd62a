/**
 * A ConfigService client for the CLI: the daemon's UNIX socket by default,
 * or a TCP address (with TLS and a client certificate when given). Calls are
 * promisified, carry a deadline and, when given, a bearer token.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { serviceClient } from '../server/api-definition.js';
import { SOCKET_NAME } from '../server/daemon.js';

export interface ConnectOptions {
  stateDir: string;
  socket?: string;
  address?: string;
  timeoutMs: number;
  /** `<id>.<secret>`, sent as `authorization: Bearer`. */
  token?: string;
  /** TLS: CA bundle that verifies the daemon; with cert and key, a client certificate. */
  tls?: { ca: string; cert?: string; key?: string };
}

function channelCredentials(tls: ConnectOptions['tls']): grpc.ChannelCredentials {
  if (!tls) return grpc.credentials.createInsecure();
  if (Boolean(tls.cert) !== Boolean(tls.key)) throw new Error('a client certificate needs both --cert and --key');
  const read = (path: string): Buffer => readFileSync(path);
  return grpc.credentials.createSsl(read(tls.ca), tls.key ? read(tls.key) : null, tls.cert ? read(tls.cert) : null);
}

export function daemonTarget(options: Pick<ConnectOptions, 'stateDir' | 'socket' | 'address'>): string {
  if (options.address) return options.address;
  return `unix:${options.socket ?? join(options.stateDir, SOCKET_NAME)}`;
}

export class ConfigClient {
  private readonly client: grpc.Client;

  /** A client of `service` (default ConfigService) of the daemon. */
  constructor(
    private readonly options: ConnectOptions,
    private readonly service = 'ConfigService',
  ) {
    const Ctor = serviceClient(service);
    this.client = new Ctor(daemonTarget(options), channelCredentials(options.tls));
  }

  call<T>(method: string, request: object): Promise<T> {
    const fn = (this.client as unknown as Record<string, grpc.requestCallback<T> & ((...args: unknown[]) => void)>)[method];
    if (!fn) throw new Error(`${this.service} has no method ${method}`);
    return new Promise((resolve, reject) => {
      const metadata = new grpc.Metadata();
      if (this.options.token) metadata.set('authorization', `Bearer ${this.options.token}`);
      fn.call(this.client, request, metadata, { deadline: Date.now() + this.options.timeoutMs }, (err: grpc.ServiceError | null, res: T) =>
        err ? reject(err) : resolve(res),
      );
    });
  }

  /** A server stream; no deadline, it runs until the daemon ends it or the caller cancels it. */
  stream<T>(method: string, request: object): grpc.ClientReadableStream<T> {
    const fn = (this.client as unknown as Record<string, (req: object) => grpc.ClientReadableStream<T>>)[method];
    if (!fn) throw new Error(`${this.service} has no method ${method}`);
    return fn.call(this.client, request);
  }

  close(): void {
    this.client.close();
  }
}
