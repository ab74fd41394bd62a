/**
 * The apply transaction. One apply at a time: validate (no side effects),
 * compare-and-swap on the generation, plan against the running tables, let
 * the backend execute the plan (it commits all, restores all, or says which
 * ports diverged), persist, and only then publish the new generation and
 * result. A divergence (divergence.ts) is reported until an apply repairs it.
 *
 * An apply with a confirm timeout (or a Transaction stream's APPLY) takes
 * effect at once but stays pending until confirm(); cancel(), its timeout,
 * its stream ending or a restart roll it back: the confirmed tables are
 * re-applied, with the same socket continuity, as the next generation.
 */
import { networkInterfaces } from 'node:os';
import type { Logger } from 'pino';
import { configDigest } from '../config/canonical.js';
import type { DrainPolicy, ForwardingConfig, Limits, Table, Violation } from '../config/model.js';
import { normalizeConfig } from '../config/normalize.js';
import type { ReservedEndpoint } from '../config/self-protection.js';
import { validateConfig, validateRequestDrain } from '../config/validate.js';
import { validateTableDeletes } from '../config/validate-deletes.js';
import { copyApplyResult, type ApplyResult, type DivergedPort, type RuleStatus } from '../dataplane/apply-result.js';
import { addSessionEffects } from '../dataplane/session-endings.js';
import { failedRuleIds } from '../dataplane/bind-verdict.js';
import type { Capabilities } from '../dataplane/capabilities.js';
import type { PortBindFailure } from '../dataplane/config-sink.js';
import type { DataplaneCondition } from '../dataplane/conditions.js';
import type { RuntimeDataPlane } from '../dataplane/runtime.js';
import { computePlan } from '../plan/compute-plan.js';
import { fallbackRuleLabel, requestRuleLabels } from './rule-labels.js';
import { ruleId } from '../plan/identity.js';
import { listenerKey } from '../plan/listeners.js';
import type { Plan } from '../plan/model.js';
import { ApplyEvents, type ApplyEvent, type PendingInfo } from './apply-events.js';
import {
  BindFailedError,
  GenerationMismatchError,
  InvalidConfigError,
  LimitExceededError,
  NoResultError,
  NotSavedError,
  ShuttingDownError,
  type UndoOutcome,
} from './errors.js';
import { ApplyStats, type ApplyStatsSnapshot } from './apply-stats.js';
import { Divergence } from './divergence.js';
import { INTERNAL_CALLER, type CallerIdentity } from './caller.js';
import type { HistoryEntry, HistoryStore, HistoryTrigger } from './history.js';
import type { Ledger } from './ledger.js';
import { PendingApply } from './pending-apply.js';
import {
  ApplyPendingError,
  NotPendingError,
  PendingOwnedByTransactionError,
  RollbackTargetError,
} from './pending-errors.js';
import { assignCounters, counterIdsOf, ruleStatuses, touchedStatuses, type CounterTable } from './rule-status.js';
import { SerialQueue } from './serial-queue.js';
import type { CommittedState, ConfigState } from './state-store.js';

export interface ApplyRequest {
  /** Parsed tables in request order (not normalised). */
  tables: Table[];
  /** Violations found while parsing the wire form. */
  parseViolations?: Violation[];
  replaceAll?: boolean;
  /** Running tables this apply removes, by name (validated: each runs and is not in `tables`). */
  deleteTables?: string[];
  expectedGeneration?: number;
  validateOnly?: boolean;
  terminateRemoved?: boolean;
  /**
   * Drain policy for every rule this apply removes or retargets, overriding
   * the rules' own; absent: each rule's own. `terminateRemoved` is the same
   * as `{mode: 'terminate'}`.
   */
  drain?: DrainPolicy;
  /** Who asked; recorded, never used for decisions here. */
  caller?: CallerIdentity;
  /** Keep the apply pending until confirm(); roll it back after this many ms. */
  confirmTimeoutMs?: number;
  /** Free text recorded in the history entry. */
  comment?: string;
}

export interface ApplyResponse {
  result: ApplyResult;
  plan: Plan;
  /** Set when the apply awaits confirmation. */
  pending?: PendingInfo;
}

export interface RollbackResponse {
  /** The result of the generation that restored the confirmed tables. */
  result: ApplyResult;
  /** The pending entry, now rolled back. */
  rolledBack: HistoryEntry;
  /** The entry of the restoring generation. */
  restored: HistoryEntry;
}

export interface RunningConfig {
  generation: number;
  tables: Table[];
  digest: string;
  pending?: PendingInfo;
  /** Ports the running generation says listen and that do not (see divergence.ts). */
  diverged: DivergedPort[];
}

