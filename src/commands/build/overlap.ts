/**
 * Steps that start work a later step needs, so that what does not depend on each other runs at once.
 * The table in steps.ts keeps its names and order; the later step waits for what was started.
 */
import { rm } from 'node:fs/promises';
import { makeTempDir } from '../../files';
import { startBuilderImage } from '../../session/image';
import { inBackground } from '../../session/background';
import { need } from '../../session/session';
import { resolveSource } from '../../session/source';
import { compileAndStoreHost, compileHost, compilePlugins, containerCpus, hostBuildOf, hostFromCache, pluginConcurrency } from './compile';
import { collectInto, install, verifyArtifacts } from './artifacts';
import type { BuildContext } from './state';
import { validatePlugins } from './validate';

/** resolve-source, with the builder image of --go-image made meanwhile (see startBuilderImage). */
export async function resolveSourceBesideImage(ctx: BuildContext): Promise<void> {
  startBuilderImage(ctx);
  await resolveSource(ctx);
}

/**
 * Whether the host compiles beside the plugins: with two CPUs or more, the host's go build on one
 * and the plugins' on the others keep them busy where one build alone waits on its linker or on a
 * chain of packages that depend on each other. The two share no compiled package (a plugin's are
 * built for dynamic linking), and go's build cache is safe for concurrent use. Not under --memory:
 * two compilers need more than one.
 */
export function hostBesidePlugins(ctx: BuildContext): boolean {
  const cpus = containerCpus(ctx.spec.limits.nanoCpus, need(ctx.state.engine, 'the engine').cpus);
  return cpus >= 2 && ctx.spec.limits.memoryBytes === undefined;
}

/**
 * compile-plugins, with the host looked up in the host cache first when hostBesidePlugins: a hit
 * leaves nothing to compile but the plugins, on every CPU; on a miss the host's compile starts
 * beside theirs, on a CPU of its own. When that CPU would change nothing (one plugin, say), the
 * plugins do not wait for the lookup: it runs beside them, and a miss compiles the host there.
 */
export async function compilePluginsBesideHost(ctx: BuildContext): Promise<void> {
  if (!hostBesidePlugins(ctx)) return compilePlugins(ctx);
  const host = hostBuildOf(ctx);
  const cpus = (reserved: number) => pluginConcurrency(ctx.spec.plugins.length, ctx.spec.limits.nanoCpus, ctx.state.engine?.cpus, reserved);
  if (cpus(0) === cpus(1)) {
    ctx.state.hostBuild = inBackground(ctx, async () => {
      if (!(await hostFromCache(ctx, host))) await compileAndStoreHost(ctx, host);
    });
    return compilePlugins(ctx);
  }
  if (await hostFromCache(ctx, host)) return compilePlugins(ctx);
  ctx.state.hostBuild = inBackground(ctx, () => compileAndStoreHost(ctx, host));
  await compilePlugins(ctx, true);
}

/** compile-host: waits for the compile started beside the plugins', or, when none was, takes or compiles the host now. */
export async function compileHostAfterPlugins(ctx: BuildContext): Promise<void> {
  if (ctx.state.hostBuild !== undefined) return ctx.state.hostBuild.wait();
  // Taken from the host cache before the plugins compiled.
  if (ctx.state.hostCache !== undefined) return;
  await compileHost(ctx);
}

/**
 * validate, with the artifacts coming out of the container and verified meanwhile: both only read
 * what the compiles left in the container's out directory, which validation does not change.
 * Nothing is installed before validate passed (install is after it); when it fails, what came out
 * is dropped with the staging directory.
 */
export async function validateBesideArtifacts(ctx: BuildContext): Promise<void> {
  const staging = await makeTempDir('out');
  const collected = inBackground(ctx, () => collectInto(ctx, staging));
  const verified = inBackground(ctx, async () => {
    await collected.wait();
    await verifyArtifacts(ctx);
  });
  ctx.state.artifacts = { collected, verified };
  // In front of the work's own cleanups, so it runs after them: the directory goes once nothing writes into it.
  ctx.cleanups.unshift(() => rm(staging, { recursive: true, force: true }));
  await validatePlugins(ctx);
}

/** collect-artifacts: waits for the artifacts validate started collecting. */
export async function collectAfterValidate(ctx: BuildContext): Promise<void> {
  await need(ctx.state.artifacts, 'the artifacts started by validate').collected.wait();
}

/** verify: waits for the static check started once the artifacts were out. */
export async function verifyAfterCollect(ctx: BuildContext): Promise<void> {
  await need(ctx.state.artifacts, 'the artifacts started by validate').verified.wait();
}

/**
 * install, with the container removed meanwhile: nothing runs in it once the artifacts are out and
 * validated (and the image, with --image, built from them). Not under --keep; and not in watch
 * mode, whose rounds go on in the container (its steps keep the plain install).
 */
export async function installBesideRemoval(ctx: BuildContext): Promise<void> {
  const container = ctx.state.container;
  if (container !== undefined && !ctx.keep) inBackground(ctx, () => container.remove());
  await install(ctx);
}
