/**
 * One desired-table value from etcd to a model table. The value is what
 * `portplane apply` reads (YAML or JSON with a `tables` list) holding exactly
 * the table its key names, so an operator can `etcdctl put` a file they
 * already use. Shape problems are violations with field paths, never throws.
 */
import type { Table, Violation } from '../config/model.js';
import { parseConfigText } from '../config/load-file.js';

export interface DesiredTable {
  table?: Table;
  violations: Violation[];
}

export function parseDesiredTable(name: string, text: string, key: string): DesiredTable {
  const file = parseConfigText(text, key);
  const violations = [...file.violations];
  // Apply options belong to an apply, not to one table of a node's desired state.
  if (file.replaceAll) violations.push({ path: 'replace_all', message: 'not allowed in a fleet table: each key holds one table' });
  if (file.expectedGeneration !== undefined) violations.push({ path: 'expected_generation', message: 'not allowed in a fleet table; fleet put compares etcd revisions instead' });
  if (file.validateOnly) violations.push({ path: 'validate_only', message: 'not allowed in a fleet table' });
  if (violations.length === 0) {
    if (file.tables.length !== 1) {
      violations.push({ path: 'tables', message: `a fleet key holds exactly one table, got ${file.tables.length}` });
    } else if (file.tables[0]!.name !== name) {
      violations.push({ path: `tables[${file.tables[0]!.name}].name`, message: `must be ${JSON.stringify(name)}, the table its key ${key} names` });
    }
  }
  return violations.length > 0 ? { violations } : { table: file.tables[0]!, violations };
}

/** The value `fleet put` writes for `table`: the one-table form of a config file, as JSON. */
export function desiredTableText(wireTable: unknown): string {
  return `${JSON.stringify({ tables: [wireTable] }, null, 2)}\n`;
}
