/**
 * The fleet as a controller sees it: every node's desired keys and its
 * status, read together, and whether a node has caught up with its desired
 * state. `fleet status` prints it and `fleet status --wait` polls it; the
 * tests and the benchmark wait on it too.
 */
import type { Etcd3 } from 'etcd3';
import type { FleetKeys } from './keys.js';
import type { NodeStatus } from './status.js';

export interface NodeView {
  node: string;
  /** Desired tables and the mod_revision of each. */
  desired: Map<string, number>;
  status?: NodeStatus;
  /** The status key held something that is not a status. */
  statusError?: string;
}

export interface FleetView {
  /** etcd revision both reads reflect at least. */
  revision: number;
  nodes: Map<string, NodeView>;
}

/**
 * - in_effect: status reflects every desired key (and no deleted one) and all applied;
 * - failed: it reflects every key, and some table was reported not applied;
 * - behind: no status, or a desired revision it has not reported yet.
 */
export type NodeProgress = 'in_effect' | 'failed' | 'behind';

export async function readFleet(etcd: Etcd3, keys: FleetKeys, only?: string): Promise<FleetView> {
  const desiredPrefix = only ? keys.nodeTables(only) : keys.allNodes();
  const statusPrefix = only ? keys.status(only) : keys.statusPrefix();
  // Desired first: a status read after it is at least as new as the desired revisions it is compared with.
  const desired = await etcd.getAll().prefix(desiredPrefix).exec();
  const status = only ? await etcd.get(statusPrefix).exec() : await etcd.getAll().prefix(statusPrefix).exec();
  const nodes = new Map<string, NodeView>();
  const nodeView = (node: string): NodeView => {
    let view = nodes.get(node);
    if (!view) nodes.set(node, (view = { node, desired: new Map() }));
    return view;
  };
  for (const kv of desired.kvs) {
    const parsed = keys.parseTableKey(kv.key.toString());
    if (parsed) nodeView(parsed.node).desired.set(parsed.table, Number(kv.mod_revision));
  }
  for (const kv of status.kvs) {
    const node = kv.key.toString().slice(keys.statusPrefix().length);
    if (node.includes('/')) continue;
    const view = nodeView(node);
    try {
      view.status = JSON.parse(kv.value.toString()) as NodeStatus;
    } catch (err) {
      view.statusError = `not JSON: ${(err as Error).message}`;
    }
  }
  return { revision: Number(status.header.revision), nodes };
}

export function nodeProgress(view: NodeView): NodeProgress {
  const { status } = view;
  if (!status) return 'behind';
  let failed = false;
  for (const [table, revision] of view.desired) {
    const t = status.tables[table];
    if (!t || t.desiredRevision < revision) return 'behind';
    if (t.outcome !== 'applied') failed = true;
  }
  // A table the node still reports but etcd no longer holds: its deletion is not in effect yet.
  for (const table of Object.keys(status.tables)) if (!view.desired.has(table)) return 'behind';
  return failed ? 'failed' : 'in_effect';
}
