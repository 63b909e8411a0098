/** check-inputs: everything about the plugin sources and target directories, and the engine, before any work. */
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { UsageError } from '../errors';
import { pluginContext } from '../artifacts/context';
import { assertWritableDir, statesOf } from '../artifacts/install';
import type { PluginSpec } from '../config';
import type { BuildContext } from './context';

const INIT_SIGNATURE = 'func DragonflyPluginInit(option map[string]string) (any, map[string]string, error)';

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

async function checkPluginSource(plugin: PluginSpec): Promise<void> {
  const info = await stat(plugin.dir).catch(() => undefined);
  if (info === undefined) {
    throw new UsageError(`plugin directory ${plugin.dir} does not exist`, { hint: 'pass the directory that holds the plugin\'s .go files' });
  }
  if (!info.isDirectory()) {
    throw new UsageError(`${plugin.dir} is not a directory`, { hint: 'pass the plugin\'s directory, not a file in it' });
  }
  const goFiles = (await readdir(plugin.dir)).filter((f) => f.endsWith('.go') && !f.endsWith('_test.go')).sort();
  if (goFiles.length === 0) {
    throw new UsageError(`${plugin.dir} has no .go files`, { hint: 'a plugin is a directory of package main .go files' });
  }
  let exportsInit = false;
  for (const file of goFiles) {
    const source = await readFile(path.join(plugin.dir, file), 'utf8');
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

export async function checkInputs(ctx: BuildContext): Promise<void> {
  const { spec } = ctx;
  ctx.state.contexts = new Map();
  for (const plugin of spec.plugins) {
    await checkPluginSource(plugin);
    ctx.state.contexts.set(plugin.name, await pluginContext(plugin.dir, spec.maxContextBytes));
  }
  await assertWritableDir(spec.outDir, '--out');
  await assertWritableDir(spec.pluginsDir, '--plugins-dir');
  const targets = spec.plugins.map((p) => path.join(spec.pluginsDir, p.file));
  ctx.state.pluginsBefore = await statesOf(targets);
  ctx.state.engine = await ctx.engine.ping();
  ctx.log.info(`Docker ${ctx.state.engine.serverVersion} (${ctx.state.engine.os}/${ctx.state.engine.arch}) at ${ctx.state.engine.address}`);
}
