/**
 * NftablesDataPlane: the kernel forwards, portplane programs it. An apply
 * checks ownership (drift), checks local listeners (conflicts), computes the
 * difference between what it last wrote and what the configuration needs
 * (ruleset.ts) and commits it as one nftables transaction. Sessions and
 * byte counts come from conntrack (sessions.ts), rule counters from the
 * table's counter sets, Trace from the same configuration the maps were
 * written from.
 */
import { readFileSync } from 'node:fs';
import { pino, type Logger } from 'pino';
import { canonicalAddress } from '../../config/address.js';
import { parseIp } from '../../config/ip.js';
import type { DrainPolicy, ForwardingConfig, ForwardRule } from '../../config/model.js';
import { mapTargetPort } from '../../config/ports.js';
import type { PortChange } from '../../plan/model.js';
import { failedRuleIds } from '../bind-verdict.js';
import type { Capabilities } from '../capabilities.js';
import type { SessionEffects } from '../apply-result.js';
import { ConditionState, type DataplaneCondition } from '../conditions.js';
import type { ConfigSink, PortBindFailure, SinkApplyOutcome, SinkApplyRequest } from '../config-sink.js';
import { noSessionEffects, SessionEndings, type EndingReason, type SettleOutcome } from '../session-endings.js';
import { RouteTable } from '../route-lookup.js';
import type { RuntimeDataPlane } from '../runtime.js';
import type { SessionDeltaSource } from '../session-deltas.js';
import type { SessionStore } from '../session-store.js';
import { sessionDeltaSource } from '../session-sync.js';
import { compileSourceFilter } from '../source-filter.js';
import { addTrafficCounters, emptyTrafficCounters, FLOOD_REASONS, type RuleCounters, type RuleFloodCounters, type Telemetry, type TrafficCounters } from '../telemetry.js';
import { initialTraceResult, type TraceRequest, type TraceResult, type Tracer } from '../tracer.js';
import { KERNEL_LIMITS_DETAIL, NFTABLES_BACKEND_NAME, nftablesCapabilities } from './capabilities.js';
import { conntrackCapacity, ConntrackTool, setNetfilterSysctl } from './conntrack.js';
import { TableOwnership } from './drift.js';
import { conflictingSocket, localSockets } from './local-listeners.js';
import { deltaMessages } from './netlink-batch.js';
import { createNftRunner, type NftRunner } from './nft-runner.js';
import { acceptCounter, COUNTED_DROPS, COUNTER_SETS, desiredState, diffBatch, dropCounter, emptyState, fullBatch, needsOwnChain, newClasses, sameOptions, type PortExclusions, type RulesetOptions, type WrittenState } from './ruleset.js';
import { NftSessions, type MarkOwner } from './sessions.js';

export interface NftablesDataPlaneOptions {
  logger?: Logger;
  /** nftables table (family inet) portplane owns; default "portplane". Tests use a unique one. */
  tableName?: string;
  /** Program this network namespace (a name under /run/netns) instead of the daemon's own. */
  netns?: string;
  /** Keep the table (and so the forwarding) when the daemon stops cleanly. */
  persist?: boolean;
  /** How often ownership is checked; 0 disables the timer (an apply still checks). Default 5000. */
  driftIntervalMs?: number;
  /** Batch transport; default the libnftables addon when it loads. */
  transport?: 'addon' | 'cli';
  /**
   * Who restores a table another program changed: 'timer' (default) rewrites it as soon as the check
   * finds the change; 'apply' leaves it, reported (condition Drifted), until the next apply restores
   * it in that apply's transaction.
   */
  driftRepair?: 'timer' | 'apply';
}

/** The condition type of a change to portplane's table that portplane did not make. */
export const DRIFT_CONDITION = 'Drifted';
/** How long after the last apply the table is read back (settle), off the apply's path. */
const SETTLE_DELAY_MS = 250;

const TABLE_NAME = /^[A-Za-z][A-Za-z0-9_]{0,31}$/;

