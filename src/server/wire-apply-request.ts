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
import type { ApplyConfigRequest__Output } from '../generated/types/portplane/v1/ApplyConfigRequest.js';
import type { TransactionTables__Output } from '../generated/types/portplane/v1/TransactionTables.js';
import { readDurationMs } from './wire-history.js';

/** ApplyConfigRequest, or a Transaction's tables step (the same fields but validate_only), as decoded (generated types). */
export type WireApplyRequest = TransactionTables__Output & Partial<Pick<ApplyConfigRequest__Output, 'validate_only'>>;

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
