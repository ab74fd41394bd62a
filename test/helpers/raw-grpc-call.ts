/**
 * One unary gRPC call with the request already encoded: `raw-grpc-call
 * TARGET PATH HEX` prints `{"code": N, "details": "...", "response": HEX}`.
 * It needs nothing but @grpc/grpc-js, so peer-identity.test.ts bundles it
 * into one file in a directory another uid can read, and runs it as that uid
 * wherever the checkout is (a 0700 home included).
 */
import * as grpc from '@grpc/grpc-js';

const [target, path, hex] = process.argv.slice(2);
if (!target || !path) throw new Error('usage: raw-grpc-call TARGET PATH [HEX]');
const client = new grpc.Client(target, grpc.credentials.createInsecure());
const identity = (b: Buffer): Buffer => b;
client.makeUnaryRequest(path, identity, identity, Buffer.from(hex ?? '', 'hex'), { deadline: Date.now() + 30_000 }, (err, response) => {
  console.log(JSON.stringify({ code: err ? err.code : 0, details: err?.details ?? '', response: response ? response.toString('hex') : null }));
  client.close();
});
