/**
 * The fleet agent: follows a node's desired tables in etcd and reports what
 * it did. It lists `<prefix>/nodes/<node>/tables/`, applies what differs
 * from what it last applied, then watches from the list's revision and
 * applies each change as it comes (one batch at a time; changes that arrive
 * meanwhile are coalesced into the next). Status goes to
 * `<prefix>/status/<node>` under a kept-alive lease.
 *
 * Faults end the watch phase and start over with a list, which is always
 * safe because applying is idempotent (a table already running is
 * `unchanged`, no new generation) and revisions only move forward
 * (desired-state.ts):
 * - etcd unreachable (at start or later): retry with backoff, serving what
 *   runs; Stale in status once it can be written again;
 * - the watch disconnects (etcd restart, leader loss): re-list, re-watch;
 * - the watch is cancelled at a compacted revision: re-list, re-watch;
 * - the watch silently stops: a watchdog compares a keys-only range of the
 *   node's keys with what the watch delivered; a difference that outlives a
 *   watchdog period means a stall: re-list, re-watch.
 */
import type { Etcd3, IKeyValue, IWatchResponse, Watcher } from 'etcd3';
import type { Logger } from 'pino';
import type { OwnershipOverride } from '../auth/table-ownership.js';
import type { BatchTableOutcome, DesiredPut, FleetApplier } from './applier.js';
import { Backoff } from './backoff.js';
import { parseDesiredTable } from './desired-table.js';
import { DesiredState, type DesiredEntry } from './desired-state.js';
import type { FleetStateFile } from './fleet-state.js';
import { FleetKeys } from './keys.js';
import { condition, type Condition, type NodeStatus, type TableStatus } from './status.js';
import { StatusPublisher } from './status-publisher.js';
import type { FleetTableOwnership } from './table-ownership.js';

export interface FleetAgentOptions {
  etcd: Etcd3;
  node: string;
  keys: FleetKeys;
  applier: FleetApplier;
  logger: Logger;
  /** Where the agent remembers revisions across restarts; absent: nothing is remembered (simulated agents). */
  stateFile?: FleetStateFile;
  /** Told which tables the fleet owns, and who overrode one. */
  ownership?: FleetTableOwnership;
  /** Status lease TTL (default 10 s). */
  leaseTtlSeconds?: number;
  /** Watchdog period (default 5 s): a stalled watch is noticed within two of them. */
  watchdogMs?: number;
  /** Deadline of each list and probe (default 5 s). */
  requestTimeoutMs?: number;
}

type Stale = { reason: string; message: string };

export class FleetAgent {
  private readonly desired = new DesiredState();
  private tables: Record<string, TableStatus> = {};
  private observedRevision = 0;
  /** The highest revision the agent has heard of for its keys (list, event, progress). */
  private seenRevision = 0;
  /**
   * The revision of the latest change of its keys the agent has heard of (a
   * list, a fresh event). A progress point raises seenRevision but changes
   * nothing to apply, so it does not make Ready wait ("Applying").
   */
  private changedRevision = 0;
  private stale: Stale | undefined = { reason: 'Starting', message: 'not yet listed from etcd' };
  private lastError: NodeStatus['lastError'];
  private readonly since = new Map<string, { status: boolean; since: string }>();
  private readonly publisher: StatusPublisher;
  private readonly startedAt = new Date().toISOString();
  private stopped = false;
  private running: Promise<void> | undefined;
  private watcher: Watcher | undefined;
  /** Ends the current watch phase (the loop then re-lists). */
  private endPhase: ((why: Stale | undefined) => void) | undefined;
  private reconciling: Promise<void> | undefined;
  private dirty = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly retry = new Backoff(200, 10_000);
  private readonly listBackoff = new Backoff(100, 5_000);
  private lastPublished = '';
  /** Counts for tests and the benchmark. */
  readonly counts = { lists: 0, watchEvents: 0, duplicateEvents: 0, stalls: 0, applies: 0, probes: 0 };

  constructor(private readonly options: FleetAgentOptions) {
    this.publisher = new StatusPublisher(options.etcd, options.keys.status(options.node), options.leaseTtlSeconds ?? 10, options.logger);
    options.ownership?.onOverride((o) => this.overridden(o));
  }

  get node(): string {
    return this.options.node;
  }

  get statusCounts(): StatusPublisher['counts'] {
    return this.publisher.counts;
  }

