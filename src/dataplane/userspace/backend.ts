/**
 * UserspaceDataPlane: the packet backend. Packets come from a PacketPort
 * (memory, pcap or TUN), go through the engine and leave through the same
 * port. An apply compiles the tables and swaps them in; it cannot fail on a
 * port, because there are no sockets (see capabilities.ts).
 */
import { pino, type Logger } from 'pino';
import type { Capabilities } from '../capabilities.js';
import type { SessionEffects } from '../apply-result.js';
import type { ConfigSink, SinkApplyOutcome, SinkApplyRequest } from '../config-sink.js';
import { noSessionEffects, SessionEndings, type SettleOutcome } from '../session-endings.js';
import type { HAController, HARole } from '../ha-controller.js';
import { RouteTable } from '../route-lookup.js';
import type { RuntimeDataPlane } from '../runtime.js';
import type { SessionDeltaSource } from '../session-deltas.js';
import type { SessionStore } from '../session-store.js';
import { sessionDeltaSource } from '../session-sync.js';
import type { PacketDropReason, Telemetry } from '../telemetry.js';
import type { TraceRequest, TraceResult, Tracer } from '../tracer.js';
import { USERSPACE_BACKEND_NAME, userspaceCapabilities } from './capabilities.js';
import { Engine, type EngineOptions } from './engine.js';
import { NativeFastPath, nativeFastPathSupport } from './native-fast-path.js';
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
  /** false: every packet takes the JavaScript path even where the native fast path could run (default: it runs where it can). */
  nativeFastPath?: boolean;
}

/** At most one log line per drop reason in this long, with the count since the last one. */
const DROP_LOG_INTERVAL_MS = 10_000;

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
  /** Sessions applies end (terminate_removed, filter refusals), held until each apply is settled. */
  private readonly endings = new SessionEndings<number>((ids, reason) => this.engine.endSessions(ids, reason));
  /** The native fast path, when the TUN addon loads and PORTPLANE_USERSPACE_NATIVE is not 0. */
  readonly fastPath: NativeFastPath | undefined;
  private readonly loggedDrops = new Map<PacketDropReason, { count: number; at: number }>();

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
    const native = nativeFastPathSupport();
    if (native.available && options.nativeFastPath !== false) {
      this.fastPath = new NativeFastPath(native.addon, this.clock);
      table.attachNative(this.fastPath);
    }
    const port = this.port;
    engine.portDrops = () => port.drops?.() ?? {};
  }

  async start(): Promise<void> {
    this.stopped = false;
    this.engine.draining = false;
    this.engine.sessions.deltas.restart();
    const fastPath = this.fastPath;
    if (fastPath && this.port.openNative) {
      await this.port.openNative((packet, length, partial, gsoSize) => this.engine.process(packet, length, this.clock(), partial, gsoSize) === 0, fastPath);
    } else {
      await this.port.open((packet, length) => {
        const now = this.clock();
        if ((fastPath?.forward(packet, length, now) ?? false) || this.engine.process(packet, length, now) === 0) this.port.transmit(packet, length);
      });
    }
    const interval = this.options.gcIntervalMs ?? 1000;
    if (interval > 0) {
      this.gcTimer = setInterval(() => {
        this.collect();
        this.logDrops();
      }, interval);
      this.gcTimer.unref();
    }
    const native = nativeFastPathSupport();
    this.logger.info(
      { port: this.port.name, path: this.path(), offloads: this.port.offloads ?? '', queues: this.port.queues ?? 1, ...(native.available ? {} : { nativeUnavailable: native.reason }) },
      'userspace dataplane started',
    );
  }

  /** Which code moves packets: the native loop (TUN), the native fast path before the engine (other ports), or JavaScript alone. */
  path(): 'native_loop' | 'native_fast_path' | 'javascript' {
    if (!this.fastPath) return 'javascript';
    return this.port.openNative ? 'native_loop' : 'native_fast_path';
  }

  /** One warning per drop reason that grew, at most every DROP_LOG_INTERVAL_MS, with how many since the last. */
  private logDrops(): void {
    const now = Date.now();
    for (const [reason, count] of Object.entries(this.engine.packetDrops()) as [PacketDropReason, number][]) {
      const last = this.loggedDrops.get(reason) ?? { count: 0, at: 0 };
      if (count <= last.count || now - last.at < DROP_LOG_INTERVAL_MS) continue;
      this.logger.warn({ reason, dropped: count - last.count, total: count }, 'userspace backend dropped packets');
      this.loggedDrops.set(reason, { count, at: now });
    }
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
    this.endings.clear();
    this.engine.sessions.clear('shutdown');
    await this.port.close();
  }

  capabilities(): Capabilities {
    return userspaceCapabilities(this.fastPath !== undefined, this.port.offloads);
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

  /**
   * Compile, then swap: the plan's port operations need no execution here.
   * A TERMINATE drain ends the sessions of closed ports (no drain_policy
   * here: that is all of it), and filter refusals end sessions, once settled.
   */
  async applyConfig(request: SinkApplyRequest): Promise<SinkApplyOutcome> {
    if (this.stopped) throw new Error('userspace dataplane is stopped');
    const routes = RouteTable.compile(request.config, { counterIds: request.counterIds, previous: this.engine.routes, now: this.clock() });
    this.engine.install(routes, request.generation);
    for (const id of this.engine.filterRefusals(request.plan)) this.endings.hold(request.generation, id, 'filter');
    if (request.drain?.mode === 'terminate') {
      const closed = new Set(request.plan.ports.filter((p) => p.action === 'close').map((p) => p.key));
      if (closed.size > 0) for (const id of this.engine.sessionsOf(closed)) this.endings.hold(request.generation, id, 'terminate');
    }
    return { outcome: 'committed', failures: [], diverged: [], sessionEffects: { ...noSessionEffects(), held: this.endings.heldBy(request.generation) } };
  }

  settle(generation: number, outcome: SettleOutcome): SessionEffects {
    return this.endings.settle(generation, outcome);
  }
}
