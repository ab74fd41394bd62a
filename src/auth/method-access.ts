/**
 * The one table of what every gRPC method needs. A method missing here
 * (one added later, or by another service) is admin-only, open to unscoped
 * grants only, and audited: new RPCs are safe until someone wires them here.
 *
 * `scope` says how a table-scoped grant is confined:
 * - `none`: the method touches no table (capabilities, reflection);
 * - `request`: the tables the request touches, checked before the handler runs;
 * - `response`: the response (every message of a stream) is filtered down to the caller's tables;
 * - `handler`: the handler confines what it reads and changes to the caller's
 *   tables, which it learns through visibleTablesOf(call.metadata) (paged
 *   listings and deletes by filter, where filtering afterwards would be wrong).
 * Without `scope`, only unscoped grants may call the method.
 */
import type { Role } from './roles.js';

export interface TouchedTables {
  names: string[];
  /** The call may touch tables it does not name (replace_all). */
  all: boolean;
  /** `names` come from the daemon's state (a pending apply), not from the request: the caller may not learn them. */
  fromState?: boolean;
}

/** What a scope check may ask the daemon about, beyond the request itself. */
export interface ScopeContext {
  /** Tables the pending apply of `generation` touched; undefined if none is pending under it. */
  pendingTables(generation: number): string[] | undefined;
}

export type TableScope =
  | { kind: 'none' }
  | { kind: 'request'; tables(request: unknown, context: ScopeContext): TouchedTables }
  | { kind: 'response'; filter(response: unknown, visible: (table: string) => boolean): unknown }
  | { kind: 'handler' };

export interface MethodAccess {
  /** `public`: anyone who reached the transport (health probes). */
  role: Role | 'public';
  /** Changes state: every call writes an audit line. */
  mutating: boolean;
  /** Counts against the per-caller apply rate. */
  applyRate?: boolean;
  scope?: TableScope;
  /** Generations before and after, read from a successful response. */
  generations?(response: unknown): { before: number; after: number } | undefined;
}

type Wire = Record<string, unknown>;
const asWire = (value: unknown): Wire => (typeof value === 'object' && value !== null ? (value as Wire) : {});
const tableOf = (item: unknown): string => String(asWire(item).table ?? asWire(item).name ?? '');
/** The tables an apply (ApplyConfigRequest, or a Transaction's tables step) replaces or deletes. */
const applyTables = (request: unknown): TouchedTables => {
  const req = asWire(request);
  const tables = Array.isArray(req.tables) ? req.tables : [];
  const deletes = Array.isArray(req.delete_tables) ? req.delete_tables : [];
  return { names: [...tables.map(tableOf), ...deletes.map(String)], all: req.replace_all === true };
};
/** The items of a wire list whose table the caller may see. */
const visibleItems = (list: unknown, visible: (table: string) => boolean): unknown[] =>
  (Array.isArray(list) ? list : []).filter((item) => visible(tableOf(item)));
/** A reader's response with only the items of `field` (a list of table-owned entries) it may see. */
const readerOfList = (field: string): MethodAccess => ({
  role: 'reader',
  mutating: false,
  scope: { kind: 'response', filter: (response, visible) => ({ ...asWire(response), [field]: visibleItems(asWire(response)[field], visible) }) },
});

const PENDING_TABLES: TableScope = {
  kind: 'request',
  tables: (request, context) => {
    const names = context.pendingTables(Number(asWire(request).generation ?? 0));
    // Nothing pending under that generation: the call fails on its own, touching nothing.
    return { names: names ?? [], all: false, fromState: true };
  },
};

const READ_GLOBAL: MethodAccess = { role: 'reader', mutating: false, scope: { kind: 'none' } };
const PUBLIC: MethodAccess = { role: 'public', mutating: false };

const SESSIONS_READ: MethodAccess = { role: 'reader', mutating: false, scope: { kind: 'handler' } };

/**
 * Counters of a scoped reader: its tables and their rules, and no global
 * counters (they add up other tenants' traffic). Per message, so it holds
 * for every sample of WatchCounters too.
 */
const COUNTERS_READ: MethodAccess = {
  role: 'reader',
  mutating: false,
  scope: {
    kind: 'response',
    filter: (response, visible) => {
      const res = asWire(response);
      const keep = (list: unknown): unknown[] =>
        (Array.isArray(list) ? list : []).filter((item) => {
          const entry = asWire(item);
          return visible(tableOf(entry.counters ?? entry));
        });
      const out: Wire = { ...res, tables: keep(res.tables), rules: keep(res.rules) };
      delete out.global;
      delete out.global_delta;
      return out;
    },
  },
};

