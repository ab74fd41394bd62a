/**
 * Source filters: a rule's `allow` and `deny` CIDR lists, evaluated on a
 * session's first packet (or at accept) with the same semantics on every
 * backend: a deny match refuses; otherwise an empty allow list admits
 * everyone and a non-empty one admits only its matches. IPv4-mapped IPv6
 * clients (dual-stack sockets) are matched as the IPv4 address they carry.
 */
import { parseIp, unmapIp, type IpAddress } from './ip.js';

export interface Cidr {
  family: 4 | 6;
  bytes: Uint8Array;
  prefix: number;
  /** As written, for verdict details. */
  text: string;
}

/** Parses `a.b.c.d/n`, `x::y/n` or a bare address (a host prefix); undefined if it is neither. */
export function parseCidr(text: string): Cidr | undefined {
  const slash = text.indexOf('/');
  const ip = parseIp(slash < 0 ? text : text.slice(0, slash));
  if (!ip || text.includes('%')) return undefined;
  const max = ip.family === 4 ? 32 : 128;
  const prefixText = slash < 0 ? String(max) : text.slice(slash + 1);
  if (!/^\d{1,3}$/.test(prefixText)) return undefined;
  const prefix = Number(prefixText);
  if (prefix > max) return undefined;
  return { family: ip.family, bytes: ip.bytes, prefix, text };
}

export function cidrContains(cidr: Cidr, ip: IpAddress): boolean {
  if (cidr.family !== ip.family) return false;
  const full = cidr.prefix >> 3;
  for (let i = 0; i < full; i++) if (cidr.bytes[i] !== ip.bytes[i]) return false;
  const rest = cidr.prefix & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return ((cidr.bytes[full]! ^ ip.bytes[full]!) & mask) === 0;
}

export interface FilterVerdict {
  allowed: boolean;
  /** Why, e.g. "deny 10.0.0.0/8 matches" or "no filter". */
  detail: string;
}

export class SourceFilter {
  static readonly OPEN = new SourceFilter([], []);

  constructor(
    readonly allow: readonly Cidr[],
    readonly deny: readonly Cidr[],
  ) {}

  /** Throws on an entry that is not a CIDR: rules reach a backend validated. */
  static compile(allow: readonly string[], deny: readonly string[]): SourceFilter {
    if (allow.length === 0 && deny.length === 0) return SourceFilter.OPEN;
    const parse = (list: readonly string[], kind: string): Cidr[] =>
      list.map((text) => {
        const cidr = parseCidr(text);
        if (!cidr) throw new Error(`${kind} entry ${JSON.stringify(text)} is not a CIDR`);
        return cidr;
      });
    return new SourceFilter(parse(allow, 'allow'), parse(deny, 'deny'));
  }

  get isOpen(): boolean {
    return this.allow.length === 0 && this.deny.length === 0;
  }

  evaluate(client: IpAddress): FilterVerdict {
    if (this.isOpen) return { allowed: true, detail: 'no filter' };
    const ip = unmapIp(client);
    const denied = this.deny.find((c) => cidrContains(c, ip));
    if (denied) return { allowed: false, detail: `deny ${denied.text} matches` };
    if (this.allow.length === 0) return { allowed: true, detail: 'no deny entry matches' };
    const allowed = this.allow.find((c) => cidrContains(c, ip));
    return allowed
      ? { allowed: true, detail: `allow ${allowed.text} matches` }
      : { allowed: false, detail: 'no allow entry matches' };
  }
}