export interface ConfigControllerOptions {
  dataplane: RuntimeDataPlane;
  /** State snapshot, journal, tables and history: where commits become durable. */
  ledger: Ledger;
  limits: Limits;
  logger: Logger;
}

/** How an apply came to be, for its history entry and its pending state. */
interface ApplyMode {
  trigger: HistoryTrigger;
  /** Owner of a pending apply started by a Transaction stream. */
  transactionId?: string;
  /** rollback_to: the generation whose tables are re-applied. */
  restoredGeneration?: number;
}

const EMPTY: ForwardingConfig = { tables: [] };

export class ConfigController {
  /** Every apply, confirmation and rollback, as it happens. */
  readonly events = new ApplyEvents();
  private readonly queue = new SerialQueue();
  private running: ForwardingConfig = EMPTY;
  private generation = 0;
  private counters: CounterTable = { nextCounterId: 1, counters: {} };
  /** The last apply's result as its caller got it: scoped to what it touched. */
  private lastResult: ApplyResult | undefined;
  /** Status of every running rule, by rule id: what LastApplyResult lists. */
  private statuses = new Map<string, RuleStatus>();
  private closing = false;
  private reserved: ReservedEndpoint[] = [];
  private readonly applyStats = new ApplyStats();
  /** The last confirmed configuration, as saved; what a rollback restores. */
  private confirmed: { config: ForwardingConfig; state: ConfigState } = {
    config: EMPTY,
    state: { generation: 0, tables: [], nextCounterId: 1, counters: {} },
  };
  private pending: PendingApply | undefined;
  private readonly divergence = new Divergence();

  constructor(private readonly options: ConfigControllerOptions) {
    this.divergence.watch((count) => {
      this.applyStats.diverged(count);
      if (count > 0) {
        this.options.logger.error(
          { generation: this.generation, diverged: this.divergence.list().slice(0, 20), count },
          'the dataplane diverged from the running generation: these ports should listen and do not; the next apply retries them',
        );
      } else {
        this.options.logger.info({ generation: this.generation }, 'the dataplane runs the running generation again');
      }
    });
  }

  /** Ports the running generation says listen and that do not. */
  diverged(): DivergedPort[] {
    return this.divergence.list();
  }

  /** Calls `fn` with the number of diverged ports whenever it changes. */
  watchDivergence(fn: (count: number) => void): void {
    this.divergence.watch(fn);
  }

  private get ledger(): Ledger {
    return this.options.ledger;
  }

  private get historyStore(): HistoryStore {
    return this.options.ledger.history;
  }

  /** The daemon's own listening sockets, which rules may neither take nor forward into. */
  reserve(endpoints: ReservedEndpoint[]): void {
    this.reserved = [...this.reserved, ...endpoints];
  }

  /** Apply outcomes and bind errors since the daemon started, for telemetry. */
  stats(): ApplyStatsSnapshot {
    return this.applyStats.snapshot();
  }

  /** The running (committed) generation. */
  get runningGeneration(): number {
    return this.generation;
  }

  get limits(): Limits {
    return { ...this.options.limits };
  }

  capabilities(): Capabilities {
    return structuredClone(this.options.dataplane.capabilities());
  }

  /** The dataplane's conditions now (none where the backend has none). */
  conditions(): DataplaneCondition[] {
    return this.options.dataplane.conditions?.() ?? [];
  }

