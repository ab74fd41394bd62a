/**
 * UserspaceDataPlane: the packet backend. Packets come from a PacketPort
 * (memory, pcap or TUN), go through the engine and leave through the same
 * port. An apply compiles the tables and swaps them in; it cannot fail on a
 * port, because there are no sockets (see capabilities.ts).
 */
import { pino, type Logger } from 'pino';
import type { Capabilities } from '../capabilities.js';
import type { ConfigSink, SinkApplyOutcome, SinkApplyRequest } from '../config-sink.js';
import type { HAController, HARole } from '../ha-controller.js';
import { RouteTable } from '../route-lookup.js';
import type { RuntimeDataPlane } from '../runtime.js';
import type { SessionDeltaSource } from '../session-deltas.js';
import type { SessionStore } from '../session-store.js';
import { sessionDeltaSource } from '../session-sync.js';
import type { Telemetry } from '../telemetry.js';
import type { TraceRequest, TraceResult, Tracer } from '../tracer.js';
import { USERSPACE_BACKEND_NAME, userspaceCapabilities } from './capabilities.js';
import { Engine, type EngineOptions } from './engine.js';
import { MemoryPort } from './ports/memory-port.js';
import type { PacketPort } from './ports/packet-port.js';

export interface UserspaceDataPlaneOptions extends EngineOptions {
  logger?: Logger;
  /** Default: a MemoryPort (nothing arrives unless injected). */
  port?: PacketPort;
  /** Milliseconds; injectable so tests can drive timeouts. Default Date.now. */
  clock?: () => number;
  /** How often idle sessions are collected; 0 disables the timer (callers run collect()). Default 1000. */
  gcIntervalMs?: number;
}

export class UserspaceDataPlane implements RuntimeDataPlane, ConfigSink, Tracer, HAController {
  readonly name = USERSPACE_BACKEND_NAME;
  readonly engine: Engine;
  readonly port: PacketPort;
  private readonly logger: Logger;
  private readonly clock: () => number;
  private gcTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  private role: HARole = 'active';
  private readonly deltas: SessionDeltaSource;

  constructor(private readonly options: UserspaceDataPlaneOptions = {}) {
    this.logger = options.logger ?? pino({ enabled: false });
    this.engine = new Engine(options);
    this.port = options.port ?? new MemoryPort();
    this.clock = options.clock ?? Date.now;
    const table = this.engine.sessions;
    const engine = this.engine;
    this.deltas = sessionDeltaSource(
      table.deltas,
      table,
      (entries, importOptions) => table.importInto(entries, engine.routes, (rule) => engine.countersOf(rule), engine.configGeneration, importOptions),
      (flow) => table.findFlow(flow),
    );
  }

  async start(): Promise<void> {
    this.stopped = false;
    this.engine.draining = false;
    this.engine.sessions.deltas.restart();
    await this.port.open((packet, length) => {
      if (this.engine.process(packet, length, this.clock()) === 0) this.port.transmit(packet, length);
    });
    const interval = this.options.gcIntervalMs ?? 1000;
    if (interval > 0) {
      this.gcTimer = setInterval(() => this.collect(), interval);
      this.gcTimer.unref();
    }
    this.logger.info({ port: this.port.name }, 'userspace dataplane started');
  }

  /** Removes sessions idle past their timeout; the GC timer calls it. A standby keeps them: the active ends them. */
  collect(): number {
    if (this.role === 'standby') return 0;
    return this.engine.collect(this.clock());
  }

  setRole(role: HARole): void {
    if (role === this.role) return;
    this.role = role;
    this.engine.standby = role === 'standby';
    if (role === 'active') this.engine.sessions.touchAll(this.clock());
    this.logger.info({ role }, 'userspace dataplane HA role');
  }

  haController(): HAController {
    return this;
  }

  /** New flows are refused at once; established ones continue for up to `graceMs`, then every session is closed. */
  async close(graceMs: number): Promise<void> {
    if (this.stopped) return;
    this.engine.draining = true;
    const deadline = Date.now() + graceMs;
    while (this.engine.sessions.count() > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, Math.min(100, Math.max(1, deadline - Date.now()))));
      this.collect();
    }
    await this.teardown();
  }

  async teardown(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.gcTimer);
    this.engine.sessions.clear('shutdown');
    await this.port.close();
  }

  capabilities(): Capabilities {
    return userspaceCapabilities();
  }

  configSink(): ConfigSink {
    return this;
  }

  sessions(): SessionStore {
    return this.engine.sessions;
  }

  sessionDeltas(): SessionDeltaSource {
    return this.deltas;
  }

  telemetry(): Telemetry {
    return this.engine;
  }

  tracer(): Tracer {
    return this;
  }

  trace(request: TraceRequest): TraceResult {
    return this.engine.trace(request, this.clock());
  }

  /** Compile, then swap: the plan's port operations need no execution here, only closes with terminateRemoved. */
  async applyConfig(request: SinkApplyRequest): Promise<SinkApplyOutcome> {
    if (this.stopped) throw new Error('userspace dataplane is stopped');
    const routes = RouteTable.compile(request.config, { counterIds: request.counterIds, previous: this.engine.routes, now: this.clock() });
    this.engine.install(routes, request.generation);
    this.engine.reevaluateFilters(request.plan);
    if (request.terminateRemoved) {
      const closed = new Set(request.plan.ports.filter((p) => p.action === 'close').map((p) => p.key));
      if (closed.size > 0) this.engine.terminate(closed);
    }
    return { ok: true, failures: [] };
  }
}
