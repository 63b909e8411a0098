// Bundles the package: the CLI (the `bin`, dist/d7y-build.cjs) and the library (the main export,
// dist/index.cjs). Type checking is separate (npm run typecheck), the library's declarations too
// (tsconfig.types.json). Optional native addons of dockerode's SSH transport stay external: they
// are required inside try/catch and absent is fine.
//
// The CLI loads each command's code when that command runs (cli.ts imports them lazily), so its
// bundle is split ES modules in dist/cli/: the entry holds the command table and option parsing,
// each command's code is a chunk of its own, and `--help` parses and compiles only the entry.
// dist/d7y-build.cjs is the small executable that imports the entry.
//
// The library is one CommonJS file, which `require` loads and `import` too (one copy of each error
// class, so instanceof holds either way).
import { build } from 'esbuild';
import { chmod, mkdir, rm, writeFile } from 'node:fs/promises';

const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  sourcemap: true,
  minify: process.argv.includes('--production'),
  external: ['cpu-features', '*.node'],
  logLevel: 'warning',
};

const bin = 'dist/d7y-build.cjs';

// dist/ is all generated: start from nothing, so no file of an earlier layout stays.
await rm('dist', { recursive: true, force: true });
await Promise.all([
  build({
    ...common,
    entryPoints: { main: 'src/main.ts' },
    outdir: 'dist/cli',
    outExtension: { '.js': '.mjs' },
    chunkNames: 'chunks/[name]-[hash]',
    splitting: true,
    format: 'esm',
    // The CommonJS packages in the bundle (dockerode, its transports) use require(), __filename and
    // __dirname: give every module of the bundle its own, as Node gives a CommonJS file.
    banner: {
      js: [
        "import { createRequire as __d7yRequire } from 'node:module';",
        "import { fileURLToPath as __d7yPath } from 'node:url';",
        "import { dirname as __d7yDirname } from 'node:path';",
        'const require = __d7yRequire(import.meta.url);',
        'const __filename = __d7yPath(import.meta.url);',
        'const __dirname = __d7yDirname(__filename);',
      ].join(' '),
    },
  }),
  build({
    ...common,
    entryPoints: ['src/index.ts'],
    outfile: 'dist/index.cjs',
    format: 'cjs',
    // import.meta.url has no CommonJS equivalent: define it from __filename.
    define: { 'import.meta.url': 'importMetaUrl' },
    banner: { js: "const importMetaUrl = require('url').pathToFileURL(__filename).href;" },
  }),
]);
await writeFile(bin, "#!/usr/bin/env node\n'use strict';\nimport('./cli/main.mjs');\n");
await chmod(bin, 0o755);
// The declarations describe dist/index.cjs, a CommonJS module: TypeScript takes a .d.ts for the
// format of its nearest package.json, and the package's own says "module".
await mkdir('dist/types', { recursive: true });
await writeFile('dist/types/package.json', '{ "type": "commonjs" }\n');
