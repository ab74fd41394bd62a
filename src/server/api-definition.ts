/**
 * Loads the compiled API once per process: src/generated/api.binpb, the
 * FileDescriptorSet `npm run proto` builds from proto/ with every import.
 * The grpc-js service definitions, the protobufjs types that encode error
 * details and the files reflection serves all come from those same bytes, so
 * what the server serves and what it describes cannot drift.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { createFileRegistry, fromBinary, ScalarType, type DescField, type DescMessage, type FileRegistry } from '@bufbuild/protobuf';
import { FileDescriptorSetSchema } from '@bufbuild/protobuf/wkt';
import protobuf from 'protobufjs';
// Adds Root.fromDescriptor (its typings don't declare it).
import 'protobufjs/ext/descriptor/index.js';

export const API_VERSION = 'portplane.v1';

/** Wire conventions every client and server here shares (scripts/proto.js generates the types with the same). */
export const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
};

/** The nearest directory at or above this module holding `relative`, whether run from src/ or dist/. */
function dirHolding(relative: string): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, relative))) return dir;
    dir = dirname(dir);
  }
  throw new Error(`cannot find ${relative} above ${fileURLToPath(import.meta.url)}`);
}

/** The repo's proto/ directory. */
export function protoRoot(): string {
  return join(dirHolding(join('proto', 'portplane', 'v1', 'config.proto')), 'proto');
}

const COMPILED_API = join('src', 'generated', 'api.binpb');

/** Path of the compiled FileDescriptorSet. */
export function compiledApiPath(): string {
  return join(dirHolding(COMPILED_API), COMPILED_API);
}

export interface ApiDefinition {
  /** The FileDescriptorSet exactly as compiled. */
  descriptorSet: Buffer;
  /** The same set in a strict registry (@bufbuild/protobuf): building it checks names, imports and types. */
  registry: FileRegistry;
  packageDefinition: protoLoader.PackageDefinition;
  grpcObject: grpc.GrpcObject;
  /** protobufjs root of every message, for google.rpc.* status details. */
  rpcTypes: protobuf.Root;
}

let cached: ApiDefinition | undefined;

export function apiDefinition(): ApiDefinition {
  if (cached) return cached;
  const descriptorSet = readFileSync(compiledApiPath());
  const registry = createFileRegistry(fromBinary(FileDescriptorSetSchema, descriptorSet));
  const rpcTypes = protobufRoot(descriptorSet, registry);
  const packageDefinition = protoLoader.fromJSON(rpcTypes.toJSON(), LOADER_OPTIONS);
  const grpcObject = grpc.loadPackageDefinition(packageDefinition);
  cached = { descriptorSet, registry, packageDefinition, grpcObject, rpcTypes };
  return cached;
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

/** A service constructor by full name, e.g. "grpc.health.v1.Health"; a bare name is one of package portplane.v1. */
export function serviceClient(name: string): grpc.ServiceClientConstructor {
  const fullName = name.includes('.') ? name : `${API_VERSION}.${name}`;
  let node: unknown = apiDefinition().grpcObject;
  for (const part of fullName.split('.')) node = (node as Record<string, unknown> | undefined)?.[part];
  if (typeof node !== 'function') throw new Error(`service ${fullName} is not defined in the compiled API (src/generated/api.binpb)`);
  return node as grpc.ServiceClientConstructor;
}
