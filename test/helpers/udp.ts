/**
 * Real loopback UDP peers for tests: an echo server (the forwarding target)
 * and a client that sends one datagram and waits for its echo.
 */
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';

export interface UdpEcho {
  socket: Socket;
  port: number;
  close(): Promise<void>;
}

export async function startUdpEcho(host = '127.0.0.1'): Promise<UdpEcho> {
  const socket = createSocket('udp4');
  socket.on('message', (msg, rinfo) => socket.send(msg, rinfo.port, rinfo.address));
  socket.bind(0, host);
  await once(socket, 'listening');
  return { socket, port: socket.address().port, close: () => new Promise((res) => socket.close(() => res())) };
}

/** A client socket bound to an ephemeral port of 127.0.0.1. */
export async function udpClient(): Promise<Socket> {
  const socket = createSocket('udp4');
  socket.bind(0, '127.0.0.1');
  await once(socket, 'listening');
  return socket;
}

/** Sends `payload` to `port` from `socket` and resolves with the first datagram back. */
export function udpRoundTrip(socket: Socket, port: number, payload: Buffer, timeoutMs = 10_000): Promise<Buffer> {
  return new Promise((res, rej) => {
    const timer = setTimeout(() => {
      socket.off('message', onMessage);
      rej(new Error(`no UDP reply from 127.0.0.1:${port} within ${timeoutMs} ms`));
    }, timeoutMs);
    const onMessage = (msg: Buffer): void => {
      clearTimeout(timer);
      socket.off('message', onMessage);
      res(msg);
    };
    socket.on('message', onMessage);
    socket.send(payload, port, '127.0.0.1');
  });
}
