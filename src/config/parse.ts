/**
 * Untrusted tables (a gRPC message in wire form, see wire.ts, or an object
 * read from a YAML/JSON file) to model tables, in request order.
 *
 * Parsing checks shape and types only: it reports what the model cannot
 * represent (a wrong type, an unknown field, a missing protocol or port
 * range) and leaves every check of a representable value (bounds, names,
 * addresses, conflicts, limits) to validate.ts, so each problem has exactly
 * one reporter. A field that fails to parse holds a placeholder and is
 * recorded in unparsedFields(), which validate.ts consults to skip every
 * check that depends on it: callers may validate what parsing returned and
 * report both lists together without duplicates or follow-up noise.
 */
import {
  DEFAULT_DRAIN_TIMEOUT_MS,
  defaultRuleOptions,
  type DrainPolicy,
  type ForwardRule,
  type PortRange,
  type Protocol,
  type RuleLimits,
  type Table,
  type Violation,
} from './model.js';
import { parseCompactPorts, type CompactPorts } from './ports.js';
import { WIRE_DRAIN_MODE, WIRE_ON_FILTER_CHANGE, WIRE_PROTOCOLS, WIRE_PROXY_PROTOCOL } from './wire.js';
import { cut, quote } from './quote.js';
import { checkTextBytes, MAX_NAME_BYTES } from './text-bounds.js';

export interface ParsedTables {
  tables: Table[];
  violations: Violation[];
}

export type Fields = Record<string, unknown>;

const TABLE_FIELDS = ['name', 'rules'];
const RULE_FIELDS = [
  'name',
  'protocol',
  'listen_address',
  'interface',
  'ports',
  'exclude',
  'target_address',
  'target_port',
  'weak',
  'allow',
  'deny',
  'on_filter_change',
  'proxy_protocol',
  'limits',
  'udp_idle_timeout_ms',
  'connect_timeout_ms',
  'drain',
  'snat_address',
];
const RANGE_FIELDS = ['first', 'last'];
/** RuleLimits wire field -> model field. */
const LIMIT_FIELDS: ReadonlyArray<readonly [string, keyof RuleLimits]> = [
  ['max_sessions', 'maxSessions'],
  ['session_rate', 'sessionRate'],
  ['session_burst', 'sessionBurst'],
  ['source_rate', 'sourceRate'],
  ['source_burst', 'sourceBurst'],
  ['max_udp_flows', 'maxUdpFlows'],
];
const DRAIN_FIELDS = ['mode', 'timeout_ms'];

/** Wire enum names, plus the spellings a hand-written file is likely to use. */
const PROTOCOLS = new Map<unknown, Protocol>([
  [WIRE_PROTOCOLS.tcp, 'tcp'],
  [WIRE_PROTOCOLS.udp, 'udp'],
  ['tcp', 'tcp'],
  ['TCP', 'tcp'],
  ['udp', 'udp'],
  ['UDP', 'udp'],
]);

/**
 * An enum read from its wire names (`PREFIX_VALUE`) or, in a file, the bare
 * value in either case; the UNSPECIFIED value and absence mean `fallback`.
 */
function enumReader<T extends string>(wire: Readonly<Record<T, string>>, prefix: string) {
  const names = new Map<unknown, T>();
  for (const [value, wireName] of Object.entries(wire) as [T, string][]) {
    names.set(wireName, value);
    names.set(value, value);
    names.set(value.toUpperCase(), value);
  }
  const allowed = Object.values<string>(wire).join(', ');
  return (value: unknown, fallback: T, path: string, out: Violation[]): T | undefined => {
    if (value === undefined || value === `${prefix}_UNSPECIFIED`) return fallback;
    return names.get(value) ?? fail(out, path, `unknown value ${describeValue(value)}: use ${allowed}`);
  };
}

const readOnFilterChange = enumReader(WIRE_ON_FILTER_CHANGE, 'ON_FILTER_CHANGE');
const readProxyProtocol = enumReader(WIRE_PROXY_PROTOCOL, 'PROXY_PROTOCOL');
const readDrainMode = enumReader(WIRE_DRAIN_MODE, 'DRAIN_MODE');

