/**
 * Why the control plane turned a call away before it reached the
 * controller. The server maps them to gRPC statuses (grpc-errors.ts).
 */

/** No usable identity, or a bad bearer token: UNAUTHENTICATED. */
export class UnauthenticatedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnauthenticatedError';
  }
}

/** An identified caller without the role or the table scope the call needs: PERMISSION_DENIED. */
export class PermissionDeniedError extends Error {
  constructor(
    message: string,
    /** ErrorInfo reason, e.g. ROLE_REQUIRED, TABLE_NOT_PERMITTED. */
    readonly reason: string,
    readonly metadata: Record<string, string>,
  ) {
    super(message);
    this.name = 'PermissionDeniedError';
  }
}

/** A per-caller limit was exceeded: RESOURCE_EXHAUSTED with the limit named. */
export class QuotaExceededError extends Error {
  constructor(
    /** The limit's name as GetCapabilities advertises it, e.g. `apply_rate_per_second`. */
    readonly limit: string,
    message: string,
  ) {
    super(message);
    this.name = 'QuotaExceededError';
  }
}
