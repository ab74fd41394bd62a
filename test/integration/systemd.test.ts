/**
 * Running under systemd, tested with the real tools of Debian's systemd
 * package and a real notification socket: `systemd-socket-activate` opens
 * the control socket and starts the daemon on the first connection (the
 * daemon serves the inherited socket: LISTEN_FDS); a UNIX datagram listener
 * on $NOTIFY_SOCKET (socat) receives READY=1 with MAINPID and STATUS once it
 * serves, and STOPPING=1 on SIGTERM. The unit files in deploy/systemd pass
 * `systemd-analyze verify` when it can run here.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureCommand } from '../helpers/apt.js';
import { REPO, ServiceClient } from '../helpers/daemon-process.js';
import { freePort, roundTrip, startEchoServer, type EchoServer } from '../helpers/tcp.js';
import { singlePortRule } from '../helpers/wire-rules.js';

const run = promisify(execFile);

async function until(what: string, ok: () => boolean, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((res) => (child.exitCode !== null ? res(child.exitCode) : child.once('exit', (code) => res(code))));
}

describe('systemd socket activation and readiness', () => {
  let missing: string | undefined;
  let echo: EchoServer;
  beforeAll(async () => {
    missing = (await ensureCommand('systemd-socket-activate', 'systemd')) ?? (await ensureCommand('socat', 'socat'));
    echo = await startEchoServer();
  }, 600_000);
  afterAll(async () => {
    await echo.close();
  });

  it('serves the socket systemd-socket-activate passes, notifies READY and STOPPING', async (ctx) => {
    if (missing) return ctx.skip(missing);
    const dir = await mkdtemp(join(tmpdir(), 'portplane-systemd-'));
    const stateDir = join(dir, 'state');
    const socketPath = join(dir, 'control.sock');
    const notifyPath = join(dir, 'notify.sock');
    const listener = spawn('socat', ['-u', `UNIX-RECV:${notifyPath}`, 'STDOUT'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let notified = '';
    listener.stdout!.setEncoding('utf8').on('data', (c: string) => (notified += `${c}\n`));
    let activator: ChildProcess | undefined;
    let config: ServiceClient | undefined;
    try {
      await until('the notification socket', () => existsSync(notifyPath));
      activator = spawn(
        'systemd-socket-activate',
        [
          '-l',
          socketPath,
          '--fdname=control',
          `-E`,
          `NOTIFY_SOCKET=${notifyPath}`,
          '--',
          process.execPath,
          '--import',
          'tsx',
          join(REPO, 'src/cli/main.ts'),
          '--state-dir',
          stateDir,
          'serve',
          '--metrics-listen=',
          '--log-format=json',
        ],
        { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let logs = '';
      activator.stdout!.setEncoding('utf8').on('data', (c: string) => (logs += c));
      activator.stderr!.setEncoding('utf8').on('data', (c: string) => (logs += c));
      await until('systemd-socket-activate to listen', () => existsSync(socketPath) || activator!.exitCode !== null);
      expect(notified).toBe('');
      // The first connection starts the daemon; the call waits in the socket's backlog until it serves.
      config = new ServiceClient('ConfigService', `unix:${socketPath}`);
      const caps = await config.call<{ api_version: string }>('GetCapabilities', {}, 60_000);
      expect(caps.api_version).toBe('portplane.v1');
      await until('READY=1', () => notified.includes('READY=1'));
      // systemd-socket-activate execs the daemon in its own process: that pid is the main pid.
      expect(notified).toContain(`MAINPID=${activator.pid}`);
      expect(notified).toMatch(/STATUS=serving unix:\S+control\.sock, generation 0/);
      const serving = logs.split('\n').find((l) => l.includes('portplane serving'));
      expect(JSON.parse(serving!)).toMatchObject({ socketActivated: true, address: `unix:${socketPath}` });
      // Not the socket it would open itself.
      expect(existsSync(join(stateDir, 'portplane.sock'))).toBe(false);

      const port = await freePort();
      await config.call('ApplyConfig', { tables: [{ name: 't', rules: [singlePortRule('r', port, echo.port)] }] });
      expect((await roundTrip(port, 'via activation')).toString()).toBe('via activation');
      config.close();
      config = undefined;

      activator.kill('SIGTERM');
      expect(await exited(activator)).toBe(0);
      await until('STOPPING=1', () => notified.includes('STOPPING=1'), 5_000);
      expect(notified.indexOf('STOPPING=1')).toBeGreaterThan(notified.indexOf('READY=1'));
      // The socket belongs to whoever opened it (systemd keeps it for the next start).
      expect(existsSync(socketPath)).toBe(true);
    } finally {
      config?.close();
      if (activator && activator.exitCode === null) {
        activator.kill('SIGKILL');
        await exited(activator);
      }
      listener.kill('SIGTERM');
      await exited(listener);
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('deploy/systemd units pass systemd-analyze verify', async (ctx) => {
    const analyze = await ensureCommand('systemd-analyze', 'systemd');
    if (analyze) return ctx.skip(analyze);
    const units = ['portplane.service', 'portplane.socket'].map((u) => join(REPO, 'deploy/systemd', u));
    const text = await run('systemd-analyze', ['verify', '--man=no', ...units], { env: { ...process.env, SYSTEMD_LOG_LEVEL: 'warning' } }).then(
      ({ stdout, stderr }) => `${stdout}${stderr}`,
      (err: { stdout?: string; stderr?: string }) => `${err.stdout ?? ''}${err.stderr ?? ''}`,
    );
    // Without a running systemd (containers), verify cannot load units at all: that says nothing about the files.
    if (/Failed to (?:connect|initialize manager)|System has not been booted with systemd/i.test(text)) {
      return ctx.skip(`systemd-analyze verify cannot run here: ${text.split('\n')[0]}`);
    }
    // The binary is where `npm install -g` puts it, which need not be this machine.
    const problems = text.split('\n').filter((l) => l.trim() !== '' && !/Command \/usr\/local\/bin\/portplane is not executable/.test(l));
    expect(problems).toEqual([]);
  });
});
