/**
 * One proxied TCP connection: the accepted client socket and an upstream
 * socket to the route's target, relayed both ways with stream back-pressure
 * (a full writable pauses its source until 'drain') and TCP half-close kept
 * (a FIN from one side ends only the other side's writable).
 *
 * Upstream failures reach the client as a reset, so it sees what it would
 * have seen talking to the target directly, and are counted by kind: refused,
 * timed out (connect timeout), reset mid-stream, other.
 *
 * The event handlers are static functions shared by every relay; each finds
 * its relay through the socket it fires on, so a connection costs two sockets
 * and one TcpRelay rather than a fresh set of closures.
 */
import { connect, type Socket } from 'node:net';
import type { Route } from '../../plan/model.js';
import { proxyHeader } from '../proxy-header.js';
import type { CloseReason, Endpoint } from '../session-store.js';
import type { DropReason } from '../telemetry.js';
import type { RuleRuntime } from './rule-runtime.js';
import { SessionBase, type SessionHost } from './session.js';

const kRelay = Symbol('portplane.relay');

interface RelaySocket extends Socket {
  [kRelay]: TcpRelay;
}

function connectFailure(code: string | undefined): DropReason {
  switch (code) {
    case 'ECONNREFUSED':
      return 'upstream_refused';
    case 'ETIMEDOUT':
      return 'upstream_timeout';
    case 'EMFILE':
    case 'ENFILE':
    case 'ENOBUFS':
    case 'ENOMEM':
      return 'resource';
    default:
      return 'upstream_error';
  }
}

export class TcpRelay extends SessionBase {
  readonly client: Socket;
  readonly upstream: Socket;
  private connected = false;
  /** close() was called: the failures that follow are ours, not the target's. */
  private requested = false;
  private openSockets = 2;
  private connectTimer: NodeJS.Timeout | undefined;

  constructor(host: SessionHost, rule: RuleRuntime, route: Route, client: Socket, listener: Endpoint) {
    super(
      host,
      rule,
      route,
      'tcp',
      { address: client.remoteAddress ?? '', port: client.remotePort ?? 0 },
      listener,
      'connecting',
    );
    this.client = client;
    // Until upstream connects, client bytes wait in the client's own readable
    // buffer, which stops reading from the kernel at its high-water mark.
    client.pause();
    const upstream = connect({
      host: route.targetAddress,
      port: route.targetPort,
      allowHalfOpen: true,
      noDelay: true,
    });
    this.upstream = upstream;
    (client as RelaySocket)[kRelay] = this;
    (upstream as RelaySocket)[kRelay] = this;
    this.connectTimer = setTimeout(TcpRelay.onConnectTimeout, rule.rule.connectTimeoutMs, this);

    upstream.once('connect', TcpRelay.onUpstreamConnect);
    upstream.on('error', TcpRelay.onUpstreamError);
    client.on('error', TcpRelay.onClientError);
    TcpRelay.wire(client);
    TcpRelay.wire(upstream);
    host.opened(this);
  }

  close(reason: CloseReason): void {
    if (this.closed) return;
    this.requested = true;
    this.noteReason(reason);
    clearTimeout(this.connectTimer);
    if (reason === 'shutdown') this.client.destroy();
    else if (!this.client.destroyed) this.client.resetAndDestroy();
    this.upstream.destroy();
    // Both sockets are destroyed: the session ends now, so the store no longer lists it once close() returns.
    this.finish(this.pendingReason ?? reason);
  }

  private peerOf(socket: Socket): Socket {
    return socket === this.client ? this.upstream : this.client;
  }

  /** The handlers both directions share. */
  private static wire(socket: Socket): void {
    socket.on('data', TcpRelay.onData);
    socket.on('drain', TcpRelay.onDrain);
    socket.on('end', TcpRelay.onEnd);
    socket.on('close', TcpRelay.onClose);
  }

  private static onData(this: RelaySocket, chunk: Buffer): void {
    const relay = this[kRelay];
    if (this === relay.client) {
      relay.countFromClient(chunk.length);
      if (!relay.upstream.write(chunk)) this.pause();
    } else {
      relay.countToClient(chunk.length);
      if (!relay.client.write(chunk)) this.pause();
    }
  }

  private static onDrain(this: RelaySocket): void {
    this[kRelay].peerOf(this).resume();
  }

  /** FIN received: pass it on, keep relaying the other direction. */
  private static onEnd(this: RelaySocket): void {
    const relay = this[kRelay];
    relay.noteReason(this === relay.client ? 'client' : 'target');
    relay.peerOf(this).end();
    relay.setState('half_closed');
  }

  private static onUpstreamConnect(this: RelaySocket): void {
    const relay = this[kRelay];
    relay.connected = true;
    clearTimeout(relay.connectTimer);
    relay.upstreamLocal = { address: this.localAddress ?? '', port: this.localPort ?? 0 };
    const version = relay.rule.rule.proxyProtocol;
    // The header goes first; client bytes follow once the client resumes.
    if (version !== 'none') this.write(proxyHeader(version, relay.clientEnd, relay.listenerEnd));
    relay.client.resume();
    relay.setState('established');
  }

  private static onConnectTimeout(relay: TcpRelay): void {
    if (relay.connected || relay.closed) return;
    relay.requested = true;
    relay.host.drop(relay.rule, 'upstream_timeout');
    relay.noteReason('error');
    relay.upstream.destroy();
    relay.client.resetAndDestroy();
  }

  private static onUpstreamError(this: RelaySocket, err: NodeJS.ErrnoException): void {
    const relay = this[kRelay];
    clearTimeout(relay.connectTimer);
    if (!relay.requested) {
      const reset = relay.connected && err.code === 'ECONNRESET';
      relay.host.drop(relay.rule, relay.connected ? (reset ? 'upstream_reset' : 'upstream_error') : connectFailure(err.code));
      relay.noteReason(reset ? 'target' : 'error');
    }
    // A refused connect or an upstream reset reaches the client as a reset.
    if (relay.client.destroyed) return;
    if (!relay.connected || err.code === 'ECONNRESET') relay.client.resetAndDestroy();
    else relay.client.destroy();
  }

  private static onClientError(this: RelaySocket): void {
    const relay = this[kRelay];
    relay.noteReason('client');
    relay.upstream.destroy();
  }

  private static onClose(this: RelaySocket): void {
    const relay = this[kRelay];
    if (relay.pendingReason === undefined) relay.noteReason(this === relay.client ? 'client' : 'target');
    if (--relay.openSockets === 0) {
      clearTimeout(relay.connectTimer);
      relay.finish(relay.pendingReason ?? 'client');
    }
  }
}
