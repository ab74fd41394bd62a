/**
 * The apply transaction. One apply at a time: validate (no side effects),
 * compare-and-swap on the generation, plan against the running tables, let
 * the backend execute the plan (it commits all or restores all), persist,
 * and only then publish the new generation and result.
 */
import { networkInterfaces } from 'node:os';
import type { Logger } from 'pino';
import { configDigest } from '../config/canonical.js';
import type { DrainPolicy, ForwardingConfig, Limits, Table, Violation } from '../config/model.js';
import { normalizeConfig } from '../config/normalize.js';
import type { ReservedEndpoint } from '../config/self-protection.js';
import { validateConfig, validateRequestDrain } from '../config/validate.js';
import { copyApplyResult, type ApplyResult, type RuleStatus } from '../dataplane/apply-result.js';
import { failedRuleIds } from '../dataplane/bind-verdict.js';
import type { Capabilities } from '../dataplane/capabilities.js';
import type { RuntimeDataPlane } from '../dataplane/runtime.js';
import { computePlan } from '../plan/compute-plan.js';
import type { Plan } from '../plan/model.js';
import {
  BindFailedError,
  GenerationMismatchError,
  InvalidConfigError,
  LimitExceededError,
  NoResultError,
  ShuttingDownError,
} from './errors.js';
import { ApplyStats, type ApplyStatsSnapshot } from './apply-stats.js';
import type { CallerIdentity } from './caller.js';
import { assignCounters, counterIdsOf, ruleStatuses, type CounterTable } from './rule-status.js';
import { SerialQueue } from './serial-queue.js';
import type { CommittedState, StateStore } from './state-store.js';

export interface ApplyRequest {
  /** Parsed tables in request order (not normalised). */
  tables: Table[];
  /** Violations found while parsing the wire form. */
  parseViolations?: Violation[];
  replaceAll?: boolean;
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
}

export interface ApplyResponse {
  result: ApplyResult;
  plan: Plan;
}

export interface RunningConfig {
  generation: number;
  tables: Table[];
  digest: string;
}

export interface ConfigControllerOptions {
  dataplane: RuntimeDataPlane;
  store: StateStore;
  limits: Limits;
  logger: Logger;
}

const EMPTY: ForwardingConfig = { tables: [] };

export class ConfigController {
  private readonly queue = new SerialQueue();
  private running: ForwardingConfig = EMPTY;
  private generation = 0;
  private counters: CounterTable = { nextCounterId: 1, counters: {} };
  private lastResult: ApplyResult | undefined;
  private closing = false;
  private reserved: ReservedEndpoint[] = [];
  private readonly applyStats = new ApplyStats();

  constructor(private readonly options: ConfigControllerOptions) {}

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

  /**
   * Loads the committed state and re-opens its listeners. A port that can
   * no longer bind is logged and reported, but the committed tables are kept
   * as they are: losing a commit is worse than running degraded.
   */
  async restore(): Promise<void> {
    await this.queue.run(async () => {
      const state = await this.options.store.load();
      if (!state) return;
      const config = normalizeConfig({ tables: state.tables });
      const plan = computePlan(EMPTY, config, state.generation);
      const outcome = await this.options.dataplane.configSink().applyConfig({
        generation: state.generation,
        config,
        plan: asWeakPlan(plan),
        terminateRemoved: false,
        counterIds: counterIdsOf({ nextCounterId: state.nextCounterId, counters: state.counters }),
      });
      this.running = config;
      this.generation = state.generation;
      this.counters = { nextCounterId: state.nextCounterId, counters: state.counters };
      this.lastResult = state.lastResult;
      this.applyStats.bindFailures(outcome.failures.length);
      const log = { generation: state.generation, digest: configDigest(config), failures: outcome.failures.length };
      if (outcome.failures.length > 0) {
        this.options.logger.error(
          { ...log, failed: outcome.failures.slice(0, 20) },
          'restored committed tables, but some ports could not bind',
        );
      } else {
        this.options.logger.info(log, 'restored committed tables');
      }
    });
  }

  lastApplyResult(): ApplyResult {
    if (!this.lastResult) throw new NoResultError();
    return copyApplyResult(this.lastResult);
  }

  getConfig(): RunningConfig {
    return {
      generation: this.generation,
      tables: structuredClone(this.running.tables),
      digest: configDigest(this.running),
    };
  }

  /** Stops accepting applies and waits for the ones in flight. */
  async drain(): Promise<void> {
    this.closing = true;
    await this.queue.idle();
  }

  apply(request: ApplyRequest): Promise<ApplyResponse> {
    if (this.closing) return Promise.reject(new ShuttingDownError());
    const applied = this.queue.run(() => this.applyNow(request));
    if (request.validateOnly) return applied;
    return applied.then(
      (response) => {
        this.applyStats.succeeded();
        return response;
      },
      (err: unknown) => {
        this.applyStats.failed();
        throw err;
      },
    );
  }

  /** Last statuses of the rules `plan` leaves unchanged, by rule id. */
  private unchangedStatuses(plan: Plan): Map<string, RuleStatus> {
    const carried = new Map<string, RuleStatus>();
    if (!this.lastResult) return carried;
    const unchanged = new Set(plan.rules.filter((r) => r.action === 'unchanged').map((r) => r.ruleId));
    for (const status of this.lastResult.rules) if (unchanged.has(status.ruleId)) carried.set(status.ruleId, status);
    return carried;
  }

