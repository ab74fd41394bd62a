/**
 * The gRPC server: API services, server reflection of the compiled API (so
 * grpcurl and buf curl need no .proto files) and the standard health
 * service, behind the access-control interceptor, on a listener portplane
 * accepts itself (control-listener.ts).
 */
import { X509Certificate } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { AuditLog } from '../auth/audit.js';
import { CallerQuotas } from '../auth/caller-quotas.js';
import type { ControlLimits } from '../auth/control-limits.js';
import type { AuthPolicy } from '../auth/policy.js';
import type { TableOwnership } from '../auth/table-ownership.js';
import type { ConfigController } from '../control/config-controller.js';
import type { RuntimeDataPlane } from '../dataplane/runtime.js';
import type { HANode } from '../ha/ha-node.js';
import type { SessionWatchHub } from '../sessions/watch-hub.js';
import { apiDefinition, serviceClient } from './api-definition.js';
import { ApplyResponseEncoder } from './apply-response-encoder.js';
import { ApplyRequestDecoder } from './apply-request-decoder.js';
import { authInterceptor } from './auth-interceptor.js';
import { guardRequestDecoding } from './request-decoding.js';
import { HealthService } from './health-service.js';
import { configServiceHandlers } from './config-service.js';
import { haServiceHandlers } from './ha-service.js';
import { traceServiceHandlers } from './trace-service.js';
import { listenInherited, listenTcp, listenUnix, peerOfCurrentCall, type ControlListener } from './control-listener.js';
import { addReflection } from './reflection-service.js';
import { sessionServiceHandlers } from './session-service.js';
import { telemetryServiceHandlers } from './telemetry-service.js';
import { parseListenAddress, serverCredentials, type TlsFiles } from './transport-security.js';
import { applyHistoryHandlers } from './apply-history-service.js';
import { transactionHandler } from './transaction-service.js';

export const SERVICE_NAMES = [
  'portplane.v1.ConfigService',
  'portplane.v1.SessionService',
  'portplane.v1.TelemetryService',
  'portplane.v1.TraceService',
  'portplane.v1.HAService',
];

/** Served by health-service.ts, described by proto/grpc/health/v1/health.proto (a copy of the gRPC project's proto). */
const HEALTH_SERVICE = 'grpc.health.v1.Health';
/**
 * Health name that is NOT_SERVING while the dataplane diverges from the
 * running generation (see control/divergence.ts); the daemon itself still
 * serves, and the next apply retries the diverged ports.
 */
export const DATAPLANE_HEALTH = 'portplane.dataplane';

export interface GrpcServer {
  server: grpc.Server;
  health: HealthService;
  listener: ControlListener;
  /** `unix:/path` or `host:port` as bound. */
  address: string;
}

export interface GrpcServerOptions {
  controller: ConfigController;
  /** Sessions, telemetry and Trace come from its neutral contracts. */
  dataplane: RuntimeDataPlane;
  /** The one consumer of the dataplane's session deltas. */
  hub: SessionWatchHub;
  /** UNIX socket path, used unless `listen` or `inheritedFd` is set; claimed by the caller (single-instance.ts). */
  socketPath: string;
  /** A listening socket opened by systemd (socket activation), used instead of opening one. */
  inheritedFd?: number;
  /** Group allowed on the UNIX socket (mode 0660). */
  socketGroup?: number;
  /** `host:port` for TCP instead of the socket. */
  listen?: string;
  /** TLS for the TCP listener. */
  tls?: TlsFiles;
  policy: AuthPolicy;
  controlLimits: ControlLimits;
  logger: Logger;
  /** Tables another owner (the fleet agent) holds. */
  tableOwnership?: TableOwnership;
  /** This node's HA role and sync; `heartbeatMs` paces the sync streams it serves. */
  ha: { node: HANode; heartbeatMs: number };
}

/** Tables running, pending, or named by recent history: what any response or error could mention. */
function knownTableNames(controller: ConfigController): string[] {
  const names = controller.runningTableNames();
  const pending = controller.pendingInfo();
  for (const entry of [...(pending ? [pending.entry] : []), ...controller.history()]) names.push(...(entry.planSummary?.tablesTouched ?? []));
  return names;
}