/** Fields (wire names) of a returned table or rule that hold placeholders. */
const unparsed = new WeakMap<Table | ForwardRule, ReadonlySet<string>>();
const NONE: ReadonlySet<string> = new Set();

/**
 * The fields of a table or rule returned by parseTables that failed to parse
 * (their violations are already reported). Keyed by object identity, so a
 * copy of the object has none.
 */
export function unparsedFields(item: Table | ForwardRule): ReadonlySet<string> {
  return unparsed.get(item) ?? NONE;
}

const PORTS_FORMS = 'a {first, last} range, a port number or a "first-last,~port" string';
const EXCLUSION_FORMS = 'a {first, last} range, a port number or a "first-last" string';

export function isFields(value: unknown): value is Fields {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A value as messages show it: strings quoted, containers by kind. */
export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'string') return quote(value);
  return String(value);
}

/**
 * An own field of `obj`; null counts as absent (YAML writes an empty value
 * as null). Own properties only, so a key like "constructor" never reads
 * Object.prototype.
 */
export function field(obj: Fields, key: string): unknown {
  return Object.hasOwn(obj, key) ? (obj[key] ?? undefined) : undefined;
}

function joinPath(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}

/**
 * How messages name a rule of a request: `tables[web].rules[2] ("http")`,
 * without the name for an unnamed rule (validation errors and bind failures
 * alike; src/server/redaction.ts recognises this form).
 */
export function ruleLabel(tablePathText: string, index: number, name: string): string {
  return `${tablePathText}.rules[${index}]${name === '' ? '' : ` (${JSON.stringify(name)})`}`;
}

/** `tables[<name>]` for a table with a non-empty name string, else `tables[<index>]`. */
export function tablePath(basePath: string, name: unknown, index: number): string {
  // A name too long to be valid is not repeated in every path of its table.
  return `${basePath}[${typeof name === 'string' && name !== '' && name.length <= MAX_NAME_BYTES ? name : index}]`;
}

/** Forgiving comparison for the "did you mean" hint: targetAddress, targetaddress -> target_address. */
function looseKey(key: string): string {
  return key.replace(/[_-]/g, '').toLowerCase();
}

/** Reports every key of `obj` that is not in `known`. */
export function checkKnownFields(obj: Fields, known: readonly string[], path: string, out: Violation[]): void {
  for (const key of Object.keys(obj)) {
    if (known.includes(key)) continue;
    const hint = known.find((k) => looseKey(k) === looseKey(key));
    out.push({
      path: joinPath(path, cut(key)),
      message: hint ? `unknown field (did you mean ${hint}?)` : `unknown field; expected one of ${known.join(', ')}`,
    });
  }
}

function fail(out: Violation[], path: string, message: string): undefined {
  out.push({ path, message });
  return undefined;
}

/** Absent is ''. Undefined means a violation was reported. */
function readString(obj: Fields, key: string, path: string, out: Violation[]): string | undefined {
  const value = field(obj, key);
  if (value === undefined) return '';
  if (typeof value === 'string') return checkTextBytes(value, MAX_NAME_BYTES, joinPath(path, key), out) ? value : undefined;
  return fail(out, joinPath(path, key), `must be a string, got ${describeValue(value)}`);
}

/** Absent is false. Undefined means a violation was reported. */
export function readBoolean(obj: Fields, key: string, path: string, out: Violation[]): boolean | undefined {
  const value = field(obj, key);
  if (value === undefined) return false;
  if (typeof value === 'boolean') return value;
  return fail(out, joinPath(path, key), `must be true or false, got ${describeValue(value)}`);
}

/** Integers only; upper bounds are validate.ts's business. */
function readUint(value: unknown, path: string, out: Violation[]): number | undefined {
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0) return value;
  return fail(out, path, `must be a non-negative integer, got ${describeValue(value)}`);
}

/** Absent is 0, as in proto3. */
function readUintField(obj: Fields, key: string, path: string, out: Violation[]): number | undefined {
  const value = field(obj, key);
  return value === undefined ? 0 : readUint(value, joinPath(path, key), out);
}

