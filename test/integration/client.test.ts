/**
 * portplane/client against a real daemon: the controller of docs/client.md
 * as printed, compare-and-swap retries, the confirm flow, typed errors with
 * decoded details, a daemon that is not there, and a session watch that
 * resumes across a daemon restart.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { createServer, connect as dial, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AbortedError,
  connect,
  DaemonUnavailableError,
  FailedPreconditionError,
  InvalidArgumentError,
  type PortplaneClient,
  type SessionEvent__Output,
} from '../../src/client/index.js';
import { REPO, removeDir, startDaemon, stopDaemon, tempStateDir } from '../helpers/daemon-process.js';
import { startTestDaemon, type TestDaemon } from '../helpers/in-process-daemon.js';
import { freePort, freePortBlock, startEchoServer, type EchoServer } from '../helpers/tcp.js';
import { singlePortRule } from '../helpers/wire-rules.js';

/** The ```ts block under "A controller in 30 lines". */
function controllerExample(): string {
  const doc = readFileSync(join(REPO, 'docs', 'client.md'), 'utf8');
  const section = doc.slice(doc.indexOf('## A controller in 30 lines'));
  const match = /```ts\n([\s\S]*?)```/.exec(section);
  if (!match?.[1]) throw new Error('docs/client.md has no controller example');
  return match[1];
}

