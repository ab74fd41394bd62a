/**
 * The applier of a simulated fleet agent: real parsing and validation of
 * each desired table (the same validateConfig the controller runs), tables
 * kept in memory with a generation and digest, and no sockets. It lets one
 * process run a thousand agents' watch, apply and status code against one
 * etcd (bench/fleet.ts, test/integration/fleet-scale.test.ts).
 */
import { configDigest } from '../../src/config/canonical.js';
import { DEFAULT_LIMITS, type Table } from '../../src/config/model.js';
import { normalizeConfig } from '../../src/config/normalize.js';
import { validateConfig } from '../../src/config/validate.js';
import { kernelCapabilities } from '../../src/dataplane/kernel/capabilities.js';
import type { BatchOutcome, FleetApplier, FleetBatch } from '../../src/fleet/applier.js';

const CAPABILITIES = kernelCapabilities();

export class SimulatedApplier implements FleetApplier {
  private tables = new Map<string, Table>();
  private generation = 0;
  private digest = configDigest({ tables: [] });
  applies = 0;

  running(): { generation: number; digest: string } {
    return { generation: this.generation, digest: this.digest };
  }

  async apply(batch: FleetBatch): Promise<BatchOutcome> {
    const out: BatchOutcome = { tables: new Map() };
    const next = new Map(this.tables);
    for (const put of batch.puts) {
      const others = [...next.values()].filter((t) => t.name !== put.name);
      const violations = put.table
        ? validateConfig({ requestTables: [put.table], otherTables: others, limits: DEFAULT_LIMITS, capabilities: CAPABILITIES, reserved: [], localAddresses: [] })
        : put.violations;
      if (violations.length > 0 || !put.table) {
        out.tables.set(put.name, { outcome: 'invalid', violations, error: `${violations.length} violation(s)` });
        continue;
      }
      next.set(put.name, put.table);
    }
    for (const name of batch.deletes) next.delete(name);
    this.tables = next;
    this.generation++;
    this.applies++;
    this.digest = configDigest(normalizeConfig({ tables: [...next.values()] }));
    for (const put of batch.puts) if (!out.tables.has(put.name)) out.tables.set(put.name, { outcome: 'applied', generation: this.generation, failures: [] });
    for (const name of batch.deletes) out.tables.set(name, { outcome: 'applied', generation: this.generation, failures: [] });
    return out;
  }
}