/** A port number or a `{first, last}` object whose `last` of 0 (or absent) means `first`. */
function parseRange(value: number | Fields, path: string, out: Violation[]): PortRange | undefined {
  if (typeof value === 'number') {
    const port = readUint(value, path, out);
    return port === undefined ? undefined : { first: port, last: port };
  }
  checkKnownFields(value, RANGE_FIELDS, path, out);
  const first = readUintField(value, 'first', path, out);
  const last = readUintField(value, 'last', path, out);
  if (first === undefined || last === undefined) return undefined;
  return { first, last: last === 0 ? first : last };
}

function parseCompact(text: string, path: string, out: Violation[]): CompactPorts | undefined {
  try {
    return parseCompactPorts(text);
  } catch (err) {
    return fail(out, path, `invalid port list: ${(err as Error).message}`);
  }
}

function parsePorts(value: unknown, path: string, out: Violation[]): CompactPorts | undefined {
  if (value === undefined) return fail(out, path, `ports are required: ${PORTS_FORMS}`);
  if (typeof value === 'string') return parseCompact(value, path, out);
  if (typeof value !== 'number' && !isFields(value)) {
    return fail(out, path, `must be ${PORTS_FORMS}, got ${describeValue(value)}`);
  }
  const ports = parseRange(value, path, out);
  if (!ports) return undefined;
  // {first: 0, last: 0} is what proto-loader delivers for `ports: {}`.
  if (isFields(value) && ports.first === 0 && ports.last === 0) {
    return fail(out, path, `ports are required: got the proto default {first: 0, last: 0}; use ${PORTS_FORMS}`);
  }
  return { ports, exclude: [] };
}

function parseExclusion(value: unknown, path: string, out: Violation[]): PortRange | undefined {
  if (typeof value === 'string') {
    if (/[,~]/.test(value)) return fail(out, path, `an exclusion is one port or one first-last range, got ${quote(value)}`);
    return parseCompact(value, path, out)?.ports;
  }
  if (typeof value === 'number' || isFields(value)) return parseRange(value, path, out);
  return fail(out, path, `must be ${EXCLUSION_FORMS}, got ${describeValue(value)}`);
}

/** Undefined when the list or any item failed to parse. */
function parseExcludeList(value: unknown, path: string, out: Violation[]): PortRange[] | undefined {
  if (value === undefined) return [];
  if (!Array.isArray(value)) {
    return fail(out, path, `must be a list of exclusions (${EXCLUSION_FORMS}), got ${describeValue(value)}`);
  }
  const ranges = value.map((item: unknown, i) => parseExclusion(item, `${path}[${i}]`, out));
  return ranges.every((r) => r !== undefined) ? ranges : undefined;
}

function parseProtocol(value: unknown, path: string, out: Violation[]): Protocol | undefined {
  const protocol = PROTOCOLS.get(value);
  if (protocol) return protocol;
  const problem =
    value === undefined
      ? 'protocol is required'
      : value === 'PROTOCOL_UNSPECIFIED'
        ? 'protocol is unspecified'
        : `unknown protocol ${describeValue(value)}`;
  return fail(out, path, `${problem}: use PROTOCOL_TCP or PROTOCOL_UDP (tcp or udp in a file)`);
}

/** A list of strings; absent is []. Undefined when the list or an item is not a string. */
function readStringList(value: unknown, path: string, out: Violation[]): string[] | undefined {
  if (value === undefined) return [];
  if (!Array.isArray(value)) return fail(out, path, `must be a list of CIDR strings, got ${describeValue(value)}`);
  let ok = true;
  value.forEach((item: unknown, i) => {
    if (typeof item === 'string') {
      if (!checkTextBytes(item, MAX_NAME_BYTES, `${path}[${i}]`, out)) ok = false;
      return;
    }
    ok = false;
    fail(out, `${path}[${i}]`, `must be a CIDR string such as 10.0.0.0/8, got ${describeValue(item)}`);
  });
  return ok ? (value as string[]) : undefined;
}

/** A positive integer, where 0 or absence means `fallback` (proto3 cannot tell them apart). */
function readOptionalUint(obj: Fields, key: string, fallback: number, path: string, out: Violation[]): number | undefined {
  const value = readUintField(obj, key, path, out);
  return value === 0 ? fallback : value;
}

