/**
 * Acceptance: a client that has no .proto file of portplane's builds itself
 * from the server's reflection descriptors, lists the services, and calls
 * ApplyConfig and LastApplyResult.
 */
import { createRequire } from 'node:module';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import protobuf from 'protobufjs';
import descriptor from 'protobufjs/ext/descriptor/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestDaemon, type TestDaemon } from '../helpers/in-process-daemon.js';
import { freePort, startEchoServer, type EchoServer } from '../helpers/tcp.js';

const require = createRequire(import.meta.url);
// The reflection protocol's own schema ships with @grpc/reflection, as it does inside grpcurl.
const REFLECTION_PROTO = require.resolve('@grpc/reflection/build/proto/grpc/reflection/v1/reflection.proto');

interface ReflectionResponse {
  list_services_response?: { service: { name: string }[] };
  file_descriptor_response?: { file_descriptor_proto: Buffer[] };
  error_response?: { error_code: number; error_message: string };
}

class ReflectionClient {
  private readonly stream: grpc.ClientDuplexStream<object, ReflectionResponse>;
  private readonly queue: ((r: ReflectionResponse) => void)[] = [];

  constructor(target: string) {
    const def = protoLoader.loadSync(REFLECTION_PROTO, { keepCase: true, defaults: true, oneofs: true });
    const pkg = grpc.loadPackageDefinition(def) as unknown as {
      grpc: { reflection: { v1: { ServerReflection: grpc.ServiceClientConstructor } } };
    };
    const client = new pkg.grpc.reflection.v1.ServerReflection(target, grpc.credentials.createInsecure());
    this.stream = (client as unknown as { ServerReflectionInfo(): grpc.ClientDuplexStream<object, ReflectionResponse> }).ServerReflectionInfo();
    this.stream.on('data', (r: ReflectionResponse) => this.queue.shift()?.(r));
  }

  ask(request: object): Promise<ReflectionResponse> {
    return new Promise((res) => {
      this.queue.push(res);
      this.stream.write(request);
    });
  }

  /** Every file needed for `symbol`, dependencies included, as serialized FileDescriptorProtos. */
  async filesFor(symbol: string): Promise<Map<string, Uint8Array>> {
    const files = new Map<string, Uint8Array>();
    const pending: object[] = [{ file_containing_symbol: symbol }];
    while (pending.length > 0) {
      const res = await this.ask(pending.shift() as object);
      if (res.error_response) throw new Error(res.error_response.error_message);
      for (const bytes of res.file_descriptor_response?.file_descriptor_proto ?? []) {
        const file = descriptor.FileDescriptorProto.decode(bytes) as unknown as { name: string; dependency: string[] };
        if (files.has(file.name)) continue;
        files.set(file.name, bytes);
        for (const dep of file.dependency) if (!files.has(dep)) pending.push({ file_by_filename: dep });
      }
    }
    return files;
  }

  close(): void {
    this.stream.end();
  }
}

/** FileDescriptorSet { repeated FileDescriptorProto file = 1; } */
function descriptorSet(files: Iterable<Uint8Array>): Buffer {
  const writer = protobuf.Writer.create();
  for (const f of files) writer.uint32((1 << 3) | 2).bytes(f);
  return Buffer.from(writer.finish());
}

describe('reflection-only client', () => {
  let d: TestDaemon;
  let echo: EchoServer;
  beforeAll(async () => {
    d = await startTestDaemon();
    echo = await startEchoServer();
  });
  afterAll(async () => {
    await d.stop();
    await echo.close();
  });

  it('lists services, then applies and reads the result through descriptors fetched at run time', async () => {
    const reflection = new ReflectionClient(d.target);
    const listed = await reflection.ask({ list_services: '' });
    const names = listed.list_services_response?.service.map((s) => s.name) ?? [];
    expect(names).toEqual(expect.arrayContaining(['portplane.v1.ConfigService', 'portplane.v1.TraceService', 'grpc.health.v1.Health']));

    const files = await reflection.filesFor('portplane.v1.ConfigService');
    reflection.close();
    // @grpc/reflection regroups descriptors per package, so file names are its own; what matters is that they load.
    expect(files.size).toBeGreaterThan(0);

    const def = protoLoader.loadFileDescriptorSetFromBuffer(descriptorSet(files.values()), {
      keepCase: true,
      longs: String,
      enums: String,
      defaults: true,
    });
    const pkg = grpc.loadPackageDefinition(def) as unknown as {
      portplane: { v1: { ConfigService: grpc.ServiceClientConstructor } };
    };
    const client = new pkg.portplane.v1.ConfigService(d.target, grpc.credentials.createInsecure()) as unknown as Record<
      string,
      (req: object, cb: (err: grpc.ServiceError | null, res: Record<string, unknown>) => void) => void
    >;
    const call = (method: string, req: object): Promise<Record<string, unknown>> =>
      new Promise((res, rej) => client[method]?.call(client, req, (err, out) => (err ? rej(err) : res(out))));

    const port = await freePort();
    const applied = await call('ApplyConfig', {
      tables: [
        {
          name: 'reflect',
          rules: [
            { name: 'echo', protocol: 'PROTOCOL_TCP', listen_address: '127.0.0.1', ports: { first: port }, target_address: '127.0.0.1', target_port: echo.port },
          ],
        },
      ],
    });
    const result = applied.result as { generation: string; outcome: string; rules: { ports_bound: number }[] };
    expect(result.generation).toBe('1');
    expect(result.outcome).toBe('APPLY_OUTCOME_APPLIED');
    expect(result.rules[0]?.ports_bound).toBe(1);

    const last = (await call('LastApplyResult', {})).result as { generation: string; config_digest: string };
    expect(last.generation).toBe('1');
    expect(last.config_digest).toMatch(/^[0-9a-f]{64}$/);
    (client as unknown as grpc.Client).close();
  });
});
