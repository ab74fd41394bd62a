/**
 * gRPC server reflection, `grpc.reflection.v1` and `v1alpha` (the same
 * messages under two names), answered from the compiled files' exact bytes
 * so strict clients (buf curl, grpcurl, the C++ descriptor pool) accept them.
 * Each stream remembers which files it has sent: a file answer carries the
 * file asked for and only the dependencies that stream has not had yet.
 */
import { status, type Server, type ServerDuplexStream } from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import type { ServerReflectionRequest__Output } from '../generated/types/grpc/reflection/v1/ServerReflectionRequest.js';
import type { ServerReflectionResponse } from '../generated/types/grpc/reflection/v1/ServerReflectionResponse.js';
import { apiDefinition, serviceClient } from './api-definition.js';
import type { CompiledFile, ReflectionIndex } from './reflection-index.js';

export const REFLECTION_SERVICES = ['grpc.reflection.v1.ServerReflection', 'grpc.reflection.v1alpha.ServerReflection'];

let cachedIndex: Promise<ReflectionIndex> | undefined;

/**
 * The index of the compiled API, built once per process on the first
 * reflection call: it (and @bufbuild/protobuf, which it loads) is no part of
 * a daemon's start or restore.
 */
export function reflectionIndex(): Promise<ReflectionIndex> {
  cachedIndex ??= (async () => {
    const [{ ReflectionIndex }, { strictRegistry }] = await Promise.all([import('./reflection-index.js'), import('./api-registry.js')]);
    const { descriptorSet } = apiDefinition();
    return new ReflectionIndex(descriptorSet, strictRegistry(descriptorSet));
  })();
  return cachedIndex;
}

type Answer = Omit<ServerReflectionResponse, 'valid_host' | 'original_request'>;

function notFound(message: string): Answer {
  return { error_response: { error_code: status.NOT_FOUND, error_message: message } };
}

function filesAnswer(index: ReflectionIndex, file: CompiledFile | undefined, sent: Set<string>, missing: string): Answer {
  if (!file) return notFound(missing);
  return { file_descriptor_response: { file_descriptor_proto: index.withDependencies(file, sent).map((f) => Buffer.from(f.bytes)) } };
}

function answer(index: ReflectionIndex, services: readonly string[], req: ServerReflectionRequest__Output, sent: Set<string>): Answer {
  switch (req.message_request) {
    case 'list_services':
      return { list_services_response: { service: services.map((name) => ({ name })) } };
    case 'file_by_filename': {
      const name = req.file_by_filename ?? '';
      return filesAnswer(index, index.file(name), sent, `file "${name}" is not part of this server's API`);
    }
    case 'file_containing_symbol': {
      const symbol = (req.file_containing_symbol ?? '').replace(/^\./, '');
      return filesAnswer(index, index.fileOfSymbol(symbol), sent, `symbol "${symbol}" is not defined by this server's API`);
    }
    case 'file_containing_extension': {
      const type = req.file_containing_extension?.containing_type ?? '';
      const number = req.file_containing_extension?.extension_number ?? 0;
      return filesAnswer(index, index.fileOfExtension(type, number), sent, `no extension ${number} of "${type}" in this server's API`);
    }
    case 'all_extension_numbers_of_type': {
      const type = req.all_extension_numbers_of_type ?? '';
      if (!index.hasType(type)) return notFound(`type "${type}" is not defined by this server's API`);
      return { all_extension_numbers_response: { base_type_name: type, extension_number: index.extensionNumbers(type) } };
    }
    default:
      return { error_response: { error_code: status.INVALID_ARGUMENT, error_message: 'the request sets none of the message_request fields' } };
  }
}

/**
 * Adds both reflection services to `server`. `services` are the full names of
 * every service the server serves; each must be in the compiled API.
 */
export function addReflection(server: Server, services: readonly string[]): void {
  const { rpcTypes } = apiDefinition();
  const listed = [...services, ...REFLECTION_SERVICES];
  for (const name of listed) {
    if (!(rpcTypes.lookup(name) instanceof protobuf.Service)) throw new Error(`service ${name} is served but not in the compiled API (run npm run proto)`);
  }
  const handler = (call: ServerDuplexStream<ServerReflectionRequest__Output, ServerReflectionResponse>): void => {
    const sent = new Set<string>();
    // Answers go out in request order: each waits on the one index promise, then-callbacks run in the order they were added.
    const index = reflectionIndex();
    call.on('data', (req: ServerReflectionRequest__Output) => {
      index.then(
        (idx) => call.write({ valid_host: req.host, original_request: req, ...answer(idx, listed, req, sent) }),
        (err: unknown) =>
          call.write({
            valid_host: req.host,
            original_request: req,
            error_response: { error_code: status.INTERNAL, error_message: `the compiled API cannot be indexed: ${(err as Error).message}` },
          }),
      );
    });
    call.on('end', () => void index.then(() => call.end(), () => call.end()));
    call.on('error', () => call.end());
  };
  for (const name of REFLECTION_SERVICES) server.addService(serviceClient(name).service, { ServerReflectionInfo: handler });
}
