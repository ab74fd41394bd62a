/**
 * Local sockets that hold a port: a DNAT rule for that port would take the
 * traffic they are waiting for, so the backend reports such a port as a
 * per-port conflict (errno EADDRINUSE), as a bind failure on the sockets
 * backend. Read from /proc/net/{tcp,tcp6,udp,udp6} of the namespace the
 * backend programs.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { listenAddressesOverlap } from '../../config/address.js';
import type { Protocol } from '../../config/model.js';

export interface LocalSocket {
  protocol: Protocol;
  /** '0.0.0.0' / '::' for a wildcard bind. */
  address: string;
  port: number;
}

const TCP_LISTEN = '0A';
/** UDP: every bound socket (state 07, "close") holds its port. */
const UDP_BOUND = '07';

function hexAddress(hex: string): string {
  if (hex.length === 8) return [3, 2, 1, 0].map((i) => parseInt(hex.slice(i * 2, i * 2 + 2), 16)).join('.');
  // IPv6: four 32-bit words, each in host (little-endian) order.
  const groups: string[] = [];
  for (let w = 0; w < 4; w++) {
    const word = hex.slice(w * 8, w * 8 + 8);
    const bytes = [3, 2, 1, 0].map((i) => word.slice(i * 2, i * 2 + 2));
    groups.push(`${bytes[0]}${bytes[1]}`, `${bytes[2]}${bytes[3]}`);
  }
  return groups.map((g) => parseInt(g, 16).toString(16)).join(':');
}

function readTables(netns: string | undefined): Record<string, string> {
  const names = ['tcp', 'tcp6', 'udp', 'udp6'];
  if (!netns) return Object.fromEntries(names.map((n) => [n, (() => { try { return readFileSync(`/proc/net/${n}`, 'utf8'); } catch { return ''; } })()]));
  const out: Record<string, string> = {};
  // One process for the four tables, separated by a marker line.
  const r = spawnSync('ip', ['netns', 'exec', netns, 'sh', '-c', names.map((n) => `echo "#${n}"; cat /proc/net/${n} 2>/dev/null`).join('; ')], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  let current = '';
  for (const line of r.stdout.split('\n')) {
    if (line.startsWith('#')) current = line.slice(1);
    else if (current) out[current] = `${out[current] ?? ''}${line}\n`;
  }
  return out;
}

export function localSockets(netns: string | undefined): LocalSocket[] {
  const tables = readTables(netns);
  const out: LocalSocket[] = [];
  for (const [name, text] of Object.entries(tables)) {
    const protocol: Protocol = name.startsWith('tcp') ? 'tcp' : 'udp';
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      const local = fields[1];
      if (!local || fields[3] !== (protocol === 'tcp' ? TCP_LISTEN : UDP_BOUND)) continue;
      const colon = local.lastIndexOf(':');
      out.push({ protocol, address: hexAddress(local.slice(0, colon)), port: parseInt(local.slice(colon + 1), 16) });
    }
  }
  return out;
}

/** The local socket a rule's port on `listenAddress` would capture traffic from, if any. */
export function conflictingSocket(sockets: readonly LocalSocket[], protocol: Protocol, listenAddress: string, port: number): LocalSocket | undefined {
  return sockets.find((s) => s.protocol === protocol && s.port === port && listenAddressesOverlap(s.address, listenAddress));
}
