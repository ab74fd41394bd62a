/**
 * IP address literals: parsing, canonical form (RFC 5952 for IPv6), and the
 * overlap relation validation and planning share. A listen address of ''
 * means dual-stack any and overlaps every address of both families.
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

function parseAddressUncached(text: string): ParsedAddress | undefined {
  const pct = text.indexOf('%');
  const bare = pct >= 0 ? text.slice(0, pct) : text;
  const zone = pct >= 0 ? text.slice(pct + 1) : '';
  if (isIPv4(bare) && pct < 0) {
    const octets = bare.split('.').map(Number);
    // net.isIPv4 already rejects leading zeros and out-of-range octets.
    const address = octets.join('.');
    return {
      family: 4,
      address,
      zone: '',
      isAny: address === '0.0.0.0',
      isLinkLocal: octets[0] === 169 && octets[1] === 254,
      isMulticast: (octets[0] ?? 0) >= 224 && (octets[0] ?? 0) <= 239,
    };
  }
  if (isIPv6(bare) && (pct < 0 || zone !== '')) {
    const address = new URL(`http://[${bare}]`).hostname.slice(1, -1);
    const head = parseInt(address.split(':')[0] || '0', 16);
    return {
      family: 6,
      address,
      zone,
      isAny: address === '::',
      isLinkLocal: (head & 0xffc0) === 0xfe80,
      isMulticast: (head & 0xff00) === 0xff00,
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