  /**
   * Loads the committed state and re-opens its listeners. A port that can
   * no longer bind is logged and reported, but the committed tables are kept
   * as they are: losing a commit is worse than running degraded. An apply
   * that was pending when the daemon stopped is rolled back: only the
   * confirmed tables are re-opened, and their restore commits as the next
   * generation.
   */
  async restore(): Promise<void> {
    await this.queue.run(async () => {
      const history = this.historyStore;
      const { state, journaled } = await this.ledger.load();
      history.reconcile({
        confirmed: state?.entry,
        pending: state?.pending?.entry,
        confirmedGeneration: state?.generation ?? 0,
        journaled,
      });
      if (!state) {
        await this.flushHistory();
        return;
      }
      const { pending, ...confirmedState } = state;
      const config = normalizeConfig({ tables: state.tables });
      const plan = computePlan(EMPTY, config, state.generation);
      const sink = this.options.dataplane.configSink();
      const outcome = await sink.applyConfig({
        generation: state.generation,
        config,
        plan,
        terminateRemoved: false,
        counterIds: counterIdsOf({ nextCounterId: state.nextCounterId, counters: state.counters }),
        bestEffort: true,
      });
      // From nothing, nothing ends; settled so that every apply is.
      sink.settle(state.generation, 'committed');
      this.divergence.add(strictFailures(plan, outcome.failures));
      this.running = config;
      this.generation = state.generation;
      this.counters = { nextCounterId: state.nextCounterId, counters: state.counters };
      this.lastResult = state.lastResult;
      // What binds now, not what bound before the restart.
      const statuses = ruleStatuses(config, this.counters, outcome.failures);
      this.statuses = new Map(statuses.map((r) => [r.ruleId, r]));
      this.applyStats.bindFailures(outcome.failures.length);
      // The running configuration was committed then, not never: dashboards keep its age across restarts.
      if (state.lastResult) this.applyStats.committed(state.lastResult.appliedAt, state.lastResult.durationMicros);
      this.confirmed = { config, state: confirmedState };
      history.ensureSnapshot(configDigest(config), config.tables);
      const log = { generation: state.generation, digest: configDigest(config), failures: outcome.failures.length };
      if (outcome.failures.length > 0) {
        this.options.logger.error(
          { ...log, failed: outcome.failures.slice(0, 20) },
          'restored committed tables, but some ports could not bind',
        );
      } else {
        this.options.logger.info(log, 'restored committed tables');
      }
      if (pending) {
        // Fail-safe: the pending tables never re-open. Generations only move
        // forward, so the restore commits after the pending one.
        this.generation = pending.generation;
        this.counters = { nextCounterId: pending.nextCounterId, counters: pending.counters };
        this.pending = new PendingApply(pending, pending.entry.baseGeneration);
        await this.rollbackNow('the daemon restarted while it was pending', undefined, false);
      } else {
        await this.flushHistory();
        // The history has the journaled entries now: fold the journal into one snapshot.
        await this.ledger.compact();
      }
    });
  }

  /** The last apply's result with the status of every running rule. */
  lastApplyResult(): ApplyResult {
    if (!this.lastResult) throw new NoResultError();
    return this.reported(this.wholeResult(this.lastResult));
  }

  /** A copy of `result` for a caller, with the ports diverged now. */
  private reported(result: ApplyResult): ApplyResult {
    const copy = copyApplyResult(result);
    if (this.divergence.size > 0) copy.diverged = this.divergence.list();
    else delete copy.diverged;
    return copy;
  }

  /** `result` with `rules` holding every running rule's status, in configuration order. */
  private wholeResult(result: ApplyResult): ApplyResult {
    const rules: RuleStatus[] = [];
    for (const table of this.running.tables) {
      for (const rule of table.rules) {
        const status = this.statuses.get(ruleId(table.name, rule));
        if (status) rules.push(status);
      }
    }
    return { ...result, rules, rulesUntouched: 0 };
  }

  /** Takes the statuses of the rules `plan` touched into the running set. */
  private trackStatuses(plan: Plan, touched: readonly RuleStatus[]): void {
    for (const change of plan.rules) if (change.action === 'removed') this.statuses.delete(change.ruleId);
    for (const status of touched) this.statuses.set(status.ruleId, status);
  }

  /**
   * GetConfig a page at a time: whole tables from index `from`, as many as
   * fit `maxRules` rules, at least one; `next` is where the next page starts.
   */
  getConfigPage(from: number, maxRules: number): RunningConfig & { next?: number } {
    const tables = this.running.tables;
    let end = from;
    for (let rules = 0; end < tables.length; end++) {
      rules += (tables[end] as Table).rules.length;
      if (rules > maxRules && end > from) break;
    }
    return { ...this.getConfig(tables.slice(from, end)), ...(end < tables.length && { next: end }) };
  }

  /** The running configuration; `tables` narrows the copy to some of its tables (see getConfigPage). */
  getConfig(tables: readonly Table[] = this.running.tables): RunningConfig {
    return {
      generation: this.generation,
      tables: structuredClone(tables as Table[]),
      digest: configDigest(this.running),
      ...(this.pending && { pending: this.pending.info() }),
      diverged: this.divergence.list(),
    };
  }

  /** Names of the running tables: GetConfig without copying or digesting them. */
  runningTableNames(): string[] {
    return this.running.tables.map((t) => t.name);
  }

  /** What is pending confirmation, if anything. */
  pendingInfo(): PendingInfo | undefined {
    return this.pending?.info();
  }

  /** History entries, newest first. */
  history(limit = 0): HistoryEntry[] {
    return this.historyStore.list(limit);
  }

  get historyCapacity(): number {
    return this.historyStore.capacity;
  }

  /**
   * Stops accepting applies and waits for the ones in flight. A pending
   * apply stays pending on disk: the next start rolls it back.
   */
  async drain(): Promise<void> {
    this.closing = true;
    this.pending?.disarm();
    await this.queue.idle();
    this.pending?.disarm();
    // Rejected attempts and compaction run in the background; finish them.
    await this.flushHistory();
    await this.ledger.close();
    // Watchers and transaction streams end now instead of holding the server open.
    this.events.close();
  }

