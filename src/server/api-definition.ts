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
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
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

export interface ApiDefinition {
  /** The FileDescriptorSet exactly as compiled. */
  descriptorSet: Buffer;
  packageDefinition: protoLoader.PackageDefinition;
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
  const packageDefinition = protoLoader.fromJSON(json, LOADER_OPTIONS);
  const grpcObject = grpc.loadPackageDefinition(packageDefinition);
  cached = { descriptorSet, packageDefinition, grpcObject, rpcTypes };
  return cached;
}

/** A service constructor by full name, e.g. "grpc.health.v1.Health"; a bare name is one of package portplane.v1. */
export function serviceClient(name: string): grpc.ServiceClientConstructor {
  const fullName = name.includes('.') ? name : `${API_VERSION}.${name}`;
  let node: unknown = apiDefinition().grpcObject;
  for (const part of fullName.split('.')) node = (node as Record<string, unknown> | undefined)?.[part];
  if (typeof node !== 'function') throw new Error(`service ${fullName} is not defined in the compiled API (src/generated/api.binpb)`);
  return node as grpc.ServiceClientConstructor;
}
