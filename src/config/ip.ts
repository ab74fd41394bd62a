/**
 * IP addresses as their bytes, for matching on hot paths without text. The
 * bytes are the address itself (a.b.c.d is [a, b, c, d]); they carry no
 * backend encoding.
 */
import { parseAddress } from './address.js';

export interface IpAddress {
  family: 4 | 6;
  /** 4 or 16 bytes. */
  bytes: Uint8Array;
}

/** Parses an IP literal (a zone is ignored); undefined if it is not one. */
export function parseIp(text: string): IpAddress | undefined {
  const parsed = parseAddress(text);
  if (!parsed) return undefined;
  if (parsed.family === 4) return { family: 4, bytes: Uint8Array.from(parsed.address.split('.').map(Number)) };
  // The canonical form has hex groups only (an embedded IPv4 part is rewritten as two groups).
  const [head = '', tail] = parsed.address.split('::');
  const groups = (s: string | undefined): number[] => (s ? s.split(':').map((g) => parseInt(g, 16)) : []);
  const front = groups(head);
  const back = groups(tail);
  const words = tail === undefined ? front : [...front, ...new Array<number>(8 - front.length - back.length).fill(0), ...back];
  const bytes = new Uint8Array(16);
  words.forEach((w, i) => {
    bytes[2 * i] = w >> 8;
    bytes[2 * i + 1] = w & 0xff;
  });
  return { family: 6, bytes };
}

/** Canonical text (RFC 5952 for IPv6). */
export function ipText(ip: IpAddress): string {
  const b = ip.bytes;
  if (ip.family === 4) return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
  const words: string[] = [];
  for (let i = 0; i < 16; i += 2) words.push(((b[i]! << 8) | b[i + 1]!).toString(16));
  // parseAddress canonicalises (zero-run compression) through the URL parser.
  return parseAddress(words.join(':'))?.address ?? words.join(':');
}

/** An IPv4-mapped IPv6 address (::ffff:a.b.c.d) as the IPv4 address it carries; others unchanged. */
export function unmapIp(ip: IpAddress): IpAddress {
  if (ip.family === 4) return ip;
  const b = ip.bytes;
  for (let i = 0; i < 10; i++) if (b[i] !== 0) return ip;
  if (b[10] !== 0xff || b[11] !== 0xff) return ip;
  return { family: 4, bytes: b.slice(12, 16) };
}

/** An IPv4 address as an unsigned 32-bit number (a Map key). */
export function ipv4Key(bytes: Uint8Array, offset = 0): number {
  return ((bytes[offset]! << 24) | (bytes[offset + 1]! << 16) | (bytes[offset + 2]! << 8) | bytes[offset + 3]!) >>> 0;
}

/** An IPv6 address as an 8-character string of its 16-bit words (a Map key). */
export function ipv6Key(bytes: Uint8Array, offset = 0): string {
  let key = '';
  for (let i = 0; i < 16; i += 2) key += String.fromCharCode((bytes[offset + i]! << 8) | bytes[offset + i + 1]!);
  return key;
}

/** A Map key of a 4- or 16-byte address (see ipv4Key, ipv6Key). */
export function addressKey(bytes: Uint8Array): number | string {
  return bytes.length === 4 ? ipv4Key(bytes) : ipv6Key(bytes);
}
