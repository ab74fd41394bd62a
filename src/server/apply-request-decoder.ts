/**
 * ApplyConfigRequest decoding that reuses what did not change. A controller
 * re-sends whole tables, nearly all of whose rules are byte for byte what it
 * sent before; decoding 1,000 rules with protobufjs on every call cost more
 * than the rest of a one-rule apply. Each rule's wire bytes key its decoded
 * object, so an unchanged rule comes back as the very same (frozen) object,
 * and every layer above that memoises by identity (parse, validation,
 * normalisation, canonical text, digest) skips it too.
 *
 * The object form is exactly proto-loader's (LOADER_OPTIONS): each piece is
 * decoded by protobufjs with the same toObject options, and a message's
 * fields may be split into pieces at field boundaries (wire format merges
 * repeated fields by concatenation).
 */
import protobuf from 'protobufjs';
import { apiDefinition, LOADER_OPTIONS } from './api-definition.js';
import type { KnownFraming } from './wire-check.js';

/** Field numbers of the repeated messages split out (config_service.proto, config.proto). */
const REQUEST_TABLES = 1;
const TABLE_RULES = 2;

/** proto-loader deserialises with toObject(decode(bytes), its loader options): so does this. */
const TO_OBJECT = LOADER_OPTIONS as protobuf.IConversionOptions;

/**
 * Enough decoded rules for two full configurations at the default limits;
 * least recently used first out. A miss only costs a decode.
 */
const DEFAULT_CAPACITY = 32_768;

interface Slice {
  start: number;
  end: number;
}

/** Reads a varint at `pos`; returns [value, next position]. Values here are tags and lengths (< 2^32). */
function varint(buf: Uint8Array, pos: number, end: number): [number, number] {
  let value = 0;
  let shift = 0;
  for (;;) {
    if (pos >= end) throw new Error('truncated varint');
    const byte = buf[pos++]!;
    if (shift < 28) value |= (byte & 0x7f) << shift;
    else value += (byte & 0x7f) * 2 ** shift;
    if (byte < 0x80) return [value, pos];
    shift += 7;
    if (shift > 63) throw new Error('varint too long');
  }
}

/**
 * Splits a message into the payloads of the length-delimited field `split`
 * and the raw bytes of every other field, in order.
 */
function splitField(buf: Uint8Array, start: number, end: number, split: number): { parts: Slice[]; rest: Slice[] } {
  const parts: Slice[] = [];
  const rest: Slice[] = [];
  let pos = start;
  while (pos < end) {
    const fieldStart = pos;
    const [tag, afterTag] = varint(buf, pos, end);
    const wireType = tag & 7;
    const field = Math.floor(tag / 8);
    if (field === 0) throw new Error('invalid field number 0');
    pos = afterTag;
    switch (wireType) {
      case 0:
        pos = varint(buf, pos, end)[1];
        break;
      case 1:
        pos += 8;
        break;
      case 5:
        pos += 4;
        break;
      case 2: {
        const [length, afterLength] = varint(buf, pos, end);
        pos = afterLength + length;
        if (pos > end) throw new Error('truncated length-delimited field');
        if (field === split) {
          parts.push({ start: afterLength, end: pos });
          continue;
        }
        break;
      }
      default:
        throw new Error(`unsupported wire type ${wireType}`);
    }
    if (pos > end) throw new Error('truncated field');
    rest.push({ start: fieldStart, end: pos });
  }
  return { parts, rest };
}

function concat(buf: Uint8Array, slices: Slice[]): Uint8Array {
  if (slices.length === 1) return buf.subarray(slices[0]!.start, slices[0]!.end);
  const size = slices.reduce((n, s) => n + s.end - s.start, 0);
  const out = new Uint8Array(size);
  let at = 0;
  for (const s of slices) {
    out.set(buf.subarray(s.start, s.end), at);
    at += s.end - s.start;
  }
  return out;
}

/** A rule's wire bytes as latin1 text: a cheap exact key. */
function ruleKey(bytes: Uint8Array, start: number, end: number): string {
  return (Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)).toString('latin1', start, end);
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

/** One table of a decoded request: its bytes, where its rules were (offsets from its start) and their objects, in order. */
interface DecodedTable {
  bytes: Buffer;
  starts: number[];
  ends: number[];
  rules: object[];
}

