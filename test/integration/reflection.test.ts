/**
 * Acceptance: clients nobody here wrote read the API from server reflection
 * alone. `buf curl` (Go protobuf runtime, strict like grpcurl) lists every
 * method and calls a unary, a server-streaming and the bidirectional method;
 * @bufbuild/protobuf's strict file registry builds every served file; the
 * served bytes equal the compiled set byte for byte; symbol, extension and
 * unknown-name queries answer as the reflection protocol says.
 */
import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { create, createFileRegistry, fromBinary, type DescService } from '@bufbuild/protobuf';
import { FileDescriptorProtoSchema, FileDescriptorSetSchema } from '@bufbuild/protobuf/wkt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compiledApiPath, serviceClient } from '../../src/server/api-definition.js';
import type { ServerReflectionResponse__Output } from '../../src/generated/types/grpc/reflection/v1/ServerReflectionResponse.js';
import type { ServerReflectionRequest } from '../../src/generated/types/grpc/reflection/v1/ServerReflectionRequest.js';
import { BufCurlStream, bufCurl } from '../helpers/buf-curl.js';
import { startTestDaemon, type TestDaemon } from '../helpers/in-process-daemon.js';
import { freePort, roundTrip, startEchoServer, type EchoServer } from '../helpers/tcp.js';
import { singlePortRule } from '../helpers/wire-rules.js';

const compiled = readFileSync(compiledApiPath());
const compiledSet = fromBinary(FileDescriptorSetSchema, compiled);
const compiledRegistry = createFileRegistry(compiledSet);

/** One reflection stream (v1 or v1alpha); answers come in request order. */
type ReflectionCall = grpc.ClientDuplexStream<ServerReflectionRequest, ServerReflectionResponse__Output>;

class ReflectionStream {
  private readonly stream: ReflectionCall;
  private readonly client: grpc.Client;
  private readonly queue: ((r: ServerReflectionResponse__Output) => void)[] = [];

  constructor(target: string, version: 'v1' | 'v1alpha') {
    const Ctor = serviceClient(`grpc.reflection.${version}.ServerReflection`);
    this.client = new Ctor(target, grpc.credentials.createInsecure());
    this.stream = (this.client as unknown as { ServerReflectionInfo(): ReflectionCall }).ServerReflectionInfo();
    this.stream.on('data', (r: ServerReflectionResponse__Output) => this.queue.shift()?.(r));
    // close() cancels the call; answers were all read by then.
    this.stream.on('error', () => {});
  }

  ask(request: ServerReflectionRequest): Promise<ServerReflectionResponse__Output> {
    return new Promise((resolve) => {
      this.queue.push(resolve);
      this.stream.write(request);
    });
  }

  /** Names of the files of a file answer, in order. */
  async fileNames(request: ServerReflectionRequest): Promise<string[]> {
    const res = await this.ask(request);
    if (res.error_response) throw new Error(`${res.error_response.error_code}: ${res.error_response.error_message}`);
    return (res.file_descriptor_response?.file_descriptor_proto ?? []).map((b) => fromBinary(FileDescriptorProtoSchema, b).name);
  }

  close(): void {
    this.stream.end();
    this.client.close();
  }
}

/** Every method of every service the server lists, as `pkg.Service/Method`, from the compiled set. */
function compiledMethods(services: string[]): string[] {
  return services
    .flatMap((name) => {
      const service = compiledRegistry.getService(name) as DescService;
      return service.methods.map((m) => `${service.typeName}/${m.name}`);
    })
    .sort();
}

