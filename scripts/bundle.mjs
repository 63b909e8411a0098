// Bundles the package: the CLI (the `bin`, dist/d7y-build.cjs) and the library (the main export,
// dist/index.cjs). Type checking is separate (npm run typecheck), the library's declarations too
// (tsconfig.types.json). Optional native addons of dockerode's SSH transport stay external: they
// are required inside try/catch and absent is fine.
//
// The CLI loads each command's code when that command runs (cli.ts imports them lazily), so its
// bundle is split in dist/cli/: the entry holds the command table and option parsing, each
// command's code is a chunk of its own, and `--help` compiles only the entry and the few chunks it
// shares with the commands. esbuild splits ES modules only; the chunks are then rewritten to
// CommonJS, one file each: Node's ES module loader alone costs a tenth of `node -e 0` at start, and
// `require` loads the same files faster. The dynamic imports become requires run when the command
// runs, so the split stays lazy. yaml, which the CLI requires only when a config file is there to
// read (config-files.ts), is a file of its own too, dist/cli/yaml.cjs, not compiled with the entry.
// dist/d7y-build.cjs is the small executable that requires the entry.
//
// The library is one CommonJS file (one copy of each error class, so instanceof holds whether it
// is loaded by `require` or `import`).
import { build, transform } from 'esbuild';
import { chmod, mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';

const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  sourcemap: true,
  minify: process.argv.includes('--production'),
  external: ['cpu-features', '*.node'],
  logLevel: 'warning',
  // import.meta.url has no CommonJS equivalent: define it from __filename.
  define: { 'import.meta.url': 'importMetaUrl' },
  banner: { js: "const importMetaUrl = require('url').pathToFileURL(__filename).href;" },
};

// --outdir <dir>: elsewhere than dist/ (the tests bundle into a directory of their own).
const outArg = process.argv.indexOf('--outdir');
const dist = outArg === -1 ? 'dist' : process.argv[outArg + 1];
const bin = path.join(dist, 'd7y-build.cjs');
const cliDir = path.join(dist, 'cli');
/**
 * Packages the CLI requires only now and then, each bundled into a file of its own in dist/cli/
 * (every file of the CLI is there) and required from it: yaml, when a config file is there to read
 * (config-files.ts), and ssh2, for an ssh:// engine (see lazyDockerParts).
 */
const APART = ['yaml', 'ssh2'];
const apart = {
  name: 'apart',
  setup(b) {
    b.onResolve({ filter: new RegExp(`^(${APART.join('|')})$`) }, (args) => ({ path: `./${args.path}.cjs`, external: true }));
  },
};

/**
 * commander requires node:child_process when it is loaded, for executable subcommands, which
 * d7y-build has none of; loading it costs several milliseconds of every start. Its copy in the CLI
 * gets node:child_process on first use instead.
 */
const lazyChildProcess = {
  name: 'lazy-child-process',
  setup(b) {
    b.onResolve({ filter: /^node:child_process$/ }, (args) =>
      /[\\/]node_modules[\\/]commander[\\/]/.test(args.importer) ? { path: 'child_process', namespace: 'lazy-child-process' } : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'lazy-child-process' }, () => ({
      contents: "module.exports = new Proxy({}, { get: (_, key) => require('node:child_process')[key] });",
      loader: 'js',
    }));
  },
};

/**
 * Transports and features of dockerode that d7y-build uses rarely or never, loaded when dockerode is
 * loaded: its BuildKit session support and output decoder (gRPC and protobuf, for builds with
 * `version: "2"`, which d7y-build never asks for) and docker-modem's SSH transport (ssh2, for
 * ssh:// engines). Their copies in the CLI load them on first call instead: the BuildKit parts as
 * chunks of their own (their callers take callbacks), the transport by a require of
 * dist/cli/ssh2.cjs (its caller wants an agent back at once).
 */
const lazyDockerParts = {
  name: 'lazy-docker-parts',
  setup(b) {
    const dockerode = /[\\/]node_modules[\\/]dockerode[\\/]lib[\\/]docker\.js$/;
    const parts = [
      { importer: dockerode, request: './session', exports: "function (...args) { import('./session.js').then((m) => (m.default ?? m)(...args)); }" },
      // Only its followProgress is used, with a callback; protobufjs comes with it.
      {
        importer: dockerode,
        request: './buildkit',
        exports: "{ followProgress(...args) { import('./buildkit.js').then((m) => (m.default ?? m).followProgress(...args)); } }",
      },
      {
        importer: /[\\/]node_modules[\\/]docker-modem[\\/]lib[\\/]modem\.js$/,
        request: './ssh',
        exports: "function (...args) { return require('./ssh.js')(...args); }",
      },
    ];
    b.onResolve({ filter: /^\.\/(session|buildkit|ssh)$/ }, (args) => {
      const part = parts.find((p) => p.request === args.path && p.importer.test(args.importer));
      return part && { path: path.join(path.dirname(args.importer), `${args.path}.js`), namespace: 'lazy-docker-parts', pluginData: part };
    });
    b.onLoad({ filter: /.*/, namespace: 'lazy-docker-parts' }, (args) => ({
      contents: `module.exports = ${args.pluginData.exports};`,
      resolveDir: path.dirname(args.path),
      loader: 'js',
    }));
  },
};

/** The CLI, split as ES modules in memory, then each file written as CommonJS. */
async function buildCli() {
  const split = await build({
    ...common,
    entryPoints: { main: 'src/main.ts' },
    outdir: cliDir,
    outExtension: { '.js': '.cjs' },
    chunkNames: '[name]-[hash]',
    splitting: true,
    format: 'esm',
    sourcemap: 'inline',
    write: false,
    plugins: [apart, lazyChildProcess, lazyDockerParts],
  });
  await mkdir(cliDir, { recursive: true });
  await Promise.all(
    split.outputFiles.map(async (file) => {
      const name = path.basename(file.path);
      // Warnings were the bundle's to give; the rewrite would repeat those it hid in node_modules.
      const cjs = await transform(file.text, {
        format: 'cjs',
        platform: 'node',
        target: 'node20',
        supported: { 'dynamic-import': false },
        sourcemap: 'external',
        sourcefile: name,
        minify: common.minify,
        logLevel: 'error',
      });
      await writeFile(file.path, `${cjs.code}//# sourceMappingURL=${name}.map\n`);
      await writeFile(`${file.path}.map`, cjs.map);
    }),
  );
}

// dist/ is all generated: start from nothing, so no file of an earlier layout stays.
await rm(dist, { recursive: true, force: true });
await Promise.all([
  buildCli(),
  ...APART.map((name) =>
    build({
      ...common,
      stdin: { contents: `module.exports = require('${name}');`, resolveDir: '.', sourcefile: `${name}-entry.cjs` },
      outfile: path.join(cliDir, `${name}.cjs`),
      format: 'cjs',
    }),
  ),
  build({ ...common, entryPoints: ['src/index.ts'], outfile: path.join(dist, 'index.cjs'), format: 'cjs' }),
]);
await writeFile(bin, "#!/usr/bin/env node\n'use strict';\nrequire('./cli/main.cjs');\n");
await chmod(bin, 0o755);
// The declarations describe dist/index.cjs, a CommonJS module: TypeScript takes a .d.ts for the
// format of its nearest package.json, and the package's own says "module".
await mkdir(path.join(dist, 'types'), { recursive: true });
await writeFile(path.join(dist, 'types/package.json'), '{ "type": "commonjs" }\n');
