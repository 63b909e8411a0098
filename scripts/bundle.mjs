// Bundles the CLI for the package's `bin`, dist/d7y-build.cjs. The CLI loads each command's code
// when that command runs (cli.ts imports them lazily), so the bundle is split ES modules in
// dist/cli/: the entry holds the command table and option parsing, and each command's code is a
// chunk of its own; `--help` parses and compiles only the entry. dist/d7y-build.cjs is the small
// executable that imports the entry. Type checking is separate (npm run typecheck). Optional native
// addons of dockerode's SSH transport stay external: they are required inside try/catch and absent
// is fine.
import { build } from 'esbuild';
import { chmod, rm, writeFile } from 'node:fs/promises';

const bin = 'dist/d7y-build.cjs';
const outdir = 'dist/cli';

// dist/ is all generated: start from nothing, so no file of an earlier layout stays.
await rm('dist', { recursive: true, force: true });
await build({
  entryPoints: { main: 'src/main.ts' },
  outdir,
  outExtension: { '.js': '.mjs' },
  chunkNames: 'chunks/[name]-[hash]',
  bundle: true,
  splitting: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  sourcemap: true,
  minify: process.argv.includes('--production'),
  external: ['cpu-features', '*.node'],
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
  logLevel: 'warning',
});
await writeFile(bin, "#!/usr/bin/env node\n'use strict';\nimport('./cli/main.mjs');\n");
await chmod(bin, 0o755);
