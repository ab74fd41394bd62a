/**
 * Access control for every method the server serves, as one grpc-js server
 * interceptor: identify the caller, check the method's role (method-access.ts),
 * take a call slot and, for applies, a rate token, check the tables the
 * request touches, filter responses of scoped readers, redact whatever a
 * table-scoped caller is sent (redaction.ts), and write the audit line. Methods registered later by any service pass through it too, and are
 * admin-only until listed in METHOD_ACCESS.
 *
 * Handlers learn who called through callerOf(call.metadata): the identity is
 * attached to the metadata object the interceptor hands on, never to
 * anything a client can send.
 */
import type { X509Certificate } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import type { AuditLog } from '../auth/audit.js';
import { authorizeMethod, authorizeTables, visibleTables } from '../auth/authorize.js';
import type { CallerQuotas } from '../auth/caller-quotas.js';
import { UnauthenticatedError } from '../auth/errors.js';
import { methodAccess, type ScopeContext, type TouchedTables } from '../auth/method-access.js';
import type { AuthPolicy } from '../auth/policy.js';
import { anonymousCaller, identify, type ClientCertificate, type Principal, type TransportPeer } from '../auth/principal.js';
import { bearerToken } from '../auth/tokens.js';
import type { CallerIdentity } from '../control/caller.js';
import { toServiceError } from './grpc-errors.js';
import { Redactor } from './redaction.js';

const callers = new WeakMap<grpc.Metadata, CallerIdentity>();
const visibility = new WeakMap<grpc.Metadata, (table: string) => boolean>();

/** The authenticated caller of a call, from the handler's `call.metadata`. */
export function callerOf(metadata: grpc.Metadata): CallerIdentity | undefined {
  return callers.get(metadata);
}

/**
 * For methods with a `handler` table scope: the tables the caller may see
 * (or change, for a mutating method); undefined when it may see all.
 */
export function visibleTablesOf(metadata: grpc.Metadata): ((table: string) => boolean) | undefined {
  return visibility.get(metadata);
}

export interface AuthInterceptorOptions {
  policy: AuthPolicy;
  quotas: CallerQuotas;
  audit: AuditLog;
  /** The running generation, for audit lines. */
  generation(): number;
  /** What table scopes may ask about the running state. */
  scopeContext: ScopeContext;
  /** What the connection of the current call says about its peer (control-listener.ts). */
  peer(): TransportPeer | undefined;
  /** Parses a verified client certificate (raw DER) into subject and SANs. */
  certificate(raw: Buffer): X509Certificate;
  /** Every table name the daemon may mention to a caller (see redaction.ts). */
  knownTables(): Iterable<string>;
}

function clientCertificate(call: grpc.ServerInterceptingCallInterface, parse: AuthInterceptorOptions['certificate']): ClientCertificate | undefined {
  const raw = call.getAuthContext().sslPeerCertificate?.raw;
  if (!raw) return undefined;
  const cert = parse(raw);
  return { subject: cert.subject, san: cert.subjectAltName ? cert.subjectAltName.split(/,\s*/) : [] };
}

const statusName = (code: number): string => grpc.status[code] ?? String(code);

export function authInterceptor(options: AuthInterceptorOptions): grpc.ServerInterceptor {
  return (descriptor, call) => {
    const method = descriptor.path;
    const access = methodAccess(method);
    // Read now: the connection's context is current only while grpc-js sets the call up.
    const peer: TransportPeer = options.peer() ?? { transport: 'unix' };
    let principal: Principal | undefined;
    let caller = anonymousCaller(peer);
    let touched: TouchedTables | undefined;
    let generationBefore = options.generation();
    let response: unknown;
    let releaseSlot: (() => void) | undefined;
    let finished = false;
    let refused = false;
    // Set once a table-scoped caller is identified: everything sent to it goes through here.
    let redactor: Redactor | undefined;

    const finish = (outcome: string, message: string | undefined): void => {
      if (finished) return;
      finished = true;
      releaseSlot?.();
      if (!access.mutating && !refused) return;
      const exact = outcome === 'OK' ? access.generations?.(response) : undefined;
      options.audit.write({
        caller,
        method,
        tables: touched ? touched.names : null,
        ...(touched?.all ? { replaceAll: true } : {}),
        generationBefore: exact?.before ?? generationBefore,
        generationAfter: exact?.after ?? options.generation(),
        outcome,
        ...(message ? { message } : {}),
        refused,
      });
    };

    /** Ends the call with the status `err` maps to; the handler never sees it. */
    const refuse = (err: unknown): void => {
      refused = true;
      const error = toServiceError(err);
      finish(statusName(error.code), error.details);
      const status = { code: error.code, details: error.details, metadata: error.metadata };
      call.sendStatus(redactor ? redactor.status(status) : status);
    };

    return new grpc.ServerInterceptingCall(call, {
      start: (next) => {
        next({
          onReceiveMetadata: (metadata, nextMetadata) => {
            try {
              const header = metadata.get('authorization')[0];
              // Handlers and logs never see the secret.
              metadata.remove('authorization');
              let bearer: string | undefined;
              if (header !== undefined) {
                bearer = bearerToken(String(header));
                if (bearer === undefined) throw new UnauthenticatedError('authorization metadata must be "Bearer <id>.<secret>"');
              }
              const creds = { peer, certificate: clientCertificate(call, options.certificate), bearer };
              if (access.role === 'public') {
                try {
                  principal = identify(creds, options.policy);
                  caller = principal.caller;
                } catch {
                  // Public methods need no identity; the slot is counted against the anonymous caller.
                }
              } else {
                principal = identify(creds, options.policy);
                caller = principal.caller;
                const visible = visibleTables(principal, access.role);
                if (visible) redactor = new Redactor({ visible, knownTables: options.knownTables });
                authorizeMethod(principal, method, access);
              }
              releaseSlot = options.quotas.openCall(caller.id);
              if (access.applyRate) options.quotas.takeApply(caller.id);
            } catch (err) {
              refuse(err);
              return;
            }
            generationBefore = options.generation();
            callers.set(metadata, caller);
            if (access.scope?.kind === 'handler' && principal && access.role !== 'public') {
              const visible = visibleTables(principal, access.role);
              if (visible) visibility.set(metadata, visible);
            }
            nextMetadata(metadata);
          },
          onReceiveMessage: (message, nextMessage) => {
            if (refused) return;
            if (access.scope?.kind === 'request') {
              touched = access.scope.tables(message, options.scopeContext);
              if (!touched.fromState) redactor?.reveal(touched.names);
              try {
                if (principal && access.role !== 'public') authorizeTables(principal, method, access.role, touched);
              } catch (err) {
                refuse(err);
                return;
              }
            }
            nextMessage(message);
          },
          onReceiveHalfClose: (nextHalfClose) => {
            if (!refused) nextHalfClose();
          },
          // grpc-js also reports the end of every finished call here; finish() runs once.
          onCancel: () => {
            finish('CANCELLED', 'the call ended without a status: cancelled, past its deadline, or its message was too large');
          },
        });
      },
      sendMessage: (message, nextMessage) => {
        response = message;
        const filter = access.scope?.kind === 'response' && principal && access.role !== 'public'
          ? visibleTables(principal, access.role)
          : undefined;
        const filtered = filter && access.scope?.kind === 'response' ? access.scope.filter(message, filter) : message;
        nextMessage(redactor ? redactor.message(filtered) : filtered);
      },
      sendStatus: (status, nextStatus) => {
        finish(statusName(status.code), status.code === grpc.status.OK ? undefined : status.details);
        nextStatus(redactor ? redactor.status(status) : status);
      },
    });
  };
}
