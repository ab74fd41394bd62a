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
 * `prefix` runs the daemon through a launcher, e.g. `['prlimit', '--nofile=96:96', '--']`
 * to start it with a lower fd limit.
 */
export async function startDaemon(stateDir: string, extraArgs: string[] = [], prefix: string[] = []): Promise<DaemonProcess> {
  const argv = [process.execPath, '--import', 'tsx', MAIN, '--state-dir', stateDir, 'serve', ...extraArgs];
  const [command, ...args] = [...prefix, ...argv] as [string, ...string[]];
  const child = spawn(command, args, {
    cwd: REPO,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: string[] = [];
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => logs.push(...chunk.split('\n').filter(Boolean)));
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
  const target = `unix:${join(stateDir, 'portplane.sock')}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`daemon exited with ${child.exitCode}: ${stderr}${logs.join('\n')}`);
    if (await accepts(join(stateDir, 'portplane.sock'))) break;
    if (Date.now() > deadline) throw new Error(`daemon did not start within 30 s: ${stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return { child, pid: child.pid ?? 0, stateDir, target, logs, exited };
}

function accepts(socketPath: string): Promise<boolean> {
  return new Promise((res) => {
    const probe = connect(socketPath);
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

  constructor(service: string, target: string) {
    const Ctor = serviceClient(service);
    this.raw = new Ctor(target, grpc.credentials.createInsecure());
  }

  call<T = Record<string, unknown>>(method: string, request: object = {}, timeoutMs = 30_000): Promise<T> {
    const fn = (this.raw as unknown as Record<string, (...args: unknown[]) => void>)[method];
    if (!fn) throw new Error(`no method ${method}`);
    return new Promise((res, rej) => {
      fn.call(this.raw, request, { deadline: Date.now() + timeoutMs }, (err: grpc.ServiceError | null, out: T) =>
        err ? rej(err) : res(out),
      );
    });
  }

  close(): void {
    this.raw.close();
  }
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
