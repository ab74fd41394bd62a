/**
 * A rule's allow/deny lists compiled for the accept path: deny wins, an
 * empty allow list admits everyone. Backend-neutral: every backend filters
 * with the same semantics.
 */
import { cidrContains, clientAddressBytes, parseCidr, type Cidr } from '../config/cidr.js';

export interface SourceFilter {
  /** Whether a client at `address` (as its socket reports it) may open a session. */
  admits(address: string): boolean;
  /** True when both lists are empty: every source is admitted. */
  readonly open: boolean;
}

function compile(list: readonly string[]): Cidr[] {
  const out: Cidr[] = [];
  for (const text of list) {
    const parsed = parseCidr(text);
    // Validation rejected anything unparsable before it got here.
    if (parsed.ok) out.push(parsed.cidr);
  }
  return out;
}

const ADMIT_ALL: SourceFilter = { admits: () => true, open: true };

export function compileSourceFilter(allow: readonly string[], deny: readonly string[]): SourceFilter {
  if (allow.length === 0 && deny.length === 0) return ADMIT_ALL;
  const allowed = compile(allow);
  const denied = compile(deny);
  return {
    open: false,
    admits(address: string): boolean {
      const bytes = clientAddressBytes(address);
      if (!bytes) return false;
      if (denied.some((c) => cidrContains(c, bytes))) return false;
      return allowed.length === 0 || allowed.some((c) => cidrContains(c, bytes));
    },
  };
}
