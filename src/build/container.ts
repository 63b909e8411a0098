/**
 * start-container and upload-sources: one labelled container from the builder image, with Go's
 * caches on named volumes, then the Dragonfly tree and each plugin's source streamed in as tar.
 * Nothing of this machine is mounted, so remote and rootless engines work the same.
 */
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { packDirectory } from '../artifacts/archive';
import type { BuildContainer } from '../docker/engine';
import { toolLabels } from '../docker/labels';
import { GoImageError, InternalError } from '../errors';
import { makeTempDir } from '../owner';
import { need, type BuildContext, type ImageFacts, type SessionContext, type ToolchainFacts } from './context';
import { compareGoVersions, parseGoVersionOutput } from './gomod';

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
  return { container, toolchain: { goVersion: go.version, platform: go.platform } };
}

export async function startContainer(ctx: BuildContext): Promise<void> {
  const image = need(ctx.state.image, 'the builder image');
  const source = need(ctx.state.source, 'the source');
  const { container, toolchain } = await openContainer(ctx, image);
  ctx.state.container = container;
  ctx.state.toolchain = toolchain;

  const needed = source.goMod.go;
  if (needed !== undefined && compareGoVersions(toolchain.goVersion, needed) < 0) {
    throw new GoImageError(`Dragonfly at ${source.shortSha} needs Go ${needed} or newer, but ${image.goImage} has ${toolchain.goVersion}`, {
      hint: `pass --go-image with Go ${needed} or newer, e.g. golang:${source.goMod.toolchain ?? needed}-bookworm`,
    });
  }
  const wanted = source.goMod.toolchain;
  if (wanted !== undefined && compareGoVersions(toolchain.goVersion, wanted) !== 0) {
    ctx.log.warn(`Dragonfly's go.mod names toolchain go${wanted}; building with ${toolchain.goVersion} from ${image.goImage}`);
  }
}

export async function uploadSources(ctx: BuildContext): Promise<void> {
  const container = need(ctx.state.container, 'the container');
  const source = need(ctx.state.source, 'the source');

  const scratch = await makeTempDir('source');
  ctx.cleanups.push(() => rm(scratch, { recursive: true, force: true }));
  const tree = path.join(scratch, 'dragonfly');
  await source.mirror.exportTree(source.commit.sha, tree);
  await container.putArchive(packDirectory(tree, { prefix: 'dragonfly' }), '/work');
  ctx.log.info(`Dragonfly ${source.shortSha} → /work/dragonfly`);

  const contexts = need(ctx.state.contexts, 'the plugin contexts');
  const modulePlugins: string[] = [];
  for (const plugin of ctx.spec.plugins) {
    const context = need(contexts.get(plugin.name), `the context of ${plugin.name}`);
    await container.putArchive(packDirectory(context.dir, { prefix: `plugins/${plugin.name}`, ignore: (rel) => !context.entries.has(rel) }), '/work');
    const hasGoMod = context.files.has('go.mod');
    if (hasGoMod) modulePlugins.push(plugin.name);
    ctx.log.info(`${plugin.dir} → /work/plugins/${plugin.name}${hasGoMod ? ' (own go.mod: built in a workspace with Dragonfly)' : ''}`);
  }
  ctx.state.modulePlugins = modulePlugins;
}
