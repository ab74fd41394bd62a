/**
 * Layering: the neutral layers never reach into a backend, and backends never
 * reach into each other. src/backends.ts is the single composition point.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const src = join(repo, 'src');
const BACKENDS = ['src/dataplane/kernel', 'src/dataplane/userspace', 'src/dataplane/nftables'];
const COMPOSITION_POINT = 'src/backends.ts';

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? walk(path) : path.endsWith('.ts') ? [path] : [];
  });
}

/** Repo-relative paths of every relative import of `file`. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specs = [...text.matchAll(/(?:from\s+|import\s*\(\s*|import\s+)['"]([^'"]+)['"]/g)].map((m) => m[1] ?? '');
  return specs
    .filter((s) => s.startsWith('.'))
    .map((s) => relative(repo, resolve(dirname(file), s)).replace(/\.js$/, '.ts'));
}

const files = walk(src).map((f) => ({ path: relative(repo, f), imports: importsOf(f) }));
const backendOf = (path: string): string | undefined => BACKENDS.find((b) => path.startsWith(`${b}/`));

describe('import layering', () => {
  it('finds the source tree and its imports', () => {
    expect(files.length).toBeGreaterThan(20);
    expect(files.some((f) => f.imports.length > 0)).toBe(true);
  });

  it('no neutral module imports a backend, except the composition point', () => {
    const offenders = files
      .filter((f) => !backendOf(f.path) && f.path !== COMPOSITION_POINT)
      .flatMap((f) => f.imports.filter((i) => backendOf(i)).map((i) => `${f.path} -> ${i}`));
    expect(offenders).toEqual([]);
  });

  it('no backend imports another backend', () => {
    const offenders = files.flatMap((f) => {
      const own = backendOf(f.path);
      if (!own) return [];
      return f.imports.filter((i) => backendOf(i) && backendOf(i) !== own).map((i) => `${f.path} -> ${i}`);
    });
    expect(offenders).toEqual([]);
  });

  it('the composition point is the one place that imports the backends', () => {
    const importers = files.filter((f) => f.imports.some((i) => backendOf(i)) && !backendOf(f.path)).map((f) => f.path);
    expect(importers).toEqual([COMPOSITION_POINT]);
  });
});

describe('neutral dataplane contracts', () => {
  const contracts = files.filter((f) => f.path.startsWith('src/dataplane/') && !backendOf(f.path));

  it('are leaves: they import neither backend, nor the control, server or CLI layers', () => {
    expect(contracts.map((f) => f.path)).toEqual(
      expect.arrayContaining(['src/dataplane/runtime.ts', 'src/dataplane/tracer.ts', 'src/dataplane/route-lookup.ts', 'src/dataplane/source-filter.ts', 'src/dataplane/admission.ts']),
    );
    const offenders = contracts.flatMap((f) =>
      f.imports.filter((i) => backendOf(i) || /^src\/(control|server|cli)\//.test(i) || i === COMPOSITION_POINT).map((i) => `${f.path} -> ${i}`),
    );
    expect(offenders).toEqual([]);
  });

  it('the userspace backend and the kernel backend do not import each other', () => {
    const across = files.flatMap((f) => {
      const own = backendOf(f.path);
      return own ? f.imports.filter((i) => (backendOf(i) ?? own) !== own).map((i) => `${f.path} -> ${i}`) : [];
    });
    expect(files.some((f) => f.path.startsWith('src/dataplane/userspace/'))).toBe(true);
    expect(files.some((f) => f.path.startsWith('src/dataplane/kernel/'))).toBe(true);
    expect(across).toEqual([]);
  });
});
