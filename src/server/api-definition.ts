/**
 * Loads the compiled API once per process: src/generated/api.binpb, the
 * FileDescriptorSet `npm run proto` builds from proto/ with every import, and
 * src/generated/api.json, the protobufjs root `npm run proto` derives from
 * those bytes (api-registry.ts rootJson; `npm run proto -- --check` and
 * test/unit/compiled-api.test.ts keep the two in step). The grpc-js service
 * definitions and the protobufjs types that encode error details come from
 * the JSON: reading the descriptor set with protobufjs and the strict
 * registry took most of the definitions' cost at every start, a restore
 * included. Reflection serves the descriptor set's own bytes, indexed on its
 * first call (reflection-service.ts). So what the server serves and what it
 * describes cannot drift.
 *
 * The service definitions are built here from that one root, as
 * @grpc/proto-loader builds them (same serializers, same conversion options)
 * but without its per-message descriptors, which nothing here reads: its
 * fromJSON built a second root and described every message, ~60 ms of a
 * restart (docs/benchmarks.md, #12 Round 5).
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import type * as protoLoader from '@grpc/proto-loader';
import protobuf from 'protobufjs';

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
const COMPILED_ROOT = join('src', 'generated', 'api.json');

/** Path of the compiled FileDescriptorSet. */
export function compiledApiPath(): string {
  return join(dirHolding(COMPILED_API), COMPILED_API);
}

/** grpc-js's package definition (its name is not exported). */
type PackageDefinition = Parameters<typeof grpc.loadPackageDefinition>[0];

export interface ApiDefinition {
  /** The FileDescriptorSet exactly as compiled. */
  descriptorSet: Buffer;
  /** Every service of the compiled API by full name (no message entries). */
  packageDefinition: PackageDefinition;
  grpcObject: grpc.GrpcObject;
  /** protobufjs root of every message, for google.rpc.* status details. */
  rpcTypes: protobuf.Root;
}

let cached: ApiDefinition | undefined;

export function apiDefinition(): ApiDefinition {
  if (cached) return cached;
  const descriptorSet = readFileSync(compiledApiPath());
  const json = JSON.parse(readFileSync(join(dirHolding(COMPILED_ROOT), COMPILED_ROOT), 'utf8')) as protobuf.INamespace;
  const rpcTypes = protobuf.Root.fromJSON(json);
  rpcTypes.resolveAll();
  const packageDefinition: PackageDefinition = {};
  for (const service of servicesOf(rpcTypes)) packageDefinition[service.fullName.slice(1)] = serviceDefinition(service);
  const grpcObject = grpc.loadPackageDefinition(packageDefinition);
  cached = { descriptorSet, packageDefinition, grpcObject, rpcTypes };
  return cached;
}

function servicesOf(ns: protobuf.NamespaceBase): protobuf.Service[] {
  return ns.nestedArray.flatMap((child) => (child instanceof protobuf.Service ? [child] : child instanceof protobuf.Namespace ? servicesOf(child) : []));
}

/** proto-loader's method definitions: fromObject/encode out, decode/toObject(LOADER_OPTIONS) in, a camelCase alias. */
function serviceDefinition(service: protobuf.Service): grpc.ServiceDefinition {
  const serialize = (type: protobuf.Type) => (value: object) => {
    if (Array.isArray(value)) throw new Error(`Failed to serialize message: expected object with ${type.name} structure, got array instead`);
    // A Buffer: protobufjs writes Buffers under Node.
    return type.encode(type.fromObject(value)).finish() as Buffer;
  };
  const deserialize = (type: protobuf.Type) => (bytes: Buffer) => type.toObject(type.decode(bytes), LOADER_OPTIONS);
  const def: Record<string, grpc.MethodDefinition<object, object>> = {};
  for (const method of service.methodsArray) {
    const request = method.resolvedRequestType as protobuf.Type;
    const response = method.resolvedResponseType as protobuf.Type;
    def[method.name] = {
      path: `/${service.fullName.slice(1)}/${method.name}`,
      requestStream: method.requestStream === true,
      responseStream: method.responseStream === true,
      requestSerialize: serialize(request),
      requestDeserialize: deserialize(request),
      responseSerialize: serialize(response),
      responseDeserialize: deserialize(response),
      // Method names here are PascalCase words: lodash.camelcase, which proto-loader uses, lowers the first letter.
      originalName: method.name.charAt(0).toLowerCase() + method.name.slice(1),
    };
  }
  return def as grpc.ServiceDefinition;
}

/** A service constructor by full name, e.g. "grpc.health.v1.Health"; a bare name is one of package portplane.v1. */
export function serviceClient(name: string): grpc.ServiceClientConstructor {
  const fullName = name.includes('.') ? name : `${API_VERSION}.${name}`;
  let node: unknown = apiDefinition().grpcObject;
  for (const part of fullName.split('.')) node = (node as Record<string, unknown> | undefined)?.[part];
  if (typeof node !== 'function') throw new Error(`service ${fullName} is not defined in the compiled API (src/generated/api.binpb)`);
  return node as grpc.ServiceClientConstructor;
}
