#!/usr/bin/env node
/**
 * `npm run build` runs this after tsc: it bundles the CLI (src/cli/main.ts
 * and everything it imports, node_modules included) into one ESM file,
 * dist/portplane.js, which `npm start` and the `portplane` bin run. Node 20's
 * ESM loader has no code cache and resolves, reads and links each of the
 * ~300 files of the unbundled daemon in turn; that was ~390 ms of a ~1.1 s
 * restart (docs/benchmarks.md, #12 Round 5). tsc's per-file dist/ stays for
 * the client library (package.json exports) and the CNI plugin.
 *
 * Each source module keeps its own import.meta.url (the URL its tsc output
 * in dist/ has), so the paths it derives from it (native addons, the
 * compiled API, package.json) resolve as before. Packages loaded at run
 * time through createRequire (yaml, etcd3) stay in node_modules.
 */
import console from 'node:console';
import { readFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(root, 'src');
export const BUNDLE = join(root, 'dist', 'portplane.js');

/** Rewrites `import.meta.url` in a module under src/ to the URL of its compiled file next to the bundle's directory. */
const ownImportMetaUrl = {
  name: 'own-import-meta-url',
  setup(b) {
    b.onLoad({ filter: /\.ts$/ }, async (args) => {
      const text = await readFile(args.path, 'utf8');
      const rel = relative(src, args.path);
      if (rel.startsWith('..')) return undefined;
      const compiled = `./${rel.split('\\').join('/').replace(/\.ts$/, '.js')}`;
      return { contents: text.replaceAll('import.meta.url', `new URL(${JSON.stringify(compiled)}, import.meta.url).href`), loader: 'ts' };
    });
  },
};

export async function bundle() {
  await build({
    entryPoints: [join(src, 'cli', 'main.ts')],
    outfile: BUNDLE,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    // Less to read and parse at every start; identifiers keep their names (stack traces, logs).
    minifyWhitespace: true,
    minifySyntax: true,
    // Node's own `require` for the CommonJS packages bundled into an ES module (they require node: built-ins).
    banner: { js: "import { createRequire as __bundleRequire } from 'node:module';\nconst require = __bundleRequire(import.meta.url);" },
    // Kept out of the bundle: loaded at run time from node_modules by createRequire (see the header).
    external: ['yaml', 'etcd3'],
    plugins: [ownImportMetaUrl],
    logLevel: 'warning',
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  bundle().catch((err) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
