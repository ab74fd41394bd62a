/**
 * What a table-scoped caller may learn about other tables: nothing. This is
 * the one place where every response message, stream message and error
 * status sent to such a caller is cut down to its tables (the auth
 * interceptor applies it to every method), so no handler can forget it.
 *
 * - Messages: a list item that belongs to a table the caller cannot see (an
 *   object with such a `table`, an entry of a `tables` list with such a
 *   `name`, a table name in a `tables...` list of strings) is dropped.
 * - Texts (messages, error texts, field violations, error metadata): a
 *   reference to a rule or table it cannot see (`running rule
 *   tables[t].rules[0] ("r")`, as validation names rules) becomes "a rule of
 *   a table you cannot see", and any other occurrence of such a table's name
 *   becomes "<hidden table>".
 */
import * as grpc from '@grpc/grpc-js';
import { decodeStatusDetails, statusError, type ErrorDetail } from './status-details.js';

export interface TableVisibility {
  /** Whether the caller may see `table`. */
  visible(table: string): boolean;
  /** Names of every table the daemon may mention (running, pending, recent history); filtered by `visible` here. */
  knownTables(): Iterable<string>;
}

const HIDDEN_TABLE = '<hidden table>';
const HIDDEN_RULE = 'a rule of a table you cannot see';
const NAME_CHAR = 'A-Za-z0-9._-';
// How validation and bind reports name a rule or table (see validate.ts labels and tablePath).
// Not inside a longer field name: `delete_tables[0]` is a request path, not a table.
const REFERENCE = /(running rule )?(?<![A-Za-z0-9_])tables\[([^\]]*)\](\.rules\[\d+\])?( \("(?:[^"\\]|\\.)*"\))?/g;

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** How long a call reuses its list of hidden names: a long stream still learns of tables created later. */
const NAMES_TTL_MS = 1000;

export class Redactor {
  private hiddenPattern: RegExp | null | undefined;
  private namesAt = 0;

  /** Tables the caller named in its own request: telling it about them reveals nothing. */
  private readonly named = new Set<string>();

  constructor(private readonly scope: TableVisibility) {}

  reveal(names: Iterable<string>): void {
    for (const name of names) this.named.add(name);
    this.hiddenPattern = undefined;
  }

  private visible(table: string): boolean {
    return this.named.has(table) || this.scope.visible(table);
  }

  private hidden(): RegExp | null {
    if (this.hiddenPattern === undefined || Date.now() - this.namesAt > NAMES_TTL_MS) {
      this.namesAt = Date.now();
      const names = [...new Set(this.scope.knownTables())].filter((t) => t !== '' && !this.visible(t));
      // Longest first, so a name that contains another is replaced whole.
      names.sort((a, b) => b.length - a.length);
      this.hiddenPattern = names.length === 0 ? null : new RegExp(`(?<![${NAME_CHAR}])(?:${names.map(escape).join('|')})(?![${NAME_CHAR}])`, 'g');
    }
    return this.hiddenPattern;
  }

  text(s: string): string {
    let out = s.replace(REFERENCE, (whole: string, running: string | undefined, table: string, rule: string | undefined) => {
      if (this.visible(table)) return whole;
      return running || rule ? HIDDEN_RULE : HIDDEN_TABLE;
    });
    const hidden = this.hidden();
    if (hidden) out = out.replace(hidden, HIDDEN_TABLE);
    return out;
  }

  /** Whether a list item under `key` belongs to a table the caller cannot see. */
  private foreign(item: unknown, key: string): boolean {
    if (typeof item === 'string') return /tables/.test(key) && !this.visible(item);
    if (typeof item !== 'object' || item === null) return false;
    const fields = item as Record<string, unknown>;
    if (typeof fields.table === 'string') return !this.visible(fields.table);
    if (key === 'tables' && typeof fields.name === 'string') return !this.visible(fields.name);
    return false;
  }

  message(value: unknown, key = ''): unknown {
    if (typeof value === 'string') return this.text(value);
    if (Array.isArray(value)) return value.filter((item) => !this.foreign(item, key)).map((item) => this.message(item, key));
    // Plain objects only: Buffers (bytes fields) and Longs carry no names.
    if (typeof value !== 'object' || value === null || Object.getPrototypeOf(value) !== Object.prototype) return value;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = this.message(v, k);
    return out;
  }

  private detail(d: ErrorDetail): ErrorDetail {
    switch (d.type) {
      case 'BadRequest':
        return { ...d, fieldViolations: d.fieldViolations.map((v) => ({ field: this.text(v.field), description: this.text(v.description) })) };
      case 'ErrorInfo':
        return { ...d, metadata: Object.fromEntries(Object.entries(d.metadata).map(([k, v]) => [k, this.text(v)])) };
      case 'PreconditionFailure':
        return { ...d, violations: d.violations.map((v) => ({ type: v.type, subject: this.text(v.subject), description: this.text(v.description) })) };
      case 'QuotaFailure':
        return { ...d, violations: d.violations.map((v) => ({ subject: this.text(v.subject), description: this.text(v.description) })) };
    }
  }

  /** The status with its text and structured details redacted; other metadata is kept. */
  status<S extends { code: grpc.status; details: string; metadata?: grpc.Metadata | null }>(status: S): S {
    if (status.code === grpc.status.OK) return status;
    const details = decodeStatusDetails(status.metadata ?? undefined).map((d) => this.detail(d));
    const rebuilt = statusError(status.code, this.text(status.details), details);
    const metadata = status.metadata?.clone() ?? new grpc.Metadata();
    metadata.remove('grpc-status-details-bin');
    metadata.merge(rebuilt.metadata);
    return { ...status, details: rebuilt.details, metadata };
  }
}
