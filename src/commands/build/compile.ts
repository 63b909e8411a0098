/**
 * check-dependencies, compile-plugins, compile-host: builder/build.sh runs the go commands; the
 * arguments come from goflags.ts, the same toolchain settings for every artifact. An unchanged host
 * comes from the host cache (host-cache.ts).
 */
import type { ExecResult } from '../../docker/engine';
import { CompileError, DependencyConflictError, OutOfMemoryError } from '../../errors';
import { CONTAINER } from '../../session/layout';
import { need } from '../../session/session';
import type { BuildContext } from './state';
import { buildCommitFor, buildTimeFor } from '../../config';
import { conflictFix, describeConflict, findConflicts, GO_LIST_FORMAT, parseGoList } from './deps';
import { hostCacheKey, putInHostCache, shortKey, takeFromHostCache } from './host-cache';
import { hostLdflags, pluginLdflags, sharedGoArgs } from '../../toolchain/goflags';
import { LOADCHECK_COMMAND, loaderProgram } from '../../validate/loader';
import { hintOption } from '../../option-names';

/** What of go's output explains a failure: errors, not download chatter. */
export function compilerOutput(result: ExecResult, maxLines = 40): string {
  const lines = `${result.stderr}\n${result.stdout}`.split('\n').filter((l) => l.trim() !== '' && !/^go: (downloading|finding|extracting) /.test(l));
  if (lines.length <= maxLines) return lines.join('\n');
  return [...lines.slice(0, maxLines - 1), `… (${lines.length - maxLines + 1} more lines; --verbose shows all)`].join('\n');
}

async function run(ctx: BuildContext, label: string, args: string[]): Promise<ExecResult> {
  const container = need(ctx.state.container, 'the container');
  const toolchain = need(ctx.state.toolchain, 'the toolchain');
  // --no-cache: Go's build cache volume stays untouched; every package is compiled anew, once for the build.
  const env = ctx.spec.noCache ? { ...toolchain.env, GOCACHE: CONTAINER.go.freshBuildCache } : toolchain.env;
  const result = await container.exec([CONTAINER.tools.buildSh, ...args], { env, onLine: (_stream, line) => ctx.log.output(label, line) });
  if (result.exitCode !== 0 && ctx.spec.limits.memoryBytes !== undefined) await assertNotOutOfMemory(ctx, label);
  return result;
}

/** A failure under --memory may be the kernel killing the compiler: the container's cgroup says. */
async function assertNotOutOfMemory(ctx: BuildContext, label: string): Promise<void> {
  const container = need(ctx.state.container, 'the container');
  const count = await container.exec([CONTAINER.tools.buildSh, 'oom-kills']);
  if (Number(count.stdout.trim()) > 0) {
    const mib = Math.round(ctx.spec.limits.memoryBytes! / 1024 ** 2);
    throw new OutOfMemoryError(`the build container ran out of memory (--memory ${mib}m): the kernel killed go while building ${label}`, {
      hint: `raise ${hintOption('memory')} (go build of Dragonfly needs about 2g), or leave it out`,
    });
  }
}

