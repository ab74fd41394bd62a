/**
 * The apply pipeline. One apply runs its stages in order, each on what the
 * one before produced:
 *
 *   validate  the request against the running tables (no side effects);
 *             compare-and-swap on the generation
 *   plan      the difference from the running tables
 *   execute   the plan on the dataplane, which commits all, restores all,
 *             or says which ports diverged (a failed bind refuses the apply)
 *   save      the new generation in the ledger; not durable means not
 *             committed: the dataplane is undone and says if it got back
 *   publish   the new generation, result and event; the dataplane's held
 *             session endings settle (or wait for the confirmation of a
 *             pending apply, which the pending-apply state machine takes)
 *
 * Every outcome is reported: committed, restored (the running generation
 * runs again) or diverged (divergence.ts), which the next apply repairs.
 * The pipeline also restores the committed state at start and re-applies a
 * history entry (RollbackTo). It runs inside the controller's serial queue.
 */
import { networkInterfaces } from 'node:os';
import { configDigest } from '../config/canonical.js';
import type { DrainPolicy, ForwardingConfig, Table, Violation } from '../config/model.js';
import { normalizeConfig } from '../config/normalize.js';
import { validateConfig, type ValidationInput } from '../config/validate.js';
import { DeltaValidator } from '../config/validate-delta.js';
import { normalizeRequestTable, tableDelta, type TableDelta } from '../config/table-delta.js';
import { validateTableDeletes } from '../config/validate-deletes.js';
import { copyApplyResult, type ApplyResult, type RuleStatus } from '../dataplane/apply-result.js';
import { failedRuleIds } from '../dataplane/bind-verdict.js';
import type { PortBindFailure, SinkApplyOutcome } from '../dataplane/config-sink.js';
import { addSessionEffects } from '../dataplane/session-endings.js';
import { computePlan } from '../plan/compute-plan.js';
import type { Plan } from '../plan/model.js';
import type { PendingInfo } from './apply-events.js';
import type { ApplyContext } from './apply-context.js';
import type { CallerIdentity } from './caller.js';
import { strictFailures } from './divergence.js';
import {
  BindFailedError,
  GenerationMismatchError,
  InvalidConfigError,
  LimitExceededError,
  NotSavedError,
  ShuttingDownError,
  type UndoOutcome,
} from './errors.js';
import type { HistoryEntry, HistoryTrigger } from './history.js';
import { PendingApply } from './pending-apply.js';
import type { PendingApplies } from './pending-applies.js';
import { ApplyPendingError, RollbackTargetError } from './pending-errors.js';
import { fallbackRuleLabel, requestRuleLabels } from './rule-labels.js';
import { assignCounters, counterIdsOf, ruleStatuses, touchedStatuses, type CounterTable } from './rule-status.js';
import { EMPTY_CONFIG } from './running-state.js';
import type { CommittedState, ConfigState } from './state-store.js';

export interface ApplyRequest {
  /** Parsed tables in request order (not normalised). */
  tables: Table[];
  /** Violations found while parsing the wire form. */
  parseViolations?: Violation[];
  /** Violations of the request's own options (its drain), found at the wire edge; reported after the tables'. */
  optionViolations?: Violation[];
  replaceAll?: boolean;
  /** Running tables this apply removes, by name (validated: each runs and is not in `tables`). */
  deleteTables?: string[];
  expectedGeneration?: number;
  validateOnly?: boolean;
  /**
   * Drain policy for every rule this apply removes or retargets, overriding
   * the rules' own; absent: each rule's own. The wire's `terminate_removed`
   * arrives here as `{mode: 'terminate'}` (see wire-apply-request.ts).
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

/** How an apply came to be, for its history entry and its pending state. */
export interface ApplyMode {
  trigger: HistoryTrigger;
  /** Owner of a pending apply started by a Transaction stream. */
  transactionId?: string;
  /** rollback_to: the generation whose tables are re-applied. */
  restoredGeneration?: number;
}

/** What the validate stage passes on. */
interface Validated {
  desired: ForwardingConfig;
  /** Microseconds since the apply started. */
  elapsed: () => number;
}

/** What the execute stage passes on: the dataplane runs `desired` as `generation`. */
interface Executed extends Validated {
  plan: Plan;
  generation: number;
  counters: CounterTable;
  outcome: SinkApplyOutcome;
}

/** What the save stage passes on: `state` is durable. */
interface Saved extends Executed {
  result: ApplyResult;
  touched: RuleStatus[];
  entry: HistoryEntry;
  /** The configuration as it commits (for a pending apply: once confirmed). */
  applied: ConfigState;
  pending: PendingApply | undefined;
  pendingUntil: number | undefined;
}

/** Changed positions of a request table up to which it is validated and normalised as an edit of its running table. */
const MAX_DELTA_RULES = 64;

export class ApplyPipeline {
  /** The running tables' port index, for requests that edit a few rules of running tables. */
  private readonly deltas = new DeltaValidator();

