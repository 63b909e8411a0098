/**
 * start-container and upload-sources: one labelled container from the builder image, with Go's
 * caches on named volumes, then the Dragonfly tree and each plugin's source streamed in as tar.
 * Nothing of this machine is mounted, so remote and rootless engines work the same.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { packDirectory } from '../artifacts/archive';
import type { BuildContainer } from '../docker/engine';
import { toolLabels } from '../docker/labels';
import { GoImageError, InternalError } from '../errors';
import { makeTempDir } from '../owner';
import { need, type BuildContext, type ImageFacts, type SessionContext, type ToolchainFacts } from './context';
import { LOADCHECK_COMMAND, loaderProgram } from '../validate/loader';
import { goCommandEnv, goFeatures } from './goflags';
import { chooseGoImage, compareGoVersions, offlineGoImage, parseGoVersionOutput, type GoMod } from './gomod';

/** A tmpfs for run-time credentials; ~/.netrc in the builder image points into it. */
const SECRETS_DIR = '/run/d7y-secrets';

/** Go's caches survive the container on these volumes: the second build compiles only what changed. */
export const CACHE_VOLUMES = [
  { name: 'd7y-build-go-mod', target: '/home/d7y/go/pkg/mod', role: 'go-mod-cache' },
  { name: 'd7y-build-go-build', target: '/home/d7y/.cache/go-build', role: 'go-build-cache' },
] as const;

/**
 * One labelled container from the builder image, removed by the pipeline's cleanup unless --keep,
 * and the Go it really has.
 */
export async function openContainer(ctx: SessionContext, image: ImageFacts): Promise<{ container: BuildContainer; toolchain: ToolchainFacts }> {
  for (const v of CACHE_VOLUMES) await ctx.engine.ensureVolume(v.name, toolLabels(v.role));
  const container = await ctx.engine.createContainer({
    image: image.builderImageId,
    labels: ctx.runLabels,
    volumes: CACHE_VOLUMES.map((v) => ({ name: v.name, target: v.target })),
    env: ctx.goEnv,
    workdir: '/work',
    memoryBytes: ctx.limits.memoryBytes,
    nanoCpus: ctx.limits.nanoCpus,
    tmpfs: { [SECRETS_DIR]: 'rw,noexec,nosuid,size=64k,mode=0700,uid=10001,gid=10001' },
  });
  const short = container.id.slice(0, 12);
  // An abort (signal, --timeout) removes the container at once: whatever runs in it stops, and the
  // step waiting for it fails, so the pipeline's cleanup runs without waiting for a compiler.
  const onAbort = () => void container.remove().catch(() => {});
  ctx.signal.addEventListener('abort', onAbort, { once: true });
  ctx.cleanups.push(async () => ctx.signal.removeEventListener('abort', onAbort));
  if (ctx.keep) {
    ctx.log.info(`container ${short} is kept (--keep): remove it with docker rm -f ${short}`);
  } else {
    ctx.cleanups.push(() => container.remove());
  }

  if (ctx.secrets.netrc !== '') {
    // Through the exec's stdin onto the tmpfs: never in an image layer, an environment or a log.
    const written = await container.exec(['sh', '-c', `umask 077 && cat > ${SECRETS_DIR}/netrc`], { stdin: ctx.secrets.netrc });
    if (written.exitCode !== 0) throw new InternalError(`cannot put the netrc credentials into the container: ${written.stderr.trim()}`);
    ctx.log.info('netrc credentials are on the container\'s tmpfs for this build only');
  }

  const probe = await container.exec(['go', 'version']);
  const go = parseGoVersionOutput(probe.stdout);
  if (probe.exitCode !== 0 || go === undefined) {
    throw new GoImageError(`${image.goImage} has no working Go: \`go version\` said ${JSON.stringify((probe.stdout + probe.stderr).trim())}`, {
      hint: 'pass a golang image with --go-image',
    });
  }
  ctx.log.info(`${go.version} ${go.platform} in container ${short}`);
  return { container, toolchain: { goVersion: go.version, platform: go.platform, env: goCommandEnv(go.version) } };
}

/** The fix for an image whose Go is too old: the image d7y-build picks by go.mod, or its offline stand-in. */
function newerGoHint(goMod: GoMod, atLeast: string): string {
  const choice = chooseGoImage(goMod, undefined);
  if (choice?.release === undefined) return `pass --go-image with Go ${atLeast} or newer`;
  const offline = offlineGoImage(choice.release);
  return `pass --go-image with Go ${atLeast} or newer, e.g. ${choice.image}, or build one offline with ${offline.command} and pass --go-image ${offline.image}`;
}

