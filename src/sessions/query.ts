/**
 * Session filters: parsed once per request (violations name the field, e.g.
 * `filter.client_cidr`), then matched against SessionInfo. The same filter
 * serves ListSessions, DeleteSessions, GetSessionSummary and WatchSessions.
 * A table-scoped caller's visibility is one more condition of the filter, so
 * no code path can forget it.
 */
import type { SessionFilter__Output } from '../generated/types/portplane/v1/SessionFilter.js';
import { cidrContains, clientAddressBytes, parseCidr, type Cidr } from '../config/cidr.js';
import type { Protocol, Violation } from '../config/model.js';
import type { SessionInfo } from '../dataplane/session-store.js';
import { quote } from '../config/quote.js';
import { checkTextBytes, MAX_NAME_BYTES } from '../config/text-bounds.js';

/** SessionFilter as decoded (generated from proto/); every field optional. */
export type WireSessionFilter = Partial<SessionFilter__Output>;

export interface SessionQuery {
  table?: string;
  /** Rule name or rule id. */
  rule?: string;
  protocol?: Protocol;
  clientCidr?: Cidr;
  clientPort?: number;
  targetCidr?: Cidr;
  state?: string;
  minAgeMs?: number;
  minIdleMs?: number;
  /** Tables the caller may see; undefined: all. */
  visible?: (table: string) => boolean;
}

/** Every backend's state names, as session_service.proto documents them (Session.state). */
const SESSION_STATES: readonly string[] = [
  'connecting',
  'established',
  'half_closed',
  'active',
  'closed',
  'syn_sent',
  'syn_recv',
  'fin_wait',
  'close_wait',
  'time_wait',
];

const PROTOCOLS: Record<string, Protocol | undefined> = { PROTOCOL_TCP: 'tcp', PROTOCOL_UDP: 'udp', PROTOCOL_UNSPECIFIED: undefined };

/** The filter fields that are set, for canonical text (page tokens) and emptiness checks. */
function setFields(query: SessionQuery): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(query)) if (value !== undefined && key !== 'visible') out[key] = value;
  return out;
}

/** Whether the filter selects every session (the caller's visibility aside). */
export function isEmptyQuery(query: SessionQuery): boolean {
  return Object.keys(setFields(query)).length === 0;
}

/** Stable text of the filter's conditions, so a page token can be bound to the filter it was made for. */
export function queryText(query: SessionQuery): string {
  const fields = setFields(query);
  const cidrText = (c: Cidr): string => `${Buffer.from(c.bytes).toString('hex')}/${c.prefix}`;
  if (query.clientCidr) fields.clientCidr = cidrText(query.clientCidr);
  if (query.targetCidr) fields.targetCidr = cidrText(query.targetCidr);
  return JSON.stringify(Object.keys(fields).sort().map((k) => [k, fields[k]]));
}

function millis(value: string | number | undefined, path: string, violations: Violation[]): number | undefined {
  if (value === undefined || value === '' || value === 0 || value === '0') return undefined;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 0) {
    violations.push({ path, message: `${quote(String(value))} is not a non-negative number of milliseconds` });
    return undefined;
  }
  return n;
}

function cidr(text: string | undefined, path: string, violations: Violation[]): Cidr | undefined {
  if (!text) return undefined;
  const parsed = parseCidr(text);
  if (!parsed.ok) {
    violations.push({ path, message: parsed.message });
    return undefined;
  }
  return parsed.cidr;
}

/** Parses a wire filter; violations get paths under `path`. */
export function parseSessionFilter(wire: WireSessionFilter | null | undefined, path: string, violations: Violation[]): SessionQuery {
  const f = { ...wire };
  const query: SessionQuery = {};
  for (const key of ['table', 'rule', 'state', 'client_cidr', 'target_cidr'] as const) {
    const value = f[key];
    if (typeof value === 'string' && !checkTextBytes(value, MAX_NAME_BYTES, `${path}.${key}`, violations)) f[key] = undefined;
  }
  if (f.table) query.table = f.table;
  if (f.rule) query.rule = f.rule;
  if (f.protocol !== undefined) {
    if (!(f.protocol in PROTOCOLS)) violations.push({ path: `${path}.protocol`, message: `unknown protocol ${quote(String(f.protocol))}` });
    const protocol = PROTOCOLS[f.protocol];
    if (protocol) query.protocol = protocol;
  }
  const client = cidr(f.client_cidr, `${path}.client_cidr`, violations);
  if (client) query.clientCidr = client;
  if (f.client_port) {
    if (!Number.isInteger(f.client_port) || f.client_port > 65535) {
      violations.push({ path: `${path}.client_port`, message: `${f.client_port} is not a port (1-65535)` });
    } else {
      query.clientPort = f.client_port;
    }
  }
  const target = cidr(f.target_cidr, `${path}.target_cidr`, violations);
  if (target) query.targetCidr = target;
  if (f.state) {
    const state = String(f.state).toLowerCase();
    if (SESSION_STATES.includes(state)) query.state = state;
    else violations.push({ path: `${path}.state`, message: `unknown state ${quote(String(f.state))}: use one of ${SESSION_STATES.join(', ')}` });
  }
  const age = millis(f.min_age_ms, `${path}.min_age_ms`, violations);
  if (age !== undefined) query.minAgeMs = age;
  const idle = millis(f.min_idle_ms, `${path}.min_idle_ms`, violations);
  if (idle !== undefined) query.minIdleMs = idle;
  return query;
}

function inCidr(cidr: Cidr, address: string): boolean {
  const bytes = clientAddressBytes(address);
  return bytes !== undefined && cidrContains(cidr, bytes);
}

/** Whether `session` matches `query` at time `now` (ms since the epoch). */
export function matchesQuery(query: SessionQuery, session: SessionInfo, now: number): boolean {
  if (query.visible && !query.visible(session.table)) return false;
  if (query.table !== undefined && session.table !== query.table) return false;
  if (query.rule !== undefined && session.ruleName !== query.rule && session.ruleId !== query.rule) return false;
  if (query.protocol !== undefined && session.protocol !== query.protocol) return false;
  if (query.clientPort !== undefined && session.client.port !== query.clientPort) return false;
  if (query.state !== undefined && session.state !== query.state) return false;
  if (query.minAgeMs !== undefined && now - session.createdAt < query.minAgeMs) return false;
  if (query.minIdleMs !== undefined && now - session.lastActivityAt < query.minIdleMs) return false;
  if (query.clientCidr && !inCidr(query.clientCidr, session.client.address)) return false;
  if (query.targetCidr && !inCidr(query.targetCidr, session.target.address)) return false;
  return true;
}
