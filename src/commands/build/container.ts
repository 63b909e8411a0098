/**
 * start-container and upload-sources (and a watch's upload-plugins): the session's container with
 * the Go this Dragonfly needs and the commit's source-tree volume, then the Dragonfly tree streamed
 * in as tar when that volume has none yet (src/session/source-tree.ts), and each plugin's source.
 * Nothing of this machine is mounted, so remote and rootless engines work the same.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { packDirectories, packDirectory } from '../../artifacts/archive';
import { sourcesDigest } from '../../artifacts/plugin-sources';
import { GoImageError, InternalError } from '../../errors';
import { makeTempDir } from '../../files';
import { LABEL } from '../../docker/labels';
import { openContainer } from '../../session/container';
import { CONTAINER, inside } from '../../session/layout';
import { need } from '../../session/session';
import { IMPORTED_TREE_PREFIX, sourceTreeVolume, treeDir } from '../../session/source-tree';
import { goFeatures } from '../../toolchain/goflags';
import { chooseGoImage, compareGoVersions, offlineGoImage, type GoMod } from '../../toolchain/gomod';
import { LOADCHECK_COMMAND, loaderProgram } from '../../validate/loader';
import type { BuildContext } from './state';
import { hintOption } from '../../option-names';

/** The fix for an image whose Go is too old: the image d7y-build picks by go.mod, or its offline stand-in. */
function newerGoHint(goMod: GoMod, atLeast: string): string {
  const choice = chooseGoImage(goMod, undefined);
  if (choice?.release === undefined) return `pass ${hintOption('goImage')} with Go ${atLeast} or newer`;
  const offline = offlineGoImage(choice.release);
  return `pass ${hintOption('goImage')} with Go ${atLeast} or newer, e.g. ${choice.image}, or build one offline with ${offline.command} and pass ${hintOption('goImage', offline.image)}`;
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
    hint: `remove the go.mod to build the plugin inside the Dragonfly module, or pass ${hintOption('goImage')} with Go 1.18 or newer if this Dragonfly builds with it (scripts/go-image.sh 1.18 builds one offline)`,
  });
}

/** The plugins that carry their own go.mod, by name, in spec order. */
function pluginsWithGoMod(ctx: BuildContext): string[] {
  const sources = need(ctx.state.pluginSources, 'the plugin sources');
  // A file: a directory named go.mod makes no module.
  return ctx.spec.plugins.filter((p) => need(sources.get(p.name), `the sources of ${p.name}`).files.has('go.mod')).map((p) => p.name);
}

export async function startContainer(ctx: BuildContext): Promise<void> {
  const image = need(ctx.state.image, 'the builder image');
  const source = need(ctx.state.source, 'the source');
  // The tree's volume is known once the source is: the commit, and the loader check program written into it.
  const program = loaderProgram(source.loader);
  const volume = sourceTreeVolume(source.commit.sha, program);
  ctx.state.sourceTree = { volume: volume.name, program };
  const { container, toolchain } = await openContainer(ctx, image, [{ ...volume, target: CONTAINER.sourceVolume }]);
  ctx.state.container = container;
  ctx.state.toolchain = toolchain;

  checkToolchain(source.goMod, toolchain.goVersion, image.goImage, source.shortSha);
  const wanted = source.goMod.toolchain;
  if (wanted !== undefined && compareGoVersions(toolchain.goVersion, wanted) !== 0) {
    ctx.log.warn(`Dragonfly's go.mod names toolchain go${wanted}; building with ${toolchain.goVersion} from ${image.goImage}`);
  }
  checkWorkspaces(pluginsWithGoMod(ctx), toolchain.goVersion, image.goImage);
}

/** One `build.sh tree …` command; its one-word answer. */
async function tree(ctx: BuildContext, args: string[]): Promise<string> {
  const container = need(ctx.state.container, 'the container');
  const result = await container.exec([CONTAINER.tools.buildSh, 'tree', ...args]);
  if (result.exitCode !== 0) throw new InternalError(`build.sh tree ${args[0]} failed: ${(result.stderr || result.stdout).trim()}`);
  return result.stdout.trim();
}

/**
 * The Dragonfly tree in the source-tree volume: used as it is when published, else uploaded into a
 * directory of this run's and published, unless another build published first.
 */
