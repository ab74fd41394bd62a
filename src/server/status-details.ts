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
      message = { fieldViolations: detail.fieldViolations };
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

/** A grpc-js ServiceError carrying a google.rpc.Status with `details`. */
export function statusError(code: grpc.status, message: string, details: ErrorDetail[] = []): grpc.ServiceError {
  const statusType = apiDefinition().rpcTypes.lookupType('google.rpc.Status');
  const encoded = statusType
    .encode(
      statusType.fromObject({
        code,
        message,
        details: details.map((d) => {
          const { type_url, value } = encodeDetail(d);
          return { type_url, value };
        }),
      }),
    )
    .finish();
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
    const obj = root.lookupType(name).toObject(root.lookupType(name).decode(any.value), { defaults: true }) as Record<
      string,
      never
    >;
    const type = name.replace('google.rpc.', '') as ErrorDetail['type'];
    out.push({ type, ...obj } as ErrorDetail);
  }
  return out;
}
