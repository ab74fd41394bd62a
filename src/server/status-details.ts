/**
 * google.rpc.Status details in `grpc-status-details-bin`, the standard place
 * where grpcurl and every gRPC client library look for structured errors.
 */
import * as grpc from '@grpc/grpc-js';
import { apiDefinition } from './api-definition.js';

export const ERROR_DOMAIN = 'portplane.dev';

export type ErrorDetail =
  | { type: 'BadRequest'; fieldViolations: { field: string; description: string }[] }
  | { type: 'ErrorInfo'; reason: string; metadata: Record<string, string> }
  | { type: 'PreconditionFailure'; violations: { type: string; subject: string; description: string }[] }
  | { type: 'QuotaFailure'; violations: { subject: string; description: string }[] };

function encodeDetail(detail: ErrorDetail): { type_url: string; value: Uint8Array } {
  const root = apiDefinition().rpcTypes;
  const type = root.lookupType(`google.rpc.${detail.type}`);
  let message: Record<string, unknown>;
  switch (detail.type) {
    case 'BadRequest':
      message = { field_violations: detail.fieldViolations };
      break;
    case 'ErrorInfo':
      message = { reason: detail.reason, domain: ERROR_DOMAIN, metadata: detail.metadata };
      break;
    case 'PreconditionFailure':
    case 'QuotaFailure':
      message = { violations: detail.violations };
      break;
  }
  return {
    type_url: `type.googleapis.com/google.rpc.${detail.type}`,
    value: type.encode(type.fromObject(message)).finish(),
  };
}

/**
 * Trailers must fit the peer's header-list limit (grpc-js clients accept 8 KiB
 * by default, and `-bin` values travel base64-encoded): a status whose
 * details would not fit never reaches the client at all, which then waits
 * for its deadline. Longer violation lists are cut, with a last entry saying
 * how many were left out.
 */
export const MAX_STATUS_DETAILS_BYTES = 4096;

function encodeStatus(code: grpc.status, message: string, details: ErrorDetail[]): Uint8Array {
  const statusType = apiDefinition().rpcTypes.lookupType('google.rpc.Status');
  return statusType.encode(statusType.fromObject({ code, message, details: details.map(encodeDetail) })).finish();
}

/** `detail` with only its first `keep` violations, plus one saying how many more there were. */
function truncated(detail: ErrorDetail, keep: number): ErrorDetail {
  switch (detail.type) {
    case 'BadRequest': {
      const more = detail.fieldViolations.length - keep;
      if (more <= 0) return detail;
      const marker = { field: '', description: `${more} more violation${more === 1 ? '' : 's'} not shown` };
      return { ...detail, fieldViolations: [...detail.fieldViolations.slice(0, keep), marker] };
    }
    case 'PreconditionFailure': {
      const more = detail.violations.length - keep;
      if (more <= 0) return detail;
      const marker = { type: 'TRUNCATED', subject: '', description: `${more} more violation${more === 1 ? '' : 's'} not shown` };
      return { ...detail, violations: [...detail.violations.slice(0, keep), marker] };
    }
    case 'QuotaFailure': {
      const more = detail.violations.length - keep;
      if (more <= 0) return detail;
      return { ...detail, violations: [...detail.violations.slice(0, keep), { subject: '', description: `${more} more not shown` }] };
    }
    case 'ErrorInfo':
      return detail;
  }
}

/**
 * The status message travels as the grpc-message header, percent-encoded,
 * beside the details: bounded so the two fit a C-core client's 8 KiB
 * metadata limit (error texts quote at most 100 characters of a value, see
 * config/quote.ts; this bounds the rest).
 */
export const MAX_STATUS_MESSAGE_CHARS = 1024;
/** One violation's description, so that truncation by count keeps at least one whole. */
const MAX_DESCRIPTION_CHARS = 1024;

const bounded = (text: string, max: number): string => (text.length <= max ? text : `${text.slice(0, max)}... (cut)`);

function boundedDetail(detail: ErrorDetail): ErrorDetail {
  const d = (text: string): string => bounded(text, MAX_DESCRIPTION_CHARS);
  switch (detail.type) {
    case 'BadRequest':
      return { ...detail, fieldViolations: detail.fieldViolations.map((v) => ({ field: d(v.field), description: d(v.description) })) };
    case 'PreconditionFailure':
      return { ...detail, violations: detail.violations.map((v) => ({ type: d(v.type), subject: d(v.subject), description: d(v.description) })) };
    case 'QuotaFailure':
      return { ...detail, violations: detail.violations.map((v) => ({ subject: d(v.subject), description: d(v.description) })) };
    case 'ErrorInfo':
      return { ...detail, metadata: Object.fromEntries(Object.entries(detail.metadata).map(([k, v]) => [k, d(v)])) };
  }
}

/** A grpc-js ServiceError carrying a google.rpc.Status with `details`. */
export function statusError(code: grpc.status, fullMessage: string, fullDetails: ErrorDetail[] = []): grpc.ServiceError {
  const message = bounded(fullMessage, MAX_STATUS_MESSAGE_CHARS);
  const details = fullDetails.map(boundedDetail);
  let encoded = encodeStatus(code, message, details);
  for (let keep = 256; encoded.length > MAX_STATUS_DETAILS_BYTES && keep >= 1; keep = Math.floor(keep / 2)) {
    encoded = encodeStatus(
      code,
      message,
      details.map((d) => truncated(d, keep)),
    );
  }
  const metadata = new grpc.Metadata();
  metadata.set('grpc-status-details-bin', Buffer.from(encoded));
  const err = new Error(message) as grpc.ServiceError;
  err.code = code;
  err.details = message;
  err.metadata = metadata;
  return err;
}

/** Decodes `grpc-status-details-bin` (for clients and tests). */
export function decodeStatusDetails(metadata: grpc.Metadata | undefined): ErrorDetail[] {
  const raw = metadata?.get('grpc-status-details-bin')[0];
  if (!raw || typeof raw === 'string') return [];
  const root = apiDefinition().rpcTypes;
  const status = root.lookupType('google.rpc.Status').decode(raw) as unknown as {
    details: { type_url: string; value: Uint8Array }[];
  };
  const out: ErrorDetail[] = [];
  for (const any of status.details) {
    const name = any.type_url.slice(any.type_url.lastIndexOf('/') + 1);
    const obj = camelKeys(root.lookupType(name).toObject(root.lookupType(name).decode(any.value), { defaults: true })) as Record<
      string,
      never
    >;
    const type = name.replace('google.rpc.', '') as ErrorDetail['type'];
    out.push({ type, ...obj } as ErrorDetail);
  }
  return out;
}

/** The compiled types keep the .proto field names (`field_violations`); ErrorDetail spells its own in camelCase. */
function camelKeys(detail: object): object {
  return Object.fromEntries(Object.entries(detail).map(([k, v]) => [k.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase()), v]));
}
