/**
 * A loopback TCP proxy in front of a real peer (etcd) that can fail the way
 * networks do: drop every connection (a restart of the path), stop
 * accepting, or blackhole the connections it has (keep them open, forward
 * nothing: a dead NAT entry, a hung middlebox) while new ones work.
 */
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';

export class TcpProxy {
  private server: Server | undefined;
  private readonly pairs = new Set<[Socket, Socket]>();
  /** Blackholed: open, silent, closed only by close(). */
  private readonly quiet: [Socket, Socket][] = [];
  private port = 0;

  private constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  static async start(targetHost: string, targetPort: number): Promise<TcpProxy> {
    const proxy = new TcpProxy(targetHost, targetPort);
    await proxy.listen();
    return proxy;
  }

  /** Accepts (again) on the same port. */
  async listen(): Promise<void> {
    const server = createServer((client) => {
      const upstream = connect(this.targetPort, this.targetHost);
      const pair: [Socket, Socket] = [client, upstream];
      this.pairs.add(pair);
      const end = (): void => {
        client.destroy();
        upstream.destroy();
        this.pairs.delete(pair);
      };
      client.on('error', end).on('close', end);
      upstream.on('error', end).on('close', end);
      client.pipe(upstream);
      upstream.pipe(client);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', resolve);
    });
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  /** Stops accepting and resets every connection. */
  async down(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const [a, b] of this.pairs) {
      a.destroy();
      b.destroy();
    }
    this.pairs.clear();
    if (server) await new Promise((r) => server.close(r));
  }

  /** Existing connections stay open but carry nothing more, either way; new connections work. Returns how many went quiet. */
  blackholeExisting(): number {
    const n = this.pairs.size;
    for (const pair of this.pairs) {
      const [a, b] = pair;
      a.unpipe(b);
      b.unpipe(a);
      a.pause();
      b.pause();
      this.quiet.push(pair);
    }
    this.pairs.clear();
    return n;
  }

  async close(): Promise<void> {
    // First: the server's close waits for every connection it accepted, quiet ones too.
    for (const [a, b] of this.quiet.splice(0)) {
      a.destroy();
      b.destroy();
    }
    await this.down();
  }
}
