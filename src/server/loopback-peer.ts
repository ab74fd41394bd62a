/**
 * The uid behind a loopback TCP connection, from the kernel's socket table:
 * the peer's own socket is in /proc/net/tcp{,6} of this network namespace
 * with its owner's uid (what identd answers). Only loopback peers are looked
 * up: a remote host's sockets are not in our table.
 */
import { readFile } from 'node:fs/promises';
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
  const parsed = parseAddress(address);
  return parsed ? { address: unmapped(parsed.address), port: parseInt(portHex, 16) } : undefined;
}

/** An IPv4-mapped IPv6 address (`::ffff:127.0.0.1`, canonically `::ffff:7f00:1`) as the IPv4 address it is. */
function unmapped(address: string): string {
  const dotted = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (dotted) return dotted[1]!;
  const hex = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(address);
  if (!hex) return address;
  const high = parseInt(hex[1]!, 16);
  const low = parseInt(hex[2]!, 16);
  return `${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}`;
}

export function isLoopback(address: string): boolean {
  const parsed = parseAddress(address);
  if (!parsed) return false;
  const plain = unmapped(parsed.address);
  return plain === '::1' || plain.startsWith('127.');
}

/**
 * uid of the socket connected from `remote` to `local`, or undefined when the
 * table has no such socket (it closed, or lives in another namespace).
 */
export async function loopbackPeerUid(
  remote: { address: string; port: number },
  local: { address: string; port: number },
): Promise<number | undefined> {
  const want = { address: unmapped(parseAddress(remote.address)?.address ?? remote.address), port: remote.port };
  const peer = { address: unmapped(parseAddress(local.address)?.address ?? local.address), port: local.port };
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
        return Number(fields[7]);
      }
    }
  }
  return undefined;
}
