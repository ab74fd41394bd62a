/**
 * UDP forwarding: a listening socket per port, and per client flow (source
 * address and port) one connected upstream socket, created on the flow's
 * first datagram. Replies go back out of the listening socket, so the client
 * sees them come from the port it sent to. A flow expires after its rule's
 * idle timeout with no datagram either way.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import type { ListenerBinding, Route } from '../../plan/model.js';
import type { CloseReason, Endpoint } from '../session-store.js';
import type { RuleRuntime } from './rule-runtime.js';
import { SessionBase, type SessionHost } from './session.js';

export type UdpOpenResult = { ok: true; socket: Socket } | { ok: false; errno: string; message: string };

/** Datagrams a flow holds while its upstream socket connects; more are dropped, as a full socket buffer would. */
const MAX_PENDING = 64;

/** Binds a listening UDP socket the way listenSpec() binds TCP: '' is dual-stack any, '::' IPv6-only. */
export function openUdpListener(
  binding: ListenerBinding,
  onMessage: (msg: Buffer, rinfo: RemoteInfo) => void,
  onError: (err: Error) => void,
): Promise<UdpOpenResult> {
  const host = binding.listenAddress === '' ? '::' : binding.listenAddress;
  const v6 = isIPv6(host.replace(/%.*$/, ''));
  const socket = createSocket({ type: v6 ? 'udp6' : 'udp4', ipv6Only: binding.listenAddress === '::', reuseAddr: false });
  return new Promise((resolve) => {
    const onListening = (): void => {
      socket.off('error', onBindError);
      socket.on('error', onError);
      socket.on('message', onMessage);
      resolve({ ok: true, socket });
    };
    const onBindError = (err: NodeJS.ErrnoException): void => {
      socket.off('listening', onListening);
      socket.close();
      resolve({ ok: false, errno: err.code ?? 'EUNKNOWN', message: err.message });
    };
    socket.once('listening', onListening);
    socket.once('error', onBindError);
    try {
      socket.bind({ address: host, port: binding.port, exclusive: true });
    } catch (err) {
      onBindError(err as NodeJS.ErrnoException);
    }
  });
}

export function udpSocketFd(socket: Socket): number | undefined {
  const handle = (socket as unknown as { _handle?: { fd?: number } | null })._handle;
  return handle?.fd;
}

export class UdpFlow extends SessionBase {
  readonly upstream: Socket;
  /** Datagrams waiting for the upstream socket to connect; undefined once connected. */
  private pending: Buffer[] | undefined = [];
  private idleTimer: NodeJS.Timeout;

  constructor(
    host: SessionHost,
    rule: RuleRuntime,
    route: Route,
    private readonly listening: Socket,
    client: Endpoint,
    listener: Endpoint,
  ) {
    super(host, rule, route, 'udp', client, listener, 'connecting');
    const target = route.targetAddress;
    const upstream = createSocket({ type: isIPv6(target.replace(/%.*$/, '')) ? 'udp6' : 'udp4' });
    this.upstream = upstream;
    upstream.on('message', (msg: Buffer) => {
      this.countToClient(msg.length);
      this.listening.send(msg, this.clientEnd.port, this.clientEnd.address);
    });
    upstream.on('error', (err: NodeJS.ErrnoException) => this.failed(err));
    upstream.connect(route.targetPort, target, () => this.onConnect());
    this.idleTimer = setTimeout(UdpFlow.onIdleTimer, rule.rule.udpIdleTimeoutMs, this).unref();
    host.opened(this);
  }

  /** A datagram from the client. */
  forward(msg: Buffer): void {
    this.countFromClient(msg.length);
    if (this.pending) {
      if (this.pending.length < MAX_PENDING) this.pending.push(msg);
      return;
    }
    this.upstream.send(msg);
  }

  close(reason: CloseReason): void {
    if (this.closed) return;
    clearTimeout(this.idleTimer);
    this.pending = undefined;
    this.upstream.close();
    this.finish(reason);
  }

  private onConnect(): void {
    if (this.closed) return;
    const local = this.upstream.address();
    this.upstreamLocal = { address: local.address, port: local.port };
    const pending = this.pending ?? [];
    this.pending = undefined;
    for (const msg of pending) this.upstream.send(msg);
    this.setState('active');
  }

  /** ICMP unreachable (ECONNREFUSED) or a socket that could not be made: the flow ends, the next datagram starts a new one. */
  private failed(err: NodeJS.ErrnoException): void {
    if (this.closed) return;
    const code = err.code ?? '';
    this.host.drop(
      this.rule,
      code === 'ECONNREFUSED' ? 'upstream_refused' : code === 'EMFILE' || code === 'ENFILE' ? 'resource' : 'upstream_error',
    );
    this.close('error');
  }

  private static onIdleTimer(flow: UdpFlow): void {
    if (flow.closed) return;
    const timeout = flow.rule.rule.udpIdleTimeoutMs;
    const idle = Date.now() - flow.lastActivityAt;
    if (idle >= timeout) flow.close('idle');
    else flow.idleTimer = setTimeout(UdpFlow.onIdleTimer, timeout - idle, flow).unref();
  }
}
