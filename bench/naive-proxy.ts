/**
 * The baseline the issue names: a naive Node.js TCP proxy, one pipe() per direction.
 *   npx tsx bench/naive-proxy.ts LISTEN_PORT TARGET_PORT
 */
import { connect, createServer } from 'node:net';

const [listenPort, targetPort] = process.argv.slice(2).map(Number) as [number, number];
createServer((client) => {
  const upstream = connect({ host: '127.0.0.1', port: targetPort });
  client.pipe(upstream);
  upstream.pipe(client);
  client.on('error', () => upstream.destroy());
  upstream.on('error', () => client.destroy());
}).listen({ host: '127.0.0.1', port: listenPort });
