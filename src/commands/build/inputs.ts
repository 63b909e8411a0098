/**
 * check-inputs: everything about the plugin sources, the target and cache directories, and the
 * engine, before any work. What can be known here is refused here, not after a compile.
 */
import { lstat, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { UsageError } from '../../errors';
import { readPluginSources, type PluginSources } from '../../artifacts/plugin-sources';
import { assertWritableDir, statesOf, tempName } from '../../artifacts/place';
import { checkDirsApart, type BuildSpec, type PluginSpec } from '../../config';
import { formatBytes, readRegularFile } from '../../files';
import { checkCacheDir } from '../../session/cache';
import type { BuildContext } from './state';
import { hintOption } from '../../option-names';

const INIT_SIGNATURE = 'func DragonflyPluginInit(option map[string]string) (any, map[string]string, error)';

/** The longest file name Linux file systems take (NAME_MAX), in bytes. */
const NAME_MAX = 255;

/** The package clause of a Go file: the first token after any comments must be `package`. */
export function packageName(source: string): string | undefined {
  let i = 0;
  for (;;) {
    while (i < source.length && /\s/.test(source[i]!)) i++;
    if (source.startsWith('//', i)) {
      const end = source.indexOf('\n', i);
      if (end < 0) return undefined;
      i = end + 1;
    } else if (source.startsWith('/*', i)) {
      const end = source.indexOf('*/', i + 2);
      if (end < 0) return undefined;
      i = end + 2;
    } else {
      return /^package\s+([A-Za-z_][A-Za-z0-9_]*)/.exec(source.slice(i))?.[1];
    }
  }
}

/** The plugin directory's real path: a symlinked directory is sent as what it points to. */
async function realPluginDir(plugin: PluginSpec): Promise<string> {
  const info = await stat(plugin.dir).catch((err: NodeJS.ErrnoException) => err);
  if (info instanceof Error) {
    if (info.code !== 'ENOENT') {
      throw new UsageError(`plugin directory ${plugin.dir} cannot be read (${info.code ?? info.message})`, { hint: 'pass a directory this user can read' });
    }
    const link = await lstat(plugin.dir).catch(() => undefined);
    throw new UsageError(`plugin directory ${plugin.dir} does not exist${link?.isSymbolicLink() ? ' (it is a symbolic link to nothing)' : ''}`, {
      hint: "pass the directory that holds the plugin's .go files",
    });
  }
  if (!info.isDirectory()) {
    throw new UsageError(`${plugin.dir} is not a directory`, { hint: "pass the plugin's directory, not a file in it" });
  }
  return realpath(plugin.dir);
}

/** The Go files of what is sent: package main, one of them defining DragonflyPluginInit. */
async function checkPluginSource(plugin: PluginSpec, context: PluginSources, maxBytes: number): Promise<void> {
  if (context.entries.has('go.mod') && !context.files.has('go.mod')) {
    throw new UsageError(`${path.join(plugin.dir, 'go.mod')} is a directory`, { hint: "a plugin's go.mod must be a file: remove or rename the directory" });
  }
  const goFiles = [...context.files].filter((f) => !f.includes('/') && f.endsWith('.go') && !f.endsWith('_test.go')).sort();
  if (goFiles.length === 0) {
    throw new UsageError(`${plugin.dir} has no .go files to send`, {
      hint: 'a plugin is a directory of package main .go files; check that its .gitignore and .dockerignore do not leave them out',
    });
  }
  let exportsInit = false;
  for (const file of goFiles) {
    const source = await readRegularFile(path.join(context.dir, file), { what: 'the plugin source', hint: 'make it a regular file', maxBytes });
    const pkg = packageName(source);
    if (pkg !== 'main') {
      throw new UsageError(`${path.join(plugin.dir, file)} is package ${pkg ?? '(none)'}, not main`, {
        hint: 'Go plugins are built from package main: change the package clause to `package main`',
      });
    }
    if (/^func\s+DragonflyPluginInit\s*\(/m.test(source)) exportsInit = true;
  }
  if (!exportsInit) {
    throw new UsageError(`${plugin.dir} does not define DragonflyPluginInit`, {
      hint: `Dragonfly calls this function after loading the plugin: add \`${INIT_SIGNATURE}\``,
    });
  }
}

/** The real path of p, which need not exist yet: its nearest existing ancestor's, plus the rest. */
async function realPathOf(p: string): Promise<string> {
  const real = await realpath(p).catch(() => undefined);
  if (real !== undefined) return real;
  const parent = path.dirname(p);
  return parent === p ? p : path.join(await realPathOf(parent), path.basename(p));
}

/** The installer writes each plugin under a longer temporary name first: that one must fit too. */
function checkNameLength(spec: BuildSpec): void {
  for (const plugin of spec.plugins) {
    const longest = Buffer.byteLength(path.basename(tempName(path.join(spec.pluginsDir ?? spec.outDir, plugin.file))));
    if (longest > NAME_MAX) {
      throw new UsageError(
        `plugin name ${plugin.name.slice(0, 16)}… (${plugin.name.length} characters) is too long: its .so would need a ${longest}-byte temporary name while it is installed, and a file name has at most ${NAME_MAX} bytes`,
        {
          hint: `pass a shorter ${hintOption('name')}, of at most ${plugin.name.length - (longest - NAME_MAX)} characters`,
        },
      );
    }
  }
}

/** Each plugin directory as it is now: what of it is sent, checked. */
async function readPlugins(ctx: BuildContext): Promise<Map<string, PluginSources>> {
  const sources = new Map<string, PluginSources>();
  for (const plugin of ctx.spec.plugins) {
    const context = await readPluginSources(await realPluginDir(plugin), ctx.spec.maxContextBytes, ctx.signal);
    await checkPluginSource(plugin, context, ctx.spec.maxContextBytes);
    sources.set(plugin.name, context);
  }
  return sources;
}

/** The plugins directory's target files as they are now: the install must find them so. */
async function recordPluginsBefore(ctx: BuildContext): Promise<void> {
  const { pluginsDir } = ctx.spec;
  ctx.state.pluginsBefore = pluginsDir === undefined ? new Map() : await statesOf(ctx.spec.plugins.map((p) => path.join(pluginsDir, p.file)));
}

/**
 * check-sources, the first step of a rebuild in watch mode: the plugin directories read and checked
 * again, and the plugins directory's files as the last install left them.
 */
export async function checkSources(ctx: BuildContext): Promise<void> {
  ctx.state.pluginSources = await readPlugins(ctx);
  await recordPluginsBefore(ctx);
}

/** The mirror cache and the install locks live in the cache dir: it must take new files. */
export async function checkInputs(ctx: BuildContext): Promise<void> {
  const { spec } = ctx;
  ctx.state.pluginSources = await readPlugins(ctx);
  // Checked as given by resolveSpec; again here through symbolic links.
  checkDirsApart(
    await realPathOf(spec.outDir),
    spec.pluginsDir === undefined ? undefined : await realPathOf(spec.pluginsDir),
    [...ctx.state.pluginSources.values()].map((c) => c.dir),
  );
  checkNameLength(spec);
  await assertWritableDir(spec.outDir, '--out');
  if (spec.pluginsDir !== undefined) await assertWritableDir(spec.pluginsDir, '--plugins-dir');
  await checkCacheDir(spec.cacheDir, spec.cacheDirOrigin);
  await recordPluginsBefore(ctx);

  const engine = await ctx.engine.ping(ctx.signal);
  ctx.state.engine = engine;
  ctx.log.info(`Docker ${engine.serverVersion} (${engine.os}/${engine.arch}, ${engine.cpus} CPUs, ${formatBytes(engine.memoryBytes)}) at ${engine.address}`);
  const { nanoCpus, memoryBytes } = spec.limits;
  if (nanoCpus !== undefined && nanoCpus > engine.cpus * 1e9) {
    throw new UsageError(`--cpus ${nanoCpus / 1e9} is more than the ${engine.cpus} CPUs the Docker engine at ${engine.address} has`, {
      hint: `pass ${hintOption('cpus', String(engine.cpus))} or less, or leave ${hintOption('cpus')} out`,
    });
  }
  if (memoryBytes !== undefined && memoryBytes > engine.memoryBytes) {
    throw new UsageError(
      `--memory ${formatBytes(memoryBytes)} is more than the ${formatBytes(engine.memoryBytes)} the Docker engine at ${engine.address} has`,
      {
        hint: `pass a smaller ${hintOption('memory')}, or leave ${hintOption('memory')} out`,
      },
    );
  }
}
