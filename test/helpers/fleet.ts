/**
 * Fleet test helpers: write a node's desired table to etcd the way
 * `portplane fleet put` does, read a node's status, and wait (bounded) for a
 * condition on it.
 */
import type { Etcd3 } from 'etcd3';
import { desiredTableText } from '../../src/fleet/desired-table.js';
import type { FleetKeys } from '../../src/fleet/keys.js';
import { writeInEffect, type NodeStatus, type TableStatus } from '../../src/fleet/status.js';

/** Puts `{name, rules}` (wire form) as `node`'s table; the etcd revision of the write. */
export async function putTable(etcd: Etcd3, keys: FleetKeys, node: string, table: { name: string; rules: object[] }): Promise<number> {
  const res = await etcd.put(keys.table(node, table.name)).value(desiredTableText(table)).exec();
  return Number(res.header.revision);
}

export async function putRaw(etcd: Etcd3, keys: FleetKeys, node: string, table: string, text: string): Promise<number> {
  const res = await etcd.put(keys.table(node, table)).value(text).exec();
  return Number(res.header.revision);
}

export async function deleteTable(etcd: Etcd3, keys: FleetKeys, node: string, table: string): Promise<number> {
  const res = await etcd.delete().key(keys.table(node, table)).exec();
  return Number(res.header.revision);
}

export async function readStatus(etcd: Etcd3, keys: FleetKeys, node: string): Promise<NodeStatus | undefined> {
  const text = await etcd.get(keys.status(node)).string();
  return text === null ? undefined : (JSON.parse(text) as NodeStatus);
}

/** Polls `check` every 50 ms until it returns a value other than undefined, or throws after `timeoutMs`. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Waits until `node`'s status says its write of `table` at `revision` is in effect (or deleted), and returns that status. */
export function waitInEffect(etcd: Etcd3, keys: FleetKeys, node: string, table: string, revision: number, opts: { deleted?: boolean; timeoutMs?: number } = {}): Promise<NodeStatus> {
  return waitFor(`${node}: ${table}@${revision} in effect`, async () => {
    const status = await readStatus(etcd, keys, node);
    if (!status) return undefined;
    const verdict = writeInEffect(status, table, revision, opts.deleted);
    if (verdict === undefined) return undefined;
    if (verdict !== true) throw new Error(`${table}@${revision} failed on ${node}: ${JSON.stringify(verdict)}`);
    return status;
  }, opts.timeoutMs);
}

/** Waits until `node` reports `table` at `revision` with an outcome other than applied; returns that table status. */
export function waitFailed(etcd: Etcd3, keys: FleetKeys, node: string, table: string, revision: number, timeoutMs = 20_000): Promise<TableStatus> {
  return waitFor(`${node}: ${table}@${revision} reported failed`, async () => {
    const t = (await readStatus(etcd, keys, node))?.tables[table];
    return t && t.desiredRevision >= revision && t.outcome !== 'applied' ? t : undefined;
  }, timeoutMs);
}
