/**
 * The yaml library, loaded on first use: a daemon that reads no YAML (no
 * --auth-policy; every restart after a crash) does not pay for loading it.
 */
import { createRequire } from 'node:module';

type Yaml = typeof import('yaml');

const require = createRequire(import.meta.url);
let loaded: Yaml | undefined;

export function yaml(): Yaml {
  return (loaded ??= require('yaml') as Yaml);
}
