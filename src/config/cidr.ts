/**
 * CIDR blocks of rule source filters (`allow`, `deny`): parsing, canonical
 * text, and matching a client address against them. Addresses are compared
 * as bytes; an IPv4-mapped IPv6 client (::ffff:a.b.c.d, what a dual-stack
 * socket reports for an IPv4 peer) matches as the IPv4 address it carries.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { canonicalAddress } from './address.js';

export interface Cidr {
  family: 4 | 6;
  /** Network address, 4 or 16 bytes, host bits zero. */
  bytes: Uint8Array;
  prefix: number;
}

export type CidrParse = { ok: true; cidr: Cidr; canonical: string } | { ok: false; message: string };

function ipv4Bytes(text: string): Uint8Array {
  return Uint8Array.from(text.split('.').map(Number));
}

/** 16 bytes of a valid IPv6 literal without zone (embedded IPv4 tail allowed). */
function ipv6Bytes(text: string): Uint8Array {
  const out = new Uint8Array(16);
  const parse = (part: string): number[] => {
    if (part === '') return [];
    const words: number[] = [];
    for (const group of part.split(':')) {
      if (group.includes('.')) {
        const v4 = ipv4Bytes(group);
        words.push(((v4[0] ?? 0) << 8) | (v4[1] ?? 0), ((v4[2] ?? 0) << 8) | (v4[3] ?? 0));
      } else {
        words.push(parseInt(group, 16));
      }
    }
    return words;
  };
  const gap = text.indexOf('::');
  const head = parse(gap >= 0 ? text.slice(0, gap) : text);
  const tail = gap >= 0 ? parse(text.slice(gap + 2)) : [];
  const words = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  words.forEach((w, i) => {
    out[2 * i] = w >> 8;
    out[2 * i + 1] = w & 0xff;
  });
  return out;
}

const V4_MAPPED_PREFIX = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff];

/**
 * Bytes of a client address as a socket reports it; IPv4-mapped IPv6 comes
 * back as the 4 IPv4 bytes. Undefined when it is not an address literal.
 */
export function clientAddressBytes(text: string): Uint8Array | undefined {
  if (isIPv4(text)) return ipv4Bytes(text);
  const pct = text.indexOf('%');
  const bare = pct >= 0 ? text.slice(0, pct) : text;
  if (!isIPv6(bare)) return undefined;
  const bytes = ipv6Bytes(bare);
  if (V4_MAPPED_PREFIX.every((b, i) => bytes[i] === b)) return bytes.subarray(12);
  return bytes;
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
  // net.isIPv6 accepts a %zone, which a filter cannot use.
  const zoned = address.includes('%');
  const family = zoned ? undefined : isIPv4(address) ? 4 : isIPv6(address) ? 6 : undefined;
  if (family === undefined) {
    const zone = zoned ? ' (a filter takes no %zone)' : '';
    return { ok: false, message: `${JSON.stringify(text)} is not an IPv4 or IPv6 CIDR such as 10.0.0.0/8 or fd00::/8${zone}` };
  }
  const max = family === 4 ? 32 : 128;
  const prefixText = slash >= 0 ? text.slice(slash + 1) : String(max);
  if (!/^\d{1,3}$/.test(prefixText) || Number(prefixText) > max) {
    return { ok: false, message: `prefix length of ${JSON.stringify(text)} must be 0-${max}` };
  }
  const prefix = Number(prefixText);
  const bytes = family === 4 ? ipv4Bytes(address) : ipv6Bytes(address);
  if (!hostBitsZero(bytes, prefix)) {
    return { ok: false, message: `${text} has host bits set beyond /${prefix}` };
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
