/**
 * A unary grpc-js handler from an async function: its value is the
 * response, anything it throws becomes a status via toServiceError.
 */
import type * as grpc from '@grpc/grpc-js';
import { toServiceError } from './grpc-errors.js';

export type Unary<Req> = (call: grpc.ServerUnaryCall<Req, object>, callback: grpc.sendUnaryData<object>) => void;

export function unary<Req>(handler: (request: Req, call: grpc.ServerUnaryCall<Req, object>) => Promise<object> | object): Unary<Req> {
  return (call, callback) => {
    Promise.resolve()
      .then(() => handler(call.request, call))
      .then(
        (response) => callback(null, response),
        (err: unknown) => callback(toServiceError(err)),
      );
  };
}