  constructor(
    private readonly ctx: ApplyContext,
    private readonly pendings: PendingApplies,
  ) {}

  /**
   * Loads the committed state and re-opens its listeners. A port that can
   * no longer bind is logged and reported, but the committed tables are kept
   * as they are: losing a commit is worse than running degraded. An apply
   * that was pending when the daemon stopped is rolled back: only the
   * confirmed tables are re-opened, and their restore commits as the next
   * generation.
   */
  async restore(): Promise<void> {
    const { ctx } = this;
    const run = ctx.running;
    const history = ctx.history;
    const { state, journaled } = await ctx.ledger.load();
    history.reconcile({
      confirmed: state?.entry,
      pending: state?.pending?.entry,
      confirmedGeneration: state?.generation ?? 0,
      journaled,
    });
    if (!state) {
      await ctx.flushHistory();
      return;
    }
    const { pending, ...confirmedState } = state;
    const config = normalizeConfig({ tables: state.tables });
    const plan = computePlan(EMPTY_CONFIG, config, state.generation);
    const sink = ctx.sink;
    const outcome = await sink.applyConfig({
      generation: state.generation,
      config,
      plan,
      counterIds: counterIdsOf({ nextCounterId: state.nextCounterId, counters: state.counters }),
      bestEffort: true,
    });
    // From nothing, nothing ends; settled so that every apply is.
    sink.settle(state.generation, 'committed');
    ctx.divergence.add(strictFailures(plan, outcome.failures));
    run.config = config;
    run.generation = state.generation;
    run.counters = { nextCounterId: state.nextCounterId, counters: state.counters };
    run.lastResult = state.lastResult;
    // What binds now, not what bound before the restart.
    run.replaceStatuses(ruleStatuses(config, run.counters, outcome.failures));
    ctx.stats.bindFailures(outcome.failures.length);
    // The running configuration was committed then, not never: dashboards keep its age across restarts.
    if (state.lastResult) ctx.stats.committed(state.lastResult.appliedAt, state.lastResult.durationMicros);
    run.confirmed = { config, state: confirmedState };
    history.ensureSnapshot(configDigest(config), config.tables);
    const log = { generation: state.generation, digest: configDigest(config), failures: outcome.failures.length };
    if (outcome.failures.length > 0) {
      ctx.logger.error({ ...log, failed: outcome.failures.slice(0, 20) }, 'restored committed tables, but some ports could not bind');
    } else {
      ctx.logger.info(log, 'restored committed tables');
    }
    if (pending) {
      // Fail-safe: the pending tables never re-open. Generations only move
      // forward, so the restore commits after the pending one.
      run.generation = pending.generation;
      run.counters = { nextCounterId: pending.nextCounterId, counters: pending.counters };
      await this.pendings.rollbackAfterRestart(new PendingApply(pending, pending.entry.baseGeneration));
    } else {
      await ctx.flushHistory();
      // The history has the journaled entries now: fold the journal into one snapshot.
      await ctx.ledger.compact();
    }
  }

  /** Runs an apply and records a refused one in the history. */
  async run(request: ApplyRequest, mode: ApplyMode): Promise<ApplyResponse> {
    try {
      const response = await this.applyNow(request, mode);
      if (!request.validateOnly) this.ctx.stats.succeeded();
      return response;
    } catch (err) {
      if (!request.validateOnly) {
        if (!(err instanceof ShuttingDownError)) this.ctx.stats.failed();
        this.recordRefused(request, mode, err);
      }
      throw err;
    }
  }

  /**
   * Re-applies the configuration a committed history entry ran, whole
   * (replace_all), as a new generation; its digest equals the entry's.
   */
  async rollbackTo(generation: number, request: Omit<ApplyRequest, 'tables' | 'replaceAll' | 'validateOnly'>): Promise<ApplyResponse> {
    const history = this.ctx.history;
    const entry = history.find(generation);
    if (!entry) throw new RollbackTargetError(generation, `the history (its last ${history.capacity} committed configurations) holds no such generation`, false);
    if (entry.outcome !== 'committed') {
      throw new RollbackTargetError(generation, `it was ${entry.outcome.replace('_', ' ')}, and only committed configurations are restored`, true);
    }
    const tables = await history.tables(entry.configDigest);
    return this.run({ ...request, tables, replaceAll: true }, { trigger: 'rollback_to', restoredGeneration: generation });
  }

