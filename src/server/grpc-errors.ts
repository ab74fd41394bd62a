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
  LimitExceededError,
  NoResultError,
  NotFoundError,
  ShuttingDownError,
} from '../control/errors.js';
import { statusError } from './status-details.js';

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
  if (err instanceof InvalidConfigError) {
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
          subject: `${f.protocol}://${f.listenAddress.includes(':') || f.listenAddress === '' ? `[${f.listenAddress || '::'}]` : f.listenAddress}:${f.port}`,
          description: `tables[${f.table}] rule ${f.ruleId}: ${f.message}`,
        })),
      },
      { type: 'ErrorInfo', reason: 'BIND_FAILED', metadata: { failed_rules: err.failedRules.map((r) => r.ruleId).join(',') } },
    ]);
  }
  if (err instanceof ShuttingDownError) return statusError(grpc.status.UNAVAILABLE, err.message);
  if (err instanceof NotFoundError) return statusError(grpc.status.NOT_FOUND, err.message);
  if (err instanceof NoResultError) return statusError(grpc.status.NOT_FOUND, err.message);
  const message = err instanceof Error ? err.message : String(err);
  return statusError(grpc.status.INTERNAL, message);
}
