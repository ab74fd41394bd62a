/**
 * The pending-apply state machine: at most one apply runs unconfirmed, and
 * this decides what happens to it.
 *
 *   idle ──begin──▶ pending ──confirm──▶ confirming ──saved──▶ idle
 *                     │  ▲                   │
 *                     │  └────not saved──────┘
 *                     └──cancel / timeout / restart / late confirm──▶ rolling_back ──▶ idle
 *                                                 (a rollback that throws stays pending)
 *
 * A Transaction stream's pending apply is owned by that stream: only its
 * COMMIT confirms it. A rollback applies the confirmed tables over the
 * pending ones as the next generation (a port both keep keeps its socket),
 * best effort: a rollback is never refused. Every transition runs inside
 * the controller's serial queue; the timer only enqueues one.
 */
import { configDigest } from '../config/canonical.js';
import type { DrainPolicy } from '../config/model.js';
import { copyApplyResult, type ApplyResult } from '../dataplane/apply-result.js';
import { addSessionEffects } from '../dataplane/session-endings.js';
import { computePlan } from '../plan/compute-plan.js';
import type { PendingInfo } from './apply-events.js';
import type { ApplyContext } from './apply-context.js';
import { INTERNAL_CALLER, type CallerIdentity } from './caller.js';
import { strictFailures } from './divergence.js';
import { ShuttingDownError } from './errors.js';
import type { HistoryEntry } from './history.js';
import type { PendingApply } from './pending-apply.js';
import { ApplyPendingError, NotPendingError, PendingOwnedByTransactionError } from './pending-errors.js';
import { assignCounters, counterIdsOf, ruleStatuses } from './rule-status.js';
import type { ConfigState } from './state-store.js';

export type PendingPhase = 'idle' | 'pending' | 'confirming' | 'rolling_back';

/** The transitions the machine allows; any other is a bug and throws. */
export const PENDING_TRANSITIONS: Readonly<Record<PendingPhase, readonly PendingPhase[]>> = {
  idle: ['pending'],
  pending: ['confirming', 'rolling_back'],
  // Back to pending: the confirmation could not be saved.
  confirming: ['idle', 'pending'],
  // Back to pending: the rollback threw before it changed the record.
  rolling_back: ['idle', 'pending'],
};

export interface RollbackResponse {
  /** The result of the generation that restored the confirmed tables. */
  result: ApplyResult;
  /** The pending entry, now rolled back. */
  rolledBack: HistoryEntry;
  /** The entry of the restoring generation. */
  restored: HistoryEntry;
}

export interface CancelOptions {
  reason?: string;
  caller?: CallerIdentity;
  /** Drain policy for the sessions of the rules the rollback removes or retargets; absent: each rule's own. */
  drain?: DrainPolicy;
}

/** Runs a task in the controller's serial queue (refused once it is closing). */
export type Enqueue = <T>(task: () => Promise<T>) => Promise<T>;

export class PendingApplies {
  private phase: PendingPhase = 'idle';
  private current: PendingApply | undefined;

  constructor(
    private readonly ctx: ApplyContext,
    private readonly enqueue: Enqueue,
  ) {}

  get state(): PendingPhase {
    return this.phase;
  }

  /** The apply awaiting confirmation (also while it is being confirmed or rolled back). */
  get pending(): PendingApply | undefined {
    return this.current;
  }

  info(): PendingInfo | undefined {
    return this.current?.info();
  }

  /** Throws while an apply is pending: only confirming or rolling it back may proceed. */
  refuseApply(): void {
    const pending = this.current;
    if (pending) throw new ApplyPendingError(pending.generation, pending.deadline, pending.transactionId ? 'transaction' : 'confirm');
  }

  /** idle → pending: `pending` took effect and is saved; its confirm timeout starts. */
  begin(pending: PendingApply): void {
    this.to('pending');
    this.current = pending;
    const generation = pending.generation;
    pending.arm(() => this.expire(generation));
  }

  /** Stops the confirm timer (shutdown): the apply stays pending on disk, and the next start rolls it back. */
  disarm(): void {
    this.current?.disarm();
  }

