/**
 * What build is running: the package version (read from the package.json
 * beside src/ and dist/, so it cannot drift from the release) and the Node.js
 * runtime. Served as portplane_build_info and in the startup summary.
 */
import { readFileSync } from 'node:fs';

function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : 'unknown';
  } catch {
    return 'unknown';
  }
}

export const BUILD_INFO = { version: packageVersion(), nodeVersion: process.version } as const;