  /** Loads what the state directory remembers and starts following etcd; never waits for etcd. */
  async start(): Promise<void> {
    const saved = await this.options.stateFile?.load();
    if (saved) {
      this.tables = saved.tables;
      this.observedRevision = saved.observedRevision;
    }
    this.syncOwnership();
    this.running = this.loop();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.retry.cancel();
    this.listBackoff.cancel();
    this.endPhase?.(undefined);
    await this.running;
    await this.reconciling;
    await this.publisher.close();
  }

  /** The status as it would be written now. */
  status(): NodeStatus {
    const { generation, digest } = this.options.applier.running();
    return {
      node: this.options.node,
      observedRevision: this.observedRevision,
      generation,
      digest,
      tables: structuredClone(this.tables),
      conditions: this.conditions(),
      ...(this.lastError && { lastError: this.lastError }),
      updatedAt: new Date().toISOString(),
      agent: { pid: process.pid, startedAt: this.startedAt },
    };
  }

  /** Resolves when nothing is left to apply or write for what the agent has seen. */
  async settled(): Promise<void> {
    while (this.reconciling) await this.reconciling;
    await this.publisher.settled();
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      try {
        await this.listAndWatch();
        this.listBackoff.reset();
      } catch (err) {
        if (this.stopped) break;
        this.markStale({ reason: 'EtcdUnreachable', message: (err as Error).message });
        await this.listBackoff.wait();
      }
    }
  }

  private async listAndWatch(): Promise<void> {
    const { etcd, keys, node } = this.options;
    const prefix = keys.nodeTables(node);
    const deadline = (): { deadline: number } => ({ deadline: Date.now() + (this.options.requestTimeoutMs ?? 5_000) });
    const res = await etcd.getAll().prefix(prefix).options(deadline()).exec();
    this.counts.lists++;
    const revision = Number(res.header.revision);
    const listed = new Map<string, DesiredEntry>();
    for (const kv of res.kvs) {
      const name = kv.key.toString().slice(prefix.length);
      listed.set(name, { revision: Number(kv.mod_revision), value: kv.value.toString() });
    }
    this.desired.reset(listed, revision);
    this.seenRevision = Math.max(this.seenRevision, revision);
    this.changedRevision = Math.max(this.changedRevision, revision);
    if (this.stale?.reason === 'EtcdUnreachable') this.options.logger.info({ revision }, 'etcd reachable again; re-listed desired tables');
    const phase = new Promise<Stale | undefined>((resolve) => (this.endPhase = resolve));
    const watcher = etcd.watch().prefix(prefix).startRevision(String(revision + 1)).watcher();
    this.watcher = watcher;
    watcher.on('data', (r) => this.onWatch(r, prefix));
    watcher.on('disconnected', (err) => this.endPhase?.({ reason: 'WatchDisconnected', message: err.message }));
    // A watch cancelled by etcd: its start revision was compacted, or the server cancelled it.
    watcher.on('error', (err) => this.endPhase?.({ reason: 'WatchCancelled', message: err.message }));
    const watchdog = this.startWatchdog(prefix, deadline);
    // Listed state is in hand: Stale ends once it is applied.
    this.stale = undefined;
    this.kick();
    const why = await phase;
    clearInterval(watchdog);
    this.endPhase = undefined;
    this.watcher = undefined;
    // Cancelling waits for etcd's answer, which a dead connection never gives.
    await Promise.race([watcher.cancel().catch(() => undefined), new Promise((r) => setTimeout(r, 1_000).unref())]);
    if (why && !this.stopped) {
      this.markStale(why);
      this.options.logger.warn({ node, ...why }, 'fleet watch ended; re-listing');
    }
  }

  private onWatch(res: IWatchResponse, prefix: string): void {
    let changed = false;
    for (const event of res.events) {
      const kv: IKeyValue = event.kv;
      const name = kv.key.toString().slice(prefix.length);
      const revision = Number(kv.mod_revision);
      this.counts.watchEvents++;
      const fresh = this.desired.event(name, revision, event.type === 'Delete' ? undefined : kv.value.toString());
      if (!fresh) this.counts.duplicateEvents++;
      changed ||= fresh;
      this.seenRevision = Math.max(this.seenRevision, revision);
      if (fresh) this.changedRevision = Math.max(this.changedRevision, revision);
    }
    // A progress notification: every event up to its revision has been sent.
    if (res.events.length === 0) this.seenRevision = Math.max(this.seenRevision, Number(res.header.revision));
    if (changed || res.events.length === 0) this.kick();
  }

  /**
   * Every period: a keys-only range of the node's keys. Equal to what the
   * watch delivered: a progress point. Different twice in a row (the watch
   * had a whole period to deliver it): the watch stalled. Unanswered twice:
   * etcd or the path to it is gone, and the watch with it.
   */
  private startWatchdog(prefix: string, deadline: () => { deadline: number }): NodeJS.Timeout {
    let suspect = false;
    let probing = false;
    const timer = setInterval(() => {
      if (probing || this.stopped) return;
      probing = true;
      const rangeEnd = Buffer.from(prefix);
      rangeEnd[rangeEnd.length - 1]!++;
      this.options.etcd.kv
        .range({ key: Buffer.from(prefix), range_end: rangeEnd, keys_only: true }, deadline())
        .then((res) => {
          this.counts.probes++;
          const present = this.desired.present();
          const same = res.kvs.length === present.size && res.kvs.every((kv) => present.get(kv.key.toString().slice(prefix.length))?.revision === Number(kv.mod_revision));
          if (same) {
            suspect = false;
            this.seenRevision = Math.max(this.seenRevision, Number(res.header.revision));
            return;
          }
          if (!suspect) {
            suspect = true;
            return;
          }
          this.counts.stalls++;
          this.endPhase?.({ reason: 'WatchStalled', message: `the watch delivered nothing of changes etcd holds at revision ${res.header.revision}` });
        })
        .catch((err: unknown) => {
          this.markStale({ reason: 'EtcdUnreachable', message: (err as Error).message });
          // Unanswered twice: the watch on the same connection is no better off.
          if (suspect) this.endPhase?.({ reason: 'EtcdUnreachable', message: `watchdog probes failed: ${(err as Error).message}` });
          suspect = true;
        })
        .finally(() => (probing = false));
    }, this.options.watchdogMs ?? 5_000);
    timer.unref();
    return timer;
  }

  /** Runs a reconcile now, or right after the one running. */
  private kick(): void {
    if (this.stopped) return;
    if (this.reconciling) {
      this.dirty = true;
      return;
    }
    this.reconciling = (async () => {
      do {
        this.dirty = false;
        try {
          await this.reconcileOnce();
        } catch (err) {
          this.recordError(`reconcile: ${(err as Error).message}`);
          this.options.logger.error({ err }, 'fleet reconcile failed');
          this.scheduleRetry();
        }
      } while (this.dirty && !this.stopped);
    })().finally(() => (this.reconciling = undefined));
  }

  private async reconcileOnce(): Promise<void> {
    const { keys, node, applier } = this.options;
    const target = this.seenRevision;
    const present = this.desired.present();
    const puts: DesiredPut[] = [];
    for (const [name, entry] of present) {
      const known = this.tables[name];
      if (known && known.desiredRevision === entry.revision && !transient(known)) continue;
      const parsed = parseDesiredTable(name, entry.value, keys.table(node, name));
      puts.push({ name, revision: entry.revision, violations: parsed.violations, ...(parsed.table && { table: parsed.table }) });
    }
    const deletes = Object.keys(this.tables).filter((name) => !present.has(name));
    if (puts.length > 0 || deletes.length > 0) {
      this.syncOwnership();
      const { tables } = await applier.apply({ puts, deletes, revision: target });
      this.counts.applies++;
      let retry = false;
      for (const put of puts) retry = this.record(put.name, put.revision, tables.get(put.name)) || retry;
      for (const name of deletes) {
        const outcome = tables.get(name);
        if (outcome?.outcome === 'applied') delete this.tables[name];
        else retry = this.record(name, this.tables[name]!.desiredRevision, outcome) || retry;
      }
      this.syncOwnership();
      if (retry) this.scheduleRetry();
      else this.retry.reset();
    }
    this.observedRevision = Math.max(this.observedRevision, target);
    await this.options.stateFile
      ?.save({ node, prefix: keys.prefix, tables: this.tables, observedRevision: this.observedRevision })
      .catch((err: unknown) => this.recordError(`fleet state not saved: ${(err as Error).message}`));
    this.publish();
  }

  /** Records a table's outcome; true when it should be retried (transient). */
  private record(name: string, revision: number, outcome: BatchTableOutcome | undefined): boolean {
    const previous = this.tables[name];
    if (!outcome) return false;
    if (outcome.outcome === 'applied') {
      this.tables[name] = {
        desiredRevision: revision,
        appliedRevision: revision,
        outcome: 'applied',
        generation: outcome.generation,
        ...(outcome.failures.length > 0 && { failures: outcome.failures }),
      };
      return false;
    }
    // Nothing of it applied: its previous version (if any) keeps running.
    this.tables[name] = {
      desiredRevision: revision,
      ...(previous?.appliedRevision !== undefined && { appliedRevision: previous.appliedRevision, generation: previous.generation }),
      outcome: outcome.outcome,
      ...(outcome.violations && { violations: outcome.violations }),
      ...(outcome.failures && { failures: outcome.failures }),
      error: outcome.error,
    };
    this.recordError(`table ${name} at revision ${revision}: ${outcome.error}`);
    return transient(this.tables[name]);
  }

  private scheduleRetry(): void {
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.kick(), this.retry.next());
  }

  private syncOwnership(): void {
    this.options.ownership?.set([...this.desired.present().keys(), ...Object.keys(this.tables)]);
  }

  private overridden(o: OwnershipOverride): void {
    const at = new Date().toISOString();
    for (const name of o.tables) {
      const t = this.tables[name];
      if (t) t.overridden = { caller: o.caller.id, method: o.method, generation: o.generation, at };
    }
    this.options.logger.warn({ tables: o.tables, caller: o.caller.id, method: o.method }, 'a local admin overrode fleet-owned tables');
    this.publish();
  }

  /** Says so in status (written as soon as etcd takes it; a later status supersedes it). */
  private markStale(stale: Stale): void {
    this.stale = stale;
    this.recordError(`${stale.reason}: ${stale.message}`);
    this.publish();
  }

  private recordError(message: string): void {
    this.lastError = { message, at: new Date().toISOString() };
  }

  private publish(): void {
    const status = this.status();
    // Only a change is worth a write. A revision that moved alone is not: every
    // status write moves etcd's revision, so writing it would have every node
    // answer every other node's write (the table revisions tell a controller
    // what is in effect; see writeInEffect()).
    const { updatedAt: _updatedAt, observedRevision: _observed, ...content } = status;
    const key = JSON.stringify(content);
    if (key === this.lastPublished) return;
    this.lastPublished = key;
    this.publisher.publish(JSON.stringify(status));
  }

  private conditions(): Condition[] {
    const tables = Object.entries(this.tables);
    const failed = tables.filter(([, t]) => t.outcome !== 'applied');
    const ports = tables.filter(([, t]) => t.outcome === 'applied' && t.failures?.length);
    const overridden = tables.filter(([, t]) => t.overridden);
    const degraded = failed.length > 0 || ports.length > 0 || overridden.length > 0;
    const names = (list: [string, TableStatus][]): string => list.map(([n]) => n).join(', ');
    const degradedReason = failed.length > 0 ? 'TablesFailed' : ports.length > 0 ? 'PortsFailed' : overridden.length > 0 ? 'LocalOverride' : 'AsDesired';
    const degradedMessage = [
      failed.length > 0 && `not applied: ${failed.map(([n, t]) => `${n} (${t.outcome})`).join(', ')}`,
      ports.length > 0 && `ports that could not bind in weak rules of: ${names(ports)}`,
      overridden.length > 0 && `overridden by a local admin: ${names(overridden)}`,
    ]
      .filter(Boolean)
      .join('; ');
    const pending = this.observedRevision < this.changedRevision;
    const ready = !this.stale && !degraded && !pending;
    const out = [
      condition(
        'Ready',
        ready,
        this.stale ? this.stale.reason : degraded ? degradedReason : pending ? 'Applying' : 'AsDesired',
        ready ? `every desired table up to revision ${this.observedRevision} is in effect` : this.stale ? this.stale.message : degraded ? degradedMessage : 'changes seen are being applied',
      ),
      condition('Degraded', degraded, degradedReason, degraded ? degradedMessage : 'every desired table is in effect'),
      condition('Stale', this.stale !== undefined, this.stale?.reason ?? 'Watching', this.stale?.message ?? 'following etcd'),
    ];
    const now = new Date().toISOString();
    return out.map((c) => {
      const prev = this.since.get(c.type);
      if (!prev || prev.status !== c.status) this.since.set(c.type, { status: c.status, since: now });
      return { ...c, since: this.since.get(c.type)!.since };
    });
  }
}

/** Outcomes that are not the table's fault: tried again. */
function transient(t: TableStatus): boolean {
  return t.outcome === 'blocked' || t.outcome === 'error';
}