export async function checkDependencies(ctx: BuildContext): Promise<void | 'skipped'> {
  const source = need(ctx.state.source, 'the source');
  const modulePlugins = need(ctx.state.modulePlugins, 'the uploaded plugins');
  if (modulePlugins.length === 0) {
    ctx.log.info('no plugin has its own go.mod: they build inside the Dragonfly module');
    return 'skipped';
  }
  const hostList = await run(ctx, 'deps', ['deps', GO_LIST_FORMAT, 'host', source.host]);
  if (hostList.exitCode !== 0) {
    throw new CompileError(`cannot list the dependencies of Dragonfly's ${source.host} at ${source.shortSha}`, {
      hint: 'the Go module proxy must be reachable from the build container (GOPROXY is passed through)',
      detail: compilerOutput(hostList),
    });
  }
  const host = parseGoList(hostList.stdout);
  for (const name of modulePlugins) {
    const pluginList = await run(ctx, 'deps', ['deps', GO_LIST_FORMAT, 'plugin', name]);
    if (pluginList.exitCode !== 0) {
      throw new CompileError(`cannot resolve the dependencies of plugin ${name}`, {
        hint: "fix the plugin's go.mod and go.sum (run `go mod tidy` in a workspace with Dragonfly)",
        detail: compilerOutput(pluginList),
      });
    }
    const conflicts = findConflicts(host, parseGoList(pluginList.stdout));
    if (conflicts.length > 0) {
      throw new DependencyConflictError(
        `plugin ${name} would link ${conflicts.length === 1 ? 'a module' : `${conflicts.length} modules`} at another version than Dragonfly ${source.shortSha}, and plugin.Open would refuse it`,
        { hint: conflictFix(conflicts[0]!), detail: conflicts.map(describeConflict).join('\n') },
      );
    }
    ctx.log.info(`plugin ${name}: every package it shares with ${source.host} is at the host's version`);
  }
}

/** The CPUs the container may use: --cpus (whole ones), else the engine's. */
export function containerCpus(nanoCpus: number | undefined, engineCpus: number | undefined): number {
  return nanoCpus !== undefined ? Math.floor(nanoCpus / 1e9) : (engineCpus ?? 1);
}

/**
 * How many plugins compile at once: one per CPU the container may use, less those reserved for
 * the host's compile running beside them, and no more than there are plugins. Each go build runs
 * its own packages in parallel too; more builds than CPUs would only make them take turns.
 */
export function pluginConcurrency(plugins: number, nanoCpus: number | undefined, engineCpus: number | undefined, reserved = 0): number {
  return Math.max(1, Math.min(plugins, containerCpus(nanoCpus, engineCpus) - reserved));
}

/**
 * Runs task for every item, at most limit at a time, in item order. After a failure no further item
 * starts; those running are awaited, and the failure of the earliest item is thrown, so which error
 * is reported does not depend on which compiler finished first.
 */
export async function forEachBounded<T>(items: readonly T[], limit: number, task: (item: T) => Promise<void>): Promise<void> {
  const failures = new Map<number, unknown>();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length && failures.size === 0) {
      const index = next++;
      try {
        await task(items[index]!);
      } catch (err) {
        failures.set(index, err);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failures.size > 0) throw failures.get(Math.min(...failures.keys()));
}

/** Compiles the plugins; `besideHost`: the host's compile runs meanwhile and takes one CPU of theirs. */
export async function compilePlugins(ctx: BuildContext, besideHost = false): Promise<void> {
  const source = need(ctx.state.source, 'the source');
  const buildCommit = buildCommitFor(ctx.spec, source.shortSha);
  ctx.state.buildCommit = buildCommit;
  const ldflags = pluginLdflags(buildCommit, buildTimeFor(ctx.spec, source).time);
  ctx.state.ldflags = { ...ctx.state.ldflags, plugins: ldflags };
  const args = [...sharedGoArgs(ctx.spec.toolchain), `-ldflags=${ldflags}`];
  const { plugins } = ctx.spec;
  const limit = pluginConcurrency(plugins.length, ctx.spec.limits.nanoCpus, ctx.state.engine?.cpus, besideHost ? 1 : 0);
  if (plugins.length > 1) ctx.log.info(`compiling ${plugins.length} plugins, ${limit} at a time${besideHost ? `, beside ${source.host}` : ''}`);
  await forEachBounded(plugins, limit, async (plugin) => {
    const result = await run(ctx, plugin.name, ['plugin', plugin.name, plugin.file, '--', ...args]);
    if (result.exitCode !== 0) {
      throw new CompileError(`plugin ${plugin.name} does not compile against Dragonfly ${ctx.spec.ref} (${source.shortSha})`, {
        hint: 'fix the errors shown; --verbose prints the whole build output',
        detail: compilerOutput(result),
      });
    }
    ctx.log.info(`built ${plugin.file}`, { type: 'plugin-compiled', plugin: plugin.name, file: plugin.file });
  });
}

