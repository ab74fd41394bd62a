/**
 * The wire form of an apply (ApplyConfigRequest, and the Transaction
 * stream's TransactionTables, which carries the same options) into the
 * controller's ApplyRequest. One translation, so both ways of applying take
 * the same options the same way.
 */
import { parseTables, readRequestDrain } from '../config/parse.js';
import { checkTextBytes, MAX_COMMENT_BYTES } from '../config/text-bounds.js';
import type { CallerIdentity } from '../control/caller.js';
import type { ApplyRequest } from '../control/config-controller.js';
import { readDurationMs } from './wire-history.js';

export interface WireApplyRequest {
  tables?: unknown;
  replace_all?: boolean;
  expected_generation?: string | number | null;
  _expected_generation?: string;
  validate_only?: boolean;
  terminate_removed?: boolean;
  drain?: unknown;
  confirm_timeout?: { seconds?: string; nanos?: number } | null;
  comment?: string;
  delete_tables?: string[];
}

/** proto3 `optional`: proto-loader (oneofs: true) names the set member in a synthetic oneof. */
export function expectedGeneration(req: { expected_generation?: string | number | null; _expected_generation?: string }): number | undefined {
  if (req._expected_generation !== 'expected_generation') return undefined;
  return Number(req.expected_generation);
}

/** Violations of the wire form travel in `parseViolations`, reported with the tables' own. */
export function applyRequestFromWire(req: WireApplyRequest, caller: CallerIdentity | undefined): ApplyRequest {
  const parsed = parseTables(req.tables ?? []);
  const drain = readRequestDrain(req.drain ?? undefined, 'drain', parsed.violations);
  const confirmTimeoutMs = readDurationMs(req.confirm_timeout, 'confirm_timeout', parsed.violations);
  // A rejected attempt is recorded too: an oversized comment is reported, never stored.
  const commentOk = checkTextBytes(req.comment ?? '', MAX_COMMENT_BYTES, 'comment', parsed.violations);
  return {
    tables: parsed.tables,
    parseViolations: parsed.violations,
    ...(drain && { drain }),
    replaceAll: req.replace_all ?? false,
    deleteTables: req.delete_tables ?? [],
    expectedGeneration: expectedGeneration(req),
    validateOnly: req.validate_only ?? false,
    terminateRemoved: req.terminate_removed ?? false,
    caller,
    ...(confirmTimeoutMs !== undefined && { confirmTimeoutMs }),
    comment: commentOk ? (req.comment ?? '') : '',
  };
}