/** Why this process cannot program nftables, or undefined. */
export function nftablesUnavailableReason(runner: () => NftRunner): string | undefined {
  let status = '';
  try {
    status = readFileSync('/proc/self/status', 'utf8');
  } catch {
    // Not Linux: the nf_tables probe below says so.
  }
  const capEff = /CapEff:\s*([0-9a-f]+)/.exec(status)?.[1];
  // CAP_NET_ADMIN is capability bit 12.
  if (capEff && (BigInt(`0x${capEff}`) & (1n << 12n)) === 0n) return 'the process lacks CAP_NET_ADMIN (run as root or grant it)';
  try {
    runner().query('list tables');
    return undefined;
  } catch (err) {
    return `nf_tables is not usable here: ${(err as Error).message}`;
  }
}

export class NftablesDataPlane implements RuntimeDataPlane, ConfigSink, Telemetry, Tracer {
  readonly name = NFTABLES_BACKEND_NAME;
  readonly tableName: string;
  private readonly logger: Logger;
  private runnerInstance: NftRunner | undefined;
  private readonly conntrack: ConntrackTool;
  private readonly store: NftSessions;
  private readonly deltas: SessionDeltaSource;
  private written: WrittenState = emptyState();
  private readonly ownership: TableOwnership;
  private settleTimer: NodeJS.Timeout | undefined;
  private config: ForwardingConfig = { tables: [] };
  /** The counter ids and exclusions `written` was built with (a rebuild for new ruleset options needs them). */
  private lastCounterIds: Record<string, number> | undefined;
  private lastExclusions: PortExclusions | undefined;
  /** The configuration's port lookup, built on first use after an apply (Trace, re-adoption), not on the apply's path. */
  private compiledRoutes: RouteTable | undefined = RouteTable.EMPTY;
  private currentGeneration = 0;
  /** Every counter id that ever ran, for sessions that outlive their rule's version. */
  private readonly owners = new Map<number, MarkOwner>();
  /** Conntrack entries applies end, held until each apply is settled, then drain deadlines. */
  private readonly endings = new SessionEndings<string>((ids, reason) => this.endSessionsNow(ids, reason));
  /** Sessions ended by a reevaluated filter, by rule id (counted as filter refusals). */
  private readonly filterCloses = new Map<string, number>();
  private driftTimer: NodeJS.Timeout | undefined;
  private started = false;
  private readonly drift: ConditionState;
  /** Applies written as netlink batches and through libnftables (or the tool), for tests and benchmarks. */
  readonly writes = { netlink: 0, libnftables: 0 };
  private counterCache: Map<string, number> | undefined;
  /** Counter values the sets held before whole rewrites re-created them (by counter key); added to every read. */
  private readonly countersBeforeRewrite = new Map<string, number>();

  constructor(private readonly options: NftablesDataPlaneOptions = {}) {
    this.logger = options.logger ?? pino({ enabled: false });
    this.tableName = options.tableName ?? 'portplane';
    if (!TABLE_NAME.test(this.tableName)) throw new Error(`nftables table name ${JSON.stringify(this.tableName)}: use 1-32 letters, digits and _ , starting with a letter`);
    this.ownership = new TableOwnership(() => this.runner, this.tableName);
    this.drift = new ConditionState(DRIFT_CONDITION, 'AsWritten', `table inet ${this.tableName} is as portplane wrote it`);
    this.conntrack = new ConntrackTool(options.netns);
    this.store = new NftSessions(
      this.conntrack,
      (mark) => this.ownerOf(mark),
      (err) => this.logger.warn({ err }, 'conntrack'),
    );
    this.deltas = sessionDeltaSource(this.store.queue(), this.store, (entries) => ({
      imported: 0,
      rejected: entries.map((_, index) => ({ index, reason: nftablesCapabilities().unsupported.find((u) => u.feature === 'session_import')!.reason })),
    }));
  }

  private get runner(): NftRunner {
    this.runnerInstance ??= createNftRunner(this.options.netns, this.options.transport);
    return this.runnerInstance;
  }

  /** Which batch transport runs ('addon' or 'cli'). */
  get transport(): string {
    return this.runner.kind;
  }

