/**
 * One ConfigService call from a separate process (so a test can make it as
 * another user): `grpc-call.ts TARGET METHOD JSON`, printing
 * `{"code": N, "details": "...", "response": {...}}` on stdout.
 */
import * as grpc from '@grpc/grpc-js';
import { serviceClient } from '../../src/server/api-definition.js';

const [target, method, json] = process.argv.slice(2);
if (!target || !method) throw new Error('usage: grpc-call.ts TARGET METHOD [JSON]');
const client = new (serviceClient('ConfigService'))(target, grpc.credentials.createInsecure());
const fn = (client as unknown as Record<string, (...args: unknown[]) => void>)[method];
if (!fn) throw new Error(`no method ${method}`);
fn.call(client, JSON.parse(json ?? '{}'), { deadline: Date.now() + 30_000 }, (err: grpc.ServiceError | null, response: unknown) => {
  console.log(JSON.stringify({ code: err ? err.code : 0, details: err?.details ?? '', response: response ?? null }));
  client.close();
});
