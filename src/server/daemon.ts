/**
 * The daemon's lifecycle: restore committed state, serve, and shut down in
 * order (health NOT_SERVING, in-flight applies finish, listeners close,
 * what is left is forced after the grace period).
 */
import { chmod, chown } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { DEFAULT_CONTROL_LIMITS, type ControlLimits } from '../auth/control-limits.js';
import { ownerOnlyPolicy, type AuthPolicy } from '../auth/policy.js';
import type { Limits } from '../config/model.js';
import { ConfigController } from '../control/config-controller.js';
import { DEFAULT_HISTORY_SIZE } from '../control/history.js';
import { Ledger } from '../control/ledger.js';
import type { HARole } from '../dataplane/ha-controller.js';
import type { RuntimeDataPlane } from '../dataplane/runtime.js';
import { DaemonFleet, type FleetOptions } from '../fleet/daemon-fleet.js';
import { HANode } from '../ha/ha-node.js';
import { SessionReplica } from '../ha/session-replica.js';
import { SyncFollower } from '../ha/sync-follower.js';
import { logSessionCloses } from '../sessions/session-log.js';
import { DEFAULT_WATCH_BUFFER, SessionWatchHub } from '../sessions/watch-hub.js';
import { setNotServing, startGrpcServer, stopGrpcServer, type GrpcServer } from './grpc-server.js';
import { haPeerConnect, type HAPeerOptions } from './ha-peer.js';
import { startMetricsServer, type MetricsServer } from './metrics-server.js';
import { checkTcpAddressFree, claimSocketPath } from './single-instance.js';
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
  /** An HA pair: this node's starting role and the peer it follows while standby (see docs/ha.md). */
  ha?: HAOptions;
  /** A listening control socket systemd opened (socket activation), served instead of opening one. */
  inheritedFd?: number;
  /** More fields for the startup line (how to stop, version). */
  summary?: Record<string, unknown>;
  /** Follow this node's desired tables in etcd (docs/fleet.md). */
  fleet?: FleetOptions;
}

export interface HAOptions {
  /** Default: standby when a peer is given (keepalived makes one active), else active. */
  initialRole?: HARole;
  peer?: HAPeerOptions;
  /** This node's name in the peer's status and logs (default: the host name). */
  node?: string;
  /** Heartbeat interval of the sync streams (default DEFAULT_HA_HEARTBEAT_MS). */
  heartbeatMs?: number;
}

/** Often enough that a dead or one-way link shows within a second, cheap enough to ignore (one small message). */
export const DEFAULT_HA_HEARTBEAT_MS = 200;

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
    private readonly fleet: DaemonFleet | undefined,
    readonly ha: HANode,
    private readonly closeHaPeer: () => void,
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
    // One daemon per state directory, known before anything is touched or restored.
    if (options.inheritedFd === undefined) {
      if (options.listen !== undefined) {
        const { host, port } = parseListenAddress(options.listen);
        await checkTcpAddressFree(host, port);
      } else {
        await claimSocketPath(join(options.stateDir, SOCKET_NAME));
      }
    }
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
    const fleet = options.fleet && new DaemonFleet(options.fleet, options.logger);
    const hub = new SessionWatchHub(options.dataplane.sessionDeltas(), options.watchBuffer ?? DEFAULT_WATCH_BUFFER);
    if (options.logSessions) logSessionCloses(hub, options.logger);
    const ha = Daemon.haNode(options);
    const haHeartbeatMs = options.ha?.heartbeatMs ?? DEFAULT_HA_HEARTBEAT_MS;
    const grpc = await startGrpcServer({
      controller,
      dataplane: options.dataplane,
      hub,
      socketPath: join(options.stateDir, SOCKET_NAME),
      inheritedFd: options.inheritedFd,
      socketGroup: options.socketGroup,
      listen: options.listen,
      tls: options.tls,
      policy,
      controlLimits: options.controlLimits ?? DEFAULT_CONTROL_LIMITS,
      logger: options.logger,
      tableOwnership: fleet?.ownership,
      ha: { node: ha.node, heartbeatMs: haHeartbeatMs },
    });
    const tcp = grpc.listener.tcp;
    // Rules may neither take the control port nor forward into it.
    if (tcp) controller.reserve([{ protocol: 'tcp', address: anyAsDualStack(tcp.address), port: tcp.port, what: "portplane's gRPC control listener" }]);
    let metrics: MetricsServer | undefined;
    if (options.metricsListen) {
      // Loaded only when served: prom-client is no part of a start (or restore) without /metrics.
      const [{ createMetricsRegistry }, { registerHaMetrics }] = await Promise.all([import('../telemetry/metrics.js'), import('../ha/ha-metrics.js')]);
      const registry = createMetricsRegistry({
        telemetry: options.dataplane.telemetry(),
        applies: () => controller.stats(),
        backend: options.dataplane.name,
        hub,
        conditions: options.dataplane.conditions && (() => controller.conditions()),
      });
      registerHaMetrics(registry.registry, ha.node);
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
        ...options.summary,
      },
      'portplane serving',
    );
    await fleet?.start(controller, options.stateDir);
    return new Daemon(controller, grpc, options, hub, metrics, fleet, ha.node, ha.close);
  }

  /** The HA role of this node, following the configured peer while standby. */
  private static haNode(options: DaemonOptions): { node: HANode; close: () => void } {
    const { dataplane, logger } = options;
    const config = options.ha ?? {};
    const controller = dataplane.haController?.();
    const unsupportedReason = controller
      ? undefined
      : (dataplane.capabilities().unsupported.find((u) => u.feature === 'session_import')?.reason ?? `the ${dataplane.name} backend cannot import sessions`);
    if (config.peer && !controller) throw new Error(`--ha-peer needs a backend that can import sessions: ${unsupportedReason}`);
    const peer = config.peer ? haPeerConnect(config.peer) : undefined;
    const follower =
      peer && config.peer
        ? new SyncFollower({
            replica: new SessionReplica(dataplane.sessionDeltas(), dataplane.sessions()),
            connect: peer.connect,
            peer: config.peer.address,
            node: config.node ?? hostname(),
            heartbeatMs: config.heartbeatMs ?? DEFAULT_HA_HEARTBEAT_MS,
            logger,
          })
        : undefined;
    const node = new HANode({
      initialRole: config.initialRole ?? (config.peer ? 'standby' : 'active'),
      controller,
      ...(unsupportedReason !== undefined && { unsupportedReason }),
      ...(follower && { follower }),
      logger,
    });
    return {
      node,
      close: () => {
        node.close();
        peer?.close();
      },
    };
  }

  /** Idempotent: a second signal waits for the first shutdown. */
  shutdown(reason: string): Promise<void> {
    this.stopping ??= this.stop(reason);
    return this.stopping;
  }

  private async stop(reason: string): Promise<void> {
    const { logger, graceMs, dataplane } = this.options;
    logger.info({ reason, graceMs }, 'shutting down: waiting for in-flight applies');
    setNotServing(this.grpc);
    await this.fleet?.stop();
    this.closeHaPeer();
    await this.controller.drain();
    const sessions = dataplane.telemetry().global().sessionsActive;
    logger.info({ sessions, graceMs }, `closing listeners; waiting up to ${graceMs} ms for open gRPC calls and ${sessions} sessions`);
    await Promise.all([stopGrpcServer(this.grpc, graceMs), dataplane.close(graceMs), this.metrics?.close()]);
    logger.info('stopped');
  }
}
