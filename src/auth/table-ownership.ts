/**
 * A hook for tables another owner holds (the fleet agent owns the tables
 * etcd gives it). The access-control interceptor asks it, after the
 * caller's role and table scope passed, which touched tables belong to that
 * owner; the owner refuses the call, or lets an unscoped admin override and
 * hears about it once the call succeeded. Without an owner (no fleet), every
 * table is local and nothing changes.
 */
import type { CallerIdentity } from '../control/caller.js';
import type { TouchedTables } from './method-access.js';
import type { Principal } from './principal.js';

export interface OwnershipOverride {
  caller: CallerIdentity;
  method: string;
  tables: string[];
  /** The generation the call left running. */
  generation: number;
}

export interface TableOwnership {
  /**
   * The owned tables `touched` reaches (all of them for replace_all); [] when
   * none. Throws PermissionDeniedError when `principal` may not override them.
   */
  claim(principal: Principal, method: string, touched: TouchedTables): string[];
  /** A call that overrode `tables` succeeded. */
  overridden(override: OwnershipOverride): void;
}