function readLimits(value: unknown, path: string, out: Violation[]): RuleLimits | undefined {
  const limits = defaultRuleOptions().limits;
  if (value === undefined) return limits;
  if (!isFields(value)) return fail(out, path, `must be an object with ${LIMIT_FIELDS.map(([k]) => k).join(', ')}`);
  checkKnownFields(value, LIMIT_FIELDS.map(([k]) => k), path, out);
  let ok = true;
  for (const [wireName, key] of LIMIT_FIELDS) {
    const n = readOptionalUint(value, wireName, limits[key], path, out);
    if (n === undefined) ok = false;
    else limits[key] = n;
  }
  return ok ? limits : undefined;
}

function readDrain(value: unknown, path: string, out: Violation[]): DrainPolicy | undefined {
  if (value === undefined) return defaultRuleOptions().drain;
  if (!isFields(value)) return fail(out, path, `must be an object with ${DRAIN_FIELDS.join(', ')}`);
  checkKnownFields(value, DRAIN_FIELDS, path, out);
  const mode = readDrainMode(field(value, 'mode'), 'keep', `${path}.mode`, out);
  const timeoutMs = readUintField(value, 'timeout_ms', path, out);
  if (mode === undefined || timeoutMs === undefined) return undefined;
  // A DRAIN without a timeout gets the default one; validation rejects a timeout on any other mode.
  return { mode, timeoutMs: mode === 'drain' && timeoutMs === 0 ? DEFAULT_DRAIN_TIMEOUT_MS : timeoutMs };
}

/** A drain policy of a request or file (`drain` next to `tables`); undefined when absent or unspecified. */
export function readRequestDrain(value: unknown, path: string, out: Violation[]): DrainPolicy | undefined {
  if (value === undefined) return undefined;
  if (isFields(value) && (field(value, 'mode') === undefined || field(value, 'mode') === 'DRAIN_MODE_UNSPECIFIED')) {
    if (readUintField(value, 'timeout_ms', path, out)) fail(out, `${path}.timeout_ms`, 'timeout_ms needs mode DRAIN_MODE_DRAIN');
    return undefined;
  }
  return readDrain(value, path, out);
}

function placeholderRule(): ForwardRule {
  return {
    name: '',
    protocol: 'tcp',
    listenAddress: '',
    interface: '',
    ports: { first: 0, last: 0 },
    exclude: [],
    targetAddress: '',
    targetPort: 0,
    weak: false,
    ...defaultRuleOptions(),
  };
}

/**
 * Rules parsed without a violation from a frozen wire object, by that object:
 * the apply request decoder hands an unchanged rule back as the same frozen
 * object, so it is parsed once. Frozen input cannot change under the memo.
 */
const parsedRules = new WeakMap<object, ForwardRule>();

/** Rule `index` of the table at `tablePathText`; its path is spelled out only when it is parsed. */
function parseRule(value: unknown, tablePathText: string, index: number, out: Violation[]): ForwardRule {
  const frozen = isFields(value) && Object.isFrozen(value);
  const known = frozen ? parsedRules.get(value) : undefined;
  if (known) return known;
  const reported = out.length;
  const rule = parseRuleFields(value, `${tablePathText}.rules[${index}]`, out);
  if (frozen && out.length === reported && !unparsed.has(rule)) parsedRules.set(value, rule);
  return rule;
}

