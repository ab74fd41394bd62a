/**
 * Port sets: a rule's range minus its exclusions, as sorted disjoint
 * intervals (never expanded to arrays on hot paths: 1,000 rules can cover
 * 65,535 ports), and the compact text form "8080-8089,~8085".
 */
import type { ForwardRule, PortRange } from './model.js';
import { quote } from './quote.js';

/** Sorted, disjoint, non-adjacent intervals of `rule.ports` minus `rule.exclude`. */
export function portIntervals(rule: Pick<ForwardRule, 'ports' | 'exclude'>): PortRange[] {
  let result: PortRange[] = [{ first: rule.ports.first, last: rule.ports.last }];
  for (const ex of rule.exclude) {
    const next: PortRange[] = [];
    for (const r of result) {
      if (ex.last < r.first || ex.first > r.last) {
        next.push(r);
        continue;
      }
      if (ex.first > r.first) next.push({ first: r.first, last: ex.first - 1 });
      if (ex.last < r.last) next.push({ first: ex.last + 1, last: r.last });
    }
    result = next;
  }
  return result;
}

export function countPorts(intervals: readonly PortRange[]): number {
  let n = 0;
  for (const r of intervals) n += r.last - r.first + 1;
  return n;
}

export function* iteratePorts(intervals: readonly PortRange[]): Generator<number> {
  for (const r of intervals) for (let p = r.first; p <= r.last; p++) yield p;
}

export function rangesOverlap(a: PortRange, b: PortRange): boolean {
  return a.first <= b.last && b.first <= a.last;
}

/** The target port of listening port `port` under `rule`. */
export function mapTargetPort(rule: Pick<ForwardRule, 'ports' | 'targetPort'>, port: number): number {
  return rule.targetPort === 0 ? port : rule.targetPort + (port - rule.ports.first);
}

/** The target ports of listening port ranges `intervals` under `rule` (mapping keeps a range contiguous). */
export function mapTargetRanges(rule: Pick<ForwardRule, 'ports' | 'targetPort'>, intervals: readonly PortRange[]): PortRange[] {
  return intervals.map((r) => ({ first: mapTargetPort(rule, r.first), last: mapTargetPort(rule, r.last) }));
}

export interface CompactPorts {
  ports: PortRange;
  exclude: PortRange[];
}

/**
 * Parses "8080", "8080-8089" or "8080-8089,~8085,~8087-8088". Exactly one
 * positive range; exclusions are prefixed with "~". Throws with a message
 * naming the offending part.
 */
export function parseCompactPorts(text: string): CompactPorts {
  const parts = text.split(',').map((p) => p.trim());
  let ports: PortRange | undefined;
  const exclude: PortRange[] = [];
  for (const part of parts) {
    if (part === '') throw new Error(`empty element in port list ${quote(text)}`);
    const excluded = part.startsWith('~');
    const range = parsePortRangeText(excluded ? part.slice(1) : part);
    if (excluded) exclude.push(range);
    else if (ports) throw new Error(`more than one port range in ${quote(text)} (use ~ for exclusions)`);
    else ports = range;
  }
  if (!ports) throw new Error(`no port range in ${quote(text)}`);
  return { ports, exclude };
}

function parsePortRangeText(text: string): PortRange {
  const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(text);
  if (!m) throw new Error(`${quote(text)} is not a port or a first-last range`);
  const first = Number(m[1]);
  const last = m[2] === undefined ? first : Number(m[2]);
  return { first, last };
}

export function formatCompactPorts(rule: Pick<ForwardRule, 'ports' | 'exclude'>): string {
  const fmt = (r: PortRange): string => (r.first === r.last ? `${r.first}` : `${r.first}-${r.last}`);
  return [fmt(rule.ports), ...rule.exclude.map((r) => `~${fmt(r)}`)].join(',');
}
