/**
 * The kernel backend's listening sockets, keyed by listenerKey(), and the
 * transaction that executes a plan's port operations on them.
 *
 * Socket continuity: a port the plan keeps or retargets is never closed; a
 * retarget swaps the route object new connections read, so a client
 * connecting during an apply never sees ECONNREFUSED. Until the commit, the
 * only running sockets touched are those an open needs room from; a failed
 * apply closes what it opened and re-opens exactly those.
 *
 * Work per apply follows plan.ports, never the whole table: the plan does
 * not list the sockets of unchanged rules (see plan/model.ts).
 */
import type { Server, Socket } from 'node:net';
import type { Logger } from 'pino';
import type { ListenerBinding, Plan, PortChange, Route } from '../../plan/model.js';
import { failedRuleIds } from '../bind-verdict.js';
import type { PortBindFailure, SinkApplyOutcome } from '../config-sink.js';
import { closeTcpListener, listenerFd, openTcpListener, type OpenResult } from './tcp-listener.js';
import { TcpRelay, type RelayOwner } from './tcp-relay.js';

/** Opens in flight at once: enough to open 10,000 ports quickly, bounded in pending work. */
const OPEN_BATCH = 1024;

class Listener implements RelayOwner {
  server: Server | undefined;
  /** Read by each accepted connection; replaced, never mutated, on retarget. */
  route: Route;
  readonly connections = new Set<TcpRelay>();
  /** No longer in the table; tracked only while its connections last. */
  retired = false;

  constructor(
    readonly key: string,
    readonly binding: ListenerBinding,
    route: Route,
    private readonly table: ListenerTable,
  ) {
    this.route = route;
  }

  readonly accept = (socket: Socket): void => {
    this.connections.add(new TcpRelay(socket, this.route, this));
    this.table.connectionOpened();
  };

  relayClosed(relay: TcpRelay): void {
    this.connections.delete(relay);
    this.table.connectionClosed(this);
  }

  stopListening(): void {
    if (!this.server) return;
    closeTcpListener(this.server);
    this.server = undefined;
  }

  destroyConnections(): void {
    for (const relay of this.connections) relay.destroy();
  }
}

export interface ConnectionFilter {
  key?: string;
  ruleId?: string;
}

export class ListenerTable {
  private readonly listeners = new Map<string, Listener>();
  private readonly retired = new Set<Listener>();
  private connections = 0;
  private idleWaiters: (() => void)[] = [];

  constructor(private readonly logger: Logger) {}

  /** Executes `plan.ports` as a transaction (see SinkApplyOutcome). */
  async apply(plan: Plan, terminateRemoved: boolean): Promise<SinkApplyOutcome> {
    // Sort the operations and check the plan fits the table before touching
    // anything, so a mismatched plan throws with nothing changed.
    const freeOpens: PortChange[] = [];
    const roomOpens: PortChange[] = [];
    const closing = new Set<string>();
    for (const change of plan.ports) {
      if (change.action === 'close') {
        closing.add(change.key);
        continue;
      }
      if (!change.route) throw new Error(`plan ${change.action} of ${change.key} has no route`);
      if (change.action === 'open') {
        if (this.listeners.has(change.key)) throw new Error(`plan opens ${change.key}, which is already open`);
        (change.needsRoomFrom?.length ? roomOpens : freeOpens).push(change);
      } else if (!this.listeners.has(change.key)) {
        // A weak rule's port that failed to bind earlier: try again, so the
        // outcome reports its current state rather than a silent gap. The
        // plan lists it again only once the rule itself changes.
        freeOpens.push(change);
      }
    }

    const failures: PortBindFailure[] = [];
    const opened: Listener[] = [];
    await this.openAll(freeOpens, opened, failures);
    const displaced: Listener[] = [];
    for (const change of roomOpens) {
      for (const key of change.needsRoomFrom ?? []) {
        const listener = this.listeners.get(key);
        // Only a socket the plan closes may make room; a kept one stays.
        if (!closing.has(key) || !listener?.server) continue;
        listener.stopListening();
        displaced.push(listener);
      }
    }
    await this.openAll(roomOpens, opened, failures);

    const failedRules = failedRuleIds(plan, failures);
    if (failedRules.length > 0) {
      await this.rollback(opened, displaced);
      this.logger.info({ failedRules, failures: failures.length }, 'kernel apply rolled back');
      return { ok: false, failures };
    }
    this.commit(plan, opened, terminateRemoved);
    return { ok: true, failures };
  }

