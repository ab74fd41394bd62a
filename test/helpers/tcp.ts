/**
 * Real loopback TCP peers for tests: an echo server (the forwarding
 * target), free-port lookup, and a one-shot echo round trip.
 */
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';

export interface EchoServer {
  server: Server;
  port: number;
  sockets: Set<Socket>;
  close(): Promise<void>;
}

/** Echoes everything back; `tag` is prefixed to every reply when given, so tests can tell targets apart. */
export async function startEchoServer(host = '127.0.0.1', tag = ''): Promise<EchoServer> {
  const sockets = new Set<Socket>();
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    if (tag) socket.write(tag);
    socket.pipe(socket);
  });
  await new Promise<void>((res, rej) => {
    server.once('error', rej);
    server.listen({ host, port: 0 }, res);
  });
  return {
    server,
    port: (server.address() as AddressInfo).port,
    sockets,
    close: () =>
      new Promise((res) => {
        for (const s of sockets) s.destroy();
        server.close(() => res());
      }),
  };
}

/** A port that was free a moment ago (bound and released), from the ephemeral range. */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const server = createServer();
  await new Promise<void>((res, rej) => {
    server.once('error', rej);
    server.listen({ host, port: 0 }, res);
  });
  const port = (server.address() as AddressInfo).port;
  await new Promise((res) => server.close(res));
  return port;
}

/** `count` consecutive free ports on 127.0.0.1 (probed by binding each), within [low, high]. */
export async function freePortBlock(count: number, low = 20000, high = 32000): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const start = low + Math.floor(Math.random() * (high - low - count));
    const held: Server[] = [];
    let ok = true;
    for (let p = start; p < start + count && ok; p++) {
      const s = createServer();
      ok = await new Promise<boolean>((res) => {
        s.once('error', () => res(false));
        s.listen({ host: '127.0.0.1', port: p, exclusive: true }, () => res(true));
      });
      if (ok) held.push(s);
    }
    await Promise.all(held.map((s) => new Promise((res) => s.close(res))));
    if (ok) return start;
  }
  throw new Error(`no block of ${count} free ports in ${low}-${high}`);
}

/** Connects, sends `payload`, half-closes, and resolves with everything received. */
export function roundTrip(port: number, payload: string | Buffer, host = '127.0.0.1', timeoutMs = 10_000): Promise<Buffer> {
  return new Promise((res, rej) => {
    const chunks: Buffer[] = [];
    const socket = connect({ host, port, allowHalfOpen: true });
    const timer = setTimeout(() => {
      socket.destroy();
      rej(new Error(`round trip to ${host}:${port} timed out`));
    }, timeoutMs);
    socket.on('connect', () => socket.end(payload));
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', (err) => {
      clearTimeout(timer);
      rej(err);
    });
    socket.on('end', () => {
      clearTimeout(timer);
      socket.end();
      res(Buffer.concat(chunks));
    });
  });
}
