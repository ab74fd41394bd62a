/**
 * The kernel backend's listening sockets (TCP and UDP), keyed by
 * listenerKey(), the transaction that executes a plan's port operations on
 * them, and the per-rule runtimes that admit new sessions.
 *
 * Socket continuity: a port the plan keeps or retargets is never closed; a
 * retarget swaps the route object new sessions read, so a client connecting
 * during an apply never sees ECONNREFUSED. Until the commit, the only running
 * sockets touched are those an open needs room from; a failed apply closes
 * what it opened and re-opens exactly those.
 *
 * Rule options (filters, limits, PROXY protocol, timeouts, drain) never move
 * a socket: the commit updates each rule's RuleRuntime in place, then holds
 * the drain policies of sessions of closed and retargeted ports and the
 * refusals of rules whose allow/deny lists changed until the apply is
 * settled (see session-endings.ts). A session whose listener routes it as it
 * did before again (a rollback, a rule put back) is re-adopted: its held
 * ending or drain deadline is dropped.
 *
 * Work per apply follows plan.ports, never the whole table: the plan does
 * not list the sockets of unchanged rules (see plan/model.ts).
 */
import type { RemoteInfo, Socket as UdpSocket } from 'node:dgram';
import type { Server, Socket } from 'node:net';
import type { Logger } from 'pino';
import type { DrainPolicy, Protocol } from '../../config/model.js';
import { listenerKey, routesEqual } from '../../plan/listeners.js';
import type { ListenerBinding, Plan, PortChange, Route } from '../../plan/model.js';
import { filterReevaluations } from '../admission.js';
import { failedRuleIds } from '../bind-verdict.js';
import type { SessionEffects } from '../apply-result.js';
import type { PortBindFailure, SinkApplyOutcome, SinkApplyRequest } from '../config-sink.js';
import { noSessionEffects, SessionEndings, type EndingReason, type SettleOutcome } from '../session-endings.js';
import type { AdmissionRefusal } from '../admission.js';
import type { CloseReason, Endpoint } from '../session-store.js';
import { RuleRuntime } from './rule-runtime.js';
import type { SessionBase } from './session.js';
import type { KernelSessions } from './sessions.js';
import { spliceEngine, type EngineConnection, type EngineListener, type EngineRoute, type FinalCounts, type SpliceEngine } from './splice-engine.js';
import { engineOutcome, SpliceRelay } from './splice-relay.js';
import { closeTcpListener, listenerFd, listenSpec, openTcpListener } from './tcp-listener.js';
import { openTcpSession } from './tcp-session.js';
import { openUdpListener, udpSocketFd, UdpFlow } from './udp.js';

/** Opens in flight at once: enough to open 10,000 ports quickly, bounded in pending work. */
const OPEN_BATCH = 1024;

type OpenResult = { ok: true } | { ok: false; errno: string; message: string };

const flowKey = (address: string, port: number): string => `${address}|${port}`;

class Listener implements EngineListener {
  server: Server | undefined;
  udp: UdpSocket | undefined;
  /** With the native engine: its listening socket (TCP or UDP), which engine threads accept on or read. */
  lid: number | undefined;
  /** The routes the engine accepts under, by seq: the current one, and older ones while their events may wait. */
  readonly engineRoutes = new Map<number, { route: Route; rule: RuleRuntime }>();
  private routeSeq = 0;
  /** Read by each new session; replaced, never mutated, on retarget. */
  route: Route;
  readonly sessions = new Set<SessionBase>();
  /** UDP: flows by client address and port. */
  readonly flows = new Map<string, UdpFlow>();
  /** No longer in the table; tracked only while its sessions last. */
  retired = false;
  /** UDP: where clients send to (the bound address; the datagram's own destination is not known). */
  readonly endpoint: Endpoint;

  constructor(
    readonly key: string,
    readonly binding: ListenerBinding,
    route: Route,
    private readonly table: ListenerTable,
  ) {
    this.route = route;
    this.endpoint = { address: listenSpec(binding.listenAddress).host, port: binding.port };
  }

