/**
 * The gRPC server: API services, server reflection (so grpcurl needs no
 * .proto files) and the standard health service.
 */
import { chmod, unlink } from 'node:fs/promises';
import { connect } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { ReflectionService } from '@grpc/reflection';
import * as protoLoader from '@grpc/proto-loader';
import { HealthImplementation, protoPath as healthProtoPath } from 'grpc-health-check';
import type { ConfigController } from '../control/config-controller.js';
import { apiDefinition, serviceClient } from './api-definition.js';
import { applyHistoryHandlers } from './apply-history-service.js';
import { configServiceHandlers } from './config-service.js';
import { transactionHandler } from './transaction-service.js';

export const SERVICE_NAMES = ['portplane.v1.ConfigService'];

export interface GrpcServer {
  server: grpc.Server;
  health: HealthImplementation;
  /** `unix:/path` or `host:port` as bound. */
  address: string;
}

export interface GrpcServerOptions {
  controller: ConfigController;
  /** UNIX socket path, used unless `listen` is set. */
  socketPath: string;
  /** `host:port` for TCP instead of the socket. */
  listen?: string;
}

export async function startGrpcServer(options: GrpcServerOptions): Promise<GrpcServer> {
  const server = new grpc.Server({
    'grpc.max_receive_message_length': 16 * 1024 * 1024,
    // A Transaction stream rolls back when its client goes away; pings find a
    // peer that vanished without closing its connection (a UNIX-socket or
    // loopback peer that dies is seen at once).
    'grpc.keepalive_time_ms': 15_000,
    'grpc.keepalive_timeout_ms': 10_000,
  });
  server.addService(serviceClient('ConfigService').service, {
    ...configServiceHandlers(options.controller),
    ...applyHistoryHandlers(options.controller),
    Transaction: transactionHandler(options.controller),
  });
  // Reflection describes the health service too, so grpcurl can call it bare.
  const healthDefinition = protoLoader.loadSync(healthProtoPath, { keepCase: true });
  new ReflectionService({ ...apiDefinition().packageDefinition, ...healthDefinition }).addToServer(server);
  const health = new HealthImplementation({ '': 'NOT_SERVING' });
  for (const name of SERVICE_NAMES) health.setStatus(name, 'NOT_SERVING');
  health.addToServer(server);

  let address: string;
  if (options.listen) {
    const port = await bind(server, options.listen);
    address = options.listen.replace(/:\d+$/, `:${port}`);
  } else {
    await claimSocketPath(options.socketPath);
    // The socket is created with the umask's mode; narrow it before anyone can connect.
    const previous = process.umask(0o177);
    try {
      await bind(server, `unix:${options.socketPath}`);
    } finally {
      process.umask(previous);
    }
    await chmod(options.socketPath, 0o600);
    address = `unix:${options.socketPath}`;
  }
  health.setStatus('', 'SERVING');
  for (const name of SERVICE_NAMES) health.setStatus(name, 'SERVING');
  return { server, health, address };
}

function bind(server: grpc.Server, target: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.bindAsync(target, grpc.ServerCredentials.createInsecure(), (err, port) =>
      err ? reject(new Error(`cannot listen on ${target}: ${err.message}`, { cause: err })) : resolve(port),
    );
  });
}

/** Removes a stale socket file, but never one a live daemon still answers on. */
async function claimSocketPath(path: string): Promise<void> {
  const alive = await new Promise<boolean>((resolve) => {
    const probe = connect(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
  if (alive) throw new Error(`another portplane daemon is already serving on ${path}`);
  await unlink(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
  });
}

export function setNotServing(grpcServer: GrpcServer): void {
  grpcServer.health.setStatus('', 'NOT_SERVING');
  for (const name of SERVICE_NAMES) grpcServer.health.setStatus(name, 'NOT_SERVING');
}

/** Lets in-flight calls finish for up to `graceMs`, then cuts the rest. */
export function stopGrpcServer(grpcServer: GrpcServer, graceMs: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      grpcServer.server.forceShutdown();
      resolve();
    }, graceMs);
    grpcServer.server.tryShutdown(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}
