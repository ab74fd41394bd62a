/**
 * KernelDataPlane: TCP forwarding with real OS sockets, one listening socket
 * per (protocol, listen address, port) and one upstream socket per accepted
 * connection. Plans execute with socket continuity (see listener-table.ts).
 */
import { pino, type Logger } from 'pino';
import type { Capabilities } from '../capabilities.js';
import type { ConfigSink, SinkApplyOutcome, SinkApplyRequest } from '../config-sink.js';
import { RouteTable } from '../route-lookup.js';
import type { RuntimeDataPlane } from '../runtime.js';
import type { SessionDeltaSource } from '../session-deltas.js';
import type { SessionStore } from '../session-store.js';
import type { Telemetry } from '../telemetry.js';
import type { Tracer } from '../tracer.js';
import { KERNEL_BACKEND_NAME, kernelCapabilities } from './capabilities.js';
import { ListenerTable, type ConnectionFilter } from './listener-table.js';
import { KernelTracer } from './tracer.js';

export interface KernelDataPlaneOptions {
  logger?: Logger;
}

export class KernelDataPlane implements RuntimeDataPlane, ConfigSink {
  readonly name = KERNEL_BACKEND_NAME;
  private readonly logger: Logger;
  private readonly table: ListenerTable;
  private readonly kernelTracer = new KernelTracer(RouteTable.EMPTY);
  private stopped = false;

  constructor(options: KernelDataPlaneOptions = {}) {
    this.logger = options.logger ?? pino({ enabled: false });
    this.table = new ListenerTable(this.logger);
  }

  async start(): Promise<void> {
    this.logger.debug('kernel dataplane started');
  }

  async close(graceMs: number): Promise<void> {
    this.stopped = true;
    this.table.closeListeners();
    let timer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, graceMs);
    });
    await Promise.race([this.table.whenIdle(), graceOver]);
    clearTimeout(timer);
    this.table.destroyConnections();
  }

  async teardown(): Promise<void> {
    this.stopped = true;
    this.table.closeListeners();
    this.table.destroyConnections();
  }

  capabilities(): Capabilities {
    return kernelCapabilities();
  }

  configSink(): ConfigSink {
    return this;
  }

  async applyConfig(request: SinkApplyRequest): Promise<SinkApplyOutcome> {
    if (this.stopped) throw new Error('kernel dataplane is stopped');
    const outcome = await this.table.apply(request.plan, request.terminateRemoved);
    if (outcome.ok) {
      this.kernelTracer.install(RouteTable.compile(request.config, { counterIds: request.counterIds }), request.generation);
    }
    return outcome;
  }

  /** Not implemented on this backend yet: capabilities() says why. */
  sessions(): SessionStore | undefined {
    return undefined;
  }

  sessionDeltas(): SessionDeltaSource | undefined {
    return undefined;
  }

  telemetry(): Telemetry | undefined {
    return undefined;
  }

  tracer(): Tracer {
    return this.kernelTracer;
  }

  /** The fd of the listening socket for `key`, to prove a socket survived an apply. */
  listeningFd(key: string): number | undefined {
    return this.table.listeningFd(key);
  }

  /** Established connections, including those of ports already closed. */
  connectionCount(filter?: ConnectionFilter): number {
    return this.table.connectionCount(filter);
  }
}