/** The host's go build: the commands it links, its arguments, and its host cache key (none with --no-cache). */
export interface HostBuild {
  commands: string[];
  goArgs: string[];
  key?: string;
}

export function hostBuildOf(ctx: BuildContext): HostBuild {
  const source = need(ctx.state.source, 'the source');
  const toolchain = need(ctx.state.toolchain, 'the toolchain');
  const image = need(ctx.state.image, 'the image');
  const ldflags = hostLdflags(
    { gitCommit: source.shortSha, buildTime: buildTimeFor(ctx.spec, source).time, goVersion: `${toolchain.goVersion} ${toolchain.platform}` },
    ctx.spec.toolchain,
  );
  ctx.state.ldflags = { ...ctx.state.ldflags, host: ldflags };
  // The loader check's program is built in the same go build: the same flags, so it opens the plugins
  // as the host does (the host's -X stamps name no package of it, and so leave it alone).
  const commands = [source.host, LOADCHECK_COMMAND];
  const goArgs = [...sharedGoArgs(ctx.spec.toolchain), `-ldflags=${ldflags}`];
  if (ctx.spec.noCache) return { commands, goArgs };
  const key = hostCacheKey({
    commit: source.commit.sha,
    goImageId: image.goImageId,
    builderImageId: image.builderImageId,
    platform: ctx.spec.target,
    goEnv: toolchain.env,
    goArgs,
    toolchain: ctx.spec.toolchain,
    commands,
    loaderProgram: loaderProgram(source.loader),
  });
  return { commands, goArgs, key };
}

/** Takes the host from the host cache when its entry is there and whole: true then, and nothing is to compile. */
export async function hostFromCache(ctx: BuildContext, host: HostBuild): Promise<boolean> {
  if (host.key === undefined) return false;
  const source = need(ctx.state.source, 'the source');
  const sums = await takeFromHostCache(need(ctx.state.container, 'the container'), ctx.log, host.key, host.commands);
  if (sums === undefined) return false;
  ctx.state.hostSums = sums;
  ctx.log.info(`${source.host} from cache (key ${shortKey(host.key)})`, { type: 'host-compiled', host: source.host, fromCache: true });
  ctx.state.hostCache = { host: 'hit', hostKey: host.key };
  return true;
}

/** Compiles the host (a miss, or --no-cache) and stores it in the host cache under its key. */
export async function compileAndStoreHost(ctx: BuildContext, host: HostBuild): Promise<void> {
  await buildHost(ctx, host.commands, host.goArgs);
  if (host.key === undefined) {
    ctx.state.hostCache = { host: 'off' };
    return;
  }
  await putInHostCache(need(ctx.state.container, 'the container'), ctx.log, host.key, host.commands);
  ctx.state.hostCache = { host: 'miss', hostKey: host.key };
}

export async function compileHost(ctx: BuildContext): Promise<void> {
  const host = hostBuildOf(ctx);
  if (!(await hostFromCache(ctx, host))) await compileAndStoreHost(ctx, host);
}

async function buildHost(ctx: BuildContext, commands: string[], goArgs: string[]): Promise<void> {
  const source = need(ctx.state.source, 'the source');
  const result = await run(ctx, source.host, ['host', ...commands, '--', ...goArgs]);
  if (result.exitCode !== 0) {
    throw new CompileError(`Dragonfly's ${source.host} at ${source.shortSha} does not compile with these settings`, {
      hint: `check ${hintOption('tags')} and ${hintOption('gcflags')}; --verbose prints the whole build output`,
      detail: compilerOutput(result),
    });
  }
  ctx.log.info(`built ${source.host}`, { type: 'host-compiled', host: source.host, fromCache: false });
}
