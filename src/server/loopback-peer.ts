/**
 * The uid behind a loopback TCP connection, from the kernel's socket table:
 * the peer's own socket is in /proc/net/tcp{,6} of this network namespace
 * with its owner's uid (what identd answers). Only loopback peers are looked
 * up: a remote host's sockets are not in our table. A peer socket that this
 * process holds itself is told apart (isOwnSocket): it is a forward's
 * upstream leg, never a caller.
 */
import { readdir, readFile, readlink } from 'node:fs/promises';
import { parseAddress } from '../config/address.js';

const ESTABLISHED = '01';

/** `0100007F:1F90` (kernel byte order per 32-bit word) to a canonical address and port. */
function decodeEndpoint(text: string): { address: string; port: number } | undefined {
  const [hex, portHex] = text.split(':');
  if (!hex || !portHex) return undefined;
  const bytes: number[] = [];
  for (let word = 0; word < hex.length; word += 8) {
    const value = parseInt(hex.slice(word, word + 8), 16);
    bytes.push(value & 0xff, (value >>> 8) & 0xff, (value >>> 16) & 0xff, value >>> 24);
  }
  let address: string;
  if (bytes.length === 4) address = bytes.join('.');
  else {
    const groups: string[] = [];
    for (let i = 0; i < 16; i += 2) groups.push(((bytes[i]! << 8) | bytes[i + 1]!).toString(16));
    address = groups.join(':');
  }
  // parseAddress gives an IPv4-mapped address (what a dual-stack socket shows) as the IPv4 address it is.
  const parsed = parseAddress(address);
  return parsed ? { address: parsed.address, port: parseInt(portHex, 16) } : undefined;
}

export function isLoopback(address: string): boolean {
  const parsed = parseAddress(address);
  if (!parsed) return false;
  return parsed.address === '::1' || (parsed.family === 4 && parsed.address.startsWith('127.'));
}

/** The peer's socket in the kernel's table: its owner's uid and its inode. */
export interface LoopbackPeer {
  uid: number;
  inode: number;
}

/**
 * The socket connected from `remote` to `local`, or undefined when the
 * table has no such socket (it closed, or lives in another namespace).
 */
export async function loopbackPeer(
  remote: { address: string; port: number },
  local: { address: string; port: number },
): Promise<LoopbackPeer | undefined> {
  const want = { address: parseAddress(remote.address)?.address ?? remote.address, port: remote.port };
  const peer = { address: parseAddress(local.address)?.address ?? local.address, port: local.port };
  const tables = await Promise.all(
    ['/proc/self/net/tcp', '/proc/self/net/tcp6'].map((path) => readFile(path, 'utf8').catch(() => '')),
  );
  for (const table of tables) {
    // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
    for (const line of table.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields[3] !== ESTABLISHED || fields[7] === undefined) continue;
      const from = decodeEndpoint(fields[1] ?? '');
      const to = decodeEndpoint(fields[2] ?? '');
      if (from?.port === want.port && from.address === want.address && to?.port === peer.port && to.address === peer.address) {
        return { uid: Number(fields[7]), inode: Number(fields[9] ?? 0) };
      }
    }
  }
  return undefined;
}

const FD_BATCH = 256;

/**
 * Whether socket `inode` is open in this very process: then the peer is one
 * of the daemon's own sockets, such as the upstream leg of a forward whose
 * target is the control listener. Such a connection carries whatever the
 * forward's client sent, so the daemon's uid says nothing about who that is.
 */
export async function isOwnSocket(inode: number): Promise<boolean> {
  if (!inode) return false;
  const link = `socket:[${inode}]`;
  const fds = await readdir('/proc/self/fd').catch(() => [] as string[]);
  for (let i = 0; i < fds.length; i += FD_BATCH) {
    const targets = await Promise.all(fds.slice(i, i + FD_BATCH).map((fd) => readlink(`/proc/self/fd/${fd}`).catch(() => '')));
    if (targets.includes(link)) return true;
  }
  return false;
}