  private async applyNow(request: ApplyRequest): Promise<ApplyResponse> {
    if (this.closing) throw new ShuttingDownError();
    const started = process.hrtime.bigint();
    const named = new Set(request.tables.map((t) => t.name));
    const otherTables = request.replaceAll ? [] : this.running.tables.filter((t) => !named.has(t.name));
    const violations = [
      ...(request.parseViolations ?? []),
      ...validateConfig({
        requestTables: request.tables,
        otherTables,
        limits: this.options.limits,
        capabilities: this.options.dataplane.capabilities(),
        reserved: this.reserved,
        localAddresses: hostAddresses(),
      }),
      ...validateRequestDrain(request.drain, request.terminateRemoved ?? false, this.options.dataplane.capabilities()),
    ];
    if (violations.some((v) => v.limit)) throw new LimitExceededError(violations);
    if (violations.length > 0) throw new InvalidConfigError(violations);
    if (request.expectedGeneration !== undefined && request.expectedGeneration !== this.generation) {
      throw new GenerationMismatchError(request.expectedGeneration, this.generation);
    }

    const desired = normalizeConfig({ tables: [...otherTables, ...request.tables] });
    const plan = computePlan(this.running, desired, this.generation);
    const elapsed = (): number => Number((process.hrtime.bigint() - started) / 1000n);

    if (request.validateOnly || plan.empty) {
      const counters = assignCounters(desired, this.counters);
      const result: ApplyResult = {
        generation: this.generation,
        configDigest: configDigest(desired),
        appliedAt: plan.empty && this.lastResult ? this.lastResult.appliedAt : Date.now(),
        durationMicros: elapsed(),
        backend: this.options.dataplane.name,
        capabilities: this.capabilities(),
        rules: ruleStatuses(desired, counters, [], undefined, this.unchangedStatuses(plan)),
        planSummary: plan.summary,
        outcome: request.validateOnly ? 'validated' : 'unchanged',
      };
      return { result, plan };
    }

    const nextGeneration = this.generation + 1;
    const sink = this.options.dataplane.configSink();
    const counters = assignCounters(desired, this.counters);
    const drain: DrainPolicy | undefined =
      request.drain ?? (request.terminateRemoved ? { mode: 'terminate', timeoutMs: 0 } : undefined);
    const outcome = await sink.applyConfig({
      generation: nextGeneration,
      config: desired,
      plan,
      terminateRemoved: drain?.mode === 'terminate',
      ...(drain && { drain }),
      counterIds: counterIdsOf(counters),
    });
    this.applyStats.bindFailures(outcome.failures.length);
    if (!outcome.ok) {
      const failedIds = new Set(failedRuleIds(plan, outcome.failures));
      const failedRules = ruleStatuses(desired, this.counters, outcome.failures, failedIds)
        .filter((r) => failedIds.has(r.ruleId))
        .map((r) => ({ table: r.table, name: r.name, ruleId: r.ruleId }));
      this.options.logger.warn(
        { generation: this.generation, failures: outcome.failures.length, failedRules, durationMicros: elapsed() },
        'apply rolled back on bind errors',
      );
      throw new BindFailedError(outcome.failures, failedRules);
    }

    const result: ApplyResult = {
      generation: nextGeneration,
      configDigest: configDigest(desired),
      appliedAt: Date.now(),
      durationMicros: 0,
      backend: this.options.dataplane.name,
      capabilities: this.capabilities(),
      rules: ruleStatuses(desired, counters, outcome.failures, undefined, this.unchangedStatuses(plan)),
      planSummary: plan.summary,
      outcome: 'applied',
    };
    const state: CommittedState = {
      generation: nextGeneration,
      tables: desired.tables,
      nextCounterId: counters.nextCounterId,
      counters: counters.counters,
      lastResult: result,
    };
    try {
      result.durationMicros = elapsed();
      await this.options.store.save(state);
    } catch (err) {
      // Not durable means not committed: put the dataplane back as it was.
      await sink.applyConfig({
        generation: this.generation,
        config: this.running,
        plan: computePlan(desired, this.running, nextGeneration),
        terminateRemoved: false,
        counterIds: counterIdsOf(this.counters),
      });
      throw new Error(`apply not committed: saving state to ${this.options.store.path} failed: ${(err as Error).message}`, {
        cause: err,
      });
    }
    this.running = desired;
    this.generation = nextGeneration;
    this.counters = counters;
    this.lastResult = copyApplyResult(result);
    this.applyStats.committed(result.appliedAt, result.durationMicros);
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
      },
      'apply committed',
    );
    return { result: copyApplyResult(result), plan };
  }
}

/** This host's interface addresses now (they change; loop checks read them per apply). */
function hostAddresses(): string[] {
  return Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((i) => i.address));
}

/** On restore every rule binds what it can (see restore()). */
function asWeakPlan(plan: Plan): Plan {
  return {
    ...plan,
    ports: plan.ports.map((p) => (p.route ? { ...p, route: { ...p.route, weak: true } } : p)),
  };
}