  async start(): Promise<void> {
    const why = nftablesUnavailableReason(() => this.runner);
    if (why) throw new Error(`--backend nftables cannot start: ${why}`);
    // Byte and packet counts per session (per namespace; the kernel default is off).
    const acct = setNetfilterSysctl(this.options.netns, 'nf_conntrack_acct', '1');
    if (acct) this.logger.warn({ reason: acct }, 'cannot enable nf_conntrack_acct: sessions report no byte counts');
    this.store.restart();
    this.started = true;
    // A table left by a previous run keeps forwarding until the restored configuration replaces it whole (first apply).
    this.ownership.reset();
    const interval = this.options.driftIntervalMs ?? 5000;
    if (interval > 0) {
      this.driftTimer = setInterval(() => {
        if (this.checkOwnership(this.options.driftRepair !== 'apply')) this.followConntrackCapacity();
      }, interval);
      this.driftTimer.unref();
    }
    this.logger.info({ table: `inet ${this.tableName}`, transport: this.runner.kind, netns: this.options.netns }, 'nftables dataplane started');
  }

  /** The kernel keeps forwarding established flows; a clean stop removes the table unless persist is set. */
  async close(graceMs: number): Promise<void> {
    void graceMs;
    await this.teardown();
  }

  async teardown(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    clearInterval(this.driftTimer);
    clearTimeout(this.settleTimer);
    this.endings.clear();
    this.store.stop();
    this.store.forget();
    if (!this.options.persist) {
      try {
        this.runner.run(`add table inet ${this.tableName}\ndelete table inet ${this.tableName}`);
      } catch (err) {
        this.logger.warn({ err }, 'cannot remove the nftables table');
      }
    }
    this.recordOwners(this.written, emptyState(), this.currentGeneration);
    this.written = emptyState();
    this.ownership.reset();
  }

