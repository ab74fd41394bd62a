/**
 * Authorization decisions over a caller's grants. A call needing role R on
 * tables T is allowed when every table of T is reached by some grant of at
 * least R; an unscoped grant reaches every table, and is the only kind that
 * may touch tables it cannot name (replace_all) or call methods without a
 * table scope.
 */
import { PermissionDeniedError } from './errors.js';
import type { MethodAccess, TouchedTables } from './method-access.js';
import type { Grant } from './policy.js';
import type { Principal } from './principal.js';
import { roleCovers, type Role } from './roles.js';
import { cut, quote } from '../config/quote.js';

function describeGrants(grants: readonly Grant[]): string {
  if (grants.length === 0) return 'no grant';
  return grants.map((g) => `${g.role}${g.tables ? ` on tables [${g.tables.join(', ')}]` : ''}`).join('; ');
}

function enough(principal: Principal, role: Role): Grant[] {
  return principal.grants.filter((g) => roleCovers(g.role, role));
}

/** Checks the role a method needs, before its request is read. */
export function authorizeMethod(principal: Principal, method: string, access: MethodAccess): void {
  if (access.role === 'public') return;
  const able = enough(principal, access.role);
  const meta = { caller: principal.caller.id, method, required_role: access.role };
  if (able.length === 0) {
    throw new PermissionDeniedError(
      `${principal.caller.id} may not call ${method}: it needs role ${access.role}, the caller has ${describeGrants(principal.grants)}`,
      'ROLE_REQUIRED',
      meta,
    );
  }
  if (!access.scope && !able.some((g) => !g.tables)) {
    throw new PermissionDeniedError(
      `${principal.caller.id} may not call ${method}: it is open to unscoped grants only, ` +
        `and the caller has ${describeGrants(able)}`,
      'UNSCOPED_ROLE_REQUIRED',
      meta,
    );
  }
}

/** Checks that `role` on every touched table is granted; names the first table that is not. */
export function authorizeTables(principal: Principal, method: string, role: Role, touched: TouchedTables): void {
  const able = enough(principal, role);
  if (able.some((g) => !g.tables)) return;
  const scope = describeGrants(able);
  if (touched.all) {
    throw new PermissionDeniedError(
      `${principal.caller.id} may not use replace_all in ${method}: it removes every table not named, ` +
        `and the caller has ${scope}`,
      'TABLE_NOT_PERMITTED',
      { caller: principal.caller.id, method, table: '*' },
    );
  }
  const denied = [...new Set(touched.names)].filter((t) => !able.some((g) => g.covers(t)));
  if (denied.length > 0) {
    throw new PermissionDeniedError(
      `${principal.caller.id} may not touch table ${quote(denied[0]!)} in ${method}` +
        `${denied.length > 1 ? ` (nor ${denied.slice(1, 5).map((t) => quote(t)).join(', ')})` : ''}: ` +
        `the caller has ${scope}`,
      'TABLE_NOT_PERMITTED',
      { caller: principal.caller.id, method, table: cut(denied[0]!), tables: denied.slice(0, 5).map(cut).join(',') },
    );
  }
}

/** Which tables a caller may see with `role`; undefined when it sees all. */
export function visibleTables(principal: Principal, role: Role): ((table: string) => boolean) | undefined {
  const able = enough(principal, role);
  if (able.some((g) => !g.tables)) return undefined;
  return (table) => able.some((g) => g.covers(table));
}
