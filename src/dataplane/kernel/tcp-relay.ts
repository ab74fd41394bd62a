/**
 * One proxied TCP connection: the accepted client socket and an upstream
 * socket to the route's target, relayed both ways with stream back-pressure
 * (a full writable pauses its source until 'drain') and TCP half-close kept
 * (a FIN from one side ends only the other side's writable).
 *
 * The event handlers are static functions shared by every relay; each finds
 * its relay through the socket it fires on, so a connection costs two sockets
 * and one TcpRelay rather than a fresh set of closures.
 */
import { connect, type Socket } from 'node:net';
import type { Route } from '../../plan/model.js';

export interface RelayOwner {
  /** Called once, after both sockets have closed. */
  relayClosed(relay: TcpRelay): void;
}

const kRelay = Symbol('portplane.relay');

interface RelaySocket extends Socket {
  [kRelay]: TcpRelay;
}

export class TcpRelay {
  readonly client: Socket;
  readonly upstream: Socket;
  /** The route at accept time: a later retarget does not move this connection. */
  readonly route: Route;
  private readonly owner: RelayOwner;
  private connected = false;
  private openSockets = 2;

  constructor(client: Socket, route: Route, owner: RelayOwner) {
    this.client = client;
    this.route = route;
    this.owner = owner;
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

    upstream.once('connect', TcpRelay.onUpstreamConnect);
    upstream.on('error', TcpRelay.onUpstreamError);
    client.on('error', TcpRelay.onClientError);
    TcpRelay.wire(client);
    TcpRelay.wire(upstream);
  }

  /** Ends the connection now, both sides. */
  destroy(): void {
    this.client.destroy();
    this.upstream.destroy();
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
    if (!this[kRelay].peerOf(this).write(chunk)) this.pause();
  }

  private static onDrain(this: RelaySocket): void {
    this[kRelay].peerOf(this).resume();
  }

  /** FIN received: pass it on, keep relaying the other direction. */
  private static onEnd(this: RelaySocket): void {
    this[kRelay].peerOf(this).end();
  }

  private static onUpstreamConnect(this: RelaySocket): void {
    const relay = this[kRelay];
    relay.connected = true;
    relay.client.resume();
  }

  private static onUpstreamError(this: RelaySocket, err: NodeJS.ErrnoException): void {
    const relay = this[kRelay];
    // A refused connect or an upstream reset reaches the client as a reset,
    // so it sees what it would have seen talking to the target directly.
    if (!relay.connected || err.code === 'ECONNRESET') relay.client.resetAndDestroy();
    else relay.client.destroy();
  }

  private static onClientError(this: RelaySocket): void {
    this[kRelay].upstream.destroy();
  }

  private static onClose(this: RelaySocket): void {
    const relay = this[kRelay];
    if (--relay.openSockets === 0) relay.owner.relayClosed(relay);
  }
}