  /**
   * Confirms the pending apply of `generation`. Confirming the running,
   * already confirmed generation again succeeds (a retried call).
   */
  async confirm(generation: number, transactionId?: string): Promise<ApplyResult> {
    const run = this.ctx.running;
    const pending = this.current;
    if (!pending || pending.generation !== generation) {
      if (!pending && generation === run.generation && run.lastResult && generation > 0) return this.ctx.reported(run.lastResult);
      throw this.notPending(generation);
    }
    if (pending.transactionId !== undefined && pending.transactionId !== transactionId) {
      throw new PendingOwnedByTransactionError(generation);
    }
    if (pending.expired()) {
      await this.rollback('its confirm timeout passed');
      throw new NotPendingError(generation, undefined, 'its confirm timeout passed, so it was rolled back');
    }
    this.to('confirming');
    const history = this.ctx.history;
    const result: ApplyResult = { ...copyApplyResult(run.lastResult as ApplyResult), outcome: 'applied' };
    const entryPatch = { outcome: 'committed' as const, resolvedAt: Date.now() };
    const entry = history.update(pending.entry.seq, entryPatch) ?? { ...pending.entry, ...entryPatch };
    const state = pending.confirmedState(entry, result);
    try {
      await Promise.all([this.ctx.ledger.snapshot(state), this.ctx.flushHistory()]);
    } catch (err) {
      history.update(pending.entry.seq, { outcome: 'pending', resolvedAt: undefined });
      history.flushLater();
      this.to('pending');
      throw new Error(`confirm of generation ${generation} not saved to ${this.ctx.ledger.path}; it is still pending: ${(err as Error).message}`, {
        cause: err,
      });
    }
    this.end(pending);
    // Confirmed: the sessions the apply ends end now (drain deadlines count from the apply).
    result.sessionEffects = this.ctx.sink.settle(generation, 'committed');
    run.confirmed = { config: run.config, state };
    run.lastResult = result;
    this.ctx.logger.info({ generation, digest: result.configDigest }, 'pending apply confirmed');
    this.ctx.publish({ kind: 'confirmed', entry, result });
    return this.ctx.reported(result);
  }

  /** Rolls back the pending apply of `generation` now. */
  async cancel(generation: number, options: CancelOptions = {}): Promise<RollbackResponse> {
    if (!this.current || this.current.generation !== generation) throw this.notPending(generation);
    return this.rollback(options.reason ?? 'cancelled', options.caller, options.drain);
  }

  /**
   * The daemon restarted while `pending` was pending (restore re-opened the
   * confirmed tables only): fail-safe, it is rolled back at once, unarmed.
   */
  async rollbackAfterRestart(pending: PendingApply): Promise<void> {
    this.to('pending');
    this.current = pending;
    await this.rollback('the daemon restarted while it was pending');
  }

  /** The confirm timeout of `generation` passed. */
  private expire(generation: number): void {
    this.enqueue(async () => {
      const pending = this.current;
      if (this.phase !== 'pending' || pending?.generation !== generation) return;
      const timeoutMs = (pending.deadline ?? 0) - pending.entry.time;
      await this.rollback(`no confirmation within its confirm timeout of ${timeoutMs} ms`);
    }).catch((err: unknown) => {
      if (!(err instanceof ShuttingDownError)) this.ctx.logger.error({ err, generation }, 'automatic rollback failed');
    });
  }

  /**
   * pending → rolling_back → idle: the confirmed tables are applied over the
   * pending ones (a port both keep keeps its socket) as the next generation.
   * Every port binds what it can: a rollback must not be refused.
   */
  private async rollback(reason: string, caller?: CallerIdentity, drain?: DrainPolicy): Promise<RollbackResponse> {
    const pending = this.current as PendingApply;
    this.to('rolling_back');
    try {
      return await this.rollbackNow(pending, reason, caller, drain);
    } catch (err) {
      // Thrown before the record changed (the dataplane call, most likely): still pending.
      if (this.phase === 'rolling_back') this.to('pending');
      throw err;
    }
  }

