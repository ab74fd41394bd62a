/**
 * Network namespaces for root-only end-to-end tests: created and removed by
 * the test itself, with node scripts run inside them. Addresses used in them
 * must be private ones on links that exist only inside these namespaces.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';

/** Runs `ip ARGS`; throws with its stderr when it fails. */
export function ip(...args: string[]): void {
  const r = spawnSync('ip', args, { encoding: 'utf8', timeout: 20_000 });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')} failed: ${(r.error?.message ?? r.stderr).trim()}`);
}

/** Why namespace tests cannot run here, or undefined when they can (probes by creating and deleting one). */
export function netnsSkipReason(extra: { tun?: boolean } = {}): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (network namespaces)';
  if (spawnSync('ip', ['-V']).status !== 0) return 'iproute2 `ip` is not installed (apt-get install iproute2)';
  if (extra.tun && !existsSync('/dev/net/tun')) return '/dev/net/tun does not exist';
  const probe = `pp-probe-${process.pid}`;
  try {
    ip('netns', 'add', probe);
  } catch (err) {
    return `cannot create network namespaces: ${(err as Error).message}`;
  }
  ip('netns', 'delete', probe);
  return undefined;
}

/** Why nftables namespace tests cannot run here (netnsSkipReason, then the `nft` tool), or undefined when they can. */
export function nftSkipReason(): string | undefined {
  return netnsSkipReason() ?? (spawnSync('nft', ['--version']).status === 0 ? undefined : 'nft (nftables) is not installed');
}

/** Why nftables tests that read sessions cannot run here (nftSkipReason, then the `conntrack` tool), or undefined when they can. */
export function nftConntrackSkipReason(): string | undefined {
  return nftSkipReason() ?? (spawnSync('conntrack', ['--version']).status === 0 ? undefined : 'conntrack (conntrack-tools) is not installed');
}

/**
 * A script for NetnsNode that holds TCP connections to `host` open: 'open
 * PORT' connects, 'send I TEXT' writes on connection I; it answers
 * `{opened, local}`, `{conn, data}` and `{conn, error}` as JSON lines.
 */
export function connectionHolderScript(host: string): string {
  return `
const net = require('node:net');
const conns = [];
require('node:readline').createInterface({ input: process.stdin }).on('line', (line) => {
  const [verb, a, b] = line.split(' ');
  if (verb === 'open') {
    const s = net.connect({ host: ${JSON.stringify(host)}, port: Number(a) }, () => console.log(JSON.stringify({ opened: conns.indexOf(s), local: s.localPort })));
    s.setEncoding('utf8').on('data', (d) => console.log(JSON.stringify({ conn: conns.indexOf(s), data: d })));
    s.on('error', (e) => console.log(JSON.stringify({ conn: conns.indexOf(s), error: e.code })));
    conns.push(s);
  } else if (verb === 'send') conns[Number(a)].write(b);
});`;
}

/** Runs `nft ARGS` inside namespace `ns` and returns its stdout; throws with its stderr when it fails. */
export function nftIn(ns: string, ...args: string[]): string {
  const r = spawnSync('ip', ['netns', 'exec', ns, 'nft', ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`nft ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** A node process running `script` inside namespace `ns`, with its stdout lines. */
export class NetnsNode {
  readonly child: ChildProcess;
  readonly lines: string[] = [];
  private stderr = '';
  readonly exited: Promise<number | null>;

  constructor(ns: string, script: string, args: string[] = []) {
    this.child = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', script, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let partial = '';
    this.child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      const parts = (partial + chunk).split('\n');
      partial = parts.pop() ?? '';
      this.lines.push(...parts.filter(Boolean));
    });
    this.child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (this.stderr += chunk));
    this.exited = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)));
  }

  /** The first JSON line satisfying `match`, waiting up to `timeoutMs`. */
  async json<T>(match: (line: T) => boolean, timeoutMs = 30_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      for (const line of this.lines) {
        const parsed = JSON.parse(line) as T;
        if (match(parsed)) return parsed;
      }
      if (this.child.exitCode !== null && this.child.exitCode !== 0) throw new Error(`netns node exited with ${this.child.exitCode}: ${this.stderr}`);
      if (Date.now() > deadline) throw new Error(`no matching line within ${timeoutMs} ms; got ${JSON.stringify(this.lines)}; stderr: ${this.stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  send(line: string): void {
    this.child.stdin?.write(`${line}\n`);
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    await this.exited;
  }
}
