// Bundles the CLI into one file, dist/d7y-build.cjs, the package's `bin`, and the library into
// dist/index.cjs, the package's main export: CommonJS, which `require` loads and `import` too (one
// copy of each error class, so instanceof holds either way). Type checking is separate (npm run
// typecheck), the library's declarations too (tsconfig.types.json). Optional native addons of
// dockerode's SSH transport stay external: they are required inside try/catch and absent is fine.
import { build } from 'esbuild';
import { chmod, mkdir, writeFile } from 'node:fs/promises';

const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: true,
  minify: process.argv.includes('--production'),
  external: ['cpu-features', '*.node'],
  // import.meta.url has no CommonJS equivalent: define it from __filename.
  define: { 'import.meta.url': 'importMetaUrl' },
  banner: { js: "const importMetaUrl = require('url').pathToFileURL(__filename).href;" },
  logLevel: 'warning',
};

const cli = 'dist/d7y-build.cjs';
await Promise.all([
  build({ ...common, entryPoints: ['src/main.ts'], outfile: cli }),
  build({ ...common, entryPoints: ['src/index.ts'], outfile: 'dist/index.cjs' }),
]);
await chmod(cli, 0o755);
// The declarations describe dist/index.cjs, a CommonJS module: TypeScript takes a .d.ts for the
// format of its nearest package.json, and the package's own says "module".
await mkdir('dist/types', { recursive: true });
await writeFile('dist/types/package.json', '{ "type": "commonjs" }\n');
