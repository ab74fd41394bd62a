/**
 * IP address literals: parsing, canonical form (RFC 5952 for IPv6), and the
 * overlap relation validation and planning share. A listen address of ''
 * means dual-stack any and overlaps every address of both families.
 *
 * This is the one canonicalisation every layer uses (validation, conflicts,
 * self-protection, filters, Trace, session filters): an IPv4-mapped IPv6
 * address (::ffff:a.b.c.d in any of its textual forms) IS the IPv4 address it
 * carries, since a dual-stack socket bound or connected to it reaches exactly
 * that IPv4 endpoint. Comparing the two as different addresses let a target of
 * ::ffff:127.0.0.1 slip past the loop and self-protection checks.
 */
import { isIPv4, isIPv6 } from 'node:net';

export interface ParsedAddress {
  family: 4 | 6;
  /** Canonical text without the zone. */
  address: string;
  /** IPv6 zone (interface) after '%', or ''. */
  zone: string;
  isAny: boolean;
  isLinkLocal: boolean;
  isMulticast: boolean;
  /** Written as an IPv4-mapped IPv6 address; `family` and `address` are the IPv4 address it carries. */
  mapped: boolean;
}

// A configuration names few distinct addresses but asks about each of them
// for every rule; parsing is pure, so results are shared (frozen).
const PARSE_CACHE_LIMIT = 4096;
const parseCache = new Map<string, ParsedAddress | undefined>();

/** Parses an IP literal (IPv6 may carry `%zone`); undefined if it is not one. */
export function parseAddress(text: string): Readonly<ParsedAddress> | undefined {
  if (parseCache.has(text)) return parseCache.get(text);
  const parsed = parseAddressUncached(text);
  if (parseCache.size >= PARSE_CACHE_LIMIT) parseCache.clear();
  parseCache.set(text, parsed && Object.freeze(parsed));
  return parsed;
}

function parseIPv4(dotted: string, mapped: boolean): ParsedAddress {
  const octets = dotted.split('.').map(Number);
  const address = octets.join('.');
  return {
    family: 4,
    address,
    zone: '',
    isAny: address === '0.0.0.0',
    isLinkLocal: octets[0] === 169 && octets[1] === 254,
    isMulticast: (octets[0] ?? 0) >= 224 && (octets[0] ?? 0) <= 239,
    mapped,
  };
}

/** The URL parser's RFC 5952 text of an IPv4-mapped address (`::ffff:7f00:1`), as `a.b.c.d`. */
const MAPPED = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/;

function parseAddressUncached(text: string): ParsedAddress | undefined {
  const pct = text.indexOf('%');
  const bare = pct >= 0 ? text.slice(0, pct) : text;
  const zone = pct >= 0 ? text.slice(pct + 1) : '';
  // net.isIPv4 already rejects leading zeros and out-of-range octets.
  if (isIPv4(bare) && pct < 0) return parseIPv4(bare, false);
  if (isIPv6(bare) && (pct < 0 || zone !== '')) {
    const address = new URL(`http://[${bare}]`).hostname.slice(1, -1);
    const mapped = MAPPED.exec(address);
    if (mapped) {
      // An IPv4 address has no zone; a zoned mapped address is no address a socket can use.
      if (zone !== '') return undefined;
      const high = parseInt(mapped[1]!, 16);
      const low = parseInt(mapped[2]!, 16);
      return parseIPv4(`${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}`, true);
    }
    const head = parseInt(address.split(':')[0] || '0', 16);
    return {
      family: 6,
      address,
      zone,
      isAny: address === '::',
      isLinkLocal: (head & 0xffc0) === 0xfe80,
      isMulticast: (head & 0xff00) === 0xff00,
      mapped: false,
    };
  }
  return undefined;
}

/** Canonical text of an address literal, zone included; '' stays ''. */
export function canonicalAddress(text: string): string {
  if (text === '') return '';
  const parsed = parseAddress(text);
  if (!parsed) return text;
  return parsed.zone ? `${parsed.address}%${parsed.zone}` : parsed.address;
}

/**
 * Whether two listen addresses can take the same port: equal addresses,
 * an any-address and any address of its family, or dual-stack any ('')
 * and anything. Zones distinguish link-local addresses.
 */
export function listenAddressesOverlap(a: string, b: string): boolean {
  if (a === '' || b === '') return true;
  const pa = parseAddress(a);
  const pb = parseAddress(b);
  if (!pa || !pb) return a === b;
  if (pa.family !== pb.family) return false;
  if (pa.isAny || pb.isAny) return true;
  return pa.address === pb.address && pa.zone === pb.zone;
}

/** `address:port` as messages show it: IPv6 in brackets, the empty (dual-stack any) address as `[::]`. */
export function endpointText(address: string, port: number): string {
  return address === '' ? `[::]:${port}` : address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}