  capabilities(): Capabilities {
    return nftablesCapabilities();
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

  tracer(): Tracer {
    return this;
  }

  conditions(): DataplaneCondition[] {
    return [this.drift.get()];
  }

  /**
   * Compares the kernel's table with portplane's last write (drift.ts). On a
   * difference: raises the Drifted condition (and logs it) and, when
   * `repair`, rewrites the table whole in one transaction, which clears it.
   * Returns whether the table is portplane's.
   */
  checkOwnership(repair: boolean): boolean {
    if (!this.started) return true;
    let verdict;
    try {
      this.ownership.settle();
      verdict = this.ownership.check();
    } catch (err) {
      this.logger.warn({ err }, 'cannot read the nftables table');
      return true;
    }
    if (verdict.owned) return true;
    const what = verdict.deleted ? 'was deleted' : verdict.lost ? 'may have been changed (nftables events were lost)' : 'was changed';
    const message = `table inet ${this.tableName} ${what} by another program; ${repair ? 'restoring it' : 'the next apply restores it'}`;
    if (!this.drift.get().status) this.logger.warn({ table: this.tableName }, message);
    this.drift.set(true, verdict.deleted ? 'DeletedByAnotherProgram' : 'ChangedByAnotherProgram', message);
    if (repair) {
      try {
        this.writeText(fullBatch(this.tableName, this.written), true);
        this.restored('check');
      } catch (err) {
        this.logger.error({ err }, 'cannot restore the nftables table');
      }
    }
    return false;
  }

  /** What the rule chains are built with now (ruleset.ts RulesetOptions). */
  private rulesetOptions(): RulesetOptions {
    return { conntrackMax: conntrackCapacity() };
  }

  /**
   * A changed conntrack capacity changes which caps need a `ct count`: the
   * table is rebuilt whole from the configuration it runs (on the timer, so
   * a raised nf_conntrack_max is followed within one period).
   */
  private followConntrackCapacity(): void {
    if (!this.started || !this.ownership.hasWritten || !this.lastCounterIds) return;
    const options = this.rulesetOptions();
    if (sameOptions(options, this.written.options)) return;
    try {
      const desired = desiredState(this.config, this.lastCounterIds, this.lastExclusions, emptyState(options), options);
      this.writeText(fullBatch(this.tableName, desired), true);
      this.written = desired;
      this.logger.info({ table: this.tableName, conntrackMax: options.conntrackMax }, 'nf_conntrack_max changed: rule chains rebuilt');
    } catch (err) {
      this.logger.error({ err }, 'cannot rebuild the nftables table for the new conntrack capacity');
    }
  }

  private restored(by: 'check' | 'apply'): void {
    const at = new Date().toISOString();
    this.drift.set(false, 'Restored', `table inet ${this.tableName} restored by ${by === 'apply' ? 'an apply' : 'the ownership check'} at ${at}`);
    this.logger.info({ table: this.tableName }, 'nftables table restored');
  }

  /** A change as one netlink batch (netlink-batch.ts); where the kernel or the transport refuses it, the same change through libnftables. */
  private writeDelta(messages: Buffer[], desired: WrittenState): 'netlink' | 'libnftables' {
    const r = this.ownership.writeMessages(messages);
    if (r.written) {
      this.writes.netlink++;
      this.scheduleSettle();
      return 'netlink';
    }
    // A commit by another program in between (restart) is the drift check's to judge; anything else is worth a warning.
    const level = r.restart || this.runner.kind === 'cli' ? 'debug' : 'warn';
    this.logger[level]({ reason: r.reason }, 'netlink batch not written: sending the change through libnftables');
    // Unknown whether it committed: only a whole rewrite is right either way.
    return r.uncertain ? this.writeText(fullBatch(this.tableName, desired), true) : this.writeText(diffBatch(this.tableName, this.written, desired), false);
  }

  private writeText(batch: string, whole: boolean): 'libnftables' {
    // A whole rewrite re-creates the counter sets at zero: what they held carries on, so no counter goes backwards.
    const carried = whole ? this.readCounterSets('debug') : undefined;
    this.write(batch, whole);
    for (const [key, n] of carried ?? []) this.countersBeforeRewrite.set(key, (this.countersBeforeRewrite.get(key) ?? 0) + n);
    this.writes.libnftables++;
    return 'libnftables';
  }

  /** One transaction; the table is read back a moment after the last write (off the apply's path). */
  private write(batch: string, whole: boolean): void {
    this.ownership.write(batch, whole);
    this.scheduleSettle();
  }

  private scheduleSettle(): void {
    clearTimeout(this.settleTimer);
    this.settleTimer = setTimeout(() => {
      try {
        this.ownership.settle();
      } catch (err) {
        this.logger.warn({ err }, 'cannot read the nftables table');
      }
    }, SETTLE_DELAY_MS);
    this.settleTimer.unref();
  }

  async applyConfig(request: SinkApplyRequest): Promise<SinkApplyOutcome> {
    if (!this.started) throw new Error('nftables dataplane is not started');
    const t0 = process.hrtime.bigint();
    const failures = this.conflicts(request);
    const tC = process.hrtime.bigint();
    const failed = request.bestEffort ? [] : failedRuleIds(request.plan, failures);
    if (failed.length > 0) return { outcome: 'restored', failures, diverged: [], sessionEffects: noSessionEffects() };
    const excluded = new Set(failures.map((f) => `${f.protocol}|${f.listenAddress}|${f.port}`));
    const exclusions = { has: (protocol: string, listenAddress: string, port: number) => excluded.has(`${protocol}|${listenAddress}|${port}`), empty: excluded.size === 0 };
    const options = this.rulesetOptions();
    // The plan's rule changes are against the configuration written last (a refused apply writes nothing).
    const delta = this.lastCounterIds && { changes: request.plan.rules, previousCounterIds: this.lastCounterIds };
    const desired = desiredState(request.config, request.counterIds, exclusions, this.written, options, delta);
    // Ownership first: a table someone else changed is rewritten whole, in this same transaction.
    const tD = process.hrtime.bigint();
    const drifted = this.ownership.hasWritten && !this.checkOwnership(false);
    const tO = process.hrtime.bigint();
    const whole = !this.ownership.hasWritten || drifted || !sameOptions(options, this.written.options);
    // A whole rewrite goes through libnftables; a change as netlink messages (no libnftables cache refresh).
    // A change that adds a rule class (its set and rules: rare) goes through libnftables too.
    const viaText = whole || newClasses(this.written, desired).length > 0;
    const messages = viaText ? [] : deltaMessages(this.tableName, this.written, desired);
    const tB = process.hrtime.bigint();
    const via = whole
      ? this.writeText(fullBatch(this.tableName, desired), true)
      : viaText
        ? this.writeText(diffBatch(this.tableName, this.written, desired), false)
        : messages.length > 0
          ? this.writeDelta(messages, desired)
          : 'none';
    const tW = process.hrtime.bigint();
    if (drifted || (whole && this.drift.get().status)) this.restored('apply');
    this.recordOwners(this.written, desired, request.generation);
    this.written = desired;
    this.lastCounterIds = request.counterIds;
    this.lastExclusions = exclusions;
    this.compiledRoutes = undefined;
    this.config = request.config;
    this.currentGeneration = request.generation;
    this.holdEndings(request);
    this.holdFilterRefusals(request);
    const restored = this.readopt();
    // The backend's share of an apply's time (bench/nftables-apply.ts reads it).
    const us = (a: bigint, b: bigint): number => Number((b - a) / 1000n);
    const tE = process.hrtime.bigint();
    this.logger.debug({ micros: us(t0, tE), phases: { conflicts: us(t0, tC), desired: us(tC, tD), ownership: us(tD, tO), batch: us(tO, tB), write: us(tB, tW), rest: us(tW, tE) }, whole, via, messages: messages.length }, 'nftables apply written');
    return { outcome: 'committed', failures, diverged: [], sessionEffects: { ...noSessionEffects(), held: this.endings.heldBy(request.generation), restored } };
  }

  /**
   * Owners of the marks `desired` adds; a rule it drops keeps its owner,
   * stamped with the last generation it ran in (sessions outlive their rule's
   * version). No per-rule write for the rules kept: ownerOf stamps theirs.
   */
  private recordOwners(previous: WrittenState, desired: WrittenState, generation: number): void {
    for (const [id, r] of desired.rules) {
      if (!previous.rules.has(id)) this.owners.set(id, { table: r.table, ruleId: r.ruleId, ruleName: r.ruleName, generation });
    }
    for (const id of previous.rules.keys()) {
      const owner = desired.rules.has(id) ? undefined : this.owners.get(id);
      if (owner) owner.generation = this.currentGeneration;
    }
  }

  /** What a ct mark stands for: a rule the table runs now opens its sessions under the current generation. */
  private ownerOf(mark: number): MarkOwner | undefined {
    const owner = this.owners.get(mark);
    return owner && this.written.rules.has(mark) ? { ...owner, generation: this.currentGeneration } : owner;
  }

  /**
   * Sessions with an ending held or a drain deadline running whose port
   * routes them as when they opened (a rollback, a rule put back), under a
   * filter that admits them, continue. Answers how many.
   */
  private readopt(): number {
    let restored = 0;
    const pending = [...this.endings.pending()];
    if (pending.length === 0) return 0;
    const routes = this.routes();
    for (const id of pending) {
      const s = this.store.get(id);
      const listener = s && parseIp(s.listener.address);
      const rule = s && listener && routes.lookup(s.protocol, listener, s.listener.port);
      if (!s || !rule || rule.ruleId !== s.ruleId) continue;
      const sameTarget = canonicalAddress(rule.rule.targetAddress) === canonicalAddress(s.target.address) && mapTargetPort(rule.rule, s.listener.port) === s.target.port;
      if (sameTarget && rule.admission.filter.admits(s.client.address) && this.endings.cancel(id)) restored++;
    }
    return restored;
  }

  /** Rate state is the kernel's here, so nothing is carried from the previous table (no `previous`). */
  private routes(): RouteTable {
    this.compiledRoutes ??= RouteTable.compile(this.config, { counterIds: this.lastCounterIds ?? {} });
    return this.compiledRoutes;
  }

  settle(generation: number, outcome: SettleOutcome): SessionEffects {
    return this.endings.settle(generation, outcome);
  }

  /** Deletes the conntrack entries `ids` that still exist; a filter refusal counts per rule, as on the sockets backends. */
  private endSessionsNow(ids: string[], reason: EndingReason): number {
    if (reason === 'filter') {
      for (const id of ids) {
        const ruleId = this.store.get(id)?.ruleId;
        if (ruleId !== undefined) this.filterCloses.set(ruleId, (this.filterCloses.get(ruleId) ?? 0) + 1);
      }
    }
    return this.store.deleteMany(ids, reason);
  }

  /** Ports a local socket already holds: per-port conflicts, reported like bind failures. */
  private conflicts(request: SinkApplyRequest): PortBindFailure[] {
    const opens = request.plan.ports.filter((p) => p.action === 'open' && p.route);
    if (opens.length === 0) return [];
    const sockets = localSockets(this.options.netns);
    const failures: PortBindFailure[] = [];
    for (const p of opens) {
      const holder = conflictingSocket(sockets, p.protocol, p.listenAddress, p.port);
      if (!holder) continue;
      failures.push({
        protocol: p.protocol,
        listenAddress: p.listenAddress,
        port: p.port,
        table: p.route!.table,
        ruleId: p.route!.ruleId,
        errno: 'EADDRINUSE',
        message: `a local socket listens on ${holder.protocol} ${holder.address} port ${holder.port}; a DNAT rule would capture its traffic`,
      });
    }
    return failures;
  }

  /** The drain policy for sessions of a closed or retargeted port. */
  private policyFor(change: PortChange, request: SinkApplyRequest, running: Map<string, ForwardRule>, desired: Map<string, ForwardRule>): DrainPolicy {
    if (request.drain) return request.drain;
    const owner = change.action === 'close' ? running.get(change.previous?.ruleId ?? '') : desired.get(change.route?.ruleId ?? '');
    return owner?.drain ?? { mode: 'keep', timeoutMs: 0 };
  }

  /** TERMINATE and DRAIN end the conntrack entries of removed and retargeted ports (once settled, or at the drain deadline); KEEP leaves them. */
  private holdEndings(request: SinkApplyRequest): void {
    const ended = request.plan.ports.filter((p) => p.action === 'close' || p.action === 'retarget');
    if (ended.length === 0) return;
    const rulesOf = (side: 'running' | 'desired'): Map<string, ForwardRule> =>
      new Map(request.plan.rules.filter((r) => (side === 'running' ? r.action !== 'added' : r.action !== 'removed')).map((r) => [r.ruleId, r.rule]));
    const running = rulesOf('running');
    const desired = rulesOf('desired');
    const ending = ended
      .map((change) => ({ change, policy: this.policyFor(change, request, running, desired) }))
      .filter((e): e is { change: PortChange; policy: DrainPolicy & { mode: 'terminate' | 'drain' } } => e.policy.mode !== 'keep');
    // KEEP everywhere (the default) needs no read of conntrack.
    if (ending.length === 0) return;
    // Read conntrack now, after the kernel committed: the mirror may be up to maxAgeMs old, and a connection the old
    // rule translated since then would keep its binding (and be reported as not ended).
    this.store.syncWithSource();
    const sessions = [...this.store.iterate()];
    for (const { change, policy } of ending) {
      const ids = sessions
        .filter((s) => s.protocol === change.protocol && s.listener.port === change.port && listenMatches(change.listenAddress, s.listener.address))
        .map((s) => s.id);
      for (const id of ids) this.endings.hold(request.generation, id, policy.mode, policy.timeoutMs);
    }
  }

  /** Sessions of rules whose filters changed (on_filter_change REEVALUATE) that the new filter refuses end once settled (reason "filter"). */
  private holdFilterRefusals(request: SinkApplyRequest): void {
    const changed = new Map<string, ForwardRule>();
    for (const r of request.plan.rules) {
      if (r.action !== 'changed' || r.rule.onFilterChange !== 'reevaluate') continue;
      if (r.changedFields.some((f) => f === 'allow' || f === 'deny')) changed.set(r.ruleId, r.rule);
    }
    if (changed.size === 0) return;
    for (const s of this.store.iterate()) {
      const rule = changed.get(s.ruleId);
      if (rule && !compileSourceFilter(rule.allow, rule.deny).admits(s.client.address)) this.endings.hold(request.generation, s.id, 'filter');
    }
  }

  // --- Telemetry ---

  /**
   * The counter sets' values, listed once per synchronous read: readCounters
   * asks rules() and then global() (which sums rules()) in one turn, and each
   * listing costs ~4 ms per set at 1,000 rules. Dropped at the end of the turn.
   */
  private counterValues(): Map<string, number> {
    if (this.counterCache) return this.counterCache;
    if (!this.started || this.written.rules.size === 0) return new Map();
    const values = this.readCounterSets('warn');
    for (const [key, n] of this.countersBeforeRewrite) values.set(key, (values.get(key) ?? 0) + n);
    this.counterCache = values;
    queueMicrotask(() => {
      this.counterCache = undefined;
    });
    return values;
  }

  /** The counter sets' elements as the kernel holds them now; none when the table is not there (before a first write: `level` debug). */
  private readCounterSets(level: 'warn' | 'debug'): Map<string, number> {
    const values = new Map<string, number>();
    try {
      for (const [what, set] of COUNTER_SETS) {
        for (const item of this.runner.query(`list set inet ${this.tableName} ${set}`).nftables) {
          const elements = (item.set as { elem?: unknown[] } | undefined)?.elem ?? [];
          for (const e of elements) {
            const { val, counter } = ((e as { elem?: unknown }).elem ?? {}) as { val?: number; counter?: { packets?: number } };
            if (typeof val !== 'number') continue;
            values.set(what === 'ok' ? acceptCounter(val) : dropCounter(val, what), counter?.packets ?? 0);
          }
        }
      }
    } catch (err) {
      this.logger[level]({ err }, 'cannot read nftables counters');
    }
    return values;
  }

  rules(): RuleCounters[] {
    const values = this.counterValues();
    const live = new Map<number, { active: number; traffic: TrafficCounters }>();
    for (const { mark, info } of this.store.live()) {
      const entry = live.get(mark) ?? { active: 0, traffic: emptyTrafficCounters() };
      entry.active++;
      entry.traffic.bytesFromClient += info.fromClient.bytes;
      entry.traffic.bytesToClient += info.toClient.bytes;
      entry.traffic.packetsFromClient += info.fromClient.packets;
      entry.traffic.packetsToClient += info.toClient.packets;
      live.set(mark, entry);
    }
    const out: RuleCounters[] = [];
    for (const r of this.written.rules.values()) {
      const id = r.counterId;
      const closed = this.store.closedTotals.get(id);
      const l = live.get(id);
      const drops: RuleCounters['drops'] = {};
      for (const reason of COUNTED_DROPS) {
        const n = (values.get(dropCounter(id, reason)) ?? 0) + (reason === 'filter' ? (this.filterCloses.get(r.ruleId) ?? 0) : 0);
        if (n > 0) drops[reason] = n;
      }
      out.push({
        table: r.table,
        ruleId: r.ruleId,
        ruleName: r.ruleName,
        protocol: r.rule.protocol,
        counterId: id,
        sessionsOpened: values.get(acceptCounter(id)) ?? 0,
        sessionsClosed: closed?.closed ?? 0,
        sessionsActive: l?.active ?? 0,
        bytesFromClient: (closed?.bytesFromClient ?? 0) + (l?.traffic.bytesFromClient ?? 0),
        bytesToClient: (closed?.bytesToClient ?? 0) + (l?.traffic.bytesToClient ?? 0),
        packetsFromClient: (closed?.packetsFromClient ?? 0) + (l?.traffic.packetsFromClient ?? 0),
        packetsToClient: (closed?.packetsToClient ?? 0) + (l?.traffic.packetsToClient ?? 0),
        drops,
      });
    }
    return out;
  }

  global(): TrafficCounters {
    const total = emptyTrafficCounters();
    for (const r of this.rules()) addTrafficCounters(total, r);
    return total;
  }

  generation(): number {
    return this.currentGeneration;
  }

  /** Refusals per rule and reason from the named drop counters; the kernel keeps no per-source tally, so no source prefixes. */
  flood(topSources: number): RuleFloodCounters[] {
    void topSources;
    return this.rules().map((r) => {
      const byReason: RuleFloodCounters['byReason'] = {};
      for (const reason of FLOOD_REASONS) byReason[reason] = r.drops[reason] ?? 0;
      const refused = Object.values(byReason).reduce((a, b) => a + (b ?? 0), 0);
      return { table: r.table, ruleId: r.ruleId, ruleName: r.ruleName, counterId: r.counterId, refused, byReason, sources: [], sourceError: 0 };
    });
  }

  // --- Tracer ---

  trace(request: TraceRequest): TraceResult {
    const result = initialTraceResult(this.currentGeneration, NFTABLES_BACKEND_NAME);
    const steps = result.steps;
    const src = parseIp(request.source.address);
    const dst = parseIp(request.destination.address);
    if (!src || !dst) throw new Error('trace: source and destination must be IP addresses');
    for (const s of this.store.iterate()) {
      if (s.protocol !== request.protocol || s.client.port !== request.source.port || s.listener.port !== request.destination.port) continue;
      if (!sameIp(s.client.address, request.source.address) || !sameIp(s.listener.address, request.destination.address)) continue;
      const reason = 'decided when the conntrack entry was created';
      const owner = [...this.owners.entries()].find(([, o]) => o.ruleId === s.ruleId);
      result.session = { lookup: 'hit', id: s.id };
      result.match = { table: s.table, ruleId: s.ruleId, ruleName: s.ruleName, counterId: owner?.[0] ?? 0 };
      result.filter = { verdict: 'allow', detail: reason };
      result.limit = { verdict: 'allow', detail: reason };
      result.nat = { source: s.upstreamLocal, destination: s.target };
      result.verdict = 'forward';
      steps.push(`conntrack entry ${s.id} hit (state ${s.state}): the kernel applies its NAT binding`);
      return result;
    }
    steps.push('conntrack miss: first packet goes through the nat hooks');
    const compiled = this.routes().lookup(request.protocol, dst, request.destination.port);
    if (!compiled) {
      result.dropReason = 'no_rule';
      steps.push(`no element of l${dst.family}/a${dst.family} matches ${request.protocol} ${request.destination.address} port ${request.destination.port}: not translated`);
      return result;
    }
    const { rule } = compiled;
    result.match = { table: compiled.table, ruleId: compiled.ruleId, ruleName: compiled.ruleName, counterId: compiled.counterId };
    const classes = this.written.rules.get(compiled.counterId)?.classes ?? [];
    const chain = needsOwnChain(rule)
      ? `rules -> goto r${compiled.counterId}`
      : `shared chain fwd${compiled.target.family}: limit lim${compiled.counterId} from @lim, ${classes.length > 0 ? `classes ${classes.map((c) => `@${c.set}`).join(', ')}, ` : ''}target from @n${compiled.target.family}`;
    steps.push(`map element -> ct mark ${compiled.counterId}, ${chain} (rule ${compiled.table}/${compiled.ruleName || compiled.ruleId})`);
    if (compiled.target.family !== dst.family) {
      result.dropReason = 'address_family';
      steps.push(`target ${rule.targetAddress} is IPv${compiled.target.family}: NAT cannot cross address families`);
      return result;
    }
    const filter = compileSourceFilter(rule.allow, rule.deny).explain(src.bytes);
    result.filter = { verdict: filter.allowed ? 'allow' : 'deny', detail: filter.detail };
    steps.push(`filter: ${result.filter.verdict} (${filter.detail})`);
    if (!filter.allowed) {
      result.dropReason = 'filter';
      return result;
    }
    // ct count counts the rule's live conntrack entries, which the session mirror holds too; rates stay in the kernel.
    const cap = rule.protocol === 'udp' ? Math.min(rule.limits.maxSessions, rule.limits.maxUdpFlows) : rule.limits.maxSessions;
    let active = 0;
    for (const s of this.store.iterate()) if (s.ruleId === compiled.ruleId) active++;
    if (active >= cap) {
      result.limit = { verdict: 'cap', detail: `${active} sessions of at most ${cap} (ct count)` };
      result.dropReason = 'cap';
      steps.push(`limits: cap (${result.limit.detail})`);
      return result;
    }
    result.limit = { verdict: 'not_evaluated', detail: `${active} of at most ${cap} sessions; rates ${KERNEL_LIMITS_DETAIL}` };
    steps.push(`limits: ${result.limit.detail}`);
    const destination = { address: rule.targetAddress, port: mapTargetPort(rule, request.destination.port) };
    const hairpin = sameIp(request.source.address, rule.targetAddress);
    result.nat = hairpin ? { destination } : { source: { ...request.source }, destination };
    result.verdict = 'forward';
    steps.push(`dnat to ${destination.address}:${destination.port}${hairpin ? '; hairpin: masqueraded to a host address' : '; client address preserved'}`);
    return result;
  }
}

function sameIp(a: string, b: string): boolean {
  const x = parseIp(a);
  const y = parseIp(b);
  return !!x && !!y && x.family === y.family && x.bytes.every((v, i) => v === y.bytes[i]);
}

/** Whether a session's listener address falls under a rule's listen address ('' and wildcards take every address). */
function listenMatches(listenAddress: string, address: string): boolean {
  if (listenAddress === '' || listenAddress === '0.0.0.0' || listenAddress === '::') return true;
  return sameIp(listenAddress, address);
}
