/**
 * The wire form of an apply (ApplyConfigRequest, and the Transaction
 * stream's TransactionTables, which carries the same options) into the
 * controller's ApplyRequest. One translation, so both ways of applying take
 * the same options the same way.
 *
 * This is also where `terminate_removed` ends: it becomes the request's
 * drain policy TERMINATE (terminateRemovedDrain), so the controller and the
 * backends know one drain policy. CancelApply and RollbackTo fold it the
 * same way.
 */
import type { DrainPolicy } from '../config/model.js';
import { parseTables, readRequestDrain } from '../config/parse.js';
import { checkTextBytes, MAX_COMMENT_BYTES } from '../config/text-bounds.js';
import { validateRequestDrain } from '../config/validate.js';
import type { Capabilities } from '../dataplane/capabilities.js';
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

/** `terminate_removed: true` as a drain policy: TERMINATE, for every rule the request removes or retargets. */
export function terminateRemovedDrain(terminateRemoved: boolean | undefined | null): DrainPolicy | undefined {
  return terminateRemoved ? { mode: 'terminate', timeoutMs: 0 } : undefined;
}

/**
 * Violations of the wire form travel in `parseViolations`, reported with
 * the tables' own; those of the request's drain (against `capabilities`,
 * read only when a drain is given) in `optionViolations`, reported after.
 */
export function applyRequestFromWire(req: WireApplyRequest, caller: CallerIdentity | undefined, capabilities: () => Capabilities): ApplyRequest {
  const parsed = parseTables(req.tables ?? []);
  const explicitDrain = readRequestDrain(req.drain ?? undefined, 'drain', parsed.violations);
  const terminateRemoved = req.terminate_removed ?? false;
  // An explicit drain is the backend's feature (drain_policy); terminate_removed is every backend's.
  const optionViolations = explicitDrain ? validateRequestDrain(explicitDrain, terminateRemoved, capabilities()) : [];
  const drain = explicitDrain ?? terminateRemovedDrain(terminateRemoved);
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
    ...(optionViolations.length > 0 && { optionViolations }),
    caller,
    ...(confirmTimeoutMs !== undefined && { confirmTimeoutMs }),
    comment: commentOk ? (req.comment ?? '') : '',
  };
}
