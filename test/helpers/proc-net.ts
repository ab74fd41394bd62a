/**
 * Listening sockets as the kernel reports them, to prove from outside a
 * process that a socket survived an apply: the same socket keeps its inode.
 *
 * /proc/<pid>/net/tcp{,6} list every TCP socket of that process's network
 * namespace, so the result includes other processes' listeners on the port
 * when they share the namespace.
 */
import { readdir, readFile, readlink } from 'node:fs/promises';

const LISTEN = '0A';

/** Inodes (sorted, as decimal strings) of the TCP sockets listening on `port`, IPv4 and IPv6. */
export async function listeningSocketInodes(port: number, pid?: number): Promise<string[]> {
  const dir = `/proc/${pid ?? 'self'}/net`;
  const tables = await Promise.all([readFile(`${dir}/tcp`, 'utf8'), readFile(`${dir}/tcp6`, 'utf8').catch(() => '')]);
  const inodes: string[] = [];
  for (const table of tables) {
    // Header line first; then: sl local_address rem_address st ... uid timeout inode.
    for (const line of table.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      const local = fields[1];
      const inode = fields[9];
      if (fields[3] !== LISTEN || local === undefined || inode === undefined) continue;
      if (parseInt(local.slice(local.lastIndexOf(':') + 1), 16) === port) inodes.push(inode);
    }
  }
  return inodes.sort();
}

/**
 * Like listeningSocketInodes, but only the sockets process `pid` (default:
 * this one) holds open: another test file's listener that happens to use the
 * same port in the same namespace does not count.
 */
export async function ownListeningSocketInodes(port: number, pid?: number): Promise<string[]> {
  const fdDir = `/proc/${pid ?? 'self'}/fd`;
  const owned = new Set<string>();
  for (const fd of await readdir(fdDir)) {
    const target = await readlink(`${fdDir}/${fd}`).catch(() => '');
    const m = /^socket:\[(\d+)\]$/.exec(target);
    if (m?.[1]) owned.add(m[1]);
  }
  return (await listeningSocketInodes(port, pid)).filter((inode) => owned.has(inode));
}
