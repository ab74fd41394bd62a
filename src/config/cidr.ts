/**
 * CIDR blocks of rule source filters (`allow`, `deny`): parsing, canonical
 * text, and matching a client address against them. Addresses are compared
 * as bytes; an IPv4-mapped IPv6 client (::ffff:a.b.c.d, what a dual-stack
 * socket reports for an IPv4 peer) matches as the IPv4 address it carries,
 * and an IPv4-mapped block (::ffff:10.0.0.0/104) is the IPv4 block it
 * covers (10.0.0.0/8): address.ts canonicalises both.
 */
import { canonicalAddress, parseAddress } from './address.js';
import { parseIp } from './ip.js';
import { quote } from './quote.js';

export interface Cidr {
  family: 4 | 6;
  /** Network address, 4 or 16 bytes, host bits zero. */
  bytes: Uint8Array;
  prefix: number;
}

export type CidrParse = { ok: true; cidr: Cidr; canonical: string } | { ok: false; message: string };

/**
 * Bytes of a client address as a socket reports it; IPv4-mapped IPv6 comes
 * back as the 4 IPv4 bytes. Undefined when it is not an address literal.
 */
export function clientAddressBytes(text: string): Uint8Array | undefined {
  return parseIp(text)?.bytes;
}

function hostBitsZero(bytes: Uint8Array, prefix: number): boolean {
  for (let bit = prefix; bit < bytes.length * 8; bit++) {
    if (((bytes[bit >> 3] ?? 0) >> (7 - (bit & 7))) & 1) return false;
  }
  return true;
}

/**
 * `address/prefix` or a bare address (a host: /32 or /128). Host bits must
 * be zero, so a typo like 10.1.2.3/8 is reported rather than widened.
 */
export function parseCidr(text: string): CidrParse {
  const slash = text.indexOf('/');
  const address = slash >= 0 ? text.slice(0, slash) : text;
  // An address may carry a %zone, which a filter cannot use.
  const zoned = address.includes('%');
  const ip = zoned ? undefined : parseIp(address);
  if (ip === undefined) {
    const zone = zoned ? ' (a filter takes no %zone)' : '';
    return { ok: false, message: `${quote(text)} is not an IPv4 or IPv6 CIDR such as 10.0.0.0/8 or fd00::/8${zone}` };
  }
  const { family, bytes } = ip;
  // A mapped block is written with an IPv6 prefix: /96 covers all of IPv4.
  const offset = parseAddress(address)?.mapped ? 96 : 0;
  const max = family === 4 ? 32 : 128;
  const prefixText = slash >= 0 ? text.slice(slash + 1) : String(max + offset);
  if (!/^\d{1,3}$/.test(prefixText) || Number(prefixText) > max + offset || Number(prefixText) < offset) {
    return { ok: false, message: `prefix length of ${quote(text)} must be ${offset}-${max + offset}` };
  }
  const prefix = Number(prefixText) - offset;
  if (!hostBitsZero(bytes, prefix)) {
    return { ok: false, message: `${quote(text)} has host bits set beyond /${prefix + offset}` };
  }
  return { ok: true, cidr: { family, bytes, prefix }, canonical: `${canonicalAddress(address)}/${prefix}` };
}

/** Canonical text of a valid CIDR (bare addresses get their /32 or /128); invalid text is returned as is. */
export function canonicalCidr(text: string): string {
  const parsed = parseCidr(text);
  return parsed.ok ? parsed.canonical : text;
}

/** Whether `address` (from clientAddressBytes) lies in `cidr`. */
export function cidrContains(cidr: Cidr, address: Uint8Array): boolean {
  if (address.length !== cidr.bytes.length) return false;
  const whole = cidr.prefix >> 3;
  for (let i = 0; i < whole; i++) if (address[i] !== cidr.bytes[i]) return false;
  const rest = cidr.prefix & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return ((address[whole] ?? 0) & mask) === cidr.bytes[whole];
}