  apply(request: ApplyRequest): Promise<ApplyResponse> {
    return this.enqueue(() => this.recorded(request, { trigger: 'apply' }));
  }

  /** A Transaction stream's APPLY: pending until that stream commits (see confirm()). */
  applyInTransaction(request: ApplyRequest, transactionId: string): Promise<ApplyResponse> {
    return this.enqueue(() => this.recorded(request, { trigger: 'transaction', transactionId }));
  }

  /**
   * Confirms the pending apply of `generation`. Confirming the running,
   * already confirmed generation again succeeds (a retried call).
   */
  confirm(generation: number, transactionId?: string): Promise<ApplyResult> {
    return this.enqueue(async () => {
      const pending = this.pending;
      if (!pending || pending.generation !== generation) {
        if (!pending && generation === this.generation && this.lastResult && generation > 0) return this.reported(this.lastResult);
        throw this.notPending(generation);
      }
      if (pending.transactionId !== undefined && pending.transactionId !== transactionId) {
        throw new PendingOwnedByTransactionError(generation);
      }
      if (pending.expired()) {
        await this.rollbackNow('its confirm timeout passed', undefined, false);
        throw new NotPendingError(generation, undefined, 'its confirm timeout passed, so it was rolled back');
      }
      const history = this.historyStore;
      const result: ApplyResult = { ...copyApplyResult(this.lastResult as ApplyResult), outcome: 'applied' };
      const entryPatch = { outcome: 'committed' as const, resolvedAt: Date.now() };
      const entry = history.update(pending.entry.seq, entryPatch) ?? { ...pending.entry, ...entryPatch };
      const state = pending.confirmedState(entry, result);
      try {
        await Promise.all([this.ledger.snapshot(state), this.flushHistory()]);
      } catch (err) {
        history.update(pending.entry.seq, { outcome: 'pending', resolvedAt: undefined });
        history.flushLater();
        throw new Error(`confirm of generation ${generation} not saved to ${this.ledger.path}; it is still pending: ${(err as Error).message}`, {
          cause: err,
        });
      }
      pending.disarm();
      this.pending = undefined;
      // Confirmed: the sessions the apply ends end now (drain deadlines count from the apply).
      result.sessionEffects = this.options.dataplane.configSink().settle(generation, 'committed');
      this.confirmed = { config: this.running, state };
      this.lastResult = result;
      this.options.logger.info({ generation, digest: result.configDigest }, 'pending apply confirmed');
      this.publish({ kind: 'confirmed', entry, result });
      return this.reported(result);
    });
  }

  /** Rolls back the pending apply of `generation` now. */
  cancel(generation: number, options: { reason?: string; caller?: CallerIdentity; terminateRemoved?: boolean } = {}): Promise<RollbackResponse> {
    return this.enqueue(async () => {
      if (!this.pending || this.pending.generation !== generation) throw this.notPending(generation);
      return this.rollbackNow(options.reason ?? 'cancelled', options.caller, options.terminateRemoved ?? false);
    });
  }

  /**
   * Re-applies the configuration a committed history entry ran, whole
   * (replace_all), as a new generation; its digest equals the entry's.
   */
  rollbackTo(generation: number, request: Omit<ApplyRequest, 'tables' | 'replaceAll' | 'validateOnly'>): Promise<ApplyResponse> {
    return this.enqueue(async () => {
      const entry = this.historyStore.find(generation);
      if (!entry) throw new RollbackTargetError(generation, `the history (its last ${this.historyCapacity} committed configurations) holds no such generation`, false);
      if (entry.outcome !== 'committed') {
        throw new RollbackTargetError(generation, `it was ${entry.outcome.replace('_', ' ')}, and only committed configurations are restored`, true);
      }
      const tables = await this.historyStore.tables(entry.configDigest);
      return this.recorded({ ...request, tables, replaceAll: true }, { trigger: 'rollback_to', restoredGeneration: generation });
    });
  }

  private enqueue<T>(task: () => Promise<T>): Promise<T> {
    if (this.closing) return Promise.reject(new ShuttingDownError());
    return this.queue.run(() => {
      if (this.closing) throw new ShuttingDownError();
      return task();
    });
  }

  /** Runs an apply and records a refused one in the history. */
  private async recorded(request: ApplyRequest, mode: ApplyMode): Promise<ApplyResponse> {
    try {
      const response = await this.applyNow(request, mode);
      if (!request.validateOnly) this.applyStats.succeeded();
      return response;
    } catch (err) {
      if (!request.validateOnly) {
        if (!(err instanceof ShuttingDownError)) this.applyStats.failed();
        this.recordRefused(request, mode, err);
      }
      throw err;
    }
  }

