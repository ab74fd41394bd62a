/**
 * The compiled FileDescriptorSet (src/generated/api.binpb) in a strict
 * registry (@bufbuild/protobuf: building it checks names, imports and
 * types), and the protobufjs root `npm run proto` derives from it
 * (src/generated/api.json, which api-definition.ts loads). Not loaded at
 * daemon start: reflection (on its first call) and `npm run proto` use it.
 */
import { createFileRegistry, fromBinary, ScalarType, type DescField, type DescMessage, type FileRegistry } from '@bufbuild/protobuf';
import { FileDescriptorSetSchema } from '@bufbuild/protobuf/wkt';
import protobuf from 'protobufjs';
// Adds Root.fromDescriptor (its typings don't declare it).
import 'protobufjs/ext/descriptor/index.js';

/** The set in a strict registry. */
export function strictRegistry(descriptorSet: Uint8Array): FileRegistry {
  return createFileRegistry(fromBinary(FileDescriptorSetSchema, descriptorSet));
}

/** The protobufjs root of a compiled FileDescriptorSet as JSON: what `npm run proto` writes to src/generated/api.json. */
export function rootJson(descriptorSet: Buffer): string {
  return `${JSON.stringify(protobufRoot(descriptorSet, strictRegistry(descriptorSet)).toJSON())}\n`;
}

/**
 * The protobufjs root of the set. protobufjs reads a map field from a
 * descriptor as a repeated `KeyEntry` message (and marks the wrong message as
 * the map entry), so every map field is put back as a map: the runtime objects
 * keep `{ key: value }` maps, as loading .proto files gave them.
 */
function protobufRoot(descriptorSet: Buffer, registry: FileRegistry): protobuf.Root {
  const Root = protobuf.Root as unknown as { fromDescriptor(set: Uint8Array): protobuf.Root };
  const root = Root.fromDescriptor(descriptorSet);
  const messages: DescMessage[] = [];
  const walk = (m: DescMessage): void => {
    messages.push(m);
    m.nestedMessages.forEach(walk);
  };
  for (const file of registry.files) file.messages.forEach(walk);
  for (const message of messages) {
    const type = root.lookupType(message.typeName);
    for (const field of message.fields) {
      if (field.fieldKind !== 'map') continue;
      const old = type.fields[field.name];
      if (old) type.remove(old);
      type.add(new protobuf.MapField(field.name, field.number, scalarName(field.mapKey), mapValueType(field)));
    }
  }
  root.resolveAll();
  return root;
}

function scalarName(scalar: ScalarType): string {
  return ScalarType[scalar].toLowerCase();
}

function mapValueType(field: DescField & { fieldKind: 'map' }): string {
  switch (field.mapKind) {
    case 'scalar':
      return scalarName(field.scalar);
    case 'enum':
      return `.${field.enum.typeName}`;
    case 'message':
      return `.${field.message.typeName}`;
  }
}
