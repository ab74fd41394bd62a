/**
 * One proxied TCP connection, or one UDP flow, relayed by the native engine
 * (splice-engine.ts): the same session as TcpRelay (half-close passed on,
 * upstream failures reaching the client as a reset and counted by kind,
 * close() ending both legs) or UdpFlow (idle expiry, port unreachable ending
 * the flow), but accepted, connected and relayed by an engine thread. No
 * socket object exists in JavaScript; this session keeps only what
 * SessionInfo needs and follows the engine's events.
 */
import { constants } from 'node:os';
import type { Protocol } from '../../config/model.js';
import type { Route } from '../../plan/model.js';
import { proxyHeader } from '../proxy-header.js';
import type { CloseReason, Endpoint, SessionInfo } from '../session-store.js';
import type { DropReason } from '../telemetry.js';
import type { RuleRuntime } from './rule-runtime.js';
import { SessionBase, type SessionHost } from './session.js';
import { EV_CONNECTED, EV_END, STAT, STATS_PER_SLOT, WHY, type EngineConnection, type FinalCounts, type SpliceEngine } from './splice-engine.js';
import { connectFailure } from './tcp-relay.js';

const errnoNames = new Map<number, string>(Object.entries(constants.errno).map(([name, n]) => [n, name]));

/** Everything a splice session needs from the accept path. */
export interface SpliceAccept {
  host: SessionHost;
  rule: RuleRuntime;
  route: Route;
  client: Endpoint;
  listener: Endpoint;
}

export class SpliceRelay extends SessionBase implements EngineConnection {
  /** close() was called: failures that follow are ours, not the target's. */
  private requested = false;

  private constructor(
    accept: SpliceAccept,
    private readonly engine: SpliceEngine,
    private readonly slot: number,
    private readonly serial: number,
    protocol: Protocol = 'tcp',
    createdAt?: number,
  ) {
    super(accept.host, accept.rule, accept.route, protocol, accept.client, accept.listener, 'connecting', createdAt);
    accept.host.opened(this);
  }

  /** The session of a connection (or UDP flow) the engine accepted and admitted itself (EV_OPENED) at `createdAt`. */
  static accepted(engine: SpliceEngine, accept: SpliceAccept, slot: number, serial: number, protocol: Protocol, createdAt: number): SpliceRelay {
    return new SpliceRelay(accept, engine, slot, serial, protocol, createdAt);
  }

  /**
   * Hands the accepted connection on descriptor `fd` to the engine. Undefined
   * when the engine cannot take it (then nothing happened, and the caller
   * relays it in JavaScript); an errno name when the engine could not get a
   * descriptor (then the caller drops the connection as out of resources).
   */
  static adopt(engine: SpliceEngine, accept: SpliceAccept, fd: number): SpliceRelay | string | undefined {
    const version = accept.rule.rule.proxyProtocol;
    const header = version === 'none' ? null : proxyHeader(version, accept.client, accept.listener);
    const { targetAddress, targetPort } = accept.route;
    const adopted = engine.adopt(fd, targetAddress, targetPort, accept.rule.rule.connectTimeoutMs, header);
    if (adopted.ok) {
      const relay = new SpliceRelay(accept, engine, adopted.slot, adopted.serial);
      engine.attach(adopted.serial, relay);
      return relay;
    }
    const name = errnoNames.get(adopted.errno) ?? `errno ${adopted.errno}`;
    return name === 'EINVAL' || name === 'ENOSPC' ? undefined : name;
  }

  close(reason: CloseReason): void {
    if (this.closed || this.requested) return;
    this.requested = true;
    this.noteReason(reason);
    // Counts so far are folded in now: the session ends before the engine reports it.
    this.refresh();
    this.engine.close(this.slot, this.serial, reason !== 'shutdown');
    // Like the JavaScript relay, the session is gone once close() returns
    // (SessionStore.deleteWithCompanions); the engine's EV_CLOSED then only frees the slot.
    this.finish(this.pendingReason ?? reason);
  }

  /** Folds in what the engine moved since the last call. */
  override refresh(): void {
    if (this.closed) return;
    const { stats } = this.engine;
    const base = this.slot * STATS_PER_SLOT;
    // The slot holds another connection's counts once this one closed in the engine (its final counts come with EV_CLOSED).
    if (stats[base + STAT.serial] !== this.serial) return;
    const fromBytes = (stats[base + STAT.fromClientBytes] as number) - this.fromClient.bytes;
    const fromReads = (stats[base + STAT.fromClientReads] as number) - this.fromClient.packets;
    const toBytes = (stats[base + STAT.toClientBytes] as number) - this.toClient.bytes;
    const toReads = (stats[base + STAT.toClientReads] as number) - this.toClient.packets;
    if (fromReads === 0 && toReads === 0) return;
    this.addTraffic(fromBytes, fromReads, toBytes, toReads);
    this.lastActivityAt = stats[base + STAT.lastActivityMs] as number;
  }

  onEngineEvent(kind: number, why: number, detail: number, address: string | undefined, port: number | undefined): void {
    if (kind === EV_CONNECTED) {
      if (address !== undefined) this.upstreamLocal = { address, port: port ?? 0 };
      this.setState(this.protocol === 'udp' ? 'active' : 'established');
    } else if (kind === EV_END) {
      this.noteReason(detail === 0 ? 'client' : 'target');
      this.setState('half_closed');
    }
  }

  onEngineClosed(why: number, detail: number, counts: FinalCounts): void {
    if (!this.closed) {
      const fromReads = counts.fromClientReads - this.fromClient.packets;
      const toReads = counts.toClientReads - this.toClient.packets;
      if (fromReads !== 0 || toReads !== 0) {
        this.addTraffic(counts.fromClientBytes - this.fromClient.bytes, fromReads, counts.toClientBytes - this.toClient.bytes, toReads);
        this.lastActivityAt = counts.lastActivityMs;
      }
    }
    this.closedBecause(why, detail);
  }

  override info(): SessionInfo {
    // Asked of the engine only now: it sends the upstream's address along only while sessions are watched.
    if (this.state !== 'connecting' && !this.upstreamLocal && !this.closed) this.upstreamLocal = this.engine.upstreamLocal(this.slot, this.serial);
    return super.info();
  }

  private closedBecause(why: number, detail: number): void {
    const outcome = engineOutcome(why, detail);
    if (outcome.drop && !this.requested) this.host.drop(this.rule, outcome.drop);
    if (outcome.reason) this.noteReason(outcome.reason);
    this.finish(this.pendingReason ?? 'client');
  }
}

/** What an engine close (EV_CLOSED why, detail) means: a failure to count, and why the session ended (none: close() said). */
export function engineOutcome(why: number, detail: number): { drop?: DropReason; reason?: CloseReason } {
  switch (why) {
    case WHY.ended:
      return { reason: detail === 0 ? 'client' : 'target' };
    case WHY.clientError:
      return { reason: 'client' };
    case WHY.upstreamReset:
      return { drop: 'upstream_reset', reason: 'target' };
    case WHY.upstreamError:
      return { drop: 'upstream_error', reason: 'error' };
    case WHY.connectFailed:
      return { drop: connectFailure(errnoNames.get(detail)), reason: 'error' };
    case WHY.connectTimeout:
      return { drop: 'upstream_timeout', reason: 'error' };
    case WHY.resource:
      return { drop: 'resource', reason: 'error' };
    case WHY.upstreamRefused:
      return { drop: 'upstream_refused', reason: 'error' };
    case WHY.idle:
      return { reason: 'idle' };
    default:
      return {};
  }
}