  readonly accept = (socket: Socket): void => this.table.acceptTcp(this, socket);

  accepted(seq: number, slot: number, serial: number, client: Endpoint, local: Endpoint, createdAt: number): EngineConnection | undefined {
    const accepted = this.engineRoutes.get(seq);
    // A UDP flow's listener end is the bound address, as on the JavaScript path.
    const end = this.binding.protocol === 'udp' ? this.endpoint : local;
    return accepted && this.table.acceptedByEngine(this, accepted.route, accepted.rule, slot, serial, client, end, createdAt);
  }

  refused(seq: number, reason: AdmissionRefusal | 'resource', clientAddress: string | undefined): void {
    const accepted = this.engineRoutes.get(seq);
    if (accepted) this.table.refusedByEngine(accepted.rule, reason, clientAddress);
  }

  brief(seq: number, why: number, detail: number, counts: FinalCounts): boolean {
    const accepted = this.engineRoutes.get(seq);
    return accepted !== undefined && this.table.briefByEngine(accepted.rule, why, detail, counts);
  }

  /** The engine route to the current route and rule (see SpliceEngine.route); older routes stay known until routed(). */
  engineRoute(rule: RuleRuntime & { engineRule: number }): EngineRoute | undefined {
    if (this.lid === undefined) return undefined;
    const seq = ++this.routeSeq;
    this.engineRoutes.set(seq, { route: this.route, rule });
    return { lid: this.lid, owner: this, rule: rule.engineRule, address: this.route.targetAddress, port: this.route.targetPort, seq };
  }

  /** After SpliceEngine.route() of `route`: every event of an older route was handled. */
  routed(route: EngineRoute): void {
    for (const old of this.engineRoutes.keys()) if (old !== route.seq) this.engineRoutes.delete(old);
  }

  readonly onDatagram = (msg: Buffer, rinfo: RemoteInfo): void => this.table.onDatagram(this, msg, rinfo);

  readonly onError = (err: NodeJS.ErrnoException): void => this.table.listenerError(this, err);

  get listening(): boolean {
    return this.server !== undefined || this.udp !== undefined || this.lid !== undefined;
  }

  sessionClosed(session: SessionBase): void {
    this.sessions.delete(session);
    this.table.sessionEnded(session);
    if (session instanceof UdpFlow) this.flows.delete(flowKey(session.clientEnd.address, session.clientEnd.port));
    if (this.retired && this.sessions.size === 0) this.table.forget(this);
  }

  /**
   * Stops listening, except on an engine socket, which it answers: the
   * caller closes that with the others of its batch (stopListening()).
   */
  stopListeningOwn(): number | undefined {
    if (this.server) closeTcpListener(this.server);
    this.udp?.close();
    const lid = this.lid;
    this.server = undefined;
    this.udp = undefined;
    this.lid = undefined;
    return lid;
  }

  closeSessions(reason: CloseReason): void {
    for (const session of [...this.sessions]) session.close(reason);
  }
}

export interface ConnectionFilter {
  key?: string;
  ruleId?: string;
}

export class ListenerTable {
  private readonly listeners = new Map<string, Listener>();
  private readonly retired = new Set<Listener>();
  /** Committed rules by rule id. */
  private rules = new Map<string, RuleRuntime>();
  /** Rules new in the apply in flight: listeners it opens accept before the commit. */
  private pendingRules = new Map<string, RuleRuntime>();
  /** Endings of sessions that applies decided: held until settled, then drain deadlines. */
  private readonly endings = new SessionEndings<SessionBase>((sessions, reason) => this.endSessions(sessions, reason));
  /** The native engine, which accepts, admits and relays TCP and UDP when it is loaded. */
  private readonly engine: SpliceEngine | undefined = spliceEngine().engine;
  /** Stops telling the engine whether this table's sessions are watched. */
  private readonly unwatch: () => void;

  constructor(
    private readonly logger: Logger,
    private readonly sessions: KernelSessions,
  ) {
    this.unwatch = this.engine?.wantDetail(() => sessions.deltas.recording) ?? (() => undefined);
  }