  /** Stops every listening socket; established connections continue. */
  closeListeners(): void {
    for (const listener of this.listeners.values()) this.retire(listener, false);
    this.listeners.clear();
  }

  destroyConnections(): void {
    for (const listener of this.listeners.values()) listener.destroyConnections();
    for (const listener of this.retired) listener.destroyConnections();
  }

  /** Resolves once no connection is established. */
  whenIdle(): Promise<void> {
    if (this.connections === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  listeningFd(key: string): number | undefined {
    const server = this.listeners.get(key)?.server;
    return server ? listenerFd(server) : undefined;
  }

  /** Established connections, optionally only of one listener key and/or one rule. */
  connectionCount(filter: ConnectionFilter = {}): number {
    let n = 0;
    const count = (listener: Listener): void => {
      if (filter.key !== undefined && listener.key !== filter.key) return;
      for (const relay of listener.connections) {
        if (filter.ruleId === undefined || relay.route.ruleId === filter.ruleId) n++;
      }
    };
    for (const listener of this.listeners.values()) count(listener);
    for (const listener of this.retired) count(listener);
    return n;
  }

  connectionOpened(): void {
    this.connections++;
  }

  connectionClosed(listener: Listener): void {
    this.connections--;
    if (listener.retired && listener.connections.size === 0) this.retired.delete(listener);
    if (this.connections === 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const resolve of waiters) resolve();
    }
  }

  /** Opens `changes`; each result lands in `opened` or `failures`, in plan order. */
  private async openAll(changes: PortChange[], opened: Listener[], failures: PortBindFailure[]): Promise<void> {
    const listeners = changes.map((change) => new Listener(change.key, bindingOf(change), change.route as Route, this));
    const results = await this.listenAll(listeners);
    results.forEach((result, i) => {
      const listener = listeners[i] as Listener;
      if (result.ok) {
        opened.push(listener);
        return;
      }
      const { table, ruleId } = listener.route;
      failures.push({ ...listener.binding, table, ruleId, errno: result.errno, message: result.message });
    });
  }

  /** Binds concurrently, a batch at a time; a bound listener gets its server. */
  private async listenAll(listeners: Listener[]): Promise<OpenResult[]> {
    const results: OpenResult[] = [];
    for (let i = 0; i < listeners.length; i += OPEN_BATCH) {
      const batch = listeners.slice(i, i + OPEN_BATCH);
      results.push(...(await Promise.all(batch.map((listener) => this.listen(listener)))));
    }
    return results;
  }

  private async listen(listener: Listener): Promise<OpenResult> {
    const result = await openTcpListener(listener.binding, listener.accept, (err) =>
      this.logger.warn({ err, listener: listener.key }, 'kernel listener error'),
    );
    if (result.ok) listener.server = result.server;
    return result;
  }

  /** Undoes an apply: nothing else changed before the commit. */
  private async rollback(opened: Listener[], displaced: Listener[]): Promise<void> {
    for (const listener of opened) {
      listener.stopListening();
      // The apply never happened, so neither did connections to its new ports.
      listener.destroyConnections();
    }
    const results = await this.listenAll(displaced);
    results.forEach((result, i) => {
      if (result.ok) return;
      // Someone took the address while it was free: the running listener is
      // lost; its established connections continue.
      const listener = displaced[i] as Listener;
      this.listeners.delete(listener.key);
      this.retire(listener, false);
      this.logger.error({ listener: listener.key, errno: result.errno }, 'kernel rollback could not re-open listener');
    });
  }

  /**
   * Makes the plan current. Synchronous, so no connection can be accepted
   * between two of its steps.
   */
  private commit(plan: Plan, opened: Listener[], terminateRemoved: boolean): void {
    for (const listener of opened) this.listeners.set(listener.key, listener);
    for (const change of plan.ports) {
      if (change.action === 'keep' || change.action === 'open') continue;
      const listener = this.listeners.get(change.key);
      if (!listener) continue;
      if (change.action === 'retarget') {
        listener.route = change.route as Route;
      } else if (change.action === 'close') {
        this.listeners.delete(change.key);
        this.retire(listener, terminateRemoved);
      }
    }
  }

  private retire(listener: Listener, terminate: boolean): void {
    listener.stopListening();
    if (terminate) listener.destroyConnections();
    if (listener.connections.size > 0) {
      listener.retired = true;
      this.retired.add(listener);
    }
  }
}

function bindingOf(change: PortChange): ListenerBinding {
  return { protocol: change.protocol, listenAddress: change.listenAddress, port: change.port };
}
