/**
 * The kernel backend's SessionStore: every TCP relay and UDP flow, by id.
 * It is also their SessionHost, so opening and closing a session, counting
 * it and emitting its delta happen in one place.
 */
import type { Logger } from 'pino';
import { DeltaBuffer } from '../delta-buffer.js';
import type { SessionDeltaQueue } from '../session-deltas.js';
import { SessionIndex } from '../session-index.js';
import type { CloseReason, SessionInfo, SessionStore } from '../session-store.js';
import { emptyTrafficCounters, FLOOD_REASONS, type DropReason, type FloodReason, type TrafficCounters } from '../telemetry.js';
import type { RuleRuntime } from './rule-runtime.js';
import type { SessionBase, SessionHost } from './session.js';
import type { QuietCounts } from './splice-engine.js';

/** Resource exhaustion is logged at most once per this interval. */
const RESOURCE_LOG_INTERVAL_MS = 10_000;

export class KernelSessions implements SessionStore, SessionHost {
  readonly deltas = new DeltaBuffer();
  readonly global: TrafficCounters = emptyTrafficCounters();
  generation = 0;
  /** Ids come from one increasing counter, so adding is an append to the index. */
  private readonly sessions = new SessionIndex<SessionBase>();
  private lastId = 0;
  private idleWaiters: (() => void)[] = [];
  private lastResourceLog = 0;
  private recordingSeen = false;
  private suppressedResourceErrors = 0;

  /**
   * `catchUp` brings in what happened where JavaScript hears of it later or
   * only when it asks (the native engine's queued events, its quiet
   * connections and their counts), so every read is exact as of the call.
   */
  constructor(
    private readonly logger: Logger,
    private readonly catchUp: () => void = () => undefined,
  ) {}

  /**
   * The delta queue consumers read. The first consumer starts recording;
   * the native engine is told at that moment (catchUp), so no connection
   * ends quietly, without deltas, once they are kept.
   */
  deltaQueue(): SessionDeltaQueue {
    const { deltas } = this;
    const started = (): void => {
      if (this.recordingSeen || !deltas.recording) return;
      this.recordingSeen = true;
      this.catchUp();
    };
    return {
      get backendEpoch() {
        return deltas.backendEpoch;
      },
      drain: (max) => {
        const result = deltas.drain(max);
        started();
        return result;
      },
      onDeltas: (listener) => {
        const stop = deltas.onDeltas(listener);
        started();
        return stop;
      },
    };
  }

  nextId(): string {
    return String(++this.lastId);
  }

  opened(session: SessionBase): void {
    this.sessions.add(session);
    session.rule.opened(session.protocol === 'udp');
    for (const counters of [session.counters, this.global]) {
      counters.sessionsOpened++;
      counters.sessionsActive++;
    }
    if (this.deltas.recording) this.deltas.push('open', session.info());
  }

  updated(session: SessionBase): void {
    if (this.deltas.recording) this.deltas.push('update', session.info());
  }

  closed(session: SessionBase, reason: CloseReason): void {
    if (!this.sessions.delete(session.id)) return;
    session.rule.closed(session.protocol === 'udp');
    for (const counters of [session.counters, this.global]) {
      counters.sessionsClosed++;
      counters.sessionsActive--;
    }
    if (this.deltas.recording) this.deltas.push('close', session.info(), reason);
    this.logger.trace({ session: session.id, reason }, 'session closed');
    session.owner?.sessionClosed(session);
    if (this.sessions.size === 0 && this.idleWaiters.length > 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const resolve of waiters) resolve();
    }
  }

  /**
   * A session that opened and closed before anyone could look at it (the
   * native engine reports both at once): counted as opened() and closed()
   * would, with its traffic, but never listed. Only while no delta is being
   * recorded, since its open and close deltas would be missing; false then.
   */
  brief(rule: RuleRuntime, traffic: { fromBytes: number; fromPackets: number; toBytes: number; toPackets: number }, drop: DropReason | undefined): boolean {
    if (this.deltas.recording) return false;
    this.nextId();
    if (drop) this.drop(rule, drop);
    for (const counters of [rule.counters, this.global]) {
      counters.sessionsOpened++;
      counters.sessionsClosed++;
      counters.bytesFromClient += traffic.fromBytes;
      counters.packetsFromClient += traffic.fromPackets;
      counters.bytesToClient += traffic.toBytes;
      counters.packetsToClient += traffic.toPackets;
    }
    return true;
  }

  /** Connections the native engine opened and closed without reporting each (nobody watched): counted as brief() counts one. */
  quiet(rule: RuleRuntime, counts: QuietCounts): void {
    for (const counters of [rule.counters, this.global]) {
      counters.sessionsOpened += counts.connections;
      counters.sessionsClosed += counts.connections;
      counters.bytesFromClient += counts.fromClientBytes;
      counters.packetsFromClient += counts.fromClientReads;
      counters.bytesToClient += counts.toClientBytes;
      counters.packetsToClient += counts.toClientReads;
    }
  }

  drop(rule: RuleRuntime, reason: DropReason, clientAddress?: string): void {
    rule.counters.drops[reason] = (rule.counters.drops[reason] ?? 0) + 1;
    if (clientAddress !== undefined && (FLOOD_REASONS as readonly string[]).includes(reason)) {
      rule.floods.record(clientAddress, reason as FloodReason);
    }
    this.global.drops[reason] = (this.global.drops[reason] ?? 0) + 1;
    if (reason === 'resource') this.resourceExhausted(rule.ruleId);
  }

  /**
   * Out of descriptors (or buffers): logged at most once per interval, with
   * how many more were suppressed, since a flood repeats it per attempt.
   */
  private resourceExhausted(ruleId: string): void {
    const now = Date.now();
    if (now - this.lastResourceLog < RESOURCE_LOG_INTERVAL_MS) {
      this.suppressedResourceErrors++;
      return;
    }
    this.logger.error(
      { ruleId, suppressed: this.suppressedResourceErrors, intervalMs: RESOURCE_LOG_INTERVAL_MS, drops: this.global.drops.resource },
      'out of file descriptors: refusing new sessions until some close',
    );
    this.lastResourceLog = now;
    this.suppressedResourceErrors = 0;
  }

  *iterate(afterId?: string): Iterable<SessionInfo> {
    this.catchUp();
    for (const session of this.sessions.after(afterId)) yield session.info();
  }

  get(id: string): SessionInfo | undefined {
    this.catchUp();
    return this.sessions.get(id)?.info();
  }

  /** Both legs go: the relay's two sockets, or the flow and its upstream socket. */
  deleteWithCompanions(id: string, reason: CloseReason): boolean {
    const session = this.sessions.get(id);
    if (!session) return false;
    session.close(reason);
    return true;
  }

  count(): number {
    this.catchUp();
    return this.sessions.size;
  }

  clear(reason: CloseReason): number {
    this.catchUp();
    const all = [...this.sessions.values()];
    for (const session of all) session.close(reason);
    return all.length;
  }

  /** Folds bytes relayed outside JavaScript (the splice engine) into every counter, for an exact read. */
  refreshCounters(): void {
    this.catchUp();
    for (const session of this.sessions.values()) session.refresh();
  }

  /** Live sessions (objects), for the backend's own sweeps. */
  live(): IterableIterator<SessionBase> {
    return this.sessions.values();
  }

  /** Resolves once no session is open. */
  whenIdle(): Promise<void> {
    this.catchUp();
    if (this.sessions.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }
}
