/**
 * `npm run proto` step: writes the protobufjs root of a compiled
 * FileDescriptorSet as JSON (rootJson in src/server/api-registry.ts), which
 * the server loads its grpc-js definitions from.
 *   tsx scripts/api-json.ts <api.binpb> <api.json>
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { rootJson } from '../src/server/api-registry.js';

const [from, to] = process.argv.slice(2);
if (!from || !to) throw new Error('usage: tsx scripts/api-json.ts <api.binpb> <api.json>');
writeFileSync(to, rootJson(readFileSync(from)));
