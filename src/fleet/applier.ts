/**
 * What the agent needs from whatever applies tables: the controller in a
 * real daemon (controller-applier.ts), or a lightweight stand-in for
 * simulated agents (bench/fleet-scale.ts). The agent owns ordering,
 * revisions and status; an applier only applies a batch and says, per
 * table, what happened.
 */
import type { Table, Violation } from '../config/model.js';
import type { PortFailureStatus } from '../dataplane/apply-result.js';

export interface DesiredPut {
  name: string;
  /** mod_revision of its key. */
  revision: number;
  /** Absent when the value did not parse; `violations` then says why. */
  table?: Table;
  violations: Violation[];
}

export interface AppliedTable {
  outcome: 'applied';
  generation: number;
  /** Ports of weak rules that could not bind; the table runs without them. */
  failures: PortFailureStatus[];
}

export interface FailedTable {
  outcome: 'invalid' | 'bind_failed' | 'blocked' | 'error';
  violations?: Violation[];
  failures?: PortFailureStatus[];
  error: string;
}

export type BatchTableOutcome = AppliedTable | FailedTable;

export interface FleetBatch {
  puts: DesiredPut[];
  /** Fleet tables to remove. */
  deletes: string[];
  /** Recorded with the apply (history comment). */
  revision: number;
}

export interface BatchOutcome {
  /** By table name, for every put and delete of the batch. */
  tables: Map<string, BatchTableOutcome>;
}

export interface FleetApplier {
  /** Applies what it can of the batch; a table's own fault is an outcome, never a throw. */
  apply(batch: FleetBatch): Promise<BatchOutcome>;
  /** The generation and digest in force. */
  running(): { generation: number; digest: string };
}
