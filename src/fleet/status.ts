/**
 * What a node reports at `<prefix>/status/<node>`: which desired revision it
 * reflects, what runs (generation, digest), each fleet table's outcome with
 * field paths or failed ports, conditions in the Kubernetes style and the
 * last error. A controller tells from this key alone whether its write at
 * revision R is in effect on the node (see writeInEffect()).
 */
import type { Violation } from '../config/model.js';
import type { PortFailureStatus } from '../dataplane/apply-result.js';

/**
 * - applied: the table at `desiredRevision` runs (possibly with weak-rule
 *   ports that failed, listed in `failures`);
 * - invalid: it failed validation; `violations` has every field path;
 * - bind_failed: a non-weak rule could not bind; `failures` has each port and errno;
 * - blocked: a local apply awaits confirmation; retried when it resolves;
 * - error: the apply could not run (e.g. the state could not be saved); retried.
 * Whatever did not apply left the table's previous version (`appliedRevision`) running.
 */
export type TableOutcome = 'applied' | 'invalid' | 'bind_failed' | 'blocked' | 'error';

export interface TableStatus {
  /** mod_revision of the desired key this outcome is for. */
  desiredRevision: number;
  /** mod_revision of the version that runs; absent when none does. */
  appliedRevision?: number;
  outcome: TableOutcome;
  /** The generation that put `appliedRevision` in force (or found it already in force). */
  generation?: number;
  violations?: Violation[];
  failures?: PortFailureStatus[];
  error?: string;
  /** A local admin changed this fleet table after the fleet applied it. */
  overridden?: Override;
}

export interface Override {
  caller: string;
  method: string;
  generation: number;
  at: string;
}

export type ConditionType = 'Ready' | 'Degraded' | 'Stale';

export interface Condition {
  type: ConditionType;
  status: boolean;
  reason: string;
  message: string;
  /** When `status` last changed (ISO 8601). */
  since: string;
}

export interface NodeStatus {
  node: string;
  /** Every change of this node's desired keys up to this etcd revision is reflected below. */
  observedRevision: number;
  generation: number;
  digest: string;
  tables: Record<string, TableStatus>;
  conditions: Condition[];
  lastError?: { message: string; at: string };
  updatedAt: string;
  agent: { pid: number; startedAt: string };
}

/**
 * Whether the write of `table` that etcd stored at `revision` is in effect
 * (true), failed (a TableStatus), or not yet known (undefined). A deletion
 * is in effect once `observedRevision` reaches it and the table is gone.
 */
export function writeInEffect(status: NodeStatus, table: string, revision: number, deleted = false): true | TableStatus | undefined {
  const t = status.tables[table];
  if (deleted) return status.observedRevision >= revision && !t ? true : undefined;
  if (!t || t.desiredRevision < revision) return undefined;
  if (t.outcome === 'applied' && (t.appliedRevision ?? 0) >= revision) return true;
  return t.outcome === 'applied' ? undefined : t;
}

export function condition(type: ConditionType, status: boolean, reason: string, message: string): Omit<Condition, 'since'> {
  return { type, status, reason, message };
}
