/**
 * A rule's allow/deny lists compiled for the accept path (kernel) and the
 * first packet of a flow (userspace): deny wins, an empty allow list admits
 * everyone. Backend-neutral: every backend filters with these semantics, and
 * Trace explains a verdict with the same code. IPv4-mapped IPv6 clients
 * (dual-stack sockets) match as the IPv4 address they carry.
 */
import { cidrContains, clientAddressBytes, parseCidr, type Cidr } from '../config/cidr.js';
import { unmapIp } from '../config/ip.js';

export interface FilterVerdict {
  allowed: boolean;
  /** Why, e.g. "deny 10.0.0.0/8 matches" or "no filter". */
  detail: string;
}

interface Entry {
  cidr: Cidr;
  /** As configured (canonical), for verdict details. */
  text: string;
}

function compile(list: readonly string[]): Entry[] {
  const out: Entry[] = [];
  for (const text of list) {
    const parsed = parseCidr(text);
    // Validation rejected anything unparsable before it got here.
    if (parsed.ok) out.push({ cidr: parsed.cidr, text: parsed.canonical });
  }
  return out;
}

export class SourceFilter {
  /** Use compileSourceFilter(). */
  constructor(
    private readonly allow: readonly Entry[],
    private readonly deny: readonly Entry[],
  ) {}

  /** True when both lists are empty: every source is admitted. */
  get open(): boolean {
    return this.allow.length === 0 && this.deny.length === 0;
  }

  /** Whether a client at `address` (text, as its socket reports it) may open a session. */
  admits(address: string): boolean {
    if (this.open) return true;
    const bytes = clientAddressBytes(address);
    return bytes !== undefined && this.explain(bytes).allowed;
  }

  /** Whether a client whose address is `bytes` (4 or 16) may open a session. */
  admitsBytes(bytes: Uint8Array): boolean {
    return this.open || this.explain(bytes).allowed;
  }

  /** The verdict for the client address `bytes`, with the entry that decided. */
  explain(bytes: Uint8Array): FilterVerdict {
    if (this.open) return { allowed: true, detail: 'no filter' };
    const address = unmapIp({ family: bytes.length === 4 ? 4 : 6, bytes }).bytes;
    const denied = this.deny.find((e) => cidrContains(e.cidr, address));
    if (denied) return { allowed: false, detail: `deny ${denied.text} matches` };
    if (this.allow.length === 0) return { allowed: true, detail: 'no deny entry matches' };
    const allowed = this.allow.find((e) => cidrContains(e.cidr, address));
    return allowed ? { allowed: true, detail: `allow ${allowed.text} matches` } : { allowed: false, detail: 'no allow entry matches' };
  }
}

const OPEN = new SourceFilter([], []);

export function compileSourceFilter(allow: readonly string[], deny: readonly string[]): SourceFilter {
  return allow.length === 0 && deny.length === 0 ? OPEN : new SourceFilter(compile(allow), compile(deny));
}
