/**
 * The controller: the one entry to configuration changes. It is a facade
 * over three parts, and adds what they share:
 *
 * - the apply pipeline (apply-pipeline.ts): validate, plan, execute, save,
 *   publish; restore at start; RollbackTo;
 * - the pending-apply state machine (pending-applies.ts): an apply with a
 *   confirm timeout or a Transaction stream's APPLY takes effect at once and
 *   stays pending until confirm(); cancel(), its timeout, its stream ending
 *   or a restart roll it back;
 * - the ledger (ledger.ts): journal, snapshot and history behind one commit.
 *
 * Here: the serial queue (one apply, confirmation or rollback at a time),
 * shutdown, and the queries (GetConfig, LastApplyResult, history, stats)
 * over the running record (running-state.ts).
 */
import { configDigest } from '../config/canonical.js';
import type { Limits, Table } from '../config/model.js';
import type { ReservedEndpoint } from '../config/self-protection.js';
import type { ApplyResult, DivergedPort } from '../dataplane/apply-result.js';
import type { Capabilities } from '../dataplane/capabilities.js';
import type { DataplaneCondition } from '../dataplane/conditions.js';
import { ApplyContext, type ApplyContextOptions } from './apply-context.js';
import type { ApplyEvents, PendingInfo } from './apply-events.js';
import { ApplyPipeline, type ApplyRequest, type ApplyResponse } from './apply-pipeline.js';
import type { ApplyStatsSnapshot } from './apply-stats.js';
import { NoResultError, ShuttingDownError } from './errors.js';
import type { HistoryEntry } from './history.js';
import { PendingApplies, type CancelOptions, type RollbackResponse } from './pending-applies.js';
import { SerialQueue } from './serial-queue.js';

export type { ApplyRequest, ApplyResponse } from './apply-pipeline.js';
export type { RollbackResponse } from './pending-applies.js';

export interface RunningConfig {
  generation: number;
  tables: Table[];
  digest: string;
  pending?: PendingInfo;
  /** Ports the running generation says listen and that do not (see divergence.ts). */
  diverged: DivergedPort[];
}

export type ConfigControllerOptions = ApplyContextOptions;

export class ConfigController {
  private readonly queue = new SerialQueue();
  private closing = false;
  private readonly ctx: ApplyContext;
  private readonly pendings: PendingApplies;
  private readonly pipeline: ApplyPipeline;

  constructor(options: ConfigControllerOptions) {
    const ctx = new ApplyContext(options);
    this.ctx = ctx;
    this.pendings = new PendingApplies(ctx, (task) => this.enqueue(task));
    this.pipeline = new ApplyPipeline(ctx, this.pendings);
  }

  /** Every apply, confirmation and rollback, as it happens. */
  get events(): ApplyEvents {
    return this.ctx.events;
  }

  /** Ports the running generation says listen and that do not. */
  diverged(): DivergedPort[] {
    return this.ctx.divergence.list();
  }

  /** Calls `fn` with the number of diverged ports whenever it changes. */
  watchDivergence(fn: (count: number) => void): void {
    this.ctx.divergence.watch(fn);
  }

  /** The daemon's own listening sockets, which rules may neither take nor forward into. */
  reserve(endpoints: ReservedEndpoint[]): void {
    this.ctx.reserved = [...this.ctx.reserved, ...endpoints];
  }

  /** Apply outcomes and bind errors since the daemon started, for telemetry. */
  stats(): ApplyStatsSnapshot {
    return this.ctx.stats.snapshot();
  }

  /** The running (committed) generation. */
  get runningGeneration(): number {
    return this.ctx.running.generation;
  }

  get limits(): Limits {
    return { ...this.ctx.limits };
  }

  capabilities(): Capabilities {
    return this.ctx.capabilities();
  }

  /** The dataplane's conditions now (none where the backend has none). */
  conditions(): DataplaneCondition[] {
    return this.ctx.dataplane.conditions?.() ?? [];
  }

  /** Loads the committed state and re-opens its listeners (see ApplyPipeline.restore). */
  async restore(): Promise<void> {
    await this.queue.run(() => this.pipeline.restore());
  }