  /** Executes `plan.ports` as a transaction (see SinkApplyOutcome). */
  async apply(request: SinkApplyRequest): Promise<SinkApplyOutcome> {
    const { plan } = request;
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

    this.pendingRules = new Map();
    // Rules the plan does not list are running already (see Plan.rules).
    for (const change of plan.rules) {
      if (change.action === 'removed' || this.rules.has(change.ruleId)) continue;
      this.pendingRules.set(change.ruleId, new RuleRuntime(change.table, change.ruleId, change.rule, request.counterIds[change.ruleId] ?? 0));
    }

    const failures: PortBindFailure[] = [];
    const opened: Listener[] = [];
    await this.openAll(freeOpens, opened, failures);
    const displaced = new Set<Listener>();
    for (const change of roomOpens) {
      for (const key of change.needsRoomFrom ?? []) {
        const listener = this.listeners.get(key);
        // Only a socket the plan closes may make room; a kept one stays.
        if (closing.has(key) && listener?.listening) displaced.add(listener);
      }
    }
    this.stopListening(displaced);
    await this.openAll(roomOpens, opened, failures);

    const failedRules = request.bestEffort ? [] : failedRuleIds(plan, failures);
    if (failedRules.length > 0) {
      const diverged = await this.rollback(opened, [...displaced]);
      this.pendingRules = new Map();
      this.logger.info({ failedRules, failures: failures.length, diverged: diverged.length }, 'kernel apply rolled back');
      return { outcome: diverged.length > 0 ? 'diverged' : 'restored', failures, diverged, sessionEffects: noSessionEffects() };
    }
    const sessionEffects = this.commit(request, opened);
    return { outcome: 'committed', failures, diverged: [], sessionEffects };
  }

  /**
   * Makes the engine's work visible here: every live connection a session
   * (SpliceEngine.reveal), and the connections that opened and closed
   * quietly counted into their rules and the global counters.
   */
  catchUp(): void {
    if (!this.engine) return;
    this.engine.reveal();
    for (const rule of this.rules.values()) this.takeQuiet(rule);
    for (const rule of this.pendingRules.values()) this.takeQuiet(rule);
  }

  private takeQuiet(rule: RuleRuntime): void {
    if (rule.engineRule === undefined) return;
    const counts = this.engine?.takeQuiet(rule.engineRule);
    if (counts) this.sessions.quiet(rule, counts);
  }

  /** See ConfigSink.settle. */
  settle(generation: number, outcome: SettleOutcome): SessionEffects {
    return this.endings.settle(generation, outcome);
  }

  sessionEnded(session: SessionBase): void {
    this.endings.forget(session);
  }

  /** Stops every listening socket; established TCP connections continue, UDP flows (which reply through it) end. */
  closeListeners(): void {
    this.retire([...this.listeners.values()], 'shutdown');
    this.listeners.clear();
    this.unwatch();
    // Nothing accepts any more: the engine's rules go once their connections close.
    for (const rule of this.rules.values()) this.releaseEngineRule(rule);
  }

  destroyConnections(): void {
    this.endings.clear();
    this.sessions.clear('shutdown');
  }

  listeningFd(key: string): number | undefined {
    const listener = this.listeners.get(key);
    if (listener?.lid !== undefined) return this.engine?.listenerFd(listener.lid);
    if (listener?.server) return listenerFd(listener.server);
    return listener?.udp ? udpSocketFd(listener.udp) : undefined;
  }

  /** Open sessions, optionally only of one listener key and/or one rule. */
  connectionCount(filter: ConnectionFilter = {}): number {
    let n = 0;
    const count = (listener: Listener): void => {
      if (filter.key !== undefined && listener.key !== filter.key) return;
      for (const session of listener.sessions) {
        if (filter.ruleId === undefined || session.route.ruleId === filter.ruleId) n++;
      }
    };
    for (const listener of this.listeners.values()) count(listener);
    for (const listener of this.retired) count(listener);
    return n;
  }

  /** Runtimes of the committed rules. */
  ruleRuntimes(): IterableIterator<RuleRuntime> {
    return this.rules.values();
  }