async function provideTree(ctx: BuildContext): Promise<void> {
  const container = need(ctx.state.container, 'the container');
  const source = need(ctx.state.source, 'the source');
  const sourceTree = need(ctx.state.sourceTree, 'the source-tree volume');
  if ((await tree(ctx, ['status'])) === 'ready') {
    sourceTree.reused = true;
    ctx.log.info(`Dragonfly ${source.shortSha}: the source tree in volume ${sourceTree.volume} is reused, nothing sent`);
    return;
  }

  // Trees other runs left unpublished are removed, unless their run still goes (its container runs).
  const running = (await ctx.engine.listContainers({ [LABEL.run]: '' })).filter((c) => c.state === 'running');
  const runs = running.flatMap((c) => c.labels[LABEL.run] ?? []);
  await tree(ctx, ['sweep', ...runs.map(treeDir), `${IMPORTED_TREE_PREFIX}*`]);

  const scratch = await makeTempDir('source');
  ctx.cleanups.push(() => rm(scratch, { recursive: true, force: true }));
  const local = path.join(scratch, 'dragonfly');
  await source.mirror.exportTree(source.commit.sha, local);
  // The loader check's program, built beside the host as cmd/d7y-loadcheck.
  await mkdir(path.join(local, 'cmd', LOADCHECK_COMMAND), { recursive: true });
  await writeFile(path.join(local, 'cmd', LOADCHECK_COMMAND, 'main.go'), sourceTree.program);
  const dir = treeDir(need(ctx.runLabels[LABEL.run], 'the run id'));
  const prefix = inside(CONTAINER.work, path.posix.join(CONTAINER.sourceVolume, dir));
  await container.putArchive(packDirectory(local, { prefix, parents: true }), CONTAINER.work);
  const published = (await tree(ctx, ['publish', dir])) === 'published';
  sourceTree.reused = !published;
  ctx.log.info(
    published
      ? `Dragonfly ${source.shortSha} → ${CONTAINER.dragonfly}, sent into the new volume ${sourceTree.volume}`
      : `Dragonfly ${source.shortSha}: another build published the source tree in volume ${sourceTree.volume} first; it is used`,
  );
}

export async function uploadSources(ctx: BuildContext): Promise<void> {
  // The tree and the plugins go to directories of their own: at once. The tree's failure is the one reported.
  const [tree, plugins] = await Promise.allSettled([provideTree(ctx), uploadPlugins(ctx)]);
  if (tree.status === 'rejected') throw tree.reason;
  if (plugins.status === 'rejected') throw plugins.reason;
}

/**
 * upload-plugins, a rebuild's upload in watch mode: each plugin's source and Go workspace removed
 * from the container, so that a file deleted on this machine is gone there too and a changed go.mod
 * gets a new workspace, then the sources sent again into the same container.
 */
export async function replacePlugins(ctx: BuildContext): Promise<void> {
  const container = need(ctx.state.container, 'the container');
  const toolchain = need(ctx.state.toolchain, 'the toolchain');
  const stale = ctx.spec.plugins.flatMap((p) => [path.posix.join(CONTAINER.pluginSources, p.name), path.posix.join(CONTAINER.workspaces, p.name)]);
  const removed = await container.exec(['rm', '-rf', '--', ...stale]);
  if (removed.exitCode !== 0) throw new InternalError(`cannot remove the previous plugin sources in the container: ${removed.stderr.trim()}`);
  checkWorkspaces(pluginsWithGoMod(ctx), toolchain.goVersion, need(ctx.state.image, 'the image').goImage);
  await uploadPlugins(ctx);
}

/** Each plugin's source as tar, into CONTAINER.pluginSources/<name>. */
async function uploadPlugins(ctx: BuildContext): Promise<void> {
  const container = need(ctx.state.container, 'the container');
  const sources = need(ctx.state.pluginSources, 'the plugin sources');
  const modulePlugins = pluginsWithGoMod(ctx);
  // Every plugin into its own directory, in one stream; each hashed meanwhile, for the provenance: what it was built from.
  const sent = ctx.spec.plugins.map((plugin) => {
    const context = need(sources.get(plugin.name), `the sources of ${plugin.name}`);
    return { plugin, context, dest: path.posix.join(CONTAINER.pluginSources, plugin.name) };
  });
  const stream = packDirectories(
    sent.map(({ context, dest }) => ({ dir: context.dir, prefix: inside(CONTAINER.work, dest), ignore: (rel) => !context.entries.has(rel) })),
  );
  const [digests] = await Promise.all([Promise.all(sent.map(({ context }) => sourcesDigest(context))), container.putArchive(stream, CONTAINER.work)]);
  for (const { plugin, dest } of sent) {
    const note = modulePlugins.includes(plugin.name) ? ' (own go.mod: built in a workspace with Dragonfly)' : '';
    ctx.log.info(`${plugin.dir} → ${dest}${note}`);
  }
  ctx.state.modulePlugins = modulePlugins;
  ctx.state.sourcesSha256 = new Map(sent.map((s, i) => [s.plugin.name, digests[i]!]));
}