  private recordRefused(request: ApplyRequest, mode: ApplyMode, err: unknown): void {
    // A shutdown is no attempt; an unsaved apply already has its entry.
    if (err instanceof ShuttingDownError || err instanceof NotSavedError) return;
    const refused = err instanceof InvalidConfigError || err instanceof GenerationMismatchError || err instanceof ApplyPendingError;
    // Only validated tables have a digest worth recording.
    const validated = err instanceof GenerationMismatchError || err instanceof BindFailedError;
    const desired = validated ? this.desiredConfig(request) : undefined;
    const entry = this.historyStore.record({
      generation: 0,
      baseGeneration: this.generation,
      configDigest: desired ? configDigest(desired) : '',
      time: Date.now(),
      outcome: refused ? 'rejected' : 'failed',
      trigger: mode.trigger,
      ...(request.caller && { caller: request.caller }),
      comment: request.comment ?? '',
      detail: err instanceof Error ? err.message : String(err),
      ...(mode.restoredGeneration !== undefined && { restoredGeneration: mode.restoredGeneration }),
    });
    this.historyStore.flushLater();
    this.publish({ kind: refused ? 'rejected' : 'failed', entry });
  }

  private desiredConfig(request: ApplyRequest): ForwardingConfig {
    return normalizeConfig({ tables: [...this.otherTables(request), ...request.tables] }, this.running);
  }

  /** Running tables that stay in force beside the request's: not named, not deleted, not dropped by replace_all. */
  private otherTables(request: ApplyRequest): Table[] {
    if (request.replaceAll) return [];
    const gone = new Set([...request.tables.map((t) => t.name), ...(request.deleteTables ?? [])]);
    return this.running.tables.filter((t) => !gone.has(t.name));
  }

