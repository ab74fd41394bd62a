/**
 * A real etcd (Debian's etcd-server) for fleet tests: one member on
 * loopback, on free ports, with a temporary data directory. It can be
 * stopped and started again on the same ports and data (a restart), or
 * killed. `etcdUnavailable()` says why tests must skip (not installed and
 * not installable).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { ensureCommand } from './apt.js';
import { freePort } from './tcp.js';

export function etcdUnavailable(): Promise<string | undefined> {
  return ensureCommand('etcd', 'etcd-server');
}

/** Client TLS with client certificates: etcd's server certificate, the CA it trusts, and a client certificate for its own probe. */
export interface EtcdTls {
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
}

export class EtcdServer {
  private child: ChildProcess | undefined;
  private log = '';

  private constructor(
    readonly dataDir: string,
    readonly clientPort: number,
    readonly peerPort: number,
    private readonly extraArgs: string[],
    private readonly tls?: EtcdTls,
  ) {}

  get url(): string {
    return `${this.tls ? 'https' : 'http'}://127.0.0.1:${this.clientPort}`;
  }

  static async start(extraArgs: string[] = [], tls?: EtcdTls): Promise<EtcdServer> {
    const dataDir = await mkdtemp(join(tmpdir(), 'portplane-etcd-'));
    const tlsArgs = tls
      ? ['--cert-file', tls.serverCert, '--key-file', tls.serverKey, '--client-cert-auth', '--trusted-ca-file', tls.ca]
      : [];
    const server = new EtcdServer(dataDir, await freePort(), await freePort(), [...tlsArgs, ...extraArgs], tls);
    await server.startAgain();
    return server;
  }

  /** A client of this etcd (with the probe's client certificate under TLS). */
  client(): Etcd3 {
    const { tls } = this;
    return new Etcd3({
      hosts: this.url,
      dialTimeout: 1_000,
      ...(tls && { credentials: { rootCertificate: readFileSync(tls.ca), certChain: readFileSync(tls.clientCert), privateKey: readFileSync(tls.clientKey) } }),
    });
  }

  /** Starts (again) on the same ports and data directory; resolves once it serves. */
  async startAgain(): Promise<void> {
    const client = this.url;
    const peer = `http://127.0.0.1:${this.peerPort}`;
    this.log = '';
    const child = spawn(
      'etcd',
      [
        '--name', 'test',
        '--data-dir', this.dataDir,
        '--listen-client-urls', client,
        '--advertise-client-urls', client,
        '--listen-peer-urls', peer,
        '--initial-advertise-peer-urls', peer,
        '--initial-cluster', `test=${peer}`,
        '--initial-cluster-state', 'new',
        '--log-level', 'warn',
        '--logger', 'zap',
        ...this.extraArgs,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child.stdout?.on('data', (d: Buffer) => (this.log += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (this.log += d.toString()));
    this.child = child;
    const etcd = this.client();
    try {
      const deadline = Date.now() + 20_000;
      for (;;) {
        if (child.exitCode !== null) throw new Error(`etcd exited with ${child.exitCode}: ${this.log.slice(-2000)}`);
        try {
          await etcd.get('health-probe').options({ deadline: Date.now() + 500 }).exec();
          return;
        } catch {
          if (Date.now() > deadline) throw new Error(`etcd did not serve within 20 s: ${this.log.slice(-2000)}`);
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    } finally {
      etcd.close();
    }
  }

  /** SIGTERM (or `signal`) and wait for the exit. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill(signal);
    await exited;
  }

  async destroy(): Promise<void> {
    await this.stop('SIGKILL');
    await rm(this.dataDir, { recursive: true, force: true });
  }
}
