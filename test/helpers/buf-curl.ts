/**
 * `buf curl` (the pinned devDependency), a gRPC client nobody here wrote: it
 * resolves every descriptor through server reflection with the Go protobuf
 * runtime's strict rules, as grpcurl does.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { REPO } from './daemon-process.js';

export const BUF = join(REPO, 'node_modules', '.bin', 'buf');

/** `buf curl` over the daemon's UNIX socket: gRPC with HTTP/2 prior knowledge, as the README shows. */
export function bufCurlArgs(socket: string, ...args: string[]): string[] {
  return ['curl', '--protocol', 'grpc', '--http2-prior-knowledge', '--unix-socket', socket, ...args];
}

export interface Finished {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs to completion (killed after `timeoutMs`), `stdin` written then closed. */
export function run(command: string, args: string[], stdin = '', timeoutMs = 30_000): Promise<Finished> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: REPO, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => process.kill(-(child.pid as number), 'SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(stdin);
  });
}

export function bufCurl(socket: string, args: string[], stdin = ''): Promise<Finished> {
  return run(BUF, bufCurlArgs(socket, ...args), stdin);
}

/** A streaming `buf curl` whose output is read while it runs. */
export class BufCurlStream {
  readonly child: ChildProcess;
  private out = '';
  private waiters: { test: (out: string) => boolean; resolve: () => void }[] = [];

  constructor(socket: string, args: string[]) {
    // Its own process group: node_modules/.bin/buf is a node shim that runs the native binary, and both must stop.
    this.child = spawn(BUF, bufCurlArgs(socket, ...args), { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const take = (d: Buffer): void => {
      this.out += d.toString();
      this.waiters = this.waiters.filter((w) => (w.test(this.out) ? (w.resolve(), false) : true));
    };
    this.child.stdout?.on('data', take);
    this.child.stderr?.on('data', take);
  }

  get output(): string {
    return this.out;
  }

  /** Resolves once the output so far contains `text` `times` times; rejects after `timeoutMs`. */
  waitFor(text: string, times = 1, timeoutMs = 15_000): Promise<void> {
    const test = (out: string): boolean => out.split(text).length - 1 >= times;
    if (test(this.out)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`buf curl did not print "${text}" x${times} in ${timeoutMs} ms; output:\n${this.out}`)), timeoutMs);
      this.waiters.push({ test, resolve: () => (clearTimeout(timer), resolve()) });
    });
  }

  stop(): Promise<void> {
    if (this.child.exitCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      this.child.once('close', () => resolve());
      process.kill(-(this.child.pid as number), 'SIGTERM');
    });
  }
}
