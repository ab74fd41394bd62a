/**
 * Loads the API from proto/ (the single source of truth) once per process:
 * the grpc-js service definitions, the package definition that reflection
 * serves, and the protobufjs types used to encode error details.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import protobuf from 'protobufjs';

export const API_VERSION = 'portplane.v1';

export const PROTO_FILES = [
  'portplane/v1/config_service.proto',
  'portplane/v1/session_service.proto',
  'portplane/v1/telemetry_service.proto',
  'portplane/v1/trace_service.proto',
  'portplane/v1/ha_service.proto',
  'google/rpc/status.proto',
  'google/rpc/error_details.proto',
];

/** Wire conventions every client and server here shares. */
export const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
};

/** The repo's proto/ directory, found from this module whether run from src/ or dist/src/. */
export function protoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'proto', 'portplane', 'v1', 'config.proto'))) return join(dir, 'proto');
    dir = dirname(dir);
  }
  throw new Error(`cannot find proto/portplane/v1 above ${fileURLToPath(import.meta.url)}`);
}

export interface ApiDefinition {
  packageDefinition: protoLoader.PackageDefinition;
  grpcObject: grpc.GrpcObject;
  /** protobufjs root holding google.rpc.* for status details. */
  rpcTypes: protobuf.Root;
}

let cached: ApiDefinition | undefined;

export function apiDefinition(): ApiDefinition {
  if (cached) return cached;
  const root = protoRoot();
  const packageDefinition = protoLoader.loadSync(PROTO_FILES, { ...LOADER_OPTIONS, includeDirs: [root] });
  const grpcObject = grpc.loadPackageDefinition(packageDefinition);
  const rpcTypes = new protobuf.Root();
  rpcTypes.resolvePath = (_origin, target) => (target.startsWith('google/protobuf/') ? target : join(root, target));
  rpcTypes.loadSync(['google/rpc/status.proto', 'google/rpc/error_details.proto']);
  cached = { packageDefinition, grpcObject, rpcTypes };
  return cached;
}

/** A service constructor of package portplane.v1, e.g. "ConfigService". */
export function serviceClient(name: string): grpc.ServiceClientConstructor {
  const pkg = (apiDefinition().grpcObject.portplane as grpc.GrpcObject).v1 as grpc.GrpcObject;
  const ctor = pkg[name];
  if (typeof ctor !== 'function') throw new Error(`service portplane.v1.${name} is not defined in proto/`);
  return ctor as grpc.ServiceClientConstructor;
}
