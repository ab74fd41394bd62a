#!/usr/bin/env node
/**
 * Compiles proto/ into what the code uses (`npm run proto`), so that what the
 * server serves, what reflection describes and what TypeScript checks come
 * from one compilation:
 *   src/generated/api.binpb  FileDescriptorSet of every file under proto/ and
 *                            every import (google.protobuf well-known types),
 *                            built by `buf build`; reflection serves its bytes.
 *   src/generated/api.json   the protobufjs root of that set (scripts/api-json.ts),
 *                            what the server builds its grpc-js definitions from
 *                            at start (cheaper than reading the set each time).
 *   src/generated/types/     TypeScript types of the messages and services as
 *                            @grpc/proto-loader decodes them with the loader
 *                            options of src/server/api-definition.ts.
 * Both are committed so `npm ci && npm start` needs no extra step.
 * `--check` builds into a temporary directory and exits 1 naming every file
 * that differs from the committed one (test/unit/compiled-api.test.ts runs it).
 */
import { spawnSync } from 'node:child_process';
import console from 'node:console';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const generated = join(root, 'src', 'generated');
const bin = (name) => join(root, 'node_modules', '.bin', name);

/** Must match LOADER_OPTIONS in src/server/api-definition.ts. */
const LOADER_FLAGS = ['--keepCase', '--longs=String', '--enums=String', '--defaults', '--oneofs'];

function run(command, args) {
  const r = spawnSync(command, args, { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.error) throw new Error(`${command}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${relative(root, command)} ${args.join(' ')} exited with ${r.status}`);
}

function listFiles(dir, base = dir) {
  const out = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...listFiles(path, base));
    else out.push(relative(base, path));
  }
  return out.sort();
}

function generate(outDir) {
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  run(bin('buf'), ['build', '--output', join(outDir, 'api.binpb')]);
  run(bin('tsx'), [join(root, 'scripts', 'api-json.ts'), join(outDir, 'api.binpb'), join(outDir, 'api.json')]);
  const protos = listFiles(join(root, 'proto')).filter((f) => f.endsWith('.proto'));
  run(bin('proto-loader-gen-types'), [
    ...LOADER_FLAGS,
    '--grpcLib=@grpc/grpc-js',
    '--importFileExtension=.js',
    // Relative, so the "Original file" comments don't name this checkout.
    '--includeDirs',
    'proto',
    '--outDir',
    join(outDir, 'types'),
    ...protos,
  ]);
}

function check() {
  const temp = mkdtempSync(join(tmpdir(), 'portplane-proto-'));
  try {
    const fresh = join(temp, 'generated');
    generate(fresh);
    const want = listFiles(fresh);
    const have = statSync(generated, { throwIfNoEntry: false }) ? listFiles(generated) : [];
    const stale = [...new Set([...want, ...have])].filter(
      (f) => !want.includes(f) || !have.includes(f) || !readFileSync(join(fresh, f)).equals(readFileSync(join(generated, f))),
    );
    if (stale.length > 0) {
      console.error(`src/generated is stale against proto/ (run \`npm run proto\` and commit):\n  ${stale.join('\n  ')}`);
      process.exit(1);
    }
    console.log(`src/generated matches proto/ (${want.length} files)`);
  } finally {
    rmSync(temp, { recursive: true, force: true });
  }
}

try {
  if (process.argv.includes('--check')) check();
  else {
    generate(generated);
    console.log(`wrote ${relative(root, generated)}`);
  }
} catch (err) {
  console.error(`proto: ${err.message}`);
  process.exit(1);
}
