/**
 * KernelDataPlane: TCP and UDP forwarding with real OS sockets, one listening
 * socket per (protocol, listen address, port), one upstream socket per TCP
 * connection or UDP flow. Plans execute with socket continuity (see
 * listener-table.ts); sessions and counters are exposed through the neutral
 * SessionStore, SessionDeltaSource and Telemetry contracts.
 */
import { pino, type Logger } from 'pino';
import type { Capabilities } from '../capabilities.js';
import type { SessionEffects } from '../apply-result.js';
import type { ConfigSink, SinkApplyOutcome, SinkApplyRequest } from '../config-sink.js';
import type { SettleOutcome } from '../session-endings.js';
import { ruleFloodCounters } from '../flood-tracker.js';
import type { RuntimeDataPlane } from '../runtime.js';
import type { SessionDeltaSource } from '../session-deltas.js';
import type { SessionStore } from '../session-store.js';
import { sessionDeltaSource } from '../session-sync.js';
import type { RuleCounters, RuleFloodCounters, Telemetry, TrafficCounters } from '../telemetry.js';
import type { Tracer } from '../tracer.js';
import { KERNEL_BACKEND_NAME, kernelCapabilities, KERNEL_IMPORT_UNSUPPORTED } from './capabilities.js';
import { ListenerTable, type ConnectionFilter } from './listener-table.js';
import { KernelSessions } from './sessions.js';
import { setRelayThreads } from './splice-engine.js';
import { KernelTracer } from './tracer.js';

export interface KernelDataPlaneOptions {
  logger?: Logger;
  /** Threads of the native TCP engine, if it is not running yet (default: one per core). */
  relayThreads?: number;
}

function copyCounters<T extends TrafficCounters>(counters: T): T {
  return { ...counters, drops: { ...counters.drops } };
}

export class KernelDataPlane implements RuntimeDataPlane, ConfigSink, Telemetry {
  readonly name = KERNEL_BACKEND_NAME;
  private readonly logger: Logger;
  private readonly store: KernelSessions;
  private readonly table: ListenerTable;
  private readonly kernelTracer: KernelTracer;
  private readonly deltas: SessionDeltaSource;
  private stopped = false;

  constructor(options: KernelDataPlaneOptions = {}) {
    this.logger = options.logger ?? pino({ enabled: false });
    if (options.relayThreads !== undefined) setRelayThreads(options.relayThreads);
    this.store = new KernelSessions(this.logger, () => this.table.catchUp());
    this.table = new ListenerTable(this.logger, this.store);
    this.kernelTracer = new KernelTracer(this.table, this.store);
    this.deltas = sessionDeltaSource(this.store.deltaQueue(), this.store, (entries) => ({
      imported: 0,
      rejected: entries.map((_, index) => ({ index, reason: KERNEL_IMPORT_UNSUPPORTED })),
    }));
  }

  async start(): Promise<void> {
    this.store.deltas.restart();
    this.logger.debug('kernel dataplane started');
  }

  async close(graceMs: number): Promise<void> {
    this.stopped = true;
    this.table.closeListeners();
    let timer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, graceMs);
    });
    await Promise.race([this.store.whenIdle(), graceOver]);
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

  sessions(): SessionStore {
    return this.store;
  }

  sessionDeltas(): SessionDeltaSource {
    return this.deltas;
  }

  telemetry(): Telemetry {
    return this;
  }

  global(): TrafficCounters {
    this.store.refreshCounters();
    return copyCounters(this.store.global);
  }

  /** Counters of every committed rule, under its current counter id. */
  rules(): RuleCounters[] {
    this.store.refreshCounters();
    return [...this.table.ruleRuntimes()].map((rule) => copyCounters(rule.counters));
  }

  generation(): number {
    return this.store.generation;
  }

  flood(topSources: number): RuleFloodCounters[] {
    this.store.refreshCounters();
    return [...this.table.ruleRuntimes()].map((rule) => ruleFloodCounters(rule.counters, rule.floods, topSources));
  }

  async applyConfig(request: SinkApplyRequest): Promise<SinkApplyOutcome> {
    if (this.stopped) throw new Error('kernel dataplane is stopped');
    const outcome = await this.table.apply(request);
    if (outcome.outcome === 'committed') this.kernelTracer.install(request.generation);
    return outcome;
  }

  settle(generation: number, outcome: SettleOutcome): SessionEffects {
    return this.table.settle(generation, outcome);
  }

  tracer(): Tracer {
    return this.kernelTracer;
  }

  /** The fd of the listening socket for `key`, to prove a socket survived an apply. */
  listeningFd(key: string): number | undefined {
    return this.table.listeningFd(key);
  }

  /** Open sessions, including those of ports already closed. */
  connectionCount(filter?: ConnectionFilter): number {
    this.table.catchUp();
    return this.table.connectionCount(filter);
  }
}
