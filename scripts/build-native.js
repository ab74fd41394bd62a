#!/usr/bin/env node
/**
 * Builds every native addon under native/ (npm runs this as the package's
 * `install` script, so `npm ci` builds them). An addon that cannot be built
 * (no compiler, no Node headers) is reported and skipped: portplane loads
 * each addon optionally and falls back without it (peercred:
 * docs/security.md; splice-relay: docs/design.md), so a missing toolchain
 * must not fail the install.
 *
 *   --sanitize  builds each addon with AddressSanitizer and UndefinedBehavior-
 *               Sanitizer into build/Debug (Release stays), for
 *               `npm run test:native-sanitized` (PORTPLANE_NATIVE_BUILD=Debug
 *               loads them); a failure there is fatal.
 *   --require   exits non-zero when any addon did not build (CI).
 */
import { spawnSync } from 'node:child_process';
import console from 'node:console';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const nativeDir = join(root, 'native');

/** node-gyp as npm runs it for lifecycle scripts, else the one bundled with npm, else from PATH. */
function nodeGyp() {
  const candidates = [
    process.env.npm_config_node_gyp,
    join(dirname(dirname(process.execPath)), 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  ];
  const script = candidates.find((path) => path && existsSync(path));
  return script ? [process.execPath, script] : ['node-gyp'];
}

/** Node's headers from the distribution package, so node-gyp never tries to download them. */
function nodedirArgs() {
  if (process.env.npm_config_nodedir) return [];
  const prefix = dirname(dirname(process.execPath));
  return existsSync(join(prefix, 'include', 'node', 'node_api.h')) ? [`--nodedir=${prefix}`] : [];
}

const sanitize = process.argv.includes('--sanitize');
const required = sanitize || process.argv.includes('--require');
const SANITIZE_FLAGS = '-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -g';

/** node-gyp's steps: a plain rebuild, or configure + a Debug build that leaves Release in place. */
function steps(dir) {
  if (!sanitize) return [['rebuild', ...nodedirArgs(), `--directory=${dir}`]];
  return [
    ['configure', ...nodedirArgs(), `--directory=${dir}`],
    ['build', '--debug', `--directory=${dir}`],
  ];
}

const addons = existsSync(nativeDir)
  ? readdirSync(nativeDir).filter((name) => existsSync(join(nativeDir, name, 'binding.gyp')))
  : [];
const failed = [];
for (const name of addons) {
  const [cmd, ...pre] = nodeGyp();
  const env = sanitize
    ? { ...process.env, CFLAGS: `${process.env.CFLAGS ?? ''} ${SANITIZE_FLAGS}`, LDFLAGS: `${process.env.LDFLAGS ?? ''} -fsanitize=address,undefined` }
    : process.env;
  let result;
  for (const args of steps(join(nativeDir, name))) {
    result = spawnSync(cmd, [...pre, ...args], { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8', env });
    if (result.status !== 0) break;
  }
  if (result.status === 0) {
    console.log(`portplane: built native addon ${name}${sanitize ? ' (ASan + UBSan, build/Debug)' : ''}`);
  } else {
    failed.push(name);
    const why = result.error?.message ?? (result.stderr || result.stdout).trim().split('\n').slice(-5).join('\n');
    console.warn(`portplane: native addon ${name} was not built; portplane runs without it (see docs/security.md, docs/design.md):\n${why}`);
  }
}
if (required && failed.length > 0) {
  console.error(`portplane: NATIVE ADDON BUILD FAILED: ${failed.join(', ')}`);
  process.exit(1);
}
