/**
 * Checks of the tables an apply deletes by name (delete_tables). Like every
 * validation, side-effect free: a name that is not running, is repeated, or
 * is also given whole in the same request is reported on its own path, so a
 * controller never removes a table it did not mean to.
 */
import type { Table, Violation } from './model.js';
import { quote } from './quote.js';

export function validateTableDeletes(deletes: readonly string[], requestTables: readonly Table[], running: readonly Table[], basePath = 'delete_tables'): Violation[] {
  const violations: Violation[] = [];
  const runningNames = new Set(running.map((t) => t.name));
  const given = new Set(requestTables.map((t) => t.name));
  const seen = new Set<string>();
  deletes.forEach((name, i) => {
    const path = `${basePath}[${i}]`;
    if (name === '') violations.push({ path, message: 'table name is required' });
    else if (seen.has(name)) violations.push({ path, message: `table ${quote(name)} is named twice` });
    else if (given.has(name)) violations.push({ path, message: `table ${quote(name)} is also given in tables: a table is either replaced or deleted` });
    else if (!runningNames.has(name)) violations.push({ path, message: `no table ${quote(name)} is running` });
    seen.add(name);
  });
  return violations;
}
