/**
 * TLS for the TCP control listener, and the rule that keeps the control
 * plane off the network without it: a TCP listener that is not on loopback
 * needs TLS, checked before anything is bound.
 */
import { lookup } from 'node:dns/promises';
import { readFile } from 'node:fs/promises';
import * as grpc from '@grpc/grpc-js';
import { isLoopback } from './loopback-peer.js';

export interface TlsFiles {
  cert: string;
  key: string;
  /** CA bundle that client certificates must chain to: mutual TLS. */
  clientCa?: string;
}

export interface ListenAddress {
  host: string;
  port: number;
}

/** `host:port`, `[v6]:port` or `:port` (every address). */
export function parseListenAddress(text: string): ListenAddress {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(text);
  const port = Number(match?.[3]);
  if (!match || port > 65535) throw new Error(`--listen ${JSON.stringify(text)} is not host:port, [ipv6]:port or :port`);
  return { host: match[1] ?? match[2] ?? '', port };
}

/** Whether every address `host` names is a loopback address ('' means every address: no). */
export async function isLoopbackHost(host: string): Promise<boolean> {
  if (host === '') return false;
  const addresses = await lookup(host, { all: true, verbatim: true }).catch((err: Error) => {
    throw new Error(`--listen host ${JSON.stringify(host)} does not resolve: ${err.message}`, { cause: err });
  });
  return addresses.length > 0 && addresses.every((a) => isLoopback(a.address));
}

/** Refuses a listener that would expose the control plane in clear text. */
export async function checkListenSecurity(address: ListenAddress, tls: TlsFiles | undefined): Promise<void> {
  if (tls || (await isLoopbackHost(address.host))) return;
  throw new Error(
    `refusing to serve the control plane on ${address.host || 'every address'}:${address.port} without TLS: ` +
      'a non-loopback listener needs --tls-cert and --tls-key (and --tls-client-ca for client certificates)',
  );
}

export async function serverCredentials(tls: TlsFiles | undefined): Promise<grpc.ServerCredentials> {
  if (!tls) return grpc.ServerCredentials.createInsecure();
  const read = (path: string, what: string): Promise<Buffer> =>
    readFile(path).catch((err: Error) => {
      throw new Error(`cannot read ${what} ${path}: ${err.message}`, { cause: err });
    });
  const [cert, key, ca] = await Promise.all([
    read(tls.cert, '--tls-cert'),
    read(tls.key, '--tls-key'),
    tls.clientCa ? read(tls.clientCa, '--tls-client-ca') : Promise.resolve(null),
  ]);
  // With a client CA, a client without a certificate that chains to it fails the handshake.
  return grpc.ServerCredentials.createSsl(ca, [{ private_key: key, cert_chain: cert }], ca !== null);
}