export async function startGrpcServer(options: GrpcServerOptions): Promise<GrpcServer> {
  const tcp = options.listen === undefined ? undefined : parseListenAddress(options.listen);
  if (options.tls && !tcp && options.inheritedFd === undefined) throw new Error('--tls-cert/--tls-key secure a TCP listener: add --listen host:port');
  const credentials = await serverCredentials(options.tls);

  const { controller, controlLimits } = options;
  const server = new grpc.Server({
    'grpc.max_receive_message_length': controlLimits.maxMessageBytes,
    // A Transaction stream rolls back when its client goes away; pings find a
    // peer that vanished without closing its connection (a UNIX-socket or
    // loopback peer that dies is seen at once).
    'grpc.keepalive_time_ms': 15_000,
    'grpc.keepalive_timeout_ms': 10_000,
    interceptors: [
      authInterceptor({
        policy: options.policy,
        quotas: new CallerQuotas(controlLimits),
        audit: new AuditLog(options.logger),
        generation: () => controller.runningGeneration,
        scopeContext: {
          pendingTables: (generation) => {
            const pending = controller.pendingInfo();
            return pending?.generation === generation ? (pending.entry.planSummary?.tablesTouched ?? []) : undefined;
          },
        },
        peer: peerOfCurrentCall,
        certificate: (raw) => new X509Certificate(raw),
        knownTables: () => knownTableNames(controller),
        tableOwnership: options.tableOwnership,
      }),
    ],
  });
  guardRequestDecoding(server);
  const configService = serviceClient('ConfigService').service;
  const applyDecoder = new ApplyRequestDecoder();
  server.addService(
    {
      ...configService,
      // Unchanged rules decode to the objects they decoded to before (see apply-request-decoder.ts).
      ApplyConfig: {
        ...configService.ApplyConfig,
        requestDeserialize: Object.assign((bytes: Buffer) => applyDecoder.decode(bytes), { knownFraming: applyDecoder.knownFraming }),
        // The same bytes, with the backend's capabilities encoded once (see apply-response-encoder.ts).
        responseSerialize: new ApplyResponseEncoder(apiDefinition().rpcTypes).serialize,
      },
    } as grpc.ServiceDefinition,
    {
      ...configServiceHandlers(controller, { controlLimits }),
      ...applyHistoryHandlers(controller),
      Transaction: transactionHandler(controller),
    },
  );
  const { dataplane, hub } = options;
  server.addService(serviceClient('SessionService').service, sessionServiceHandlers({ sessions: dataplane.sessions(), hub }));
  server.addService(
    serviceClient('TelemetryService').service,
    telemetryServiceHandlers({ telemetry: dataplane.telemetry(), applies: () => controller.stats(), backend: dataplane.name }),
  );
  server.addService(serviceClient('TraceService').service, traceServiceHandlers(dataplane.tracer()));
  server.addService(serviceClient('HAService').service, haServiceHandlers({ ...options.ha, hub, store: dataplane.sessions() }));
  // Reflection describes the health service too, so grpcurl can call it bare.
  addReflection(server, [...SERVICE_NAMES, HEALTH_SERVICE]);
  const health = new HealthService({ '': 'NOT_SERVING' });
  for (const name of SERVICE_NAMES) health.setStatus(name, 'NOT_SERVING');
  health.addToServer(server);

  const injector = server.createConnectionInjector(credentials);
  let listener: ControlListener;
  if (options.inheritedFd !== undefined) {
    listener = await listenInherited(options.inheritedFd, injector, options.socketGroup);
  } else if (tcp) {
    listener = await listenTcp(tcp.host, tcp.port, injector);
  } else {
    listener = await listenUnix({ path: options.socketPath, group: options.socketGroup }, injector);
  }
  health.setStatus('', 'SERVING');
  for (const name of SERVICE_NAMES) health.setStatus(name, 'SERVING');
  const dataplaneHealth = (diverged: number): void => health.setStatus(DATAPLANE_HEALTH, diverged > 0 ? 'NOT_SERVING' : 'SERVING');
  dataplaneHealth(controller.diverged().length);
  controller.watchDivergence(dataplaneHealth);
  return { server, health, listener, address: listener.address };
}

export function setNotServing(grpcServer: GrpcServer): void {
  grpcServer.health.setStatus('', 'NOT_SERVING');
  for (const name of [...SERVICE_NAMES, DATAPLANE_HEALTH]) grpcServer.health.setStatus(name, 'NOT_SERVING');
}

/** Stops accepting, lets in-flight calls finish for up to `graceMs`, then cuts the rest. */
export async function stopGrpcServer(grpcServer: GrpcServer, graceMs: number): Promise<void> {
  const closed = grpcServer.listener.close();
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      grpcServer.server.forceShutdown();
      resolve();
    }, graceMs);
    grpcServer.server.tryShutdown(() => {
      clearTimeout(timer);
      resolve();
    });
  });
  await closed;
}
