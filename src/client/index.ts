/**
 * `portplane/client`: the typed client controllers use to steer portplane.
 * The message types are generated from proto/ (`npm run proto`); inputs are
 * the permissive forms, `__Output` the decoded forms (64-bit integers as
 * strings, enums as their names).
 */
export { connect, PortplaneClient } from './client.js';
export type { ApplyTablesOptions, ConfirmOptions, ConfirmOutcome, RunningConfig, WatchOptions } from './client.js';
export type { ConnectOptions } from './connection.js';
export {
  AbortedError,
  DaemonUnavailableError,
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
  PermissionDeniedError,
  PortplaneError,
  ResourceExhaustedError,
  UnauthenticatedError,
  toPortplaneError,
} from './errors.js';
export type { FieldViolation, PortFailure, QuotaViolation } from './errors.js';
export type { Table, Table__Output } from '../generated/types/portplane/v1/Table.js';
export type { ForwardRule, ForwardRule__Output } from '../generated/types/portplane/v1/ForwardRule.js';
export type { ApplyConfigRequest } from '../generated/types/portplane/v1/ApplyConfigRequest.js';
export type { ApplyConfigResponse__Output } from '../generated/types/portplane/v1/ApplyConfigResponse.js';
export type { ApplyResult__Output } from '../generated/types/portplane/v1/ApplyResult.js';
export type { SessionEvent__Output } from '../generated/types/portplane/v1/SessionEvent.js';
export type { Session__Output } from '../generated/types/portplane/v1/Session.js';
