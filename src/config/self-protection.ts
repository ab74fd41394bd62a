/**
 * Self-protection checks of validation: a rule may not listen on one of the
 * daemon's own sockets (its gRPC or metrics listener), and may not forward
 * into one of them or into any port portplane itself forwards: such a target
 * reaches portplane again, a loop that ties up a connection per hop until
 * something runs out.
 *
 * A listener reaches a target when it is bound to that very address, or is an
 * any-address of its family (dual-stack any: of both) and the target is an
 * address of this host: loopback, or one of `localAddresses`.
 */
import { endpointText, listenAddressesOverlap, parseAddress, type ParsedAddress } from './address.js';
import type { ForwardRule, PortRange, Protocol, Violation } from './model.js';
import { mapTargetPort } from './ports.js';

/** One of the daemon's own listening sockets. */
export interface ReservedEndpoint {
  protocol: Protocol;
  /** Bound address; '' for dual-stack any. */
  address: string;
  port: number;
  /** For messages, e.g. "portplane's gRPC control listener". */
  what: string;
}

/** A forwarding listener after the apply: a running rule that stays, or a request rule. */
export interface RuleListener {
  protocol: Protocol;
  /** Listen address with its effective %zone; '' for dual-stack any. */
  listen: string;
  intervals: PortRange[];
  /** How messages name the rule, e.g. `tables[a].rules[0] ("web")`. */
  label: string;
}

/** A request rule whose target fields are valid. */
export interface TargetingRule {
  rule: ForwardRule;
  path: string;
  listen: string;
  intervals: PortRange[];
  target: ParsedAddress;
  /** The target's effective %zone. */
  targetZone: string;
}

interface Span {
  first: number;
  last: number;
  label: string;
  /** A merged run: the spans it was made of. */
  members?: Span[];
}

/**
 * Spans sorted by start, overlapping ones merged so that `last` grows along
 * the list. Spans of one key overlap only in a configuration that already has
 * a conflict violation; a merged run keeps its members so that a hit is still
 * named by a span that covers the port (ownerOf), whatever order the rules
 * came in: checking only the changed rules names the same owner as checking
 * everything.
 */
function merge(spans: Span[]): Span[] {
  spans.sort((a, b) => a.first - b.first);
  const out: Span[] = [];
  for (const s of spans) {
    const top = out.at(-1);
    if (top && s.first <= top.last) {
      (top.members ??= [{ first: top.first, last: top.last, label: top.label }]).push(s);
      top.last = Math.max(top.last, s.last);
    } else out.push({ ...s });
  }
  return out;
}

/** The label of a span of `run` covering `port`: the first by name when several do. */
function ownerOf(run: Span, port: number): string {
  if (!run.members) return run.label;
  const covering = run.members.filter((m) => m.first <= port && port <= m.last).map((m) => m.label);
  return covering.sort()[0] ?? run.label;
}

/** The first span meeting [first, last], by binary search over merged spans. */
function findOverlap(spans: Span[], first: number, last: number): Span | undefined {
  let lo = 0;
  let hi = spans.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (spans[mid]!.last < first) lo = mid + 1;
    else hi = mid;
  }
  const span = spans[lo];
  return span && span.first <= last ? span : undefined;
}

/** Index key of a listen address: `dual`, `any4`, `any6` or `host:<address%zone>`. */
function listenKey(listen: string): string | undefined {
  if (listen === '') return 'dual';
  const a = parseAddress(listen);
  if (!a) return undefined;
  if (a.isAny) return `any${a.family}`;
  return `host:${a.zone ? `${a.address}%${a.zone}` : a.address}`;
}

function isLocal(a: ParsedAddress, local: () => ReadonlySet<string>): boolean {
  if (a.family === 4 && a.address.startsWith('127.')) return true;
  if (a.family === 6 && a.address === '::1') return true;
  return local().has(a.address);
}

export function checkSelfProtection(
  input: {
    listeners: RuleListener[];
    targeting: TargetingRule[];
    reserved: ReservedEndpoint[];
    /** A function is called at most once, and only for a target that is not loopback. */
    localAddresses: readonly string[] | (() => readonly string[]);
  },
  out: Violation[],
): void {
  const { reserved } = input;
  let localSet: Set<string> | undefined;
  const local = (): ReadonlySet<string> => {
    if (localSet) return localSet;
    const addresses = typeof input.localAddresses === 'function' ? input.localAddresses() : input.localAddresses;
    return (localSet = new Set(addresses.flatMap((text) => parseAddress(text)?.address ?? [])));
  };

  // Listening on the daemon's own sockets.
  for (const t of input.targeting) {
    for (const r of reserved) {
      if (r.protocol !== t.rule.protocol || !listenAddressesOverlap(t.listen, r.address)) continue;
      if (!t.intervals.some((i) => i.first <= r.port && r.port <= i.last)) continue;
      out.push({
        path: `${t.path}.ports`,
        message: `port ${r.port} is ${r.what} (${r.protocol} ${endpointText(r.address, r.port)}); a rule may not listen on it`,
      });
    }
  }

  // Targets that reach portplane again.
  const index = new Map<string, Span[]>();
  const add = (protocol: Protocol, listen: string, spans: Span[]): void => {
    const key = listenKey(listen);
    if (!key) return;
    const name = `${protocol} ${key}`;
    const list = index.get(name);
    if (list) list.push(...spans);
    else index.set(name, spans);
  };
  // Reserved first: where a rule (wrongly) listens on one too, the message names the daemon's socket.
  for (const r of reserved) add(r.protocol, r.address, [{ first: r.port, last: r.port, label: r.what }]);
  for (const l of input.listeners) add(l.protocol, l.listen, l.intervals.map((i) => ({ ...i, label: l.label })));
  for (const [key, spans] of index) index.set(key, merge(spans));

  for (const t of input.targeting) {
    const { target, rule } = t;
    const keys = [`host:${t.targetZone ? `${target.address}%${t.targetZone}` : target.address}`];
    if (isLocal(target, local)) keys.push(`any${target.family}`, 'dual');
    let hit: { span: Span; port: number } | undefined;
    for (const interval of t.intervals) {
      const first = mapTargetPort(rule, interval.first);
      const last = mapTargetPort(rule, interval.last);
      for (const key of keys) {
        const spans = index.get(`${rule.protocol} ${key}`);
        const span = spans && findOverlap(spans, first, last);
        if (span && (!hit || Math.max(first, span.first) < hit.port)) hit = { span, port: Math.max(first, span.first) };
      }
      if (hit) break;
    }
    if (!hit) continue;
    out.push({
      path: `${t.path}.target_address`,
      message:
        `target ${rule.protocol} ${endpointText(rule.targetAddress, hit.port)} is forwarded by portplane itself ` +
        `(${ownerOf(hit.span, hit.port)}): the connection would loop back into portplane`,
    });
  }
}
