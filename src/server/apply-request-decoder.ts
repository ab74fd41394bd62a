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
    request.tables = parts.map((t) => this.decodeTable(bytes, t));
    this.checkedKeys = undefined;
    return request;
  }

  private decodeTable(bytes: Uint8Array, slice: Slice): Record<string, unknown> {
    const { parts, rest } = splitField(bytes, slice.start, slice.end, TABLE_RULES);
    const table = this.toObject(this.table, concat(bytes, rest));
    table.rules = parts.map((r) => this.decodeRule(bytes, r));
    return table;
  }

  /**
   * A ForwardRule whose bytes decoded before: the server decodes only what
   * passed the framing check (request-decoding.ts), so such bytes passed it.
   */
  readonly knownFraming: KnownFraming = (type, bytes, start, end) => {
    if (type !== this.rule) return false;
    const key = ruleKey(bytes, start, end);
    if (this.checkedKeys?.bytes !== bytes) this.checkedKeys = { bytes, keys: new Map() };
    this.checkedKeys.keys.set(start, key);
    return this.rules.has(key);
  };

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