function parseRuleFields(value: unknown, path: string, out: Violation[]): ForwardRule {
  if (!isFields(value)) {
    fail(out, path, `must be a rule object, got ${describeValue(value)}`);
    const rule = placeholderRule();
    unparsed.set(rule, new Set(RULE_FIELDS));
    return rule;
  }
  const unread = new Set<string>();
  /** `parsed`, or `placeholder` with `key` recorded as unparsed. */
  const read = <T>(key: string, parsed: T | undefined, placeholder: T): T => {
    if (parsed !== undefined) return parsed;
    unread.add(key);
    return placeholder;
  };
  checkKnownFields(value, RULE_FIELDS, path, out);
  const text = (key: string): string => read(key, readString(value, key, path, out), '');
  // Fields are read in proto order so violations come out in that order too.
  const name = text('name');
  const protocol = read('protocol', parseProtocol(field(value, 'protocol'), `${path}.protocol`, out), 'tcp');
  const listenAddress = text('listen_address');
  const iface = text('interface');
  const portSet = read('ports', parsePorts(field(value, 'ports'), `${path}.ports`, out), placeholderRule());
  const exclude = read('exclude', parseExcludeList(field(value, 'exclude'), `${path}.exclude`, out), []);
  const defaults = defaultRuleOptions();
  const rule: ForwardRule = {
    name,
    protocol,
    listenAddress,
    interface: iface,
    ports: portSet.ports,
    // Exclusions from a compact ports string go after the `exclude` list, so
    // validation paths `exclude[i]` still point at the list items.
    exclude: [...exclude, ...portSet.exclude],
    targetAddress: text('target_address'),
    targetPort: read('target_port', readUintField(value, 'target_port', path, out), 0),
    weak: read('weak', readBoolean(value, 'weak', path, out), false),
    allow: read('allow', readStringList(field(value, 'allow'), `${path}.allow`, out), []),
    deny: read('deny', readStringList(field(value, 'deny'), `${path}.deny`, out), []),
    onFilterChange: read(
      'on_filter_change',
      readOnFilterChange(field(value, 'on_filter_change'), defaults.onFilterChange, `${path}.on_filter_change`, out),
      defaults.onFilterChange,
    ),
    proxyProtocol: read(
      'proxy_protocol',
      readProxyProtocol(field(value, 'proxy_protocol'), defaults.proxyProtocol, `${path}.proxy_protocol`, out),
      defaults.proxyProtocol,
    ),
    limits: read('limits', readLimits(field(value, 'limits'), `${path}.limits`, out), defaults.limits),
    udpIdleTimeoutMs: read(
      'udp_idle_timeout_ms',
      readOptionalUint(value, 'udp_idle_timeout_ms', defaults.udpIdleTimeoutMs, path, out),
      defaults.udpIdleTimeoutMs,
    ),
    connectTimeoutMs: read(
      'connect_timeout_ms',
      readOptionalUint(value, 'connect_timeout_ms', defaults.connectTimeoutMs, path, out),
      defaults.connectTimeoutMs,
    ),
    drain: read('drain', readDrain(field(value, 'drain'), `${path}.drain`, out), defaults.drain),
    snatAddress: text('snat_address'),
  };
  if (unread.size > 0) unparsed.set(rule, unread);
  return rule;
}

function parseTable(value: unknown, basePath: string, index: number, out: Violation[]): Table {
  if (!isFields(value)) {
    fail(out, `${basePath}[${index}]`, `must be a table object with name and rules, got ${describeValue(value)}`);
    const table: Table = { name: '', rules: [] };
    unparsed.set(table, new Set(TABLE_FIELDS));
    return table;
  }
  const unread = new Set<string>();
  const path = tablePath(basePath, field(value, 'name'), index);
  checkKnownFields(value, TABLE_FIELDS, path, out);
  const name = readString(value, 'name', path, out);
  const rules = field(value, 'rules');
  if (name === undefined) unread.add('name');
  if (rules !== undefined && !Array.isArray(rules)) {
    fail(out, `${path}.rules`, `must be a list of rules, got ${describeValue(rules)}`);
    unread.add('rules');
  }
  const table: Table = {
    name: name ?? '',
    rules: Array.isArray(rules) ? rules.map((r: unknown, i) => parseRule(r, path, i, out)) : [],
  };
  if (unread.size > 0) unparsed.set(table, unread);
  return table;
}

/**
 * Reads tables in wire or file form. Never throws: every problem becomes a
 * violation with its field path, e.g. `tables[web].rules[2].ports`.
 */
export function parseTables(input: unknown, basePath = 'tables'): ParsedTables {
  const violations: Violation[] = [];
  if (!Array.isArray(input)) {
    fail(violations, basePath, `must be a list of tables, got ${describeValue(input)}`);
    return { tables: [], violations };
  }
  const tables = input.map((t: unknown, i) => parseTable(t, basePath, i, violations));
  return { tables, violations };
}
