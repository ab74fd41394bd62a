/**
 * What every kernel session (a TCP relay or a UDP flow) shares: identity,
 * endpoints, counters, and the bookkeeping its host (KernelSessions) does
 * when it opens, changes state and closes.
 */
import type { Protocol } from '../../config/model.js';
import type { Route } from '../../plan/model.js';
import type { CloseReason, Endpoint, FlowCounters, SessionInfo } from '../session-store.js';
import type { DropReason, TrafficCounters } from '../telemetry.js';
import type { RuleRuntime } from './rule-runtime.js';

export interface SessionHost {
  /** Next session id (decimal, increasing). */
  nextId(): string;
  readonly generation: number;
  readonly global: TrafficCounters;
  opened(session: SessionBase): void;
  updated(session: SessionBase): void;
  closed(session: SessionBase, reason: CloseReason): void;
  /** Counts a refused attempt (by the client's address, for flood counters) or a failed session. */
  drop(rule: RuleRuntime, reason: DropReason, clientAddress?: string): void;
}

export abstract class SessionBase {
  readonly id: string;
  readonly createdAt: number;
  lastActivityAt: number;
  readonly fromClient: FlowCounters = { bytes: 0, packets: 0 };
  readonly toClient: FlowCounters = { bytes: 0, packets: 0 };
  readonly generation: number;
  /** Counters of the rule's counter id at open time. */
  readonly counters: TrafficCounters;
  state: string;
  upstreamLocal: Endpoint | undefined;
  /** The listener that tracks this session, told when it closes. */
  owner: { sessionClosed(session: SessionBase): void } | undefined;
  private closeReason: CloseReason | undefined;

  protected constructor(
    protected readonly host: SessionHost,
    readonly rule: RuleRuntime,
    /** The route at open time: a later retarget does not move this session. */
    readonly route: Route,
    readonly protocol: Protocol,
    readonly clientEnd: Endpoint,
    readonly listenerEnd: Endpoint,
    state: string,
    /** When it opened, if before now (a session the native engine reports late). */
    createdAt = Date.now(),
  ) {
    this.createdAt = createdAt;
    this.lastActivityAt = createdAt;
    this.id = host.nextId();
    this.generation = host.generation;
    this.counters = rule.counters;
    this.state = state;
  }

  get closed(): boolean {
    return this.closeReason !== undefined;
  }

  /** Ends both legs now; `reason` is recorded unless the session already ended. */
  abstract close(reason: CloseReason): void;

  info(): SessionInfo {
    this.refresh();
    const info: SessionInfo = {
      id: this.id,
      table: this.route.table,
      ruleId: this.route.ruleId,
      ruleName: this.route.ruleName,
      protocol: this.protocol,
      client: { ...this.clientEnd },
      listener: { ...this.listenerEnd },
      target: { address: this.route.targetAddress, port: this.route.targetPort },
      state: this.state,
      createdAt: this.createdAt,
      lastActivityAt: this.lastActivityAt,
      fromClient: { ...this.fromClient },
      toClient: { ...this.toClient },
      generation: this.generation,
    };
    if (this.upstreamLocal) info.upstreamLocal = { ...this.upstreamLocal };
    return info;
  }

  /**
   * Brings the byte counts up to date. A session counts as it relays, so
   * this does nothing; a session whose bytes move elsewhere (the splice
   * engine) folds in what moved since the last call.
   */
  refresh(): void {}

  protected setState(state: string): void {
    if (this.state === state || this.closed) return;
    this.state = state;
    this.host.updated(this);
  }

  protected countFromClient(bytes: number): void {
    this.fromClient.bytes += bytes;
    this.fromClient.packets++;
    this.counters.bytesFromClient += bytes;
    this.counters.packetsFromClient++;
    this.host.global.bytesFromClient += bytes;
    this.host.global.packetsFromClient++;
    this.lastActivityAt = Date.now();
  }

  /** Traffic counted elsewhere, added in one go: bytes and reads in each direction. */
  protected addTraffic(fromClientBytes: number, fromClientReads: number, toClientBytes: number, toClientReads: number): void {
    const { global } = this.host;
    this.fromClient.bytes += fromClientBytes;
    this.fromClient.packets += fromClientReads;
    this.counters.bytesFromClient += fromClientBytes;
    this.counters.packetsFromClient += fromClientReads;
    global.bytesFromClient += fromClientBytes;
    global.packetsFromClient += fromClientReads;
    this.toClient.bytes += toClientBytes;
    this.toClient.packets += toClientReads;
    this.counters.bytesToClient += toClientBytes;
    this.counters.packetsToClient += toClientReads;
    global.bytesToClient += toClientBytes;
    global.packetsToClient += toClientReads;
  }

  protected countToClient(bytes: number): void {
    this.toClient.bytes += bytes;
    this.toClient.packets++;
    this.counters.bytesToClient += bytes;
    this.counters.packetsToClient++;
    this.host.global.bytesToClient += bytes;
    this.host.global.packetsToClient++;
    this.lastActivityAt = Date.now();
  }

  /** Marks the session closed (first reason wins) and tells the host once. */
  protected finish(reason: CloseReason): void {
    if (this.closeReason !== undefined) return;
    this.closeReason = reason;
    this.state = 'closed';
    this.host.closed(this, reason);
  }

  /** Why the session is ending, recorded before its sockets report it; the first wins. */
  protected pendingReason: CloseReason | undefined;

  protected noteReason(reason: CloseReason): void {
    this.pendingReason ??= reason;
  }
}
