/**
 * The Prometheus endpoint: GET /metrics on its own HTTP listener
 * (`--metrics-listen`, default 127.0.0.1:9464), read-only and without
 * credentials like any scrape target, so keep it on loopback or behind a
 * firewall. Everything else is 404.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { parseListenAddress } from './transport-security.js';

export const DEFAULT_METRICS_LISTEN = '127.0.0.1:9464';

export interface MetricsServer {
  /** Bound address ('' host: every address). */
  host: string;
  port: number;
  close(): Promise<void>;
}

export async function startMetricsServer(
  listen: string,
  metrics: { contentType: string; render(): Promise<string> },
  logger: Logger,
): Promise<MetricsServer> {
  let address;
  try {
    address = parseListenAddress(listen);
  } catch {
    throw new Error(`--metrics-listen ${JSON.stringify(listen)} is not host:port, [ipv6]:port or :port ("" turns metrics off)`);
  }
  const server: Server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('portplane serves only GET /metrics here\n');
      return;
    }
    metrics.render().then(
      (text) => res.writeHead(200, { 'content-type': metrics.contentType }).end(text),
      (err: unknown) => {
        logger.error({ err }, 'rendering /metrics failed');
        res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics failed: ${(err as Error).message}\n`);
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(new Error(`--metrics-listen ${listen}: cannot listen: ${err.code ?? err.message}`, { cause: err })),
    );
    server.listen({ host: address.host || '::', port: address.port, exclusive: true }, () => resolve());
  });
  const bound = server.address() as AddressInfo;
  return {
    host: address.host === '' || address.host === '::' ? '' : bound.address,
    port: bound.port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