  private async applyNow(request: ApplyRequest, mode: ApplyMode): Promise<ApplyResponse> {
    if (this.pending && !request.validateOnly) {
      throw new ApplyPendingError(this.pending.generation, this.pending.deadline, this.pending.transactionId ? 'transaction' : 'confirm');
    }
    const started = process.hrtime.bigint();
    const otherTables = this.otherTables(request);
    const violations = [
      ...(request.parseViolations ?? []),
      ...validateTableDeletes(request.deleteTables ?? [], request.tables, this.running.tables),
      ...validateConfig({
        requestTables: request.tables,
        otherTables,
        limits: this.options.limits,
        capabilities: this.options.dataplane.capabilities(),
        reserved: this.reserved,
        localAddresses: hostAddresses(),
        running: this.running.tables,
      }),
      ...validateRequestDrain(request.drain, request.terminateRemoved ?? false, this.options.dataplane.capabilities()),
    ];
    if (violations.some((v) => v.limit)) throw new LimitExceededError(violations);
    if (violations.length > 0) throw new InvalidConfigError(violations);
    if (request.expectedGeneration !== undefined && request.expectedGeneration !== this.generation) {
      throw new GenerationMismatchError(request.expectedGeneration, this.generation);
    }

    const desired = normalizeConfig({ tables: [...otherTables, ...request.tables] }, this.running);
    const plan = computePlan(this.running, desired, this.generation, { valid: true });
    const elapsed = (): number => Number((process.hrtime.bigint() - started) / 1000n);

    if (plan.empty && !request.validateOnly && this.divergence.size > 0) await this.repair(plan);
    if (request.validateOnly || plan.empty) {
      const counters = assignCounters(desired, this.counters, this.running);
      const rules = touchedStatuses(plan, counters, []);
      const result: ApplyResult = {
        generation: this.generation,
        configDigest: configDigest(desired),
        appliedAt: plan.empty && this.lastResult ? this.lastResult.appliedAt : Date.now(),
        durationMicros: elapsed(),
        backend: this.options.dataplane.name,
        capabilities: this.capabilities(),
        rules,
        rulesUntouched: ruleCount(desired) - rules.length,
        planSummary: plan.summary,
        outcome: request.validateOnly ? 'validated' : 'unchanged',
      };
      return { result: this.reported(result), plan };
    }

    const nextGeneration = this.generation + 1;
    const sink = this.options.dataplane.configSink();
    const counters = assignCounters(desired, this.counters, this.running);
    const drain: DrainPolicy | undefined =
      request.drain ?? (request.terminateRemoved ? { mode: 'terminate', timeoutMs: 0 } : undefined);
    // Ports that diverged earlier and that the desired tables keep are opened again.
    const repairs = this.divergence.repairs(desired, plan);
    const executed = repairs.length > 0 ? { ...plan, ports: [...plan.ports, ...repairs] } : plan;
    const outcome = await sink.applyConfig({
      generation: nextGeneration,
      config: desired,
      plan: executed,
      terminateRemoved: drain?.mode === 'terminate',
      ...(drain && { drain }),
      counterIds: counterIdsOf(counters),
    });
    this.applyStats.bindFailures(outcome.failures.length);
    if (outcome.outcome !== 'committed') {
      this.divergence.add(outcome.diverged);
      const failedIds = new Set(failedRuleIds(plan, outcome.failures));
      const labels = requestRuleLabels(request.tables, new Set(outcome.failures.map((f) => f.ruleId)));
      const failedRules = touchedStatuses(plan, counters, outcome.failures, failedIds)
        .filter((r) => failedIds.has(r.ruleId))
        .map((r) => ({ table: r.table, name: r.name, ruleId: r.ruleId, label: labels.get(r.ruleId) ?? fallbackRuleLabel(r.table, r.name, r.ruleId) }));
      this.options.logger.warn(
        { generation: this.generation, failures: outcome.failures.length, failedRules, durationMicros: elapsed() },
        'apply rolled back on bind errors',
      );
      for (const f of outcome.failures) if (!labels.has(f.ruleId)) labels.set(f.ruleId, fallbackRuleLabel(f.table, '', f.ruleId));
      throw new BindFailedError(outcome.failures, failedRules, labels, { outcome: outcome.outcome, diverged: outcome.diverged });
    }
    this.divergence.settle(executed.ports, outcome.failures);

    const pendingUntil = request.confirmTimeoutMs ? Date.now() + request.confirmTimeoutMs : undefined;
    const goesPending = pendingUntil !== undefined || mode.transactionId !== undefined;
    const touched = touchedStatuses(plan, counters, outcome.failures);
    const result: ApplyResult = {
      generation: nextGeneration,
      configDigest: configDigest(desired),
      appliedAt: Date.now(),
      durationMicros: 0,
      backend: this.options.dataplane.name,
      capabilities: this.capabilities(),
      rules: touched,
      rulesUntouched: ruleCount(desired) - touched.length,
      planSummary: plan.summary,
      outcome: goesPending ? 'pending' : 'applied',
    };
    const entry = this.historyStore.record(
      {
        generation: nextGeneration,
        baseGeneration: this.generation,
        configDigest: result.configDigest,
        time: result.appliedAt,
        ...(pendingUntil !== undefined && { confirmDeadline: pendingUntil }),
        outcome: goesPending ? 'pending' : 'committed',
        trigger: mode.trigger,
        ...(request.caller && { caller: request.caller }),
        comment: request.comment ?? '',
        detail: '',
        ...(mode.restoredGeneration !== undefined && { restoredGeneration: mode.restoredGeneration }),
        planSummary: plan.summary,
      },
      desired.tables,
    );
    const applied: ConfigState = {
      generation: nextGeneration,
      tables: desired.tables,
      nextCounterId: counters.nextCounterId,
      counters: counters.counters,
      lastResult: result,
      entry,
    };
    const pending = goesPending
      ? new PendingApply({ ...applied, entry, ...(pendingUntil !== undefined && { deadline: pendingUntil }) }, this.generation, mode.transactionId)
      : undefined;
    // A pending apply is saved beside the confirmed state, which a restart restores.
    const state: CommittedState = pending ? { ...this.confirmed.state, pending: pending.state } : applied;
    try {
      result.durationMicros = elapsed();
      if (pending) {
        await Promise.all([this.ledger.snapshot(state), this.flushHistory()]);
      } else {
        // The journal record holds the history entry; the ledger's compaction writes the history.
        await this.ledger.commit(state);
      }
    } catch (err) {
      // Not durable means not committed: put the dataplane back as it was.
      // The sessions the apply would have ended continue: its endings were held.
      const undo = await this.undo(desired, nextGeneration);
      sink.settle(nextGeneration, 'undone');
      const error = new NotSavedError(this.ledger.path, err, undo);
      this.historyStore.update(entry.seq, { outcome: 'failed', generation: 0, detail: error.message });
      this.historyStore.flushLater();
      throw error;
    }
    this.running = desired;
    this.generation = nextGeneration;
    this.counters = counters;
    this.trackStatuses(plan, touched);
    this.applyStats.committed(result.appliedAt, result.durationMicros);
    if (pending) {
      // Its endings wait for the confirmation: a rollback restores those sessions.
      result.sessionEffects = outcome.sessionEffects;
      this.pending = pending;
      pending.arm(() => this.expire(nextGeneration));
    } else {
      result.sessionEffects = addSessionEffects(outcome.sessionEffects, sink.settle(nextGeneration, 'committed'));
      this.confirmed = { config: desired, state: applied };
    }
    this.lastResult = copyApplyResult(result);
    this.options.logger.info(
      {
        generation: nextGeneration,
        digest: result.configDigest,
        tables: desired.tables.length,
        rules: result.rules.length,
        ...plan.summary,
        degradedPorts: outcome.failures.length,
        durationMicros: result.durationMicros,
        caller: request.caller?.id,
        ...(pending && { pendingUntil, transaction: pending.transactionId !== undefined }),
      },
      pending ? 'apply pending confirmation' : 'apply committed',
    );
    const pendingInfo = pending?.info();
    this.publish({ kind: pending ? 'pending' : 'applied', entry, result, ...(pendingInfo && { pending: pendingInfo }) });
    return { result: this.reported(result), plan, ...(pendingInfo && { pending: pendingInfo }) };
  }

