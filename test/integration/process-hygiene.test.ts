/**
 * The daemon's process hygiene, with real pipes and signals: shutdown ends
 * within the grace period plus a bound whatever its log reader does (`serve
 * | cat` and Ctrl-C to the whole process group; a reader that dies while the
 * daemon drains sessions; a reader that stops reading), a second signal ends
 * it at once, shutdown says what it waits for, and a second daemon on the
 * same state directory is refused before it restores anything.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO, removeDir, ServiceClient, startDaemon, stopDaemon, tempStateDir } from '../helpers/daemon-process.js';
import { freePort, roundTrip, startEchoServer, type EchoServer } from '../helpers/tcp.js';
import { singlePortRule } from '../helpers/wire-rules.js';

const GRACE_MS = 1_500;
/** The acceptance bound: grace + 2 s. */
const BOUND_MS = GRACE_MS + 2_000;
const MAIN = join(REPO, 'src/cli/main.ts');

function daemonArgv(stateDir: string, extra: string[] = []): string[] {
  return [process.execPath, '--import', 'tsx', MAIN, '--state-dir', stateDir, 'serve', '--metrics-listen=', `--grace-ms=${GRACE_MS}`, ...extra];
}

function accepts(path: string): Promise<boolean> {
  return new Promise((res) => {
    const probe = connect({ path });
    probe.once('connect', () => {
      probe.destroy();
      res(true);
    });
    probe.once('error', () => res(false));
  });
}

async function waitForSocket(stateDir: string, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!(await accepts(join(stateDir, 'portplane.sock')))) {
    if (child.exitCode !== null) throw new Error(`exited with ${child.exitCode} before serving`);
    if (Date.now() > deadline) throw new Error('daemon did not serve within 30 s');
    await new Promise((r) => setTimeout(r, 50));
  }
}

function exitOf(child: ChildProcess): Promise<void> {
  return new Promise((res) => {
    if (child.exitCode !== null || child.signalCode !== null) res();
    else child.once('exit', () => res());
  });
}