  /** The last apply's result with the status of every running rule. */
  lastApplyResult(): ApplyResult {
    const { running } = this.ctx;
    if (!running.lastResult) throw new NoResultError();
    return this.ctx.reported(running.wholeResult(running.lastResult));
  }

  /**
   * GetConfig a page at a time: whole tables from index `from`, as many as
   * fit `maxRules` rules, at least one; `next` is where the next page starts.
   */
  getConfigPage(from: number, maxRules: number): RunningConfig & { next?: number } {
    const tables = this.ctx.running.config.tables;
    let end = from;
    for (let rules = 0; end < tables.length; end++) {
      rules += (tables[end] as Table).rules.length;
      if (rules > maxRules && end > from) break;
    }
    return { ...this.getConfig(tables.slice(from, end)), ...(end < tables.length && { next: end }) };
  }

  /** The running configuration; `tables` narrows the copy to some of its tables (see getConfigPage). */
  getConfig(tables: readonly Table[] = this.ctx.running.config.tables): RunningConfig {
    const pending = this.pendings.info();
    return {
      generation: this.ctx.running.generation,
      tables: structuredClone(tables as Table[]),
      digest: configDigest(this.ctx.running.config),
      ...(pending && { pending }),
      diverged: this.ctx.divergence.list(),
    };
  }

  /** Names of the running tables: GetConfig without copying or digesting them. */
  runningTableNames(): string[] {
    return this.ctx.running.config.tables.map((t) => t.name);
  }

  /** What is pending confirmation, if anything. */
  pendingInfo(): PendingInfo | undefined {
    return this.pendings.info();
  }

  /** History entries, newest first. */
  history(limit = 0): HistoryEntry[] {
    return this.ctx.history.list(limit);
  }

  get historyCapacity(): number {
    return this.ctx.history.capacity;
  }

  /**
   * Stops accepting applies and waits for the ones in flight. A pending
   * apply stays pending on disk: the next start rolls it back.
   */
  async drain(): Promise<void> {
    this.closing = true;
    this.pendings.disarm();
    await this.queue.idle();
    this.pendings.disarm();
    // Rejected attempts and compaction run in the background; finish them.
    await this.ctx.flushHistory();
    await this.ctx.ledger.close({ compact: true });
    // Watchers and transaction streams end now instead of holding the server open.
    this.ctx.events.close();
  }

  apply(request: ApplyRequest): Promise<ApplyResponse> {
    return this.enqueue(() => this.pipeline.run(request, { trigger: 'apply' }));
  }

  /** A Transaction stream's APPLY: pending until that stream commits (see confirm()). */
  applyInTransaction(request: ApplyRequest, transactionId: string): Promise<ApplyResponse> {
    return this.enqueue(() => this.pipeline.run(request, { trigger: 'transaction', transactionId }));
  }

  /**
   * Confirms the pending apply of `generation`. Confirming the running,
   * already confirmed generation again succeeds (a retried call).
   */
  confirm(generation: number, transactionId?: string): Promise<ApplyResult> {
    return this.enqueue(() => this.pendings.confirm(generation, transactionId));
  }

  /** Rolls back the pending apply of `generation` now. */
  cancel(generation: number, options: CancelOptions = {}): Promise<RollbackResponse> {
    return this.enqueue(() => this.pendings.cancel(generation, options));
  }

  /**
   * Re-applies the configuration a committed history entry ran, whole
   * (replace_all), as a new generation; its digest equals the entry's.
   */
  rollbackTo(generation: number, request: Omit<ApplyRequest, 'tables' | 'replaceAll' | 'validateOnly'>): Promise<ApplyResponse> {
    return this.enqueue(() => this.pipeline.rollbackTo(generation, request));
  }

  private enqueue<T>(task: () => Promise<T>): Promise<T> {
    if (this.closing) return Promise.reject(new ShuttingDownError());
    return this.queue.run(() => {
      if (this.closing) throw new ShuttingDownError();
      return task();
    });
  }
}