  /**
   * Puts the dataplane back to the running generation after an apply of
   * `desired` that could not be saved. Every port binds what it can: a
   * port the apply closed and someone took meanwhile stays closed and is
   * reported as diverged, not hidden behind a strict undo that gives up.
   */
  private async undo(desired: ForwardingConfig, appliedGeneration: number): Promise<UndoOutcome> {
    const reverse = computePlan(desired, this.running, appliedGeneration);
    let lost: PortBindFailure[];
    try {
      const outcome = await this.options.dataplane.configSink().applyConfig({
        generation: this.generation,
        config: this.running,
        plan: reverse,
        terminateRemoved: false,
        counterIds: counterIdsOf(this.counters),
        bestEffort: true,
      });
      this.options.dataplane.configSink().settle(this.generation, 'committed');
      lost = [...outcome.failures, ...outcome.diverged];
    } catch (err) {
      // What runs is unknown: every port the undo had to open or move counts.
      lost = reverse.ports.flatMap((p) =>
        p.action === 'close' || !p.route
          ? []
          : [{ protocol: p.protocol, listenAddress: p.listenAddress, port: p.port, table: p.route.table, ruleId: p.route.ruleId, errno: 'EUNDO', message: `undo failed: ${(err as Error).message}` }],
      );
    }
    this.divergence.add(lost);
    return lost.length > 0 ? { outcome: 'diverged', diverged: lost } : { outcome: 'restored', diverged: [] };
  }

  /** An unchanged apply while ports diverge: the dataplane tries to open them again; the record stays. */
  private async repair(plan: Plan): Promise<void> {
    const ports = this.divergence.repairs(this.running, plan);
    const outcome = await this.options.dataplane.configSink().applyConfig({
      generation: this.generation,
      config: this.running,
      plan: { ...plan, ports },
      terminateRemoved: false,
      counterIds: counterIdsOf(this.counters),
    });
    // Opens only: nothing to end, settled so that every apply is.
    this.options.dataplane.configSink().settle(this.generation, 'committed');
    this.divergence.settle(ports, outcome.failures);
  }

  /** The confirm timeout of `generation` passed. */
  private expire(generation: number): void {
    this.enqueue(async () => {
      if (this.pending?.generation !== generation) return;
      const timeoutMs = (this.pending.deadline ?? 0) - this.pending.entry.time;
      await this.rollbackNow(`no confirmation within its confirm timeout of ${timeoutMs} ms`, undefined, false);
    }).catch((err: unknown) => {
      if (!(err instanceof ShuttingDownError)) this.options.logger.error({ err, generation }, 'automatic rollback failed');
    });
  }