/** A table of the request in hand and how its bytes match the previous request's table at the same place. */
interface TableMatch {
  start: number;
  end: number;
  previous?: DecodedTable;
  /** Equal first bytes. */
  prefix?: number;
  /** Equal last bytes (not overlapping the prefix). */
  suffix?: number;
  /** How much later in this table than in the previous one a byte of the suffix is. */
  shift?: number;
  /** Index in `previous` after the rule reuse() found last: rules come in order, so the next is usually there. */
  next?: number;
}

/** Bytes compared at a time while looking for the first (or last) difference. */
const BLOCK = 256;

/** Equal first and last bytes of `a` and `b` (see TableMatch). */
function commonEnds(a: Uint8Array, b: Uint8Array): { prefix: number; suffix: number; shift: number } {
  const ab = Buffer.from(a.buffer, a.byteOffset, a.byteLength);
  const bb = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  const shortest = Math.min(a.length, b.length);
  let prefix = 0;
  while (prefix + BLOCK <= shortest && ab.compare(bb, prefix, prefix + BLOCK, prefix, prefix + BLOCK) === 0) prefix += BLOCK;
  while (prefix < shortest && a[prefix] === b[prefix]) prefix++;
  const room = shortest - prefix;
  let suffix = 0;
  while (suffix + BLOCK <= room && ab.compare(bb, b.length - suffix - BLOCK, b.length - suffix, a.length - suffix - BLOCK, a.length - suffix) === 0) suffix += BLOCK;
  while (suffix < room && a[a.length - 1 - suffix] === b[b.length - 1 - suffix]) suffix++;
  return { prefix, suffix, shift: a.length - b.length };
}

export class ApplyRequestDecoder {
  private readonly request: protobuf.Type;
  private readonly table: protobuf.Type;
  private readonly rule: protobuf.Type;
  /** Decoded rules by their wire bytes (latin1 text: a cheap exact key). */
  private readonly rules = new Map<string, object>();
  private hits = 0;
  private misses = 0;

  constructor(private readonly capacity = DEFAULT_CAPACITY) {
    // The types proto-loader's definitions were built from (api-definition.ts): parsing proto/ again cost every start ~40 ms.
    const root = apiDefinition().rpcTypes;
    this.request = root.lookupType('portplane.v1.ApplyConfigRequest');
    this.table = root.lookupType('portplane.v1.Table');
    this.rule = root.lookupType('portplane.v1.ForwardRule');
  }

  /** Rule decodes answered from the cache, and those that were not, since start. */
  stats(): { hits: number; misses: number; cached: number } {
    return { hits: this.hits, misses: this.misses, cached: this.rules.size };
  }

  /** The request in proto-loader object form; throws on malformed bytes as protobufjs does. */
  decode(bytes: Uint8Array): Record<string, unknown> {
    const { parts, rest } = splitField(bytes, 0, bytes.length, REQUEST_TABLES);
    const request = this.toObject(this.request, concat(bytes, rest));
    const decoded: DecodedTable[] = [];
    request.tables = parts.map((t, ordinal) => this.decodeTable(bytes, t, ordinal, decoded));
    this.previous = decoded;
    this.checkedKeys = undefined;
    this.walking = undefined;
    this.framingTable = undefined;
    return request;
  }

  private decodeTable(bytes: Uint8Array, slice: Slice, ordinal: number, decoded: DecodedTable[]): Record<string, unknown> {
    const { parts, rest } = splitField(bytes, slice.start, slice.end, TABLE_RULES);
    const table = this.toObject(this.table, concat(bytes, rest));
    const at = this.enterTable(bytes, ordinal, slice);
    const record: DecodedTable = { bytes: Buffer.from(bytes.subarray(slice.start, slice.end)), starts: [], ends: [], rules: [] };
    table.rules = parts.map((r) => {
      const rule = this.reuse(at, r.start, r.end) ?? this.decodeRule(bytes, r);
      record.starts.push(r.start - slice.start);
      record.ends.push(r.end - slice.start);
      record.rules.push(rule);
      return rule;
    });
    decoded.push(record);
    return table;
  }