  private async applyNow(request: ApplyRequest, mode: ApplyMode): Promise<ApplyResponse> {
    if (!request.validateOnly) this.pendings.refuseApply();
    const validated = this.validate(request);
    const { desired } = validated;
    const plan = computePlan(this.ctx.running.config, desired, this.ctx.running.generation, { valid: true });
    if (plan.empty && !request.validateOnly && this.ctx.divergence.size > 0) await this.repair(plan);
    if (request.validateOnly || plan.empty) return this.unchanged(request, validated, plan);
    const executed = await this.execute(request, validated, plan);
    const saved = await this.save(request, mode, executed);
    return this.publish(request, saved);
  }

  /** Stage validate: every violation of the request, or the desired configuration. */
  private validate(request: ApplyRequest): Validated {
    const { ctx } = this;
    const run = ctx.running;
    const started = process.hrtime.bigint();
    const otherTables = this.otherTables(request);
    const input: ValidationInput = {
      requestTables: request.tables,
      otherTables,
      limits: ctx.limits,
      capabilities: ctx.dataplane.capabilities(),
      reserved: ctx.reserved,
      localAddresses: hostAddresses,
      running: run.config.tables,
    };
    const running = new Map(run.config.tables.map((t) => [t.name, t]));
    const deltas = this.deltasOf(request, running);
    const violations = [
      ...(request.parseViolations ?? []),
      ...validateTableDeletes(request.deleteTables ?? [], request.tables, run.config.tables),
      ...(deltas ? this.deltas.validate(input, deltas, run.config.tables) : validateConfig(input)),
      ...(request.optionViolations ?? []),
    ];
    if (violations.some((v) => v.limit)) throw new LimitExceededError(violations);
    if (violations.length > 0) throw new InvalidConfigError(violations);
    if (request.expectedGeneration !== undefined && request.expectedGeneration !== run.generation) {
      throw new GenerationMismatchError(request.expectedGeneration, run.generation);
    }
    const requested = request.tables.map((t, i) => normalizeRequestTable(t, running.get(t.name), deltas?.[i]));
    const desired = normalizeConfig({ tables: [...otherTables, ...requested] }, run.config);
    return { desired, elapsed: () => Number((process.hrtime.bigint() - started) / 1000n) };
  }

  /** A validate-only or unchanged apply: the result of the plan, nothing executed or saved. */
  private unchanged(request: ApplyRequest, { desired, elapsed }: Validated, plan: Plan): ApplyResponse {
    const { ctx } = this;
    const run = ctx.running;
    const counters = assignCounters(desired, run.counters, run.config);
    const rules = touchedStatuses(plan, counters, []);
    const result: ApplyResult = {
      generation: run.generation,
      configDigest: configDigest(desired),
      appliedAt: plan.empty && run.lastResult ? run.lastResult.appliedAt : Date.now(),
      durationMicros: elapsed(),
      backend: ctx.dataplane.name,
      capabilities: ctx.capabilities(),
      rules,
      rulesUntouched: ruleCount(desired) - rules.length,
      planSummary: plan.summary,
      outcome: request.validateOnly ? 'validated' : 'unchanged',
    };
    return { result: ctx.reported(result), plan };
  }

  /** Stage execute: the dataplane runs the plan (and retries diverged ports), or the apply is refused on bind errors. */
  private async execute(request: ApplyRequest, validated: Validated, plan: Plan): Promise<Executed> {
    const { ctx } = this;
    const run = ctx.running;
    const { desired, elapsed } = validated;
    const generation = run.generation + 1;
    const counters = assignCounters(desired, run.counters, run.config);
    // Ports that diverged earlier and that the desired tables keep are opened again.
    const repairs = ctx.divergence.repairs(desired, plan);
    const executed = repairs.length > 0 ? { ...plan, ports: [...plan.ports, ...repairs] } : plan;
    const outcome = await ctx.sink.applyConfig({
      generation,
      config: desired,
      plan: executed,
      ...(request.drain && { drain: request.drain }),
      counterIds: counterIdsOf(counters),
    });
    ctx.stats.bindFailures(outcome.failures.length);
    if (outcome.outcome !== 'committed') {
      ctx.divergence.add(outcome.diverged);
      const failedIds = new Set(failedRuleIds(plan, outcome.failures));
      const labels = requestRuleLabels(request.tables, new Set(outcome.failures.map((f) => f.ruleId)));
      const failedRules = touchedStatuses(plan, counters, outcome.failures, failedIds)
        .filter((r) => failedIds.has(r.ruleId))
        .map((r) => ({ table: r.table, name: r.name, ruleId: r.ruleId, label: labels.get(r.ruleId) ?? fallbackRuleLabel(r.table, r.name, r.ruleId) }));
      ctx.logger.warn(
        { generation: run.generation, failures: outcome.failures.length, failedRules, durationMicros: elapsed() },
        'apply rolled back on bind errors',
      );
      for (const f of outcome.failures) if (!labels.has(f.ruleId)) labels.set(f.ruleId, fallbackRuleLabel(f.table, '', f.ruleId));
      throw new BindFailedError(outcome.failures, failedRules, labels, { outcome: outcome.outcome, diverged: outcome.diverged });
    }
    ctx.divergence.settle(executed.ports, outcome.failures);
    return { ...validated, plan, generation, counters, outcome };
  }