/**
 * The image's Go against go.mod's go line: never older (the language version before Go 1.21, the
 * minimum toolchain from 1.21 on). A toolchain line is a preference: startContainer only warns.
 */
export function checkToolchain(goMod: GoMod, goVersion: string, goImage: string, at: string): void {
  const needed = goMod.go;
  if (needed !== undefined && compareGoVersions(goVersion, needed) < 0) {
    throw new GoImageError(`Dragonfly at ${at} needs Go ${needed} or newer, but ${goImage} has ${goVersion}`, {
      hint: newerGoHint(goMod, needed),
    });
  }
}

/** Plugins with their own go.mod are built in a Go workspace: `go work` came with Go 1.18. */
export function checkWorkspaces(modulePlugins: string[], goVersion: string, goImage: string): void {
  if (modulePlugins.length === 0 || goFeatures(goVersion).workspaces) return;
  const which = modulePlugins.length === 1 ? `plugin ${modulePlugins[0]} has its` : `plugins ${modulePlugins.join(', ')} have their`;
  throw new GoImageError(`${which} own go.mod, which is built in a Go workspace (go work), and ${goImage} has ${goVersion}: workspaces need Go 1.18 or newer`, {
    hint: 'remove the go.mod to build the plugin inside the Dragonfly module, or pass --go-image with Go 1.18 or newer if this Dragonfly builds with it (scripts/go-image.sh 1.18 builds one offline)',
  });
}

/** The plugins that carry their own go.mod, by name, in spec order. */
function pluginsWithGoMod(ctx: BuildContext): string[] {
  const contexts = need(ctx.state.contexts, 'the plugin contexts');
  // A file: a directory named go.mod makes no module.
  return ctx.spec.plugins.filter((p) => need(contexts.get(p.name), `the context of ${p.name}`).files.has('go.mod')).map((p) => p.name);
}

export async function startContainer(ctx: BuildContext): Promise<void> {
  const image = need(ctx.state.image, 'the builder image');
  const source = need(ctx.state.source, 'the source');
  const { container, toolchain } = await openContainer(ctx, image);
  ctx.state.container = container;
  ctx.state.toolchain = toolchain;

  checkToolchain(source.goMod, toolchain.goVersion, image.goImage, source.shortSha);
  const wanted = source.goMod.toolchain;
  if (wanted !== undefined && compareGoVersions(toolchain.goVersion, wanted) !== 0) {
    ctx.log.warn(`Dragonfly's go.mod names toolchain go${wanted}; building with ${toolchain.goVersion} from ${image.goImage}`);
  }
  checkWorkspaces(pluginsWithGoMod(ctx), toolchain.goVersion, image.goImage);
}

export async function uploadSources(ctx: BuildContext): Promise<void> {
  const container = need(ctx.state.container, 'the container');
  const source = need(ctx.state.source, 'the source');

  const scratch = await makeTempDir('source');
  ctx.cleanups.push(() => rm(scratch, { recursive: true, force: true }));
  const tree = path.join(scratch, 'dragonfly');
  await source.mirror.exportTree(source.commit.sha, tree);
  // The loader check's program, built beside the host as cmd/d7y-loadcheck.
  await mkdir(path.join(tree, 'cmd', LOADCHECK_COMMAND), { recursive: true });
  await writeFile(path.join(tree, 'cmd', LOADCHECK_COMMAND, 'main.go'), loaderProgram(source.loader));
  await container.putArchive(packDirectory(tree, { prefix: 'dragonfly' }), '/work');
  ctx.log.info(`Dragonfly ${source.shortSha} → /work/dragonfly`);

  const contexts = need(ctx.state.contexts, 'the plugin contexts');
  const modulePlugins = pluginsWithGoMod(ctx);
  for (const plugin of ctx.spec.plugins) {
    const context = need(contexts.get(plugin.name), `the context of ${plugin.name}`);
    await container.putArchive(packDirectory(context.dir, { prefix: `plugins/${plugin.name}`, ignore: (rel) => !context.entries.has(rel) }), '/work');
    const note = modulePlugins.includes(plugin.name) ? ' (own go.mod: built in a workspace with Dragonfly)' : '';
    ctx.log.info(`${plugin.dir} → /work/plugins/${plugin.name}${note}`);
  }
  ctx.state.modulePlugins = modulePlugins;
}