  /** The committed runtime of rule `id`. */
  ruleRuntime(id: string): RuleRuntime | undefined {
    return this.rules.get(id);
  }

  /**
   * The listener that would take a new connection (or flow) to `address`
   * (canonical, no zone) port `port`, as the OS picks one: the exact
   * address, then its family's any address, then dual-stack any.
   */
  accepting(protocol: Protocol, address: string, family: 4 | 6, port: number): { route: Route; rule: RuleRuntime } | undefined {
    for (const listenAddress of [address, family === 4 ? '0.0.0.0' : '::', '']) {
      const listener = this.listeners.get(listenerKey({ protocol, listenAddress, port }));
      const rule = listener && this.rules.get(listener.route.ruleId);
      if (listener && rule) return { route: listener.route, rule };
    }
    return undefined;
  }

  acceptTcp(listener: Listener, socket: Socket): void {
    const rule = this.ruleFor(listener.route.ruleId);
    if (!rule) {
      socket.resetAndDestroy();
      return;
    }
    const refused = rule.admitAddress(socket.remoteAddress ?? '', false);
    if (refused) {
      this.sessions.drop(rule, refused, socket.remoteAddress ?? '');
      // A reset, at once: the client learns nothing and costs nothing more.
      socket.resetAndDestroy();
      return;
    }
    const relay = openTcpSession(this.sessions, rule, listener.route, socket, {
      address: socket.localAddress ?? listener.endpoint.address,
      port: socket.localPort ?? listener.endpoint.port,
    });
    if (!relay) return;
    relay.owner = listener;
    listener.sessions.add(relay);
  }

  /** A connection the engine accepted and admitted under `route`: its session. */
  acceptedByEngine(
    listener: Listener,
    route: Route,
    rule: RuleRuntime,
    slot: number,
    serial: number,
    client: Endpoint,
    local: Endpoint,
    createdAt: number,
  ): EngineConnection | undefined {
    if (!this.engine) return undefined;
    const accept = { host: this.sessions, rule, route, client, listener: local };
    const session = SpliceRelay.accepted(this.engine, accept, slot, serial, listener.binding.protocol, createdAt);
    session.owner = listener;
    listener.sessions.add(session);
    return session;
  }

  /** A connection the engine accepted and closed within one batch of events: counted, no session built (KernelSessions.brief). */
  briefByEngine(rule: RuleRuntime, why: number, detail: number, counts: FinalCounts): boolean {
    const traffic = { fromBytes: counts.fromClientBytes, fromPackets: counts.fromClientReads, toBytes: counts.toClientBytes, toPackets: counts.toClientReads };
    return this.sessions.brief(rule, traffic, engineOutcome(why, detail).drop);
  }

  /** A connection the engine refused (counted as the JavaScript accept path counts it). */
  refusedByEngine(rule: RuleRuntime, reason: AdmissionRefusal | 'resource', clientAddress: string | undefined): void {
    this.sessions.drop(rule, reason, clientAddress);
  }

  onDatagram(listener: Listener, msg: Buffer, rinfo: RemoteInfo): void {
    const key = flowKey(rinfo.address, rinfo.port);
    let flow = listener.flows.get(key);
    if (!flow) {
      const rule = this.ruleFor(listener.route.ruleId);
      if (!rule || !listener.udp) return;
      const refused = rule.admitAddress(rinfo.address, true);
      if (refused) {
        this.sessions.drop(rule, refused, rinfo.address);
        return;
      }
      flow = new UdpFlow(this.sessions, rule, listener.route, listener.udp, { address: rinfo.address, port: rinfo.port }, listener.endpoint);
      flow.owner = listener;
      listener.flows.set(key, flow);
      listener.sessions.add(flow);
    }
    flow.forward(msg);
  }

