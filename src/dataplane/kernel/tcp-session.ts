/**
 * Opens the session of an accepted TCP connection: relayed by the native
 * splice engine when it is loaded and can take the connection, else by the
 * JavaScript relay. Both behave the same; the engine only moves the bytes
 * off the JavaScript thread.
 */
import type { Socket } from 'node:net';
import type { Route } from '../../plan/model.js';
import type { Endpoint } from '../session-store.js';
import type { RuleRuntime } from './rule-runtime.js';
import type { SessionBase, SessionHost } from './session.js';
import { spliceEngine } from './splice-engine.js';
import { SpliceRelay } from './splice-relay.js';
import { connectFailure, TcpRelay } from './tcp-relay.js';

/**
 * The session for `socket`, which must have been accepted paused (so its
 * descriptor was never read from and can change hands); undefined when the
 * connection was refused for want of a descriptor (counted, client reset).
 */
export function openTcpSession(host: SessionHost, rule: RuleRuntime, route: Route, socket: Socket, listener: Endpoint): SessionBase | undefined {
  const { engine } = spliceEngine();
  // net.Socket keeps its libuv handle's descriptor here; there is no public accessor.
  const fd = (socket as unknown as { _handle?: { fd?: number } | null })._handle?.fd;
  if (engine && typeof fd === 'number' && fd >= 0) {
    const client = { address: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 };
    const adopted = SpliceRelay.adopt(engine, { host, rule, route, client, listener }, fd);
    if (adopted instanceof SpliceRelay) {
      // The engine holds its own duplicate: closing ours leaves the connection open.
      socket.destroy();
      return adopted;
    }
    if (adopted !== undefined) {
      host.drop(rule, connectFailure(adopted));
      socket.resetAndDestroy();
      return undefined;
    }
  }
  return new TcpRelay(host, rule, route, socket, listener);
}
