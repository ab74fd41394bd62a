/**
 * Runs the real daemon as a child process (`portplane serve`) on a fresh
 * state directory, for tests that need a process to kill -9 and restart.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { serviceClient } from '../../src/server/api-definition.js';

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const MAIN = join(REPO, 'src/cli/main.ts');
/** The compiled daemon (`npm run build`: the bundle), for benchmarks: what `npm start` runs. */
const COMPILED_MAIN = join(REPO, 'dist/portplane.js');

export interface DaemonProcess {
  child: ChildProcess;
  pid: number;
  stateDir: string;
  target: string;
  /** Lines the daemon logged (JSON). */
  logs: string[];
  exited: Promise<number | null>;
}

export async function tempStateDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'portplane-test-'));
}

/**
 * `tcpPort`: the daemon serves TCP (`--listen` in extraArgs) on 127.0.0.1:tcpPort; wait for that instead of the socket.
 * `compiled`: run dist/ (what `npm start` runs) instead of the sources.
 * `prefix` runs the daemon through a launcher, e.g. `['prlimit', '--nofile=96:96', '--']`
 * to start it with a lower fd limit.
 * `pollMs`: how often to try the control socket while the daemon starts (default 50).
 */
export async function startDaemon(
  stateDir: string,
  extraArgs: string[] = [],
  options: { tcpPort?: number; compiled?: boolean; prefix?: string[]; pollMs?: number } = {},
): Promise<DaemonProcess> {
  const entry = options.compiled ? [COMPILED_MAIN] : ['--import', 'tsx', MAIN];
  // Concurrent test daemons cannot all have the default 127.0.0.1:9464: /metrics is off unless a test asks for it.
  const metrics = extraArgs.some((a) => a.startsWith('--metrics-listen')) ? [] : ['--metrics-listen='];
  const argv = [process.execPath, ...entry, '--state-dir', stateDir, 'serve', ...metrics, ...extraArgs];
  const [command, ...args] = [...(options.prefix ?? []), ...argv] as [string, ...string[]];
  const child = spawn(command, args, {
    cwd: REPO,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: string[] = [];
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => logs.push(...chunk.split('\n').filter(Boolean)));
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
  const target = options.tcpPort ? `127.0.0.1:${options.tcpPort}` : `unix:${join(stateDir, 'portplane.sock')}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`daemon exited with ${child.exitCode}: ${stderr}${logs.join('\n')}`);
    if (await accepts(options.tcpPort ? { host: '127.0.0.1', port: options.tcpPort } : { path: join(stateDir, 'portplane.sock') })) break;
    if (Date.now() > deadline) throw new Error(`daemon did not start within 30 s: ${stderr}`);
    await new Promise((r) => setTimeout(r, options.pollMs ?? 50));
  }
  return { child, pid: child.pid ?? 0, stateDir, target, logs, exited };
}

function accepts(endpoint: { path: string } | { host: string; port: number }): Promise<boolean> {
  return new Promise((res) => {
    const probe = connect(endpoint);
    probe.once('connect', () => {
      probe.destroy();
      res(true);
    });
    probe.once('error', () => res(false));
  });
}

export async function stopDaemon(d: DaemonProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
  if (d.child.exitCode === null && d.child.signalCode === null) d.child.kill(signal);
  return d.exited;
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

/** A promisified client of one portplane.v1 service. */
export class ServiceClient {
  readonly raw: grpc.Client;

  constructor(service: string, target: string, credentials: grpc.ChannelCredentials = grpc.credentials.createInsecure()) {
    const Ctor = serviceClient(service);
    this.raw = new Ctor(target, credentials);
  }

  call<T = Record<string, unknown>>(method: string, request: object = {}, timeoutMs = 30_000, metadata = new grpc.Metadata()): Promise<T> {
    const fn = (this.raw as unknown as Record<string, (...args: unknown[]) => void>)[method];
    if (!fn) throw new Error(`no method ${method}`);
    return new Promise((res, rej) => {
      fn.call(this.raw, request, metadata, { deadline: Date.now() + timeoutMs }, (err: grpc.ServiceError | null, out: T) =>
        err ? rej(err) : res(out),
      );
    });
  }

  close(): void {
    this.raw.close();
  }
}

/** Metadata that presents a bearer token. */
export function bearer(token: string): grpc.Metadata {
  const metadata = new grpc.Metadata();
  metadata.set('authorization', `Bearer ${token}`);
  return metadata;
}

/** The error a call failed with (fails the test if it succeeded). */
export async function callError(p: Promise<unknown>): Promise<grpc.ServiceError> {
  try {
    await p;
  } catch (err) {
    return err as grpc.ServiceError;
  }
  throw new Error('expected the call to fail, but it succeeded');
}
