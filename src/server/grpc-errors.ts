/**
 * Maps control-layer errors to gRPC statuses with structured details. Any
 * error not recognised here is INTERNAL, with its message kept for context.
 */
import * as grpc from '@grpc/grpc-js';
import { PermissionDeniedError, QuotaExceededError, UnauthenticatedError } from '../auth/errors.js';
import {
  BindFailedError,
  GenerationMismatchError,
  InvalidConfigError,
  InvalidRequestError,
  LimitExceededError,
  NoResultError,
  NotFoundError,
  NotSavedError,
  ShuttingDownError,
  type UndoOutcome,
} from '../control/errors.js';
import {
  ApplyPendingError,
  NotPendingError,
  PendingOwnedByTransactionError,
  RollbackTargetError,
  TransactionBusyError,
  TransactionProtocolError,
} from '../control/pending-errors.js';
import { endpointText } from '../config/address.js';
import { statusError } from './status-details.js';

/** Failed rules named in BIND_FAILED metadata; the message and PreconditionFailure cover every port. */
const FAILED_RULES_SHOWN = 20;

export function toServiceError(err: unknown): grpc.ServiceError {
  if (err instanceof LimitExceededError) {
    return statusError(grpc.status.RESOURCE_EXHAUSTED, err.message, [
      { type: 'QuotaFailure', violations: err.exceeded.map((v) => ({ subject: v.limit ?? '', description: `${v.path}: ${v.message}` })) },
      { type: 'BadRequest', fieldViolations: err.violations.map((v) => ({ field: v.path, description: v.message })) },
    ]);
  }
  if (err instanceof QuotaExceededError) {
    return statusError(grpc.status.RESOURCE_EXHAUSTED, err.message, [
      { type: 'QuotaFailure', violations: [{ subject: err.limit, description: err.message }] },
    ]);
  }
  if (err instanceof UnauthenticatedError) return statusError(grpc.status.UNAUTHENTICATED, err.message);
  if (err instanceof PermissionDeniedError) {
    return statusError(grpc.status.PERMISSION_DENIED, err.message, [
      { type: 'ErrorInfo', reason: err.reason, metadata: err.metadata },
    ]);
  }
  if (err instanceof InvalidConfigError || err instanceof InvalidRequestError) {
    return statusError(grpc.status.INVALID_ARGUMENT, err.message, [
      {
        type: 'BadRequest',
        fieldViolations: err.violations.map((v) => ({ field: v.path, description: v.message })),
      },
    ]);
  }
  if (err instanceof GenerationMismatchError) {
    return statusError(grpc.status.ABORTED, err.message, [
      {
        type: 'ErrorInfo',
        reason: 'GENERATION_MISMATCH',
        metadata: { current_generation: String(err.current), expected_generation: String(err.expected) },
      },
    ]);
  }
  if (err instanceof BindFailedError) {
    return statusError(grpc.status.FAILED_PRECONDITION, err.message, [
      {
        type: 'PreconditionFailure',
        violations: err.failures.map((f) => ({
          type: f.errno,
          subject: `${f.protocol}://${endpointText(f.listenAddress, f.port)}`,
          description: `${err.labelOf(f.ruleId) ?? `tables[${f.table}]`}: ${f.message}`,
        })),
      },
      {
        type: 'ErrorInfo',
        reason: 'BIND_FAILED',
        metadata: {
          // Bounded: status details travel in a header, which clients cap (8 KiB in gRPC C-core).
          failed_rules: err.failedRules.slice(0, FAILED_RULES_SHOWN).map((r) => r.label).join('; '),
          failed_rule_ids: err.failedRules.slice(0, FAILED_RULES_SHOWN).map((r) => r.ruleId).join(','),
          failed_rule_count: String(err.failedRules.length),
          ...undoMetadata(err.undo),
        },
      },
    ]);
  }
  if (err instanceof NotSavedError) {
    // Not committed, and the caller may retry: a full disk is an exhausted resource, any other save failure a transient one.
    const code = errnoInChain(err, ['ENOSPC', 'EDQUOT']) ? grpc.status.RESOURCE_EXHAUSTED : grpc.status.UNAVAILABLE;
    return statusError(code, err.message, [{ type: 'ErrorInfo', reason: 'NOT_SAVED', metadata: undoMetadata(err.undo) }]);
  }
  if (err instanceof ApplyPendingError) {
    return statusError(grpc.status.FAILED_PRECONDITION, err.message, [
      {
        type: 'ErrorInfo',
        reason: 'APPLY_PENDING',
        metadata: {
          pending_generation: String(err.pendingGeneration),
          owner: err.owner,
          ...(err.deadline !== undefined && { deadline: new Date(err.deadline).toISOString() }),
        },
      },
    ]);
  }
  if (err instanceof NotPendingError) {
    return statusError(grpc.status.FAILED_PRECONDITION, err.message, [
      {
        type: 'ErrorInfo',
        reason: 'NOT_PENDING',
        metadata: {
          generation: String(err.generation),
          ...(err.pendingGeneration !== undefined && { pending_generation: String(err.pendingGeneration) }),
        },
      },
    ]);
  }
  if (err instanceof PendingOwnedByTransactionError) {
    return statusError(grpc.status.FAILED_PRECONDITION, err.message, [
      { type: 'ErrorInfo', reason: 'PENDING_OWNED_BY_TRANSACTION', metadata: { pending_generation: String(err.pendingGeneration) } },
    ]);
  }
  if (err instanceof TransactionBusyError) {
    return statusError(grpc.status.ABORTED, err.message, [{ type: 'ErrorInfo', reason: 'TRANSACTION_ACTIVE', metadata: {} }]);
  }
  if (err instanceof TransactionProtocolError) {
    return statusError(grpc.status.FAILED_PRECONDITION, err.message, [{ type: 'ErrorInfo', reason: 'TRANSACTION_STEP_OUT_OF_ORDER', metadata: {} }]);
  }
  if (err instanceof RollbackTargetError) {
    return statusError(err.found ? grpc.status.FAILED_PRECONDITION : grpc.status.NOT_FOUND, err.message, [
      { type: 'ErrorInfo', reason: err.found ? 'NOT_COMMITTED' : 'NOT_IN_HISTORY', metadata: { generation: String(err.generation) } },
    ]);
  }
  if (err instanceof ShuttingDownError) return statusError(grpc.status.UNAVAILABLE, err.message);
  if (err instanceof NotFoundError) return statusError(grpc.status.NOT_FOUND, err.message);
  if (err instanceof NoResultError) return statusError(grpc.status.NOT_FOUND, err.message);
  const message = err instanceof Error ? err.message : String(err);
  return statusError(grpc.status.INTERNAL, message);
}

/** Whether `err` or an error it was caused by carries one of `codes`. */
function errnoInChain(err: unknown, codes: string[]): boolean {
  for (let e = err, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    if (codes.includes((e as NodeJS.ErrnoException).code ?? '')) return true;
  }
  return false;
}

/** `dataplane`: restored or diverged; `diverged_ports`: each diverged port as protocol://address:port. */
function undoMetadata(undo: UndoOutcome): Record<string, string> {
  return {
    dataplane: undo.outcome,
    ...(undo.diverged.length > 0 && { diverged_ports: undo.diverged.map((f) => `${f.protocol}://${endpointText(f.listenAddress, f.port)}`).join(',') }),
  };
}
