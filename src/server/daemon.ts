/**
 * The daemon's lifecycle: restore committed state, serve, and shut down in
 * order (health NOT_SERVING, in-flight applies finish, listeners close,
 * what is left is forced after the grace period).
 */
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Limits } from '../config/model.js';
import { ConfigController } from '../control/config-controller.js';
import { DEFAULT_HISTORY_SIZE, HistoryStore } from '../control/history.js';
import { StateStore } from '../control/state-store.js';
import type { RuntimeDataPlane } from '../dataplane/runtime.js';
import { setNotServing, startGrpcServer, stopGrpcServer, type GrpcServer } from './grpc-server.js';

export interface DaemonOptions {
  stateDir: string;
  /** `host:port`: serve gRPC over TCP instead of `<stateDir>/portplane.sock`. */
  listen?: string;
  dataplane: RuntimeDataPlane;
  limits: Limits;
  logger: Logger;
  graceMs: number;
  /** Apply history entries kept (default 50). */
  historySize?: number;
}

export const SOCKET_NAME = 'portplane.sock';

export class Daemon {
  private stopping: Promise<void> | undefined;

  private constructor(
    readonly controller: ConfigController,
    private readonly grpc: GrpcServer,
    private readonly options: DaemonOptions,
  ) {}

  get address(): string {
    return this.grpc.address;
  }

  static async start(options: DaemonOptions): Promise<Daemon> {
    const store = new StateStore(options.stateDir);
    await store.init();
    const history = new HistoryStore(options.stateDir, options.historySize ?? DEFAULT_HISTORY_SIZE, options.logger);
    await history.init();
    await options.dataplane.start();
    const controller = new ConfigController({
      dataplane: options.dataplane,
      store,
      history,
      limits: options.limits,
      logger: options.logger,
    });
    await controller.restore();
    const grpc = await startGrpcServer({
      controller,
      socketPath: join(options.stateDir, SOCKET_NAME),
      listen: options.listen,
    });
    options.logger.info(
      { address: grpc.address, backend: options.dataplane.name, stateDir: options.stateDir, pid: process.pid },
      'portplane serving',
    );
    return new Daemon(controller, grpc, options);
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
    await Promise.all([stopGrpcServer(this.grpc, graceMs), dataplane.close(graceMs)]);
    logger.info('stopped');
  }
}
