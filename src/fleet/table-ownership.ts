/**
 * The rule between fleet tables and local ones: a table etcd gives this node
 * is the fleet's; a local caller may change it only with an unscoped admin
 * grant, and such an override is audited (the interceptor's audit line
 * names it) and reported in the node's status until the fleet next applies
 * the table. Table-scoped callers (tenants) are refused.
 */
import { visibleTables } from '../auth/authorize.js';
import { PermissionDeniedError } from '../auth/errors.js';
import type { TouchedTables } from '../auth/method-access.js';
import type { Principal } from '../auth/principal.js';
import type { OwnershipOverride, TableOwnership } from '../auth/table-ownership.js';

export class FleetTableOwnership implements TableOwnership {
  private owned = new Set<string>();
  private listener: ((override: OwnershipOverride) => void) | undefined;

  /** The fleet-owned tables now (desired in etcd, or applied by the fleet and not yet removed). */
  set(tables: Iterable<string>): void {
    this.owned = new Set(tables);
  }

  owns(table: string): boolean {
    return this.owned.has(table);
  }

  onOverride(listener: (override: OwnershipOverride) => void): void {
    this.listener = listener;
  }

  claim(principal: Principal, method: string, touched: TouchedTables): string[] {
    const claimed = touched.all ? [...this.owned] : [...new Set(touched.names)].filter((t) => this.owned.has(t));
    if (claimed.length === 0) return [];
    // visibleTables() is undefined exactly when an unscoped grant covers the role.
    if (visibleTables(principal, 'admin') === undefined) return claimed;
    throw new PermissionDeniedError(
      `${principal.caller.id} may not change fleet-owned table${claimed.length > 1 ? 's' : ''} ${claimed.map((t) => JSON.stringify(t)).join(', ')} in ${method}: ` +
        'etcd holds its desired state; change it there (portplane fleet put), or override as an unscoped admin',
      'FLEET_OWNED_TABLE',
      { caller: principal.caller.id, method, table: claimed[0]!, tables: claimed.join(',') },
    );
  }

  overridden(override: OwnershipOverride): void {
    this.listener?.(override);
  }
}