  /**
   * Undoes the pending apply: the confirmed tables are applied over it (a
   * port both keep keeps its socket) as the next generation. Every port
   * binds what it can: a rollback must not be refused.
   */
  private async rollbackNow(reason: string, caller: CallerIdentity | undefined, terminateRemoved: boolean): Promise<RollbackResponse> {
    const pending = this.pending as PendingApply;
    const started = process.hrtime.bigint();
    const { config } = this.confirmed;
    const nextGeneration = this.generation + 1;
    const plan = computePlan(this.running, config, this.generation, { valid: true });
    const counters = assignCounters(config, this.counters, this.running);
    const executed = { ...plan, ports: [...plan.ports, ...this.divergence.repairs(config, plan)] };
    const sink = this.options.dataplane.configSink();
    const outcome = await sink.applyConfig({
      generation: nextGeneration,
      config,
      plan: executed,
      terminateRemoved,
      counterIds: counterIdsOf(counters),
      bestEffort: true,
    });
    this.divergence.settle(executed.ports, outcome.failures);
    this.divergence.add(strictFailures(plan, outcome.failures));
    // A rollback is never refused, so its own endings (terminate_removed) take
    // effect now; the undone apply's are dropped: those sessions continue.
    const sessionEffects = [sink.settle(nextGeneration, 'committed'), sink.settle(pending.generation, 'undone')].reduce(
      addSessionEffects,
      outcome.sessionEffects,
    );
    const now = Date.now();
    const result: ApplyResult = {
      generation: nextGeneration,
      configDigest: configDigest(config),
      appliedAt: now,
      durationMicros: Number((process.hrtime.bigint() - started) / 1000n),
      backend: this.options.dataplane.name,
      capabilities: this.capabilities(),
      rules: ruleStatuses(config, counters, outcome.failures),
      rulesUntouched: 0,
      planSummary: plan.summary,
      outcome: 'applied',
      sessionEffects,
    };
    const history = this.historyStore;
    const rolledBackPatch = { outcome: 'rolled_back' as const, resolvedAt: now, detail: `rolled back: ${reason}` };
    const rolledBack = history.update(pending.entry.seq, rolledBackPatch) ?? { ...pending.entry, ...rolledBackPatch };
    const restoredGeneration = this.confirmed.state.generation;
    const restored = history.record(
      {
        generation: nextGeneration,
        baseGeneration: this.generation,
        configDigest: result.configDigest,
        time: now,
        outcome: 'committed',
        trigger: 'rollback',
        // Timeouts and restarts are the daemon's own doing.
        caller: caller ?? INTERNAL_CALLER,
        comment: '',
        detail:
          `restored generation ${restoredGeneration} after rolling back generation ${pending.generation}: ${reason}` +
          (sessionEffects.restored > 0 ? `; ${sessionEffects.restored} session(s) it would have ended continue` : ''),
        restoredGeneration,
        rolledBackGeneration: pending.generation,
        planSummary: plan.summary,
      },
      config.tables,
    );
    const state: ConfigState = {
      generation: nextGeneration,
      tables: config.tables,
      nextCounterId: counters.nextCounterId,
      counters: counters.counters,
      lastResult: result,
      entry: restored,
    };
    try {
      await Promise.all([this.ledger.snapshot(state), this.flushHistory()]);
    } catch (err) {
      // state.json still holds the pending apply beside the same confirmed
      // tables, so a restart rolls back to exactly what now runs.
      this.options.logger.error({ err, generation: nextGeneration }, 'rollback done but not saved');
    }
    pending.disarm();
    this.pending = undefined;
    this.running = config;
    this.generation = nextGeneration;
    this.counters = counters;
    this.lastResult = copyApplyResult(result);
    this.statuses = new Map(result.rules.map((r) => [r.ruleId, r]));
    this.confirmed = { config, state };
    const log = { rolledBack: pending.generation, generation: nextGeneration, reason, failures: outcome.failures.length };
    if (outcome.failures.length > 0) this.options.logger.error({ ...log, failed: outcome.failures.slice(0, 20) }, 'rolled back, but some ports could not bind');
    else this.options.logger.warn(log, 'pending apply rolled back');
    this.publish({ kind: 'rolled_back', entry: rolledBack, restored, result });
    return { result: this.reported(result), rolledBack, restored };
  }

  private notPending(generation: number): NotPendingError {
    const pendingGeneration = this.pending?.generation;
    const entry = this.historyStore.find(generation);
    const why =
      pendingGeneration !== undefined
        ? `generation ${pendingGeneration} is the pending one`
        : entry?.outcome === 'rolled_back'
          ? entry.detail
          : entry?.outcome === 'committed'
            ? `it was committed; the running generation is ${this.generation}`
            : `nothing is pending; the running generation is ${this.generation}`;
    return new NotPendingError(generation, pendingGeneration, why);
  }

  /** History writes never fail an apply: state.json alone decides what is committed. */
  private async flushHistory(): Promise<void> {
    await this.historyStore.flush().catch((err: unknown) => this.options.logger.error({ err }, 'apply history not written'));
  }

  /** `result` defaults to the one in force. */
  private publish(event: ApplyEvent): void {
    if (this.events.size === 0) return;
    this.events.publish({ ...event, ...(!event.result && this.lastResult && { result: this.lastResult }) });
  }
}

function ruleCount(config: ForwardingConfig): number {
  return config.tables.reduce((n, t) => n + t.rules.length, 0);
}

/** This host's interface addresses now (they change; loop checks read them per apply). */
function hostAddresses(): string[] {
  return Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((i) => i.address));
}

/**
 * Failures of ports whose rule is strict in `plan`: the record says they
 * listen. A weak rule's port may fail by its contract.
 */
function strictFailures(plan: Plan, failures: readonly PortBindFailure[]): PortBindFailure[] {
  if (failures.length === 0) return [];
  const weak = new Set(plan.ports.flatMap((p) => (p.route?.weak ? [p.key] : [])));
  return failures.filter((f) => !weak.has(listenerKey(f)));
}