  /**
   * Errors of a listening socket. Out of file descriptors at accept, libuv
   * accepts and closes the waiting connections with a reserved fd (so the
   * listener neither spins nor stalls) and reports EMFILE/ENFILE here; it
   * accepts again once descriptors are free. Counted as a 'resource' drop,
   * which the session host logs at most once per interval.
   */
  listenerError(listener: Listener, err: NodeJS.ErrnoException): void {
    const resource = err.code === 'EMFILE' || err.code === 'ENFILE' || err.code === 'ENOBUFS' || err.code === 'ENOMEM';
    const rule = this.ruleFor(listener.route.ruleId);
    if (resource && rule) this.sessions.drop(rule, 'resource');
    else if (!resource) this.logger.warn({ err, listener: listener.key }, 'kernel listener error');
  }

  forget(listener: Listener): void {
    this.retired.delete(listener);
  }

  private ruleFor(id: string): RuleRuntime | undefined {
    return this.rules.get(id) ?? this.pendingRules.get(id);
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

  /** Binds concurrently, a batch at a time; a bound listener gets its socket. */
  private async listenAll(listeners: Listener[]): Promise<OpenResult[]> {
    // The engine binds synchronously: no promise per port (a restore opens 10,000).
    if (this.engine) return listeners.map((listener) => this.listenEngine(listener));
    const results: OpenResult[] = [];
    for (let i = 0; i < listeners.length; i += OPEN_BATCH) {
      const batch = listeners.slice(i, i + OPEN_BATCH);
      results.push(...(await Promise.all(batch.map((listener) => this.listen(listener)))));
    }
    return results;
  }

  private listenEngine(listener: Listener): OpenResult {
    const engine = this.engine as SpliceEngine;
    const { host, ipv6Only } = listenSpec(listener.binding.listenAddress);
    const result = engine.listen(host, listener.binding.port, ipv6Only, listener.binding.protocol === 'udp');
    if (!result.ok) return result;
    listener.lid = result.lid;
    return { ok: true };
  }

  private async listen(listener: Listener): Promise<OpenResult> {
    if (listener.binding.protocol === 'udp') {
      const result = await openUdpListener(listener.binding, listener.onDatagram, listener.onError);
      if (!result.ok) return result;
      listener.udp = result.socket;
      return { ok: true };
    }
    const result = await openTcpListener(listener.binding, listener.accept, listener.onError);
    if (!result.ok) return result;
    listener.server = result.server;
    return { ok: true };
  }

  /**
   * Engine listeners accept from here on, admitted by their committed
   * rules. Before (an apply in flight) connections wait in the backlog.
   */
  private startAccepting(listeners: readonly Listener[]): void {
    const engine = this.engine;
    if (!engine) return;
    const batch: [Listener, EngineRoute][] = [];
    for (const listener of listeners) {
      const rule = listener.lid === undefined ? undefined : this.rules.get(listener.route.ruleId);
      if (rule?.engineRule === undefined) continue;
      const route = listener.engineRoute(rule as RuleRuntime & { engineRule: number });
      if (route) batch.push([listener, route]);
    }
    const failed = engine.route(batch.map(([, route]) => route));
    batch.forEach(([listener, route], i) => {
      listener.routed(route);
      const errno = failed[i];
      if (errno) this.logger.error({ listener: listener.key, targetAddress: listener.route.targetAddress, errno }, 'kernel engine cannot route the listener to its target');
    });
  }

  /** The rule's policy in the engine (compiled admission, connect timeout, PROXY header). */
  private syncEngineRule(rule: RuleRuntime): void {
    if (!this.engine) return;
    rule.engineRule ??= this.engine.createRule();
    this.engine.setRule(rule.engineRule, rule.rule);
  }

  private releaseEngineRule(rule: RuleRuntime): void {
    if (!this.engine || rule.engineRule === undefined) return;
    this.takeQuiet(rule);
    this.engine.releaseRule(rule.engineRule);
    rule.engineRule = undefined;
  }

  /**
   * Undoes an apply: nothing else changed before the commit. Returns the
   * displaced listeners that could not re-open: the caller reports them as
   * diverged, and the next apply that keeps them tries again.
   */
  private async rollback(opened: Listener[], displaced: Listener[]): Promise<PortBindFailure[]> {
    this.stopListening(opened);
    // The apply never happened, so neither did sessions on its new ports.
    for (const listener of opened) listener.closeSessions('error');
    const results = await this.listenAll(displaced);
    const lost: PortBindFailure[] = [];
    const reopened: Listener[] = [];
    const gone: Listener[] = [];
    results.forEach((result, i) => {
      if (result.ok) {
        reopened.push(displaced[i] as Listener);
        return;
      }
      // Someone took the address while it was free: the running listener is
      // lost; its established connections continue.
      const listener = displaced[i] as Listener;
      this.listeners.delete(listener.key);
      gone.push(listener);
      const { table, ruleId } = listener.route;
      lost.push({ ...listener.binding, table, ruleId, errno: result.errno, message: `not re-opened after a rolled-back apply: ${result.message}` });
      this.logger.error({ listener: listener.key, errno: result.errno }, 'kernel rollback could not re-open listener');
    });
    this.retire(gone, 'error');
    this.startAccepting(reopened);
    return lost;
  }

  /**
   * Makes the plan current. Synchronous, so no session can open between two
   * of its steps.
   */
  private commit(request: SinkApplyRequest, opened: Listener[]): SessionEffects {
    const effects = noSessionEffects();
    const { plan } = request;
    // The engine reports connections in batches, or only when asked: every one it accepted must be a session here before the apply decides which end.
    if (this.engine) {
      this.engine.reveal();
      // Quiet counts move before a rule changes or goes; a rule the plan does not list counts its own at the next read (catchUp()).
      for (const change of plan.rules) {
        const rule = this.rules.get(change.ruleId);
        if (rule) this.takeQuiet(rule);
      }
      for (const rule of this.pendingRules.values()) this.takeQuiet(rule);
    }
    // Work follows plan.rules: a rule it does not list runs unchanged, with its runtime and engine rule as they are.
    const next = this.rules;
    const gone: [string, RuleRuntime][] = [];
    for (const change of plan.rules) {
      const id = change.ruleId;
      if (change.action === 'removed') {
        const rule = next.get(id);
        if (rule) gone.push([id, rule]);
        next.delete(id);
        continue;
      }
      const counterId = request.counterIds[id] ?? 0;
      const existing = this.rules.get(id);
      if (existing && change.action === 'unchanged' && existing.counters.counterId === counterId) continue;
      if (existing) existing.updateRule(change.rule, counterId);
      const runtime = existing ?? this.pendingRules.get(id) ?? new RuleRuntime(change.table, id, change.rule, counterId);
      next.set(id, runtime);
      this.syncEngineRule(runtime);
    }
    this.pendingRules = new Map();
    this.sessions.generation = request.generation;

    for (const listener of opened) this.listeners.set(listener.key, listener);
    const retargeted: Listener[] = [];
    for (const change of plan.ports) {
      const listener = change.action === 'retarget' ? this.listeners.get(change.key) : undefined;
      if (!listener) continue;
      listener.route = change.route as Route;
      retargeted.push(listener);
    }
    // New and retargeted listeners route in one batch: their quiet connections are sessions after it.
    this.startAccepting([...opened, ...retargeted]);
    const closed: Listener[] = [];
    for (const change of plan.ports) {
      if (change.action === 'keep' || change.action === 'open') continue;
      const listener = this.listeners.get(change.key);
      if (!listener) continue;
      if (change.action === 'retarget') {
        const route = listener.route;
        // Sessions opened under an older route are those of a retargeted rule.
        const moved = [...listener.sessions].filter((s) => !routesEqual(s.route, route));
        this.holdDrain(request.generation, moved, request.drain);
      } else if (change.action === 'close') {
        this.listeners.delete(change.key);
        closed.push(listener);
      }
    }
    // Closed first, in one batch: every connection a closed port accepted, quiet ones too, is a session whose drain is held.
    this.stopListening(closed);
    for (const listener of closed) this.holdDrain(request.generation, [...listener.sessions], request.drain);
    effects.ended += this.retire(closed, 'terminate');
    // Only now that no listener routes to them: an engine rule must not be admitting while it goes.
    for (const [id, rule] of gone) if (next.get(id) !== rule) this.releaseEngineRule(rule);
    this.holdFilterRefusals(request.generation, plan);
    effects.restored = this.readopt();
    effects.held = this.endings.heldBy(request.generation);
    return effects;
  }

  /** `override` (the apply's policy) or each session's rule's own, held until the apply is settled. */
  private holdDrain(generation: number, sessions: SessionBase[], override: DrainPolicy | undefined): void {
    for (const session of sessions) {
      const policy = override ?? session.rule.rule.drain;
      if (policy.mode === 'terminate') this.endings.hold(generation, session, 'terminate');
      else if (policy.mode === 'drain') this.endings.hold(generation, session, 'drain', policy.timeoutMs);
    }
  }

  /** Sessions of rules whose filters changed, and which the new filters refuse, end once the apply is settled (REEVALUATE). */
  private holdFilterRefusals(generation: number, plan: Plan): void {
    const changed = filterReevaluations(plan);
    if (changed.size === 0) return;
    for (const session of this.sessions.live()) {
      if (changed.has(session.rule.ruleId) && !session.rule.filter.admits(session.clientEnd.address)) {
        this.endings.hold(generation, session, 'filter');
      }
    }
  }

  /**
   * Sessions with an ending held or a drain deadline armed whose listener
   * routes them as it did when they opened, under a rule whose filter
   * admits them, continue: the state that ended them is no longer in effect
   * (a rollback, a rule put back). Answers how many.
   */
  private readopt(): number {
    let restored = 0;
    for (const session of [...this.endings.pending()]) {
      const owner = session.owner;
      if (!(owner instanceof Listener)) continue;
      const listener = this.listeners.get(owner.key);
      const rule = this.rules.get(session.route.ruleId);
      // Weak or not (a rollback re-opens weakly) is how the port was bound, not where it routes.
      if (!listener?.listening || !rule || !routesEqual(listener.route, { ...session.route, weak: listener.route.weak })) continue;
      if (!rule.filter.admits(session.clientEnd.address)) continue;
      if (!this.endings.cancel(session)) continue;
      restored++;
      if (listener === owner) continue;
      // A port closed and opened again: the session belongs to the listener now in the table.
      owner.sessions.delete(session);
      if (owner.retired && owner.sessions.size === 0) this.forget(owner);
      session.owner = listener;
      listener.sessions.add(session);
    }
    return restored;
  }

  /** Ends `sessions` that still run; a filter refusal counts as a refused attempt, as at accept. */
  private endSessions(sessions: SessionBase[], reason: EndingReason): number {
    let ended = 0;
    for (const session of sessions) {
      if (session.closed) continue;
      if (reason === 'filter') this.sessions.drop(session.rule, 'filter', session.clientEnd.address);
      session.close(reason);
      ended++;
    }
    return ended;
  }

  /**
   * Stops listening on each (if still listening). TCP connections continue
   * (closing the port is not closing them); UDP flows cannot, since replies
   * leave through the listening socket, and end with `udpReason`. Answers
   * the flows ended.
   */
  private retire(listeners: readonly Listener[], udpReason: CloseReason): number {
    this.stopListening(listeners);
    let ended = 0;
    for (const listener of listeners) {
      if (listener.binding.protocol === 'udp') {
        ended += listener.sessions.size;
        listener.closeSessions(udpReason);
      }
      if (listener.sessions.size > 0) {
        listener.retired = true;
        this.retired.add(listener);
      }
    }
    return ended;
  }

  /**
   * Stops listening on each, the engine's sockets in one batch: their
   * events are handled before this returns, so the sessions each accepted
   * are in its `sessions` now.
   */
  private stopListening(listeners: Iterable<Listener>): void {
    const lids: number[] = [];
    for (const listener of listeners) {
      const lid = listener.stopListeningOwn();
      if (lid !== undefined) lids.push(lid);
    }
    this.engine?.closeListeners(lids);
  }
}

function bindingOf(change: PortChange): ListenerBinding {
  return { protocol: change.protocol, listenAddress: change.listenAddress, port: change.port };
}
