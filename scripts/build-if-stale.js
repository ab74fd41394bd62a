#!/usr/bin/env node
/**
 * `npm start` runs this before `node dist/portplane.js`: it compiles src/ to
 * dist/ and bundles the CLI (scripts/bundle.js) only when a source (or a
 * tsconfig) is newer than dist/portplane.js, which every build rewrites, so a
 * start with dist/ current costs a directory walk instead of a full build.
 */
import { spawnSync } from 'node:child_process';
import console from 'node:console';
import { readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const output = join(root, 'dist', 'portplane.js');

function newestMtime(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs);
  }
  return newest;
}

const built = statSync(output, { throwIfNoEntry: false })?.mtimeMs ?? 0;
const sources = Math.max(newestMtime(join(root, 'src')), ...['tsconfig.json', 'tsconfig.build.json'].map((f) => statSync(join(root, f)).mtimeMs));
if (sources > built) {
  const r = spawnSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(root, 'tsconfig.build.json')], {
    stdio: 'inherit',
  });
  if (r.status !== 0) {
    console.error('build failed: fix the errors above, or run `npm run build` to see them again');
    process.exit(r.status ?? 1);
  }
  // Loaded only when a build is due: esbuild is not needed for a start with dist/ current.
  await (await import('./bundle.js')).bundle();
}