  /**
   * Stage save: the history entry and the ledger write. A pending apply is
   * saved beside the confirmed state, which a restart restores. Not durable
   * means not committed: the dataplane is put back, and the sessions the
   * apply would have ended continue (its endings were held).
   */
  private async save(request: ApplyRequest, mode: ApplyMode, executed: Executed): Promise<Saved> {
    const { ctx } = this;
    const run = ctx.running;
    const { desired, plan, generation, counters, outcome, elapsed } = executed;
    const pendingUntil = request.confirmTimeoutMs ? Date.now() + request.confirmTimeoutMs : undefined;
    const goesPending = pendingUntil !== undefined || mode.transactionId !== undefined;
    const touched = touchedStatuses(plan, counters, outcome.failures);
    const result: ApplyResult = {
      generation,
      configDigest: configDigest(desired),
      appliedAt: Date.now(),
      durationMicros: 0,
      backend: ctx.dataplane.name,
      capabilities: ctx.capabilities(),
      rules: touched,
      rulesUntouched: ruleCount(desired) - touched.length,
      planSummary: plan.summary,
      outcome: goesPending ? 'pending' : 'applied',
    };
    const entry = ctx.history.record(
      {
        generation,
        baseGeneration: run.generation,
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
      generation,
      tables: desired.tables,
      nextCounterId: counters.nextCounterId,
      counters: counters.counters,
      lastResult: result,
      entry,
    };
    const pending = goesPending
      ? new PendingApply({ ...applied, entry, ...(pendingUntil !== undefined && { deadline: pendingUntil }) }, run.generation, mode.transactionId)
      : undefined;
    const state: CommittedState = pending ? { ...run.confirmed.state, pending: pending.state } : applied;
    try {
      result.durationMicros = elapsed();
      if (pending) {
        await Promise.all([ctx.ledger.snapshot(state), ctx.flushHistory()]);
      } else {
        // The journal record holds the history entry; the ledger's compaction writes the history.
        await ctx.ledger.commit(state);
      }
    } catch (err) {
      const undo = await this.undo(desired, generation);
      ctx.sink.settle(generation, 'undone');
      const error = new NotSavedError(ctx.ledger.path, err, undo);
      ctx.history.update(entry.seq, { outcome: 'failed', generation: 0, detail: error.message });
      ctx.history.flushLater();
      throw error;
    }
    return { ...executed, result, touched, entry, applied, pending, pendingUntil };
  }

  /**
   * Stage publish: the new generation runs in the record. A committed
   * apply's held session endings take effect now; a pending one's wait for
   * its confirmation, and the state machine takes it over.
   */
  private publish(request: ApplyRequest, saved: Saved): ApplyResponse {
    const { ctx } = this;
    const run = ctx.running;
    const { desired, plan, generation, counters, outcome, result, touched, entry, applied, pending, pendingUntil } = saved;
    run.config = desired;
    run.generation = generation;
    run.counters = counters;
    run.trackStatuses(plan, touched);
    ctx.stats.committed(result.appliedAt, result.durationMicros);
    if (pending) {
      // Its endings wait for the confirmation: a rollback restores those sessions.
      result.sessionEffects = outcome.sessionEffects;
      this.pendings.begin(pending);
    } else {
      result.sessionEffects = addSessionEffects(outcome.sessionEffects, ctx.sink.settle(generation, 'committed'));
      run.confirmed = { config: desired, state: applied };
    }
    run.lastResult = copyApplyResult(result);
    ctx.logger.info(
      {
        generation,
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
    ctx.publish({ kind: pending ? 'pending' : 'applied', entry, result, ...(pendingInfo && { pending: pendingInfo }) });
    return { result: ctx.reported(result), plan, ...(pendingInfo && { pending: pendingInfo }) };
  }

  /**
   * Puts the dataplane back to the running generation after an apply of
   * `desired` that could not be saved. Every port binds what it can: a
   * port the apply closed and someone took meanwhile stays closed and is
   * reported as diverged, not hidden behind a strict undo that gives up.
   */
  private async undo(desired: ForwardingConfig, appliedGeneration: number): Promise<UndoOutcome> {
    const { ctx } = this;
    const run = ctx.running;
    const reverse = computePlan(desired, run.config, appliedGeneration);
    let lost: PortBindFailure[];
    try {
      const outcome = await ctx.sink.applyConfig({
        generation: run.generation,
        config: run.config,
        plan: reverse,
        counterIds: counterIdsOf(run.counters),
        bestEffort: true,
      });
      ctx.sink.settle(run.generation, 'committed');
      lost = [...outcome.failures, ...outcome.diverged];
    } catch (err) {
      // What runs is unknown: every port the undo had to open or move counts.
      lost = reverse.ports.flatMap((p) =>
        p.action === 'close' || !p.route
          ? []
          : [{ protocol: p.protocol, listenAddress: p.listenAddress, port: p.port, table: p.route.table, ruleId: p.route.ruleId, errno: 'EUNDO', message: `undo failed: ${(err as Error).message}` }],
      );
    }
    ctx.divergence.add(lost);
    return lost.length > 0 ? { outcome: 'diverged', diverged: lost } : { outcome: 'restored', diverged: [] };
  }

  /** An unchanged apply while ports diverge: the dataplane tries to open them again; the record stays. */
  private async repair(plan: Plan): Promise<void> {
    const { ctx } = this;
    const run = ctx.running;
    const ports = ctx.divergence.repairs(run.config, plan);
    const outcome = await ctx.sink.applyConfig({
      generation: run.generation,
      config: run.config,
      plan: { ...plan, ports },
      counterIds: counterIdsOf(run.counters),
    });
    // Opens only: nothing to end, settled so that every apply is.
    ctx.sink.settle(run.generation, 'committed');
    ctx.divergence.settle(ports, outcome.failures);
  }

  private recordRefused(request: ApplyRequest, mode: ApplyMode, err: unknown): void {
    // A shutdown is no attempt; an unsaved apply already has its entry.
    if (err instanceof ShuttingDownError || err instanceof NotSavedError) return;
    const { ctx } = this;
    const refused = err instanceof InvalidConfigError || err instanceof GenerationMismatchError || err instanceof ApplyPendingError;
    // Only validated tables have a digest worth recording.
    const validated = err instanceof GenerationMismatchError || err instanceof BindFailedError;
    const desired = validated ? normalizeConfig({ tables: [...this.otherTables(request), ...request.tables] }, ctx.running.config) : undefined;
    const entry = ctx.history.record({
      generation: 0,
      baseGeneration: ctx.running.generation,
      configDigest: desired ? configDigest(desired) : '',
      time: Date.now(),
      outcome: refused ? 'rejected' : 'failed',
      trigger: mode.trigger,
      ...(request.caller && { caller: request.caller }),
      comment: request.comment ?? '',
      detail: err instanceof Error ? err.message : String(err),
      ...(mode.restoredGeneration !== undefined && { restoredGeneration: mode.restoredGeneration }),
    });
    ctx.history.flushLater();
    ctx.publish({ kind: refused ? 'rejected' : 'failed', entry });
  }

  /**
   * Each request table as an edit of the running table of its name, when
   * every one is (table-delta.ts); undefined sends the request down the
   * whole-table path.
   */
  private deltasOf(request: ApplyRequest, running: ReadonlyMap<string, Table>): TableDelta[] | undefined {
    if (request.replaceAll || request.parseViolations?.length || request.deleteTables?.length || request.tables.length === 0) return undefined;
    const deltas: TableDelta[] = [];
    for (const table of request.tables) {
      const delta = tableDelta(table, running.get(table.name), MAX_DELTA_RULES);
      if (!delta) return undefined;
      deltas.push(delta);
    }
    return deltas;
  }

  /** Running tables that stay in force beside the request's: not named, not deleted, not dropped by replace_all. */
  private otherTables(request: ApplyRequest): Table[] {
    if (request.replaceAll) return [];
    const gone = new Set([...request.tables.map((t) => t.name), ...(request.deleteTables ?? [])]);
    return this.ctx.running.config.tables.filter((t) => !gone.has(t.name));
  }
}

function ruleCount(config: ForwardingConfig): number {
  return config.tables.reduce((n, t) => n + t.rules.length, 0);
}

/** This host's interface addresses now (they change; loop checks read them per apply). */
function hostAddresses(): string[] {
  return Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((i) => i.address));
}
