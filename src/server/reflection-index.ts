/**
 * What server reflection answers from: the compiled FileDescriptorSet split
 * into each file's exact bytes (never decoded and re-encoded), indexed by
 * file name, by every symbol a file defines (services, methods, messages at
 * any depth, enums, enum values, extensions) and by extended type.
 */
import type { DescEnum, DescExtension, DescFile, DescMessage, FileRegistry } from '@bufbuild/protobuf';
import { BinaryReader, WireType } from '@bufbuild/protobuf/wire';

export interface CompiledFile {
  name: string;
  /** The serialized FileDescriptorProto exactly as compiled. */
  bytes: Uint8Array;
  dependencies: readonly string[];
}

/** The `file` entries (field 1) of a FileDescriptorSet, as slices of `set`. */
export function splitDescriptorSet(set: Uint8Array): Uint8Array[] {
  const reader = new BinaryReader(set);
  const files: Uint8Array[] = [];
  while (reader.pos < reader.len) {
    const [field, wireType] = reader.tag();
    if (field === 1 && wireType === WireType.LengthDelimited) files.push(reader.bytes());
    else reader.skip(wireType, field);
  }
  return files;
}

/** FileDescriptorProto.name (field 1), read without decoding the rest. */
function fileName(bytes: Uint8Array): string | undefined {
  const reader = new BinaryReader(bytes);
  while (reader.pos < reader.len) {
    const [field, wireType] = reader.tag();
    if (field === 1 && wireType === WireType.LengthDelimited) return reader.string();
    reader.skip(wireType, field);
  }
  return undefined;
}

export class ReflectionIndex {
  private readonly files = new Map<string, CompiledFile>();
  private readonly symbols = new Map<string, string>();
  /** Extended type → extension number → file defining the extension. */
  private readonly extensions = new Map<string, Map<number, string>>();

  /** `registry`: the same set, resolved (so it is complete: every import present) before it is served. */
  constructor(descriptorSet: Uint8Array, registry: FileRegistry) {
    for (const bytes of splitDescriptorSet(descriptorSet)) {
      const name = fileName(bytes);
      const file = name === undefined ? undefined : registry.getFile(name);
      if (name === undefined || !file) throw new Error(`compiled API: a file entry has no name or does not resolve (${name ?? '?'})`);
      this.files.set(name, { name, bytes, dependencies: file.proto.dependency });
      this.indexFile(file);
    }
  }

  private indexFile(file: DescFile): void {
    const define = (symbol: string): void => {
      this.symbols.set(symbol, file.proto.name);
    };
    const indexEnum = (e: DescEnum): void => {
      define(e.typeName);
      // An enum value's full name is a sibling of its enum, not a child (protobuf scoping rules).
      const scope = e.parent ? e.parent.typeName : file.proto.package;
      for (const value of e.values) define(scope ? `${scope}.${value.name}` : value.name);
    };
    const indexExtension = (ext: DescExtension): void => {
      define(ext.typeName);
      const byNumber = this.extensions.get(ext.extendee.typeName) ?? new Map<number, string>();
      byNumber.set(ext.number, file.proto.name);
      this.extensions.set(ext.extendee.typeName, byNumber);
    };
    const indexMessage = (m: DescMessage): void => {
      define(m.typeName);
      for (const field of m.fields) define(`${m.typeName}.${field.name}`);
      for (const oneof of m.oneofs) define(`${m.typeName}.${oneof.name}`);
      m.nestedMessages.forEach(indexMessage);
      // Map entries are messages too, though the registry keeps them off nestedMessages.
      for (const nested of m.proto.nestedType) define(`${m.typeName}.${nested.name}`);
      m.nestedEnums.forEach(indexEnum);
      m.nestedExtensions.forEach(indexExtension);
    };
    for (const service of file.services) {
      define(service.typeName);
      for (const method of service.methods) define(`${service.typeName}.${method.name}`);
    }
    file.messages.forEach(indexMessage);
    file.enums.forEach(indexEnum);
    file.extensions.forEach(indexExtension);
  }

  file(name: string): CompiledFile | undefined {
    return this.files.get(name);
  }

  fileNames(): string[] {
    return [...this.files.keys()];
  }

  /** The file that defines `symbol` (a fully-qualified name, no leading dot). */
  fileOfSymbol(symbol: string): CompiledFile | undefined {
    const name = this.symbols.get(symbol);
    return name === undefined ? undefined : this.files.get(name);
  }

  hasType(typeName: string): boolean {
    return this.symbols.has(typeName);
  }

  fileOfExtension(extendee: string, number: number): CompiledFile | undefined {
    const name = this.extensions.get(extendee)?.get(number);
    return name === undefined ? undefined : this.files.get(name);
  }

  extensionNumbers(extendee: string): number[] {
    return [...(this.extensions.get(extendee)?.keys() ?? [])].sort((a, b) => a - b);
  }

  /** `file` and, breadth first, each transitive dependency not in `sent`; every name returned is added to `sent`. */
  withDependencies(file: CompiledFile, sent: Set<string>): CompiledFile[] {
    const out: CompiledFile[] = [file];
    sent.add(file.name);
    const queue = [...file.dependencies];
    for (let dep = queue.shift(); dep !== undefined; dep = queue.shift()) {
      if (sent.has(dep)) continue;
      const f = this.files.get(dep);
      if (!f) throw new Error(`compiled API: ${file.name} imports ${dep}, which the set lacks`);
      sent.add(dep);
      out.push(f);
      queue.push(...f.dependencies);
    }
    return out;
  }
}