  private async rollbackNow(pending: PendingApply, reason: string, caller: CallerIdentity | undefined, drain: DrainPolicy | undefined): Promise<RollbackResponse> {
    const { ctx } = this;
    const run = ctx.running;
    const started = process.hrtime.bigint();
    const { config } = run.confirmed;
    const nextGeneration = run.generation + 1;
    const plan = computePlan(run.config, config, run.generation, { valid: true });
    const counters = assignCounters(config, run.counters, run.config);
    const executed = { ...plan, ports: [...plan.ports, ...ctx.divergence.repairs(config, plan)] };
    const sink = ctx.sink;
    const outcome = await sink.applyConfig({
      generation: nextGeneration,
      config,
      plan: executed,
      ...(drain && { drain }),
      counterIds: counterIdsOf(counters),
      bestEffort: true,
    });
    ctx.divergence.settle(executed.ports, outcome.failures);
    ctx.divergence.add(strictFailures(plan, outcome.failures));
    // A rollback is never refused, so its own endings (CancelApply's drain)
    // take effect now; the undone apply's are dropped: those sessions continue.
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
      backend: ctx.dataplane.name,
      capabilities: ctx.capabilities(),
      rules: ruleStatuses(config, counters, outcome.failures),
      rulesUntouched: 0,
      planSummary: plan.summary,
      outcome: 'applied',
      sessionEffects,
    };
    const history = ctx.history;
    const rolledBackPatch = { outcome: 'rolled_back' as const, resolvedAt: now, detail: `rolled back: ${reason}` };
    const rolledBack = history.update(pending.entry.seq, rolledBackPatch) ?? { ...pending.entry, ...rolledBackPatch };
    const restoredGeneration = run.confirmed.state.generation;
    const restored = history.record(
      {
        generation: nextGeneration,
        baseGeneration: run.generation,
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
      await Promise.all([ctx.ledger.snapshot(state), ctx.flushHistory()]);
    } catch (err) {
      // state.json still holds the pending apply beside the same confirmed
      // tables, so a restart rolls back to exactly what now runs.
      ctx.logger.error({ err, generation: nextGeneration }, 'rollback done but not saved');
    }
    this.end(pending);
    run.config = config;
    run.generation = nextGeneration;
    run.counters = counters;
    run.lastResult = copyApplyResult(result);
    run.replaceStatuses(result.rules);
    run.confirmed = { config, state };
    const log = { rolledBack: pending.generation, generation: nextGeneration, reason, failures: outcome.failures.length };
    if (outcome.failures.length > 0) ctx.logger.error({ ...log, failed: outcome.failures.slice(0, 20) }, 'rolled back, but some ports could not bind');
    else ctx.logger.warn(log, 'pending apply rolled back');
    ctx.publish({ kind: 'rolled_back', entry: rolledBack, restored, result });
    return { result: ctx.reported(result), rolledBack, restored };
  }

  /** confirming / rolling_back → idle. */
  private end(pending: PendingApply): void {
    pending.disarm();
    this.to('idle');
    this.current = undefined;
  }

  private to(next: PendingPhase): void {
    if (!PENDING_TRANSITIONS[this.phase].includes(next)) {
      throw new Error(`pending apply: no transition from ${this.phase} to ${next} (generation ${this.current?.generation ?? 'none'})`);
    }
    this.phase = next;
  }

  private notPending(generation: number): NotPendingError {
    const run = this.ctx.running;
    const pendingGeneration = this.current?.generation;
    const entry = this.ctx.history.find(generation);
    const why =
      pendingGeneration !== undefined
        ? `generation ${pendingGeneration} is the pending one`
        : entry?.outcome === 'rolled_back'
          ? entry.detail
          : entry?.outcome === 'committed'
            ? `it was committed; the running generation is ${run.generation}`
            : `nothing is pending; the running generation is ${run.generation}`;
    return new NotPendingError(generation, pendingGeneration, why);
  }
}
