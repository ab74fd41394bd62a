/**
 * The portplane-portmap CNI plugin in a real chain, as a container runtime
 * runs it: Debian's `bridge` + `host-local` plugins (containernetworking-
 * plugins) create a network namespace on a bridge of the test's own, with a
 * server inside; portplane-portmap, chained after them, publishes its port
 * through the daemon; a client on the host reaches the server through the
 * host port; ADD again changes nothing; CHECK passes; DEL removes the table
 * (and succeeds again when there is nothing left); with the daemon down, ADD
 * gives a CNI error at once. Needs root (namespaces, links): skips otherwise.
 * Traffic goes to loopback and to the namespace's address only.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO, removeDir, ServiceClient, startDaemon, stopDaemon, tempStateDir, type DaemonProcess } from '../helpers/daemon-process.js';
import { freePort, roundTrip } from '../helpers/tcp.js';

const run = promisify(execFile);
const CNI_PATH = '/usr/lib/cni';
const PLUGIN = join(REPO, 'src/cni/main.ts');

interface Invocation {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs one CNI plugin as a runtime does: env, config on stdin, result or error on stdout. */
function invoke(argv: string[], env: Record<string, string>, config: object): Promise<Invocation> {
  const start = Date.now();
  return new Promise((res, rej) => {
    const child = spawn(argv[0]!, argv.slice(1), { cwd: REPO, env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', rej);
    child.on('exit', (code) => {
      clearTimeout(timer);
      res({ code, stdout, stderr, ms: Date.now() - start });
    });
    child.stdin.end(JSON.stringify(config));
  });
}

const skipReason =
  process.getuid?.() !== 0
    ? 'the CNI chain test needs root (network namespaces, bridges)'
    : !existsSync(join(CNI_PATH, 'bridge')) || !existsSync(join(CNI_PATH, 'host-local'))
      ? `Debian's containernetworking-plugins (bridge, host-local) are not in ${CNI_PATH}`
      : undefined;

describe.skipIf(skipReason !== undefined)('portplane-portmap in a real CNI chain (bridge + host-local)', () => {
  const id = process.pid % 100_000;
  const netns = `ppcni-${id}`;
  const bridge = `ppcni${id}`;
  const network = `pp-cni-${id}`;
  const containerId = `ctr${id}abcdef0123456789`;
  let subnet = '';
  let ipamDir = '';
  let stateDir = '';
  let daemon: DaemonProcess | undefined;
  let server: ChildProcess | undefined;
  let containerIp = '';
  let prevResult: Record<string, unknown> = {};
  let bridgeConf: object = {};

  const env = (command: string): Record<string, string> => ({
    CNI_COMMAND: command,
    CNI_CONTAINERID: containerId,
    CNI_NETNS: `/var/run/netns/${netns}`,
    CNI_IFNAME: 'eth0',
    CNI_PATH,
  });
  const portmapConf = (hostPort: number, extra: object = {}): object => ({
    cniVersion: '1.0.0',
    name: network,
    type: 'portplane-portmap',
    socket: join(stateDir, 'portplane.sock'),
    timeoutMs: 3_000,
    runtimeConfig: { portMappings: [{ hostPort, containerPort: 8080, protocol: 'tcp', hostIP: '127.0.0.1' }] },
    prevResult,
    ...extra,
  });
  const plugin = (command: string, config: object): Promise<Invocation> => invoke([process.execPath, '--import', 'tsx', PLUGIN], env(command), config);

  beforeAll(async () => {
    // A /24 of 10.213.0.0/16 that no route on this host uses yet: the test's own bridge gets it.
    const routes = (await run('ip', ['-4', 'route', 'show'])).stdout;
    for (let i = 0; i < 250; i++) {
      const candidate = `10.213.${(id + i) % 250}`;
      if (!routes.includes(`${candidate}.`)) {
        subnet = candidate;
        break;
      }
    }
    expect(subnet).not.toBe('');
    ipamDir = await mkdtemp(join(tmpdir(), 'portplane-cni-ipam-'));
    await run('ip', ['netns', 'add', netns]);
    // isGateway false: the bridge plugin would otherwise turn on IP forwarding for the whole host.
    bridgeConf = {
      cniVersion: '1.0.0',
      name: network,
      type: 'bridge',
      bridge,
      isGateway: false,
      ipMasq: false,
      ipam: { type: 'host-local', ranges: [[{ subnet: `${subnet}.0/24`, rangeStart: `${subnet}.10`, rangeEnd: `${subnet}.20` }]], dataDir: ipamDir },
    };
    const added = await invoke([join(CNI_PATH, 'bridge')], env('ADD'), bridgeConf);
    expect(added.code, added.stdout + added.stderr).toBe(0);
    prevResult = JSON.parse(added.stdout) as Record<string, unknown>;
    containerIp = String((prevResult.ips as { address: string }[])[0]!.address).split('/')[0]!;
    // The host's side of the bridge, so the daemon reaches the container directly (no routing, no forwarding).
    await run('ip', ['addr', 'add', `${subnet}.1/24`, 'dev', bridge]);
    await run('ip', ['netns', 'exec', netns, 'ip', 'link', 'set', 'lo', 'up']);
    server = spawn('ip', ['netns', 'exec', netns, process.execPath, '-e', `
      const net = require('node:net');
      net.createServer((s) => { s.on('error', () => {}); s.write('ctr:'); s.pipe(s); }).listen(8080, '0.0.0.0', () => console.log('listening'));
      setTimeout(() => process.exit(0), 300000).unref();
    `], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((res) => server!.stdout!.once('data', () => res()));
    stateDir = await tempStateDir();
    daemon = await startDaemon(stateDir);
  }, 120_000);

  afterAll(async () => {
    if (daemon) await stopDaemon(daemon);
    if (stateDir) await removeDir(stateDir);
    if (server && server.exitCode === null) server.kill('SIGTERM');
    await invoke([join(CNI_PATH, 'bridge')], env('DEL'), { ...bridgeConf, prevResult }).catch(() => undefined);
    await run('ip', ['netns', 'del', netns]).catch(() => undefined);
    await run('ip', ['link', 'del', bridge]).catch(() => undefined);
    if (ipamDir) await rm(ipamDir, { recursive: true, force: true });
  });

  it('VERSION lists the spec versions', async () => {
    const out = await plugin('VERSION', { cniVersion: '1.0.0' });
    expect(out.code).toBe(0);
    expect(JSON.parse(out.stdout)).toEqual({ cniVersion: '1.0.0', supportedVersions: ['0.3.0', '0.3.1', '0.4.0', '1.0.0'] });
  });

  it('ADD publishes the container port on the host, twice idempotently; CHECK passes; DEL removes it, twice', async (ctx) => {
    const hostPort = await freePort();
    const conf = portmapConf(hostPort);
    const added = await plugin('ADD', conf);
    expect(added.code, added.stdout + added.stderr).toBe(0);
    // The chained result is the previous one, passed on.
    expect(JSON.parse(added.stdout)).toMatchObject({ cniVersion: '1.0.0', ips: prevResult.ips });
    expect((await roundTrip(hostPort, 'hello')).toString()).toBe('ctr:hello');

    const config = new ServiceClient('ConfigService', daemon!.target);
    try {
      const table = `cni-${network}-${containerId}`;
      const before = await config.call<{ generation: string; tables: { name: string; rules: { target_address: string; target_port: number }[] }[] }>('GetConfig');
      expect(before.tables.map((t) => t.name)).toEqual([table]);
      expect(before.tables[0]!.rules[0]).toMatchObject({ target_address: containerIp, target_port: 8080 });

      // A runtime retrying ADD: same table, nothing changes, the port keeps forwarding.
      const again = await plugin('ADD', conf);
      expect(again.code, again.stdout).toBe(0);
      const after = await config.call<{ generation: string; tables: unknown[] }>('GetConfig');
      expect(after.tables).toEqual(before.tables);
      expect((await roundTrip(hostPort, 'again')).toString()).toBe('ctr:again');

      const checked = await plugin('CHECK', conf);
      expect(checked.code, checked.stdout).toBe(0);
      expect(checked.stdout).toBe('');
      // CHECK with other mappings than the ones in effect fails, with a code.
      const otherPort = await freePort();
      const mismatch = await plugin('CHECK', portmapConf(otherPort));
      expect(mismatch.code).toBe(1);
      expect(JSON.parse(mismatch.stdout)).toMatchObject({ code: 102, msg: expect.stringContaining('not in effect') });

      const deleted = await plugin('DEL', conf);
      expect(deleted.code, deleted.stdout).toBe(0);
      expect((await config.call<{ tables: unknown[] }>('GetConfig')).tables).toEqual([]);
      await expect(roundTrip(hostPort, 'gone', '127.0.0.1', 2_000)).rejects.toThrow();
      // Nothing left to delete: still success.
      const deletedAgain = await plugin('DEL', conf);
      expect(deletedAgain.code, deletedAgain.stdout).toBe(0);
      const checkGone = await plugin('CHECK', conf);
      expect(checkGone.code).toBe(1);
      expect(JSON.parse(checkGone.stdout)).toMatchObject({ code: 102 });
      ctx.annotate(`ADD ${added.ms} ms, DEL ${deleted.ms} ms (plugin process start included)`);
    } finally {
      config.close();
    }
  }, 120_000);

  it('bad input gives CNI errors with codes', async () => {
    const unsupported = await plugin('ADD', portmapConf(await freePort(), { cniVersion: '9.9.9' }));
    expect(unsupported.code).toBe(1);
    expect(JSON.parse(unsupported.stdout)).toMatchObject({ code: 1 });
    const sctp = await plugin('ADD', { ...portmapConf(1), runtimeConfig: { portMappings: [{ hostPort: 9, containerPort: 9, protocol: 'sctp' }] } });
    expect(JSON.parse(sctp.stdout)).toMatchObject({ code: 2 });
    const noPrev = await plugin('ADD', { ...portmapConf(1), prevResult: undefined });
    expect(JSON.parse(noPrev.stdout)).toMatchObject({ code: 7 });
    const noCommand = await invoke([process.execPath, '--import', 'tsx', PLUGIN], { CNI_COMMAND: 'BOGUS' }, {});
    expect(JSON.parse(noCommand.stdout)).toMatchObject({ code: 4 });
  }, 60_000);

  it('the daemon down: ADD fails at once with a CNI error, not a hang', async () => {
    const down = await tempStateDir();
    try {
      const out = await plugin('ADD', portmapConf(await freePort(), { socket: join(down, 'portplane.sock') }));
      expect(out.code).toBe(1);
      const error = JSON.parse(out.stdout) as { code: number; msg: string };
      expect(error.code).toBe(11);
      expect(error.msg).toContain('not reachable');
      expect(out.ms).toBeLessThan(3_000 + 5_000);
    } finally {
      await removeDir(down);
    }
  }, 60_000);
});

if (skipReason !== undefined) {
  describe('portplane-portmap in a real CNI chain', () => {
    it.skip(`skipped: ${skipReason}`, () => undefined);
  });
}
