// Bundles the CLI into one file, dist/d7y-build.cjs, the package's `bin`. Type checking is separate
// (npm run typecheck). Optional native addons of dockerode's SSH transport stay external: they are
// required inside try/catch and absent is fine.
import { build } from 'esbuild';
import { chmod } from 'node:fs/promises';

const outfile = 'dist/d7y-build.cjs';

await build({
  entryPoints: ['src/main.ts'],
  outfile,
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
});
await chmod(outfile, 0o755);
