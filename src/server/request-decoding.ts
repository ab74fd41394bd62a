/**
 * Requests that do not decode are the caller's error. grpc-js answers a
 * deserializer that throws with INTERNAL, so every service's deserializers
 * are wrapped to hand on an UndecodableRequest instead, which the auth
 * interceptor refuses as INVALID_ARGUMENT before any handler runs. Applied to
 * every service the server registers, portplane's own and library ones
 * (reflection, health) alike. Before decoding, the bytes' framing is checked
 * strictly (wire-check.ts), against the request type for portplane's own
 * methods: protobufjs alone decodes truncated input leniently.
 */
import type * as grpc from '@grpc/grpc-js';
import type protobuf from 'protobufjs';
import { apiDefinition } from './api-definition.js';
import { checkWireFraming, type KnownFraming } from './wire-check.js';

export class UndecodableRequest {
  constructor(readonly reason: string) {}
}

/** The request type of a portplane method, by path; undefined for other services' methods. */
function requestType(path: string): protobuf.Type | undefined {
  const match = /^\/(portplane\.[^/]+)\/([^/]+)$/.exec(path);
  if (!match) return undefined;
  // The compiled API: the same descriptors the server decodes with.
  const method = apiDefinition().rpcTypes.lookupService(match[1]!).methods[match[2]!];
  return method ? (method.resolve() as protobuf.Method).resolvedRequestType ?? undefined : undefined;
}

/**
 * A deserializer that knows byte strings it decoded before (after they
 * passed the check) says so through `knownFraming`, and the check skips them:
 * a controller re-sends mostly what it sent before.
 */
export type FramingAwareDeserializer = ((bytes: Buffer) => unknown) & { knownFraming?: KnownFraming };

function guarded(definition: grpc.ServiceDefinition): grpc.ServiceDefinition {
  const out: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const [name, method] of Object.entries(definition)) {
    const decode = method.requestDeserialize as FramingAwareDeserializer;
    const type = requestType(method.path);
    out[name] = {
      ...method,
      requestDeserialize: (bytes: Buffer) => {
        try {
          checkWireFraming(bytes, type, 0, bytes.length, decode.knownFraming);
          return decode(bytes);
        } catch (err) {
          return new UndecodableRequest((err as Error).message);
        }
      },
    };
  }
  return out as grpc.ServiceDefinition;
}

/** Makes every service added to `server` from now on hand undecodable requests on as UndecodableRequest. */
export function guardRequestDecoding(server: grpc.Server): void {
  const addService = server.addService.bind(server);
  server.addService = (service, implementation) => addService(guarded(service), implementation);
}
