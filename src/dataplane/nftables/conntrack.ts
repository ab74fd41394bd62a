/**
 * conntrack through the `conntrack` tool (conntrack-tools): dumps, batched
 * deletes (`-R`, one process for any number of entries) and the event
 * stream (`-E`). Chosen over a libnetfilter_conntrack addon because the
 * tool is only on the control path: a dump or delete is one process per
 * request or batch, and events arrive through one long-running process; no
 * packet waits for any of it (docs/nftables.md).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Protocol } from '../../config/model.js';
import type { Endpoint } from '../session-store.js';

/** One conntrack entry, as portplane reads it. */
export interface ConntrackEntry {
  protocol: Protocol;
  /** Original direction: client -> listener. */
  client: Endpoint;
  listener: Endpoint;
  /** Reply direction: target -> upstreamLocal (the source the target sees). */
  target: Endpoint;
  upstreamLocal: Endpoint;
  /** Lower-case TCP state, or "active" / "unreplied" for UDP. */
  state: string;
  mark: number;
  fromClient: { packets: number; bytes: number };
  toClient: { packets: number; bytes: number };
}

export type ConntrackEvent = 'new' | 'update' | 'destroy';

/** TCP states in which the connection is over (the entry lingers only to absorb stray segments). */
const ENDED = new Set(['time_wait', 'close']);

export function entryEnded(entry: ConntrackEntry): boolean {
  return ENDED.has(entry.state);
}

/** The flow key of an entry: protocol and original tuple. */
export function flowKey(e: Pick<ConntrackEntry, 'protocol' | 'client' | 'listener'>): string {
  return `${e.protocol}|${e.client.address}|${e.client.port}|${e.listener.address}|${e.listener.port}`;
}

/** Parses one line of `conntrack -L` or `conntrack -E` output; undefined for anything else (summaries, other protocols). */
export function parseConntrackLine(line: string): { event?: ConntrackEvent; entry: ConntrackEntry } | undefined {
  const tokens = line.trim().split(/\s+/);
  let event: ConntrackEvent | undefined;
  if (tokens[0]?.startsWith('[')) {
    const name = tokens.shift()!.slice(1, -1).toLowerCase();
    if (name !== 'new' && name !== 'update' && name !== 'destroy') return undefined;
    event = name;
  }
  const protocol = tokens[0];
  if (protocol !== 'tcp' && protocol !== 'udp') return undefined;
  const groups: Record<string, string>[] = [{}, {}];
  let group = -1;
  let state = protocol === 'udp' ? 'active' : '';
  let mark = 0;
  for (const token of tokens.slice(1)) {
    const eq = token.indexOf('=');
    if (eq < 0) {
      if (token === '[UNREPLIED]' && protocol === 'udp') state = 'unreplied';
      else if (/^[A-Z_]+$/.test(token) && protocol === 'tcp') state = token.toLowerCase();
      continue;
    }
    const key = token.slice(0, eq);
    const value = token.slice(eq + 1);
    if (key === 'src') group++;
    if (key === 'mark') mark = Number(value);
    else if (group >= 0 && group < 2) (groups[group] as Record<string, string>)[key] = value;
  }
  const [orig, reply] = groups as [Record<string, string>, Record<string, string>];
  if (!orig.src || !reply.src) return undefined;
  const ep = (address: string | undefined, port: string | undefined): Endpoint => ({ address: address ?? '', port: Number(port ?? 0) });
  return {
    event,
    entry: {
      protocol,
      client: ep(orig.src, orig.sport),
      listener: ep(orig.dst, orig.dport),
      target: ep(reply.src, reply.sport),
      upstreamLocal: ep(reply.dst, reply.dport),
      state: state || 'none',
      mark,
      fromClient: { packets: Number(orig.packets ?? 0), bytes: Number(orig.bytes ?? 0) },
      toClient: { packets: Number(reply.packets ?? 0), bytes: Number(reply.bytes ?? 0) },
    },
  };
}

export class ConntrackTool {
  constructor(private readonly netns: string | undefined) {}

  private command(args: string[]): [string, string[]] {
    return this.netns ? ['ip', ['netns', 'exec', this.netns, 'conntrack', ...args]] : ['conntrack', args];
  }

  /** Every DNATed entry (both families). */
  dump(): ConntrackEntry[] {
    const [cmd, args] = this.command(['-L', '--dst-nat']);
    const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 30_000, maxBuffer: 512 * 1024 * 1024 });
    if (r.error || r.status !== 0) throw new Error(`conntrack -L failed: ${(r.error?.message ?? r.stderr).trim()}`);
    const out: ConntrackEntry[] = [];
    for (const line of r.stdout.split('\n')) {
      const parsed = parseConntrackLine(line);
      if (parsed) out.push(parsed.entry);
    }
    return out;
  }

  /** Deletes the entries of these flows in one process; entries already gone are no error. */
  delete(entries: readonly Pick<ConntrackEntry, 'protocol' | 'client' | 'listener'>[]): void {
    if (entries.length === 0) return;
    const lines = entries.map((e) => {
      const family = e.client.address.includes(':') ? 'ipv6' : 'ipv4';
      return `-D -f ${family} -p ${e.protocol} -s ${e.client.address} -d ${e.listener.address} --sport ${e.client.port} --dport ${e.listener.port}`;
    });
    // -R reads a file: Node's stdio pipes are sockets, which /dev/stdin cannot be opened on.
    const dir = mkdtempSync(join(tmpdir(), 'portplane-ct-'));
    const file = join(dir, 'delete');
    try {
      writeFileSync(file, `${lines.join('\n')}\n`);
      const [cmd, args] = this.command(['-R', file]);
      const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 30_000, maxBuffer: 64 * 1024 * 1024 });
      if (r.error) throw new Error(`conntrack -R failed: ${r.error.message}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  /** Streams DNATed entries' events to `onLine` until stop() is called on the returned process. */
  events(onEvent: (event: ConntrackEvent, entry: ConntrackEntry) => void, onExit: (why: string) => void): ChildProcess {
    const [cmd, args] = this.command(['-E', '-e', 'NEW,UPDATE,DESTROY', '--dst-nat', '-b', '8388608']);
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let partial = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        const parsed = parseConntrackLine(line);
        if (parsed?.event) onEvent(parsed.event, parsed.entry);
      }
    });
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk).slice(-2000));
    child.once('exit', (code, signal) => onExit(`conntrack -E exited (${signal ?? code}): ${stderr.trim()}`));
    return child;
  }
}

/** Sets a `net.netfilter` sysctl of the namespace portplane runs in (e.g. nf_conntrack_acct=1). */
export function setNetfilterSysctl(netns: string | undefined, name: string, value: string): string | undefined {
  const args = ['-q', '-w', `net.netfilter.${name}=${value}`];
  const r = netns ? spawnSync('ip', ['netns', 'exec', netns, 'sysctl', ...args], { encoding: 'utf8' }) : spawnSync('sysctl', args, { encoding: 'utf8' });
  return r.status === 0 ? undefined : (r.error?.message ?? r.stderr).trim();
}

/**
 * The conntrack table's capacity (nf_conntrack_max: one value for every
 * network namespace, shown read-only in each but the first; the
 * net/nf_conntrack_max alias exists in the first only), or Infinity when it
 * cannot be read (conntrack not loaded yet).
 */
export function conntrackCapacity(): number {
  try {
    const n = Number(readFileSync('/proc/sys/net/netfilter/nf_conntrack_max', 'utf8').trim());
    return Number.isInteger(n) && n > 0 ? n : Infinity;
  } catch {
    return Infinity;
  }
}
