/**
 * The daemon's lifecycle: restore committed state, serve, and shut down in
 * order (health NOT_SERVING, in-flight applies finish, listeners close,
 * what is left is forced after the grace period).
 */
import { chmod, chown } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { DEFAULT_CONTROL_LIMITS, type ControlLimits } from '../auth/control-limits.js';
import { ownerOnlyPolicy, type AuthPolicy } from '../auth/policy.js';
import type { Limits } from '../config/model.js';
import { ConfigController } from '../control/config-controller.js';
import { DEFAULT_HISTORY_SIZE } from '../control/history.js';
import { Ledger } from '../control/ledger.js';
import type { RuntimeDataPlane } from '../dataplane/runtime.js';
import { logSessionCloses } from '../sessions/session-log.js';
import { DEFAULT_WATCH_BUFFER, SessionWatchHub } from '../sessions/watch-hub.js';
import { createMetricsRegistry } from '../telemetry/metrics.js';
import { setNotServing, startGrpcServer, stopGrpcServer, type GrpcServer } from './grpc-server.js';
import { startMetricsServer, type MetricsServer } from './metrics-server.js';
import { checkListenSecurity, parseListenAddress, type TlsFiles } from './transport-security.js';

export interface DaemonOptions {
  stateDir: string;
  /** `host:port`: serve gRPC over TCP instead of `<stateDir>/portplane.sock`. */
  listen?: string;
  /** Group that may use the UNIX socket too (socket 0660, state directory 0710). */
  socketGroup?: number;
  /** TLS (and mutual TLS) for the TCP listener. */
  tls?: TlsFiles;
  /** Who may call what; default: only the daemon's own uid, as admin. */
  policy?: AuthPolicy;
  /** Per-caller limits of the control plane; default DEFAULT_CONTROL_LIMITS. */
  controlLimits?: ControlLimits;
  dataplane: RuntimeDataPlane;
  limits: Limits;
  logger: Logger;
  graceMs: number;
  /** `host:port` of the Prometheus /metrics endpoint; absent: none (the CLI defaults to 127.0.0.1:9464). */
  metricsListen?: string;
  /** One info line per session close, with its totals. */
  logSessions?: boolean;
  /** Session events kept for WatchSessions resumes and slow readers (default DEFAULT_WATCH_BUFFER). */
  watchBuffer?: number;
  /** Apply history entries kept (default 50). */
  historySize?: number;
}

export const SOCKET_NAME = 'portplane.sock';

/** Node binds `::` dual-stack: as a listen address that is '' (see docs/api.md). */
function anyAsDualStack(address: string): string {
  return address === '::' ? '' : address;
}

export class Daemon {
  private stopping: Promise<void> | undefined;

  private constructor(
    readonly controller: ConfigController,
    private readonly grpc: GrpcServer,
    private readonly options: DaemonOptions,
    readonly hub: SessionWatchHub,
    private readonly metrics: MetricsServer | undefined,
  ) {}

  get address(): string {
    return this.grpc.address;
  }

  /** `host:port` of /metrics, when served. */
  get metricsAddress(): string | undefined {
    if (!this.metrics) return undefined;
    const host = this.metrics.host.includes(':') ? `[${this.metrics.host}]` : this.metrics.host;
    return `${host}:${this.metrics.port}`;
  }

  static async start(options: DaemonOptions): Promise<Daemon> {
    // First of all, before any socket is bound: a clear-text control plane never reaches the network.
    if (options.listen !== undefined) await checkListenSecurity(parseListenAddress(options.listen), options.tls);
    const ledger = new Ledger(options.stateDir, options.historySize ?? DEFAULT_HISTORY_SIZE, options.logger);
    await ledger.init();
    if (options.socketGroup !== undefined) {
      // The group must reach the socket inside; the state files themselves stay 0600.
      await chown(options.stateDir, -1, options.socketGroup);
      await chmod(options.stateDir, 0o710);
    }
    await options.dataplane.start();
    const controller = new ConfigController({
      dataplane: options.dataplane,
      ledger,
      limits: options.limits,
      logger: options.logger,
    });
    await controller.restore();
    const policy = options.policy ?? ownerOnlyPolicy(process.getuid?.() ?? 0);
    const hub = new SessionWatchHub(options.dataplane.sessionDeltas(), options.watchBuffer ?? DEFAULT_WATCH_BUFFER);
    if (options.logSessions) logSessionCloses(hub, options.logger);
    const grpc = await startGrpcServer({
      controller,
      dataplane: options.dataplane,
      hub,
      socketPath: join(options.stateDir, SOCKET_NAME),
      socketGroup: options.socketGroup,
      listen: options.listen,
      tls: options.tls,
      policy,
      controlLimits: options.controlLimits ?? DEFAULT_CONTROL_LIMITS,
      logger: options.logger,
    });
    const tcp = grpc.listener.tcp;
    // Rules may neither take the control port nor forward into it.
    if (tcp) controller.reserve([{ protocol: 'tcp', address: anyAsDualStack(tcp.address), port: tcp.port, what: "portplane's gRPC control listener" }]);
    let metrics: MetricsServer | undefined;
    if (options.metricsListen) {
      const registry = createMetricsRegistry({ telemetry: options.dataplane.telemetry(), applies: () => controller.stats(), hub });
      metrics = await startMetricsServer(
        options.metricsListen,
        { contentType: registry.registry.contentType, render: () => registry.metrics() },
        options.logger,
      ).catch(async (err: unknown) => {
        await stopGrpcServer(grpc, 0);
        throw err;
      });
      controller.reserve([{ protocol: 'tcp', address: anyAsDualStack(metrics.host), port: metrics.port, what: "portplane's Prometheus /metrics listener" }]);
    }
    options.logger.info(
      {
        address: grpc.address,
        backend: options.dataplane.name,
        stateDir: options.stateDir,
        tls: options.tls ? (options.tls.clientCa ? 'mutual' : 'server') : 'off',
        authPolicy: policy.source,
        callerIdentification: grpc.listener.identification,
        metrics: metrics ? `${metrics.host || '*'}:${metrics.port}` : 'off',
      },
      'portplane serving',
    );
    return new Daemon(controller, grpc, options, hub, metrics);
  }

  /** Idempotent: a second signal waits for the first shutdown. */
  shutdown(reason: string): Promise<void> {
    this.stopping ??= this.stop(reason);
    return this.stopping;
  }

  private async stop(reason: string): Promise<void> {
    const { logger, graceMs, dataplane } = this.options;
    logger.info({ reason, graceMs }, 'shutting down');
    setNotServing(this.grpc);
    await this.controller.drain();
    await Promise.all([stopGrpcServer(this.grpc, graceMs), dataplane.close(graceMs), this.metrics?.close()]);
    logger.info('stopped');
  }
}
