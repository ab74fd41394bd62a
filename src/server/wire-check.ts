/**
 * A strict check of protobuf wire framing, against the request's message
 * type where it is known. protobufjs decodes leniently (a field read with
 * the wrong wire type, a length past the end of a nested message), so a
 * truncated or mangled request could reach a handler as a different, smaller
 * request. Every tag must have a wire type that exists (and that its field's
 * type takes), every varint must end within 10 bytes, every length must lie
 * within its message, and nested messages are checked the same way.
 */
import protobuf from 'protobufjs';

const VARINT_TYPES = new Set(['int32', 'int64', 'uint32', 'uint64', 'sint32', 'sint64', 'bool']);
const FIXED64_TYPES = new Set(['fixed64', 'sfixed64', 'double']);
const FIXED32_TYPES = new Set(['fixed32', 'sfixed32', 'float']);

function scalarWireType(field: protobuf.Field): number {
  if (field.resolvedType instanceof protobuf.Enum || VARINT_TYPES.has(field.type)) return 0;
  if (FIXED64_TYPES.has(field.type)) return 1;
  if (FIXED32_TYPES.has(field.type)) return 5;
  return 2;
}

class Cursor {
  pos: number;
  constructor(
    readonly bytes: Uint8Array,
    start: number,
    readonly end: number,
  ) {
    this.pos = start;
  }

  varint(): number {
    let value = 0;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new Error(`truncated varint at byte ${this.pos}`);
      const b = this.bytes[this.pos++]!;
      if (i < 7) value += (b & 0x7f) * 2 ** (7 * i);
      if ((b & 0x80) === 0) return value;
    }
    throw new Error(`varint longer than 10 bytes at byte ${this.pos}`);
  }

  skip(n: number): void {
    if (n > this.end - this.pos) throw new Error(`field of ${n} bytes at byte ${this.pos} runs past the end of its message`);
    this.pos += n;
  }
}

/**
 * Says that the nested message of `type` at `bytes[start, end)` is byte for
 * byte one that passed this check before, so it need not be walked again.
 */
export type KnownFraming = (type: protobuf.Type, bytes: Uint8Array, start: number, end: number) => boolean;

/**
 * Throws, saying where, unless `bytes[start, end)` is a well-framed message
 * of `type` (any message when undefined). Nested messages `known` vouches
 * for are skipped.
 */
export function checkWireFraming(bytes: Uint8Array, type?: protobuf.Type, start = 0, end = bytes.length, known?: KnownFraming): void {
  const c = new Cursor(bytes, start, end);
  while (c.pos < c.end) {
    const tag = c.varint();
    const id = Math.floor(tag / 8);
    const wireType = tag % 8;
    if (id === 0) throw new Error(`field number 0 at byte ${c.pos}`);
    const field = type?.fieldsById[id];
    if (field) {
      const expected = field instanceof protobuf.MapField || field.resolvedType instanceof protobuf.Type ? 2 : scalarWireType(field);
      // A repeated scalar may also come packed (length-delimited).
      const packedOk = field.repeated && wireType === 2 && expected !== 2;
      if (wireType !== expected && !packedOk) throw new Error(`field ${field.name} has wire type ${wireType}, not ${expected}`);
    }
    switch (wireType) {
      case 0:
        c.varint();
        break;
      case 1:
        c.skip(8);
        break;
      case 5:
        c.skip(4);
        break;
      case 2: {
        const length = c.varint();
        const at = c.pos;
        c.skip(length);
        const nested = field && !(field instanceof protobuf.MapField) && field.resolvedType instanceof protobuf.Type ? field.resolvedType : undefined;
        if (nested) {
          if (!known?.(nested, bytes, at, at + length)) checkWireFraming(bytes, nested, at, at + length, known);
        }
        else if (field instanceof protobuf.MapField) checkWireFraming(bytes, undefined, at, at + length);
        break;
      }
      default:
        throw new Error(`wire type ${wireType} at byte ${c.pos} is not one proto3 uses`);
    }
  }
}
