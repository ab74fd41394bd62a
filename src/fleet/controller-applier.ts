/**
 * Fleet batches as ordinary applies through the ConfigController's public
 * API: the same validation, socket continuity, generations and history as
 * any caller's, recorded with caller `etcd`. Puts go in one apply; a batch
 * that removes tables is a replace_all of the running tables minus those,
 * guarded by expected_generation so a local apply in between is never
 * undone (retried on fresh state instead).
 *
 * A table that fails (its own violations, a port it cannot bind) is taken
 * out and the rest is applied again, so one bad table never holds up the
 * others and nothing of it is applied. A violation that names no single
 * table (a limit over all tables) falls back to one apply per table.
 */
import type { Table, Violation } from '../config/model.js';
import type { ApplyResponse, ConfigController } from '../control/config-controller.js';
import type { CallerIdentity } from '../control/caller.js';
import { BindFailedError, GenerationMismatchError, InvalidConfigError } from '../control/errors.js';
import { ApplyPendingError } from '../control/pending-errors.js';
import type { PortFailureStatus } from '../dataplane/apply-result.js';
import type { PortBindFailure } from '../dataplane/config-sink.js';
import type { BatchOutcome, BatchTableOutcome, FleetApplier, FleetBatch } from './applier.js';

export const ETCD_CALLER: CallerIdentity = Object.freeze({ kind: 'etcd', id: 'etcd' });

/** Fresh-state retries of a delete that lost a race with a local apply. */
const CAS_RETRIES = 5;

const TABLE_OF_PATH = /^tables\[([^\]]+)\]/;

function portFailure(f: PortBindFailure): PortFailureStatus {
  return { protocol: f.protocol, listenAddress: f.listenAddress, port: f.port, errno: f.errno, message: f.message };
}

export class ControllerApplier implements FleetApplier {
  constructor(
    private readonly controller: ConfigController,
    private readonly node: string,
  ) {}

  running(): { generation: number; digest: string } {
    const { generation, digest } = this.controller.getConfig();
    return { generation, digest };
  }

  async apply(batch: FleetBatch): Promise<BatchOutcome> {
    const tables = new Map<string, BatchTableOutcome>();
    let good = batch.puts.filter((p) => {
      if (p.table && p.violations.length === 0) return true;
      tables.set(p.name, invalid(p.violations));
      return false;
    });
    const deletes = [...batch.deletes];
    // Each round either succeeds or takes out at least one table; bounded by the batch size.
    for (let round = 0; round <= batch.puts.length + 1; round++) {
      if (good.length === 0 && deletes.length === 0) break;
      const attempt = await this.tryApply(good.map((p) => p.table as Table), deletes, batch.revision);
      if ('response' in attempt) {
        const { result } = attempt.response;
        for (const p of good) {
          const failures = result.rules.filter((r) => r.table === p.name).flatMap((r) => r.portsFailed);
          tables.set(p.name, { outcome: 'applied', generation: result.generation, failures });
        }
        for (const d of deletes) tables.set(d, { outcome: 'applied', generation: result.generation, failures: [] });
        return { tables };
      }
      const blamed = attempt.blame;
      if (blamed.size === 0 || attempt.whole) {
        // Nothing to single out: every table of the batch shares the outcome.
        for (const p of good) tables.set(p.name, attempt.whole ?? failedAs(attempt.fallback));
        for (const d of deletes) tables.set(d, attempt.whole ?? failedAs(attempt.fallback));
        if (attempt.whole || good.length + deletes.length === 1) return { tables };
        // Unattributed violations: one apply per table finds the culprit.
        for (const p of good) await this.applyAlone({ ...batch, puts: [p], deletes: [] }, tables);
        for (const d of deletes) await this.applyAlone({ ...batch, puts: [], deletes: [d] }, tables);
        return { tables };
      }
      for (const [name, outcome] of blamed) tables.set(name, outcome);
      good = good.filter((p) => !blamed.has(p.name));
    }
    return { tables };
  }

  private async applyAlone(batch: FleetBatch, into: Map<string, BatchTableOutcome>): Promise<void> {
    const { tables } = await this.apply(batch);
    for (const [name, outcome] of tables) into.set(name, outcome);
  }

  /**
   * One apply. On failure: `blame` holds the tables the error names;
   * `whole` is set when the error is about the batch as a whole (a pending
   * local apply, a save failure), `fallback` otherwise.
   */
  private async tryApply(
    puts: Table[],
    deletes: string[],
    revision: number,
  ): Promise<{ response: ApplyResponse } | { blame: Map<string, BatchTableOutcome>; whole?: BatchTableOutcome; fallback: unknown }> {
    const comment = `fleet node ${this.node}: etcd revision ${revision}`;
    try {
      if (deletes.length === 0) {
        return { response: await this.controller.apply({ tables: puts, caller: ETCD_CALLER, comment }) };
      }
      for (let i = 0; ; i++) {
        const running = this.controller.getConfig();
        const named = new Set([...puts.map((t) => t.name), ...deletes]);
        const kept = running.tables.filter((t) => !named.has(t.name));
        try {
          return {
            response: await this.controller.apply({
              tables: [...kept, ...puts],
              replaceAll: true,
              expectedGeneration: running.generation,
              caller: ETCD_CALLER,
              comment,
            }),
          };
        } catch (err) {
          if (!(err instanceof GenerationMismatchError) || i >= CAS_RETRIES) throw err;
        }
      }
    } catch (err) {
      return classify(err, new Set(puts.map((t) => t.name)));
    }
  }
}

function invalid(violations: Violation[]): BatchTableOutcome {
  return { outcome: 'invalid', violations, error: `${violations.length} violation(s): ${violations.slice(0, 3).map((v) => `${v.path}: ${v.message}`).join('; ')}` };
}

function failedAs(err: unknown): BatchTableOutcome {
  if (err instanceof InvalidConfigError) return invalid(err.violations);
  return { outcome: 'error', error: err instanceof Error ? err.message : String(err) };
}

function classify(err: unknown, puts: Set<string>): { blame: Map<string, BatchTableOutcome>; whole?: BatchTableOutcome; fallback: unknown } {
  const blame = new Map<string, BatchTableOutcome>();
  if (err instanceof InvalidConfigError) {
    const byTable = new Map<string, Violation[]>();
    let unattributed = false;
    for (const v of err.violations) {
      const name = TABLE_OF_PATH.exec(v.path)?.[1];
      if (name === undefined || !puts.has(name)) unattributed = true;
      else byTable.set(name, [...(byTable.get(name) ?? []), v]);
    }
    if (!unattributed) for (const [name, vs] of byTable) blame.set(name, invalid(vs));
    return { blame, fallback: err };
  }
  if (err instanceof BindFailedError) {
    for (const table of new Set(err.failedRules.map((r) => r.table))) {
      if (!puts.has(table)) continue;
      const failures = err.failures.filter((f) => f.table === table).map(portFailure);
      blame.set(table, { outcome: 'bind_failed', failures, error: `${failures.length} port(s) could not bind: ${failures.slice(0, 3).map((f) => `${f.protocol} ${f.listenAddress || '*'}:${f.port} ${f.errno}`).join(', ')}` });
    }
    return { blame, fallback: err };
  }
  const message = err instanceof Error ? err.message : String(err);
  return { blame, whole: { outcome: err instanceof ApplyPendingError ? 'blocked' : 'error', error: message }, fallback: err };
}