function runScript(file: string, env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    // portplane-source: resolve portplane/client to src/ (no build needed); the import itself is as printed.
    const child = spawn(process.execPath, ['--conditions=portplane-source', '--import', 'tsx', file], { cwd: REPO, env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('portplane/client', () => {
  let d: TestDaemon;
  let echo: EchoServer;
  let pp: PortplaneClient;
  let socket: string;
  beforeAll(async () => {
    d = await startTestDaemon();
    echo = await startEchoServer();
    socket = d.target.replace(/^unix:/, '');
    pp = connect({ socket });
  });
  afterAll(async () => {
    pp.close();
    await d.stop();
    await echo.close();
  });

  it('runs the controller of docs/client.md as printed', async () => {
    const port = await freePortBlock(2);
    const file = join(REPO, `.client-example-${process.pid}.ts`);
    await writeFile(file, controllerExample());
    try {
      const res = await runScript(file, { PORTPLANE_SOCKET: socket, APP_PORT: String(port), APP_TARGET: String(echo.port) });
      expect(res.stderr).toBe('');
      expect(res.code).toBe(0);
      const lines = res.stdout.trim().split('\n');
      expect(lines[0]).toMatch(/^applied generation \d+$/);
      expect(lines[1]).toBe('widened and confirmed');
      expect(lines[2]).toMatch(/^session \S+ from port \d+$/);
    } finally {
      await rm(file, { force: true });
    }
    const running = await pp.getConfig();
    expect(running.pending).toBeNull();
    expect(running.tables.find((t) => t.name === 'app')?.rules[0]?.ports).toMatchObject({ first: port, last: port + 1 });
  }, 90_000);

  it('applyTables retries a compare-and-swap that another writer beat, then applies onto the new generation', async () => {
    const [mine, theirs] = [await freePort(), await freePort()];
    const seen: number[] = [];
    const res = await pp.applyTables(
      ({ generation }) => {
        seen.push(generation);
        if (seen.length === 1) {
          // Another controller commits between our read and our apply: our first attempt must be ABORTED.
          void pp.applyConfig({ tables: [{ name: 'other', rules: [singlePortRule('o', theirs, echo.port)] }] });
        }
        return [{ name: 'cas', rules: [singlePortRule('c', mine, echo.port)] }];
      },
      { attempts: 5 },
    );
    expect(seen.length).toBeGreaterThanOrEqual(2);
    expect(Number(res.result?.generation)).toBeGreaterThan(seen[0] as number);
    const names = (await pp.getConfig()).tables.map((t) => t.name);
    expect(names).toEqual(expect.arrayContaining(['cas', 'other']));
  });

  it('applyTables gives up after its attempts with the AbortedError and the current generation', async () => {
    const err = await pp
      .applyTables(
        async () => {
          // Another writer commits a new generation every time, before each attempt's apply.
          await pp.applyConfig({ tables: [{ name: 'churn', rules: [singlePortRule('x', await freePort(), echo.port)] }] });
          return [{ name: 'never', rules: [singlePortRule('n', 1, echo.port)] }];
        },
        { attempts: 2 },
      )
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AbortedError);
    expect((err as AbortedError).reason).toBe('GENERATION_MISMATCH');
    expect((err as AbortedError).currentGeneration).toBe(Number((await pp.getConfig()).generation));
  });

  it('applyWithConfirm rolls back when the check fails', async () => {
    const port = await freePort();
    const before = await pp.getConfig();
    const outcome = await pp.applyWithConfirm(
      { tables: [{ name: 'risky', rules: [singlePortRule('r', port, echo.port)] }], confirmTimeoutMs: 30_000 },
      () => false,
    );
    expect(outcome.confirmed).toBe(false);
    const after = await pp.getConfig();
    expect(after.pending).toBeNull();
    expect(after.tables.map((t) => t.name)).not.toContain('risky');
    expect(after.config_digest).toBe(before.config_digest);
  });

  it('errors are typed with their details decoded', async () => {
    const invalid = await pp
      .applyConfig({ tables: [{ name: 'bad', rules: [{ ...singlePortRule('b', 1, 2), target_address: 'not-an-address' }] }] })
      .catch((e: unknown) => e);
    expect(invalid).toBeInstanceOf(InvalidArgumentError);
    expect((invalid as InvalidArgumentError).fieldViolations.map((v) => v.field)).toContain('tables[bad].rules[0].target_address');

    const holder: Server = createServer();
    await new Promise<void>((r) => holder.listen(0, '127.0.0.1', r));
    const taken = (holder.address() as { port: number }).port;
    const failed = await pp.applyConfig({ tables: [{ name: 'taken', rules: [singlePortRule('t', taken, echo.port)] }] }).catch((e: unknown) => e);
    holder.close();
    expect(failed).toBeInstanceOf(FailedPreconditionError);
    expect((failed as FailedPreconditionError).reason).toBe('BIND_FAILED');
    expect((failed as FailedPreconditionError).portFailures).toEqual([expect.objectContaining({ type: 'EADDRINUSE', subject: `tcp://127.0.0.1:${taken}` })]);
  });

  it('a missing or stale socket is one DaemonUnavailableError line saying which and what to do', async () => {
    const dir = await tempStateDir();
    try {
      const missing = connect({ socket: join(dir, 'portplane.sock'), timeoutMs: 5_000 });
      const err = await missing.getConfig().catch((e: unknown) => e);
      missing.close();
      expect(err).toBeInstanceOf(DaemonUnavailableError);
      expect((err as Error).message).toMatch(/^no daemon socket at unix:.*portplane\.sock: is the daemon running\? start it with `portplane serve`/);
      expect((err as Error).message).not.toContain('\n');

      // A socket file nobody listens on any more, as a killed daemon leaves it.
      const stalePath = join(dir, 'stale.sock');
      const server = createServer();
      await new Promise<void>((r) => server.listen(stalePath, r));
      await new Promise<void>((r) => {
        // Closing a listening UNIX socket unlinks it in Node; keep the file by closing only the fd of a copy.
        server.close(() => r());
      });
      await writeFile(stalePath, '');
      const stale = connect({ socket: stalePath, timeoutMs: 5_000 });
      const staleErr = await stale.getConfig().catch((e: unknown) => e);
      stale.close();
      expect(staleErr).toBeInstanceOf(DaemonUnavailableError);
      expect((staleErr as Error).message).toMatch(/stale socket|no daemon socket|cannot reach/);
    } finally {
      await removeDir(dir);
    }
  });
});

describe('portplane/client watchSessions', () => {
  it('resumes after the daemon restarts: the watch goes on and sees sessions opened after the restart', async () => {
    const stateDir = await tempStateDir();
    const echo = await startEchoServer();
    let daemon = await startDaemon(stateDir);
    const pp = connect({ socket: join(stateDir, 'portplane.sock') });
    const controller = new AbortController();
    try {
      const port = await freePort();
      await pp.applyConfig({ tables: [{ name: 'w', rules: [singlePortRule('w', port, echo.port)] }] });
      const events: SessionEvent__Output[] = [];
      // A session opened while the watch reconnects arrives in the snapshot after RESYNC rather than as OPEN.
      const opened = (n: number): boolean =>
        events.filter((e) => e.kind === 'SESSION_EVENT_KIND_OPEN' || (e.kind === 'SESSION_EVENT_KIND_SNAPSHOT' && e.session)).length >= n;
      let watchError: unknown;
      const watching = (async () => {
        for await (const e of pp.watchSessions({ filter: { table: 'w' } }, { signal: controller.signal, reconnectDelayMs: 100, maxReconnects: 100 })) {
          events.push(e);
        }
      })().catch((err: unknown) => (watchError = err));
      const waitFor = async (test: () => boolean): Promise<void> => {
        for (const end = Date.now() + 20_000; !test(); await new Promise((r) => setTimeout(r, 50))) {
          if (Date.now() > end) throw new Error(`watch saw: ${JSON.stringify(events.map((e) => e.kind))}; error: ${String(watchError)}`);
        }
      };
      const open = (): (() => void) => {
        const s = dial(port, '127.0.0.1');
        s.on('error', () => {});
        return () => s.destroy();
      };
      await waitFor(() => events.some((e) => e.kind === 'SESSION_EVENT_KIND_SNAPSHOT_END'));
      const close1 = open();
      await waitFor(() => opened(1));
      close1();

      await stopDaemon(daemon);
      daemon = await startDaemon(stateDir);
      const close2 = open();
      await waitFor(() => opened(2));
      close2();
      // The restarted backend has a new epoch: the resume was answered with RESYNC and a fresh snapshot.
      expect(events.map((e) => e.kind)).toContain('SESSION_EVENT_KIND_RESYNC');
      controller.abort();
      await watching;
      expect(watchError).toBeUndefined();
      // Sequences never go back within one backend epoch.
      const epochs = new Map<string, number>();
      for (const e of events) {
        const seq = Number(e.sequence);
        expect(seq).toBeGreaterThanOrEqual(epochs.get(e.backend_epoch) ?? 0);
        epochs.set(e.backend_epoch, seq);
      }
    } finally {
      controller.abort();
      pp.close();
      await stopDaemon(daemon);
      await echo.close();
      await removeDir(stateDir);
    }
  }, 90_000);
});