/** SIGKILL to what is left of a process group this test started (nothing, if it already ended). */
function killGroup(pgid: number): void {
  try {
    process.kill(-pgid, 'SIGKILL');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

/** Whether `pid` is still running (not a zombie). */
async function running(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  return stat !== '' && !/^\d+ \(.*\) Z/.test(stat);
}

/** The pids of `parent`'s children. */
async function childrenOf(parent: number): Promise<number[]> {
  const text = await readFile(`/proc/${parent}/task/${parent}/children`, 'utf8').catch(() => '');
  return text.trim().split(/\s+/).filter(Boolean).map(Number);
}

async function commandOf(pid: number): Promise<string> {
  return (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).replaceAll('\0', ' ');
}

/** Waits up to `ms` for `pid` to end; how long it took, or undefined if it did not. */
async function endsWithin(pid: number, ms: number): Promise<number | undefined> {
  const start = Date.now();
  while (Date.now() - start < ms) {
    if (!(await running(pid))) return Date.now() - start;
    await new Promise((r) => setTimeout(r, 25));
  }
  return undefined;
}

describe('process hygiene', () => {
  let echo: EchoServer;
  beforeAll(async () => {
    echo = await startEchoServer();
  });
  afterAll(async () => {
    await echo.close();
  });

  /** Applies one rule and opens a session through it that stays open, so shutdown waits the grace period. */
  async function holdSession(stateDir: string): Promise<Socket> {
    const config = new ServiceClient('ConfigService', `unix:${join(stateDir, 'portplane.sock')}`);
    const port = await freePort();
    try {
      await config.call('ApplyConfig', { tables: [{ name: 't', rules: [singlePortRule('held', port, echo.port)] }] });
    } finally {
      config.close();
    }
    expect((await roundTrip(port, 'ping')).toString()).toBe('ping');
    const held = connect({ host: '127.0.0.1', port });
    held.on('error', () => undefined);
    await new Promise<void>((res) => held.once('connect', () => res()));
    held.write('x');
    await new Promise<void>((res) => held.once('data', () => res()));
    return held;
  }

  it('`serve | cat`, then SIGINT to the whole process group (Ctrl-C in a terminal): exits within grace + 2 s', async (ctx) => {
    const stateDir = await tempStateDir();
    // sh runs the pipeline in a process group of its own, as a shell does for a terminal job.
    const argv = daemonArgv(stateDir);
    const sh = spawn('sh', ['-c', '"$@" | cat', 'sh', ...argv], { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    sh.stdout!.setEncoding('utf8').on('data', (c: string) => (out += c));
    let held: Socket | undefined;
    try {
      await waitForSocket(stateDir, sh);
      const daemonPid = (await Promise.all((await childrenOf(sh.pid!)).map(async (p) => [p, await commandOf(p)] as const))).find(([, c]) => c.includes('serve'))?.[0];
      expect(daemonPid).toBeDefined();
      held = await holdSession(stateDir);
      process.kill(-sh.pid!, 'SIGINT');
      const took = await endsWithin(daemonPid!, BOUND_MS);
      expect(took, `daemon still running ${BOUND_MS} ms after SIGINT`).toBeDefined();
      ctx.annotate(`exited ${took} ms after SIGINT (grace ${GRACE_MS} ms)`);
      expect(out).toContain('portplane serving');
    } finally {
      held?.destroy();
      killGroup(sh.pid!);
      await exitOf(sh);
      await removeDir(stateDir);
    }
  });

  it('a log reader that dies while sessions drain: exits within grace + 2 s', async (ctx) => {
    const stateDir = await tempStateDir();
    // trace: the sessions forced closed at the end of the grace period log lines of their own, in the
    // same turn as the last line and the exit (pino's flush at exit then retried EPIPE forever).
    const [cmd, ...args] = daemonArgv(stateDir, ['--log-level=trace']) as [string, ...string[]];
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (c: string) => (out += c));
    let held: Socket | undefined;
    try {
      await waitForSocket(stateDir, child);
      held = await holdSession(stateDir);
      child.kill('SIGINT');
      // The daemon has written its first shutdown line to a live reader...
      const deadline = Date.now() + 5_000;
      while (!out.includes('closing listeners') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      expect(out).toMatch(/closing listeners; waiting up to 1500 ms for open gRPC calls and 1 sessions/);
      // ...then the reader goes away: every later write fails with EPIPE.
      child.stdout!.destroy();
      child.stderr!.destroy();
      const took = await endsWithin(child.pid!, BOUND_MS);
      expect(took, `daemon still running ${BOUND_MS} ms after SIGINT`).toBeDefined();
      ctx.annotate(`exited ${took} ms after SIGINT`);
    } finally {
      held?.destroy();
      if (child.exitCode === null) child.kill('SIGKILL');
      await exitOf(child);
      await removeDir(stateDir);
    }
  });

  it('a log reader that stops reading (full pipe): keeps forwarding, and exits within grace + 2 s', async (ctx) => {
    const stateDir = await tempStateDir();
    // `sleep` never reads: the pipe fills with the trace-level session logs.
    const argv = daemonArgv(stateDir, ['--log-level=trace', '--log-sessions']);
    const sh = spawn('sh', ['-c', '"$@" | sleep 600', 'sh', ...argv], { detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
    let held: Socket | undefined;
    try {
      await waitForSocket(stateDir, sh);
      const daemonPid = (await Promise.all((await childrenOf(sh.pid!)).map(async (p) => [p, await commandOf(p)] as const))).find(([, c]) => c.includes('serve'))?.[0];
      held = await holdSession(stateDir);
      // Far more than a pipe holds (64 KiB): each session logs ~500 bytes as it closes.
      const config = new ServiceClient('ConfigService', `unix:${join(stateDir, 'portplane.sock')}`);
      const { tables } = await config.call<{ tables: { rules: { ports: { first: number } }[] }[] }>('GetConfig', {});
      config.close();
      const port = tables[0]!.rules[0]!.ports.first;
      for (let i = 0; i < 400; i++) expect((await roundTrip(port, 'abc')).toString()).toBe('abc');
      const pipe = (await readFile(`/proc/${daemonPid}/fdinfo/1`, 'utf8').catch(() => '')) !== '';
      expect(pipe).toBe(true);
      process.kill(daemonPid!, 'SIGTERM');
      const took = await endsWithin(daemonPid!, BOUND_MS);
      expect(took, `daemon still running ${BOUND_MS} ms after SIGTERM`).toBeDefined();
      ctx.annotate(`400 sessions forwarded with a stalled log reader; exited ${took} ms after SIGTERM`);
    } finally {
      held?.destroy();
      killGroup(sh.pid!);
      await exitOf(sh);
      await removeDir(stateDir);
    }
  });

  it('a second signal ends a shutdown that waits for sessions at once', async () => {
    const stateDir = await tempStateDir();
    const d = await startDaemon(stateDir, ['--grace-ms=60000']);
    let held: Socket | undefined;
    try {
      held = await holdSession(stateDir);
      d.child.kill('SIGTERM');
      const deadline = Date.now() + 5_000;
      while (!d.logs.some((l) => l.includes('closing listeners')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      const sent = Date.now();
      d.child.kill('SIGTERM');
      expect(await d.exited).toBe(128 + 15);
      expect(Date.now() - sent).toBeLessThan(2_000);
      expect(d.logs.some((l) => l.includes('second signal: exiting now'))).toBe(true);
    } finally {
      held?.destroy();
      await stopDaemon(d, 'SIGKILL');
      await removeDir(stateDir);
    }
  });

  it('refuses a second daemon on the same state directory before restoring anything', async () => {
    const stateDir = await tempStateDir();
    const first = await startDaemon(stateDir);
    try {
      const port = await freePort();
      const config = new ServiceClient('ConfigService', first.target);
      await config.call('ApplyConfig', { tables: [{ name: 't', rules: [singlePortRule('r', port, echo.port)] }] });
      config.close();
      const [cmd, ...args] = daemonArgv(stateDir) as [string, ...string[]];
      const second = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      let output = '';
      second.stdout!.setEncoding('utf8').on('data', (c: string) => (output += c));
      second.stderr!.setEncoding('utf8').on('data', (c: string) => (output += c));
      const code = await new Promise<number | null>((res) => second.once('exit', (c) => res(c)));
      expect(code).not.toBe(0);
      expect(output).toContain(`another portplane daemon is already serving on ${join(stateDir, 'portplane.sock')}`);
      expect(output).not.toMatch(/EADDRINUSE|restored/);
      // The first one still forwards.
      expect((await roundTrip(port, 'still')).toString()).toBe('still');
    } finally {
      await stopDaemon(first);
      await removeDir(stateDir);
    }
  });
});