export const UNKNOWN_METHOD: MethodAccess = { role: 'admin', mutating: true };

export const METHOD_ACCESS: Readonly<Record<string, MethodAccess>> = {
  '/portplane.v1.ConfigService/ApplyConfig': {
    role: 'admin',
    mutating: true,
    applyRate: true,
    scope: { kind: 'request', tables: applyTables },
    generations: (response) => {
      const res = asWire(response);
      const before = asWire(res.plan).base_generation;
      const after = asWire(res.result).generation;
      return before === undefined || after === undefined ? undefined : { before: Number(before), after: Number(after) };
    },
  },
  '/portplane.v1.ConfigService/GetConfig': readerOfList('tables'),
  '/portplane.v1.ConfigService/LastApplyResult': {
    role: 'reader',
    mutating: false,
    scope: {
      kind: 'response',
      filter: (response, visible) => {
        const result = asWire(asWire(response).result);
        const summary = asWire(result.plan_summary);
        const touched = Array.isArray(summary.tables_touched) ? summary.tables_touched : [];
        return {
          result: {
            ...result,
            rules: visibleItems(result.rules, visible),
            plan_summary: { ...summary, tables_touched: touched.filter((t) => visible(String(t))) },
          },
        };
      },
    },
  },
  '/portplane.v1.ConfigService/GetCapabilities': READ_GLOBAL,
  '/portplane.v1.SessionService/ListSessions': SESSIONS_READ,
  '/portplane.v1.SessionService/GetSession': SESSIONS_READ,
  '/portplane.v1.SessionService/GetSessionSummary': SESSIONS_READ,
  '/portplane.v1.SessionService/WatchSessions': SESSIONS_READ,
  '/portplane.v1.SessionService/DeleteSessions': { role: 'operator', mutating: true, scope: { kind: 'handler' } },
  '/portplane.v1.TelemetryService/GetCounters': COUNTERS_READ,
  '/portplane.v1.TelemetryService/WatchCounters': COUNTERS_READ,
  '/portplane.v1.TelemetryService/GetFloodCounters': readerOfList('rules'),
  // Unscoped readers only: a trace names whichever table's rule owns the port, and a drop says that no table owns it.
  '/portplane.v1.TraceService/Trace': { role: 'reader', mutating: false },
  // HA roles and sync concern every table: unscoped callers only (the peer daemon, keepalived's notify scripts).
  '/portplane.v1.HAService/GetRole': { role: 'reader', mutating: false },
  // A role change concerns every table, like replace_all.
  '/portplane.v1.HAService/SetRole': { role: 'admin', mutating: true, scope: { kind: 'request', tables: () => ({ names: [], all: true }) } },
  // Streams every tenant's sessions to the standby.
  '/portplane.v1.HAService/SyncSessions': { role: 'admin', mutating: false },
  // Confirm and cancel act on the tables the pending apply touched.
  '/portplane.v1.ConfigService/ConfirmApply': { role: 'admin', mutating: true, scope: PENDING_TABLES },
  '/portplane.v1.ConfigService/CancelApply': { role: 'admin', mutating: true, scope: PENDING_TABLES },
  // RollbackTo restores a whole configuration, like replace_all.
  '/portplane.v1.ConfigService/RollbackTo': {
    role: 'admin',
    mutating: true,
    applyRate: true,
    scope: { kind: 'request', tables: () => ({ names: [], all: true }) },
  },
  // Every stream message is checked: only the `tables` step names tables.
  '/portplane.v1.ConfigService/Transaction': {
    role: 'admin',
    mutating: true,
    applyRate: true,
    scope: { kind: 'request', tables: (message) => applyTables(asWire(message).tables) },
  },
  // History and the result stream describe every table: unscoped readers only.
  '/portplane.v1.ConfigService/ListApplyHistory': { role: 'reader', mutating: false },
  '/portplane.v1.ConfigService/WatchApplyResults': { role: 'reader', mutating: false },
  '/grpc.reflection.v1.ServerReflection/ServerReflectionInfo': READ_GLOBAL,
  '/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo': READ_GLOBAL,
  '/grpc.health.v1.Health/Check': PUBLIC,
  '/grpc.health.v1.Health/Watch': PUBLIC,
  '/grpc.health.v1.Health/List': PUBLIC,
};

export function methodAccess(path: string): MethodAccess {
  return Object.hasOwn(METHOD_ACCESS, path) ? METHOD_ACCESS[path]! : UNKNOWN_METHOD;
}
