/**
 * The daemon's errors as typed classes, with the google.rpc details of
 * `grpc-status-details-bin` decoded: field violations (INVALID_ARGUMENT),
 * the current generation (ABORTED compare-and-swap), per-port bind failures
 * (FAILED_PRECONDITION), quota violations (RESOURCE_EXHAUSTED). A daemon that
 * cannot be reached is one line saying which and what to do.
 */
import * as grpc from '@grpc/grpc-js';
import { decodeStatusDetails, type ErrorDetail } from '../server/status-details.js';

export interface FieldViolation {
  field: string;
  description: string;
}

/** A port that could not be bound: `subject` is `tcp://127.0.0.1:8080`, `type` the errno (EADDRINUSE). */
export interface PortFailure {
  type: string;
  subject: string;
  description: string;
}

export interface QuotaViolation {
  subject: string;
  description: string;
}

export class PortplaneError extends Error {
  readonly code: grpc.status;
  readonly details: ErrorDetail[];
  /** ErrorInfo.reason, e.g. GENERATION_MISMATCH, BIND_FAILED, APPLY_PENDING. */
  readonly reason: string | undefined;
  /** ErrorInfo.metadata. */
  readonly metadata: Record<string, string>;
  readonly fieldViolations: FieldViolation[];
  readonly portFailures: PortFailure[];
  readonly quotaViolations: QuotaViolation[];

  constructor(message: string, code: grpc.status, details: ErrorDetail[] = []) {
    super(message);
    this.name = new.target.name;
    this.code = code;
    this.details = details;
    const info = details.find((d) => d.type === 'ErrorInfo');
    this.reason = info?.reason || undefined;
    this.metadata = info?.metadata ?? {};
    this.fieldViolations = details.flatMap((d) => (d.type === 'BadRequest' ? d.fieldViolations : []));
    this.portFailures = details.flatMap((d) => (d.type === 'PreconditionFailure' ? d.violations : []));
    this.quotaViolations = details.flatMap((d) => (d.type === 'QuotaFailure' ? d.violations : []));
  }

  /** grpc status name, e.g. `ABORTED`. */
  get codeName(): string {
    return grpc.status[this.code] ?? String(this.code);
  }
}

/** INVALID_ARGUMENT: nothing changed; `fieldViolations` name every bad field by its path. */
export class InvalidArgumentError extends PortplaneError {}

/** ABORTED by compare-and-swap: the running generation is not the expected one (or another transaction holds the lock). */
export class AbortedError extends PortplaneError {
  /** The running generation, when the daemon said (GENERATION_MISMATCH). */
  get currentGeneration(): number | undefined {
    const g = this.metadata.current_generation;
    return g === undefined ? undefined : Number(g);
  }
}

/** FAILED_PRECONDITION: e.g. binds failed and the apply rolled back (`portFailures`), or an apply is pending confirmation. */
export class FailedPreconditionError extends PortplaneError {}

/** RESOURCE_EXHAUSTED: a limit or a per-caller quota (`quotaViolations`). */
export class ResourceExhaustedError extends PortplaneError {}

export class PermissionDeniedError extends PortplaneError {}
export class UnauthenticatedError extends PortplaneError {}
export class NotFoundError extends PortplaneError {}

/** The daemon could not be reached: not running, wrong socket path, stale socket, or nothing listening on the address. */
export class DaemonUnavailableError extends PortplaneError {}

const CLASSES: Partial<Record<grpc.status, typeof PortplaneError>> = {
  [grpc.status.INVALID_ARGUMENT]: InvalidArgumentError,
  [grpc.status.ABORTED]: AbortedError,
  [grpc.status.FAILED_PRECONDITION]: FailedPreconditionError,
  [grpc.status.RESOURCE_EXHAUSTED]: ResourceExhaustedError,
  [grpc.status.PERMISSION_DENIED]: PermissionDeniedError,
  [grpc.status.UNAUTHENTICATED]: UnauthenticatedError,
  [grpc.status.NOT_FOUND]: NotFoundError,
};

/** One line for a daemon that is not there, from the connect error grpc-js reports. */
function unavailableMessage(err: grpc.ServiceError, where: string): string {
  const text = err.details || err.message;
  const hint = 'is the daemon running? start it with `portplane serve`, or pass --state-dir/--socket (or --address)';
  if (/ENOENT/.test(text)) return `no daemon socket at ${where}: ${hint}`;
  if (/ECONNREFUSED/.test(text)) {
    return where.startsWith('unix:')
      ? `stale socket ${where}: nothing is listening on it (the daemon exited); ${hint}`
      : `nothing is listening on ${where}: ${hint}`;
  }
  if (/EACCES/.test(text)) return `no permission to use the socket ${where}: run as the daemon's user or a --socket-group member`;
  return `cannot reach the daemon at ${where} (${text}): ${hint}`;
}

/** `err` as the typed error of its status code; anything that is not a gRPC status error is returned as is. */
export function toPortplaneError(err: unknown, where: string): unknown {
  const e = err as grpc.ServiceError;
  if (typeof e?.code !== 'number' || e instanceof PortplaneError) return err;
  if (e.code === grpc.status.UNAVAILABLE) return new DaemonUnavailableError(unavailableMessage(e, where), e.code);
  if (e.code === grpc.status.DEADLINE_EXCEEDED && /Waiting for LB pick|connect/i.test(e.details ?? '')) {
    return new DaemonUnavailableError(unavailableMessage(e, where), grpc.status.UNAVAILABLE);
  }
  const Class = CLASSES[e.code as grpc.status] ?? PortplaneError;
  return new Class(e.details || e.message, e.code, decodeStatusDetails(e.metadata));
}
