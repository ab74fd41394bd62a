/**
 * ApplyConfigResponse serialisation that encodes the backend's capabilities
 * once. Every response carries them (some 800 bytes of feature names and
 * reasons, a third of a one-rule apply's response) and they change only
 * with the backend, yet proto-loader's serializer converted and encoded
 * them on every apply. The bytes are exactly proto-loader's: protobufjs
 * writes a message's fields in field-number order and a sub-message as its
 * fields' bytes, so ApplyResult = its fields before `capabilities`, the
 * cached capabilities field, its fields after; the response = its `result`
 * field, then the rest (test/unit/apply-response-encoder.test.ts).
 */
import protobuf from 'protobufjs';

/** Capabilities encodings kept (one per backend configuration; more only if capabilities change at run time). */
const CACHED = 8;

export class ApplyResponseEncoder {
  private readonly response: protobuf.Type;
  private readonly result: protobuf.Type;
  private readonly capabilities: protobuf.Type;
  /** Number of ApplyResult.capabilities. */
  private readonly capabilitiesField: number;
  /** Encoded `capabilities` fields (tag, length, message), by the capabilities' JSON. */
  private readonly cached = new Map<string, Uint8Array>();

  constructor(root: protobuf.Root) {
    this.response = root.lookupType('portplane.v1.ApplyConfigResponse');
    this.result = root.lookupType('portplane.v1.ApplyResult');
    this.capabilities = root.lookupType('portplane.v1.Capabilities');
    this.capabilitiesField = this.result.fields.capabilities!.id;
  }

  /** proto-loader's serializer for ApplyConfigResponse (fromObject, then encode), in its bytes. */
  readonly serialize = (value: Record<string, unknown>): Buffer => {
    const result = value.result as Record<string, unknown> | undefined;
    if (!result || result.capabilities === undefined || result.capabilities === null) return this.whole(this.response, value);
    const before: Record<string, unknown> = {};
    const after: Record<string, unknown> = {};
    for (const [key, v] of Object.entries(result)) {
      // fromObject ignores keys that are no field.
      const field = this.result.fields[key];
      if (!field || field.id === this.capabilitiesField) continue;
      (field.id < this.capabilitiesField ? before : after)[key] = v;
    }
    const resultBytes = Buffer.concat([this.whole(this.result, before), this.capabilitiesBytes(result.capabilities), this.whole(this.result, after)]);
    const rest = { ...value };
    delete rest.result;
    const head = protobuf.Writer.create()
      .uint32((this.response.fields.result!.id << 3) | 2)
      .uint32(resultBytes.length)
      .finish();
    return Buffer.concat([head, resultBytes, this.whole(this.response, rest)]);
  };

  private capabilitiesBytes(capabilities: unknown): Uint8Array {
    const key = JSON.stringify(capabilities);
    let bytes = this.cached.get(key);
    if (!bytes) {
      const message = this.whole(this.capabilities, capabilities as Record<string, unknown>);
      bytes = protobuf.Writer.create()
        .uint32((this.capabilitiesField << 3) | 2)
        .bytes(message)
        .finish();
      if (this.cached.size >= CACHED) this.cached.clear();
      this.cached.set(key, bytes);
    }
    return bytes;
  }

  private whole(type: protobuf.Type, value: Record<string, unknown>): Buffer {
    const bytes = type.encode(type.fromObject(value)).finish();
    return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
}