  /** The tables of the last request decoded, in order. */
  private previous: DecodedTable[] = [];
  /** The request in hand: its tables met so far (by the framing check, then by decode) and how each matches the previous request's. */
  private walking: { bytes: Uint8Array; tables: TableMatch[] } | undefined;

  /** Table `ordinal` of `bytes` (the request in hand) at `slice`, matched with the previous request's table at the same place. */
  private enterTable(bytes: Uint8Array, ordinal: number, slice: Slice): TableMatch {
    if (this.walking?.bytes !== bytes) this.walking = { bytes, tables: [] };
    let match = this.walking.tables[ordinal];
    if (!match || match.start !== slice.start || match.end !== slice.end) {
      const previous = this.previous[ordinal];
      match = {
        start: slice.start,
        end: slice.end,
        ...(previous && { previous, ...commonEnds(bytes.subarray(slice.start, slice.end), previous.bytes) }),
      };
      this.walking.tables[ordinal] = match;
    }
    return match;
  }

  /**
   * The object of a rule the previous request had at the same place in the
   * same table: a controller re-sends a table with a rule or two changed, and
   * the rules before and after those are byte for byte the previous
   * request's (their offsets in the table shift by the change's size), found
   * without building their cache keys.
   */
  private reuse(match: TableMatch, start: number, end: number): object | undefined {
    const { previous } = match;
    if (!previous || start < match.start || end > match.end) return undefined;
    const from = start - match.start;
    const to = end - match.start;
    let at: number;
    if (to <= match.prefix!) at = from;
    else if (from >= match.end - match.start - match.suffix!) at = from - match.shift!;
    else return undefined;
    const starts = previous.starts;
    let found = match.next !== undefined && starts[match.next] === at ? match.next : -1;
    let lo = 0;
    let hi = starts.length - 1;
    while (found < 0 && lo <= hi) {
      const mid = (lo + hi) >> 1;
      const s = starts[mid]!;
      if (s === at) found = mid;
      else if (s < at) lo = mid + 1;
      else hi = mid - 1;
    }
    if (found < 0 || previous.ends[found] !== at + (to - from)) return undefined;
    match.next = found + 1;
    this.hits++;
    return previous.rules[found];
  }

  /**
   * A ForwardRule whose bytes decoded before: the server decodes only what
   * passed the framing check (request-decoding.ts), so such bytes passed it.
   */
  readonly knownFraming: KnownFraming = (type, bytes, start, end) => {
    if (type === this.table) {
      // The check walks tables in order: the table in hand for the rules that follow.
      if (this.walking?.bytes !== bytes) this.walking = { bytes, tables: [] };
      this.framingTable = this.enterTable(bytes, this.walking.tables.length, { start, end });
      return false;
    }
    if (type !== this.rule) return false;
    if (this.framingTable && this.reuse(this.framingTable, start, end)) return true;
    const key = ruleKey(bytes, start, end);
    if (this.checkedKeys?.bytes !== bytes) this.checkedKeys = { bytes, keys: new Map() };
    this.checkedKeys.keys.set(start, key);
    return this.rules.has(key);
  };

  /** The table the framing check is in. */
  private framingTable: TableMatch | undefined;

  /** Rule keys the framing check of `bytes` computed, by offset, so decode() computes each once. */
  private checkedKeys: { bytes: Uint8Array; keys: Map<number, string> } | undefined;

  private decodeRule(bytes: Uint8Array, slice: Slice): object {
    const key = (this.checkedKeys?.bytes === bytes ? this.checkedKeys.keys.get(slice.start) : undefined) ?? ruleKey(bytes, slice.start, slice.end);
    const cached = this.rules.get(key);
    if (cached) {
      this.hits++;
      // Most recently used last, so eviction takes the oldest.
      this.rules.delete(key);
      this.rules.set(key, cached);
      return cached;
    }
    this.misses++;
    const rule = deepFreeze(this.toObject(this.rule, bytes.subarray(slice.start, slice.end)));
    if (this.rules.size >= this.capacity) this.rules.delete(this.rules.keys().next().value as string);
    this.rules.set(key, rule);
    return rule;
  }

  private toObject(type: protobuf.Type, bytes: Uint8Array): Record<string, unknown> {
    return type.toObject(type.decode(bytes), TO_OBJECT) as Record<string, unknown>;
  }
}