describe('server reflection', () => {
  let d: TestDaemon;
  let socket: string;
  let echo: EchoServer;
  beforeAll(async () => {
    d = await startTestDaemon();
    socket = d.target.replace(/^unix:/, '');
    echo = await startEchoServer();
  });
  afterAll(async () => {
    await d.stop();
    await echo.close();
  });

  it('buf curl lists every method of every service the server serves', async () => {
    const reflection = new ReflectionStream(d.target, 'v1');
    const listed = (await reflection.ask({ list_services: '' })).list_services_response?.service.map((s) => s.name) ?? [];
    reflection.close();
    expect(listed.sort()).toEqual(
      [
        'grpc.health.v1.Health',
        'grpc.reflection.v1.ServerReflection',
        'grpc.reflection.v1alpha.ServerReflection',
        'portplane.v1.ConfigService',
        'portplane.v1.HAService',
        'portplane.v1.SessionService',
        'portplane.v1.TelemetryService',
        'portplane.v1.TraceService',
      ].sort(),
    );
    const res = await bufCurl(socket, ['--list-methods', 'http://localhost']);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(res.stdout.trim().split('\n').sort()).toEqual(compiledMethods(listed));
  }, 60_000);

  it('buf curl calls unary methods by reflection alone and the rule forwards', async () => {
    const port = await freePort();
    const body = JSON.stringify({ tables: [{ name: 'reflect', rules: [singlePortRule('echo', port, echo.port)] }] });
    const applied = await bufCurl(socket, ['-d', body, 'http://localhost/portplane.v1.ConfigService/ApplyConfig']);
    expect(applied.stderr).toBe('');
    const result = (JSON.parse(applied.stdout) as { result: { generation: string; outcome: string; rules: { portsBound: number }[] } }).result;
    expect(result).toMatchObject({ outcome: 'APPLY_OUTCOME_APPLIED', rules: [{ portsBound: 1 }] });
    expect((await roundTrip(port, 'via buf curl')).toString()).toBe('via buf curl');

    const last = await bufCurl(socket, ['http://localhost/portplane.v1.ConfigService/LastApplyResult']);
    expect(JSON.parse(last.stdout)).toMatchObject({ result: { generation: result.generation } });
    const health = await bufCurl(socket, ['http://localhost/grpc.health.v1.Health/Check']);
    expect(JSON.parse(health.stdout)).toEqual({ status: 'SERVING' });
  }, 60_000);

  it('buf curl follows a server stream (WatchApplyResults) until it has seen an apply, then stops', async () => {
    const watch = new BufCurlStream(socket, ['http://localhost/portplane.v1.ConfigService/WatchApplyResults']);
    try {
      await watch.waitFor('"APPLY_EVENT_KIND_CURRENT"');
      const port = await freePort();
      const body = JSON.stringify({ tables: [{ name: 'watched', rules: [singlePortRule('w', port, echo.port)] }] });
      expect((await bufCurl(socket, ['-d', body, 'http://localhost/portplane.v1.ConfigService/ApplyConfig'])).stderr).toBe('');
      await watch.waitFor('"APPLY_EVENT_KIND_APPLIED"');
    } finally {
      await watch.stop();
    }
  }, 60_000);

  it('buf curl runs the bidirectional Transaction: hello, tables, APPLY, COMMIT', async () => {
    const port = await freePort();
    const steps = [
      { begin: {} },
      { tables: { tables: [{ name: 'tx', rules: [singlePortRule('tx', port, echo.port)] }] } },
      { command: 'TRANSACTION_COMMAND_APPLY' },
      { command: 'TRANSACTION_COMMAND_COMMIT' },
    ];
    const res = await bufCurl(socket, ['-d', '@-', 'http://localhost/portplane.v1.ConfigService/Transaction'], steps.map((s) => JSON.stringify(s)).join('\n'));
    expect(res.stderr).toBe('');
    // buf curl prints one JSON document per response message.
    const kinds = res.stdout
      .split(/\n(?=\{)/)
      .map((doc) => Object.keys(JSON.parse(doc) as object)[0]);
    expect(kinds).toEqual(['hello', 'validated', 'applied', 'committed']);
    expect((await roundTrip(port, 'tx')).toString()).toBe('tx');
  }, 60_000);

  it.each(['v1', 'v1alpha'] as const)('%s serves every compiled file byte for byte, and a strict registry builds them all', async (version) => {
    const reflection = new ReflectionStream(d.target, version);
    const served = new Map<string, Uint8Array>();
    for (const file of compiledSet.file) {
      const res = await reflection.ask({ file_by_filename: file.name });
      const first = res.file_descriptor_response?.file_descriptor_proto[0];
      expect(first, `${file.name}: ${res.error_response?.error_message}`).toBeDefined();
      served.set(file.name, first as Uint8Array);
    }
    reflection.close();
    // The served files, framed as FileDescriptorSet.file entries in the compiled order, are the compiled set itself.
    const frames = compiledSet.file.map((f) => {
      const bytes = served.get(f.name) as Uint8Array;
      const len: number[] = [];
      for (let n = bytes.length; ; n >>>= 7) {
        if (n < 0x80) {
          len.push(n);
          break;
        }
        len.push((n & 0x7f) | 0x80);
      }
      return Buffer.concat([Buffer.from([0x0a, ...len]), bytes]);
    });
    expect(Buffer.concat(frames).equals(compiled)).toBe(true);

    // Strict: throws on an invalid name, an import not added before it, an unresolvable type or a malformed map entry.
    const registry = createFileRegistry(
      create(FileDescriptorSetSchema, { file: compiledSet.file.map((f) => fromBinary(FileDescriptorProtoSchema, served.get(f.name) as Uint8Array)) }),
    );
    for (const name of ['portplane.v1.ConfigService', 'portplane.v1.SessionService', 'portplane.v1.TelemetryService', 'portplane.v1.TraceService']) {
      const service = registry.getService(name);
      expect(service?.methods.length, name).toBeGreaterThan(0);
      for (const m of service?.methods ?? []) expect(registry.getMessage(m.input.typeName)).toBeDefined();
    }
    expect(registry.getMessage('portplane.v1.TransactionError')?.field.metadata?.fieldKind).toBe('map');
  }, 60_000);

  it('file_containing_symbol answers services, methods, messages, nested messages, enums and enum values with unsent dependencies only', async () => {
    const reflection = new ReflectionStream(d.target, 'v1');
    const first = await reflection.fileNames({ file_containing_symbol: 'portplane.v1.ConfigService' });
    expect(first[0]).toBe('portplane/v1/config_service.proto');
    expect(first).toEqual(expect.arrayContaining(['portplane/v1/config.proto', 'google/protobuf/duration.proto', 'google/protobuf/timestamp.proto']));
    expect(new Set(first).size).toBe(first.length);
    // Already sent on this stream: only the file itself comes back.
    expect(await reflection.fileNames({ file_containing_symbol: 'portplane.v1.ConfigService.ApplyConfig' })).toEqual(['portplane/v1/config_service.proto']);
    expect(await reflection.fileNames({ file_containing_symbol: 'portplane.v1.TransactionError.MetadataEntry' })).toEqual(['portplane/v1/transaction.proto']);
    expect(await reflection.fileNames({ file_containing_symbol: 'portplane.v1.TransactionCommand' })).toEqual(['portplane/v1/transaction.proto']);
    expect(await reflection.fileNames({ file_containing_symbol: 'portplane.v1.TRANSACTION_COMMAND_APPLY' })).toEqual(['portplane/v1/transaction.proto']);
    expect(await reflection.fileNames({ file_containing_symbol: 'grpc.health.v1.HealthCheckResponse.ServingStatus' })).toEqual(['grpc/health/v1/health.proto']);
    expect(await reflection.fileNames({ file_containing_symbol: 'grpc.health.v1.HealthCheckResponse.SERVING' })).toEqual(['grpc/health/v1/health.proto']);
    // status.proto's one import, any.proto, has not been sent on this stream; error_details.proto imports nothing.
    expect(await reflection.fileNames({ file_by_filename: 'google/rpc/status.proto' })).toEqual(['google/rpc/status.proto', 'google/protobuf/any.proto']);
    expect(await reflection.fileNames({ file_by_filename: 'google/rpc/error_details.proto' })).toEqual(['google/rpc/error_details.proto']);
    reflection.close();
  });

  it('unknown files, symbols and extensions are NOT_FOUND error responses; extension numbers of a known type are listed', async () => {
    const reflection = new ReflectionStream(d.target, 'v1alpha');
    const notFound = async (request: ServerReflectionRequest): Promise<void> => {
      const res = await reflection.ask(request);
      expect(res.file_descriptor_response ?? res.all_extension_numbers_response).toBeFalsy();
      expect(res.error_response?.error_code).toBe(grpc.status.NOT_FOUND);
    };
    await notFound({ file_by_filename: 'portplane_v1.proto' });
    await notFound({ file_containing_symbol: 'portplane.v1.NoSuchThing' });
    await notFound({ file_containing_symbol: 'portplane.v1.TransactionCommand.TRANSACTION_COMMAND_APPLY' });
    await notFound({ file_containing_extension: { containing_type: 'google.protobuf.FieldOptions', extension_number: 50000 } });
    await notFound({ all_extension_numbers_of_type: 'portplane.v1.NoSuchThing' });
    const numbers = await reflection.ask({ all_extension_numbers_of_type: 'portplane.v1.Table' });
    expect(numbers.all_extension_numbers_response).toEqual({ base_type_name: 'portplane.v1.Table', extension_number: [] });
    const echoed = await reflection.ask({ host: 'example', list_services: '*' });
    expect(echoed.valid_host).toBe('example');
    expect(echoed.original_request).toMatchObject({ host: 'example', list_services: '*' });
    reflection.close();
  });
});
