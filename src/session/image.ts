/**
 * prepare-image: the Go image (present, or pulled) and, on top of it, the builder image: the Go
 * image plus Dockerfile.builder and builder/, built with the container layout as build args. The
 * builder image is tagged by a hash of those files and build args (the Go image's id among them), so
 * it is built once per Go image, d7y-build version of the builder and container layout.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import tarFs from 'tar-fs';
import type { Readable } from 'node:stream';
import { engineMessage } from '../docker/engine';
import { toolLabels } from '../docker/labels';
import { isUnauthorized, registryOf, unauthorizedHint } from '../docker/registry-auth';
import { D7yError, GoImageError, InternalError } from '../errors';
import { inBackground } from './background';
import { builderBuildArgs } from './layout';
import { crossPackages, type TargetName } from '../platform';
import { need, type BuilderImage, type ImageFacts, type SessionContext, type SourceContext } from './session';
import { chooseGoImage, offlineGoImage, type GoImageChoice } from '../toolchain/gomod';
import { hintOption } from '../option-names';

const DOCKERFILE = 'Dockerfile.builder';
const BUILDER_DIR = 'builder';
export const BUILDER_REPOSITORY = 'd7y-build/builder';
/** What Dockerfile.builder says when the Go image has no apt-get to install a cross toolchain with. */
const NO_APT_GET = /^d7y-build: no apt-get/m;
/** The builder image's role label, and the label naming the Go image it was built on. */
export const BUILDER_ROLE = 'builder';
export const GO_IMAGE_LABEL = 'io.d7y-build.go-image';

/** The directory holding Dockerfile.builder: the package root, from the bundle or from the sources. */
export function packageRoot(from: string = path.dirname(fileURLToPath(import.meta.url))): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, DOCKERFILE))) return dir;
    if (path.dirname(dir) === dir) throw new InternalError(`${DOCKERFILE} not found above ${from}: the installation is incomplete`);
  }
}

export interface ContextFile {
  name: string;
  content: Buffer;
}

export async function builderContextFiles(root: string): Promise<ContextFile[]> {
  // Every file below builder/, recursively (builder/apicheck is a Go program).
  const entries = await readdir(path.join(root, BUILDER_DIR), { recursive: true, withFileTypes: true });
  const below = entries.filter((e) => e.isFile()).map((e) => path.relative(root, path.join(e.parentPath, e.name)));
  const names = [DOCKERFILE, ...below].sort();
  return Promise.all(names.map(async (name) => ({ name, content: await readFile(path.join(root, name)) })));
}

/** d7y-build/builder:<hash of the context files and the build args (see builderBuildArgs)>. Pure. */
export function builderImageTag(files: ContextFile[], buildArgs: Record<string, string>): string {
  const hash = createHash('sha256');
  for (const f of [...files].sort((a, b) => a.name.localeCompare(b.name))) {
    hash.update(`${f.name}\0${f.content.length}\0`).update(f.content);
  }
  for (const [name, value] of Object.entries(buildArgs).sort(([a], [b]) => a.localeCompare(b))) {
    hash.update(`arg\0${name}\0${value.length}\0${value}`);
  }
  return `${BUILDER_REPOSITORY}:${hash.digest('hex').slice(0, 16)}`;
}

/**
 * The fix for a missing Go image, as a hint whose command works as written: the offline stand-in
 * for the release go.mod asks for, when it names one.
 */
export function missingGoImageHint(release: string | undefined): string {
  if (release === undefined)
    return `pull it on a machine that reaches the registry and \`docker load\` it here, or pass ${hintOption('goImage')} with an image this engine has`;
  const offline = offlineGoImage(release);
  return `pull it on a machine that reaches the registry, or build a stand-in offline with ${offline.command} and pass ${hintOption('goImage', offline.image)}`;
}

async function ensureGoImage(ctx: SessionContext, choice: GoImageChoice): Promise<string> {
  const goImage = choice.image;
  const present = await ctx.engine.inspectImage(goImage);
  if (present !== undefined) return present.id;

  const registry = registryOf(goImage);
  const fail = (why: string, hint: string, cause?: unknown) =>
    new GoImageError(`the Go image ${goImage} is not here and can't be pulled (${choice.reason}): ${why}`, { hint, cause });
  const found = await ctx.registryAuth.credentialsFor(registry, fail);
  ctx.log.info(`pulling ${goImage}${found.credential === undefined ? '' : ` with the credentials from ${found.source}`}`);
  try {
    await ctx.engine.pullImage(goImage, {
      platform: ctx.platform,
      ...(found.credential !== undefined ? { auth: found.credential } : {}),
      onProgress: (status) => ctx.log.output('pull', status),
      signal: ctx.signal,
    });
  } catch (err) {
    if (err instanceof D7yError) throw err;
    const message = engineMessage(err);
    throw fail(message, isUnauthorized(message) ? unauthorizedHint(registry, found) : missingGoImageHint(choice.release), err);
  }
  const pulled = await ctx.engine.inspectImage(goImage);
  if (pulled === undefined) throw new GoImageError(`${goImage} was pulled but is not listed by the engine`);
  return pulled.id;
}

/**
 * Builds a tar context into an image tagged options.tag, the engine's output going to the log: the
 * image's id. A failed build becomes the error failure makes of the engine's message and the last
 * lines of output; the classic builder tags only a complete image, and removes its intermediate
 * containers (forcerm), so nothing half-built is left tagged.
 */
export async function buildTagged(
  ctx: SessionContext,
  context: Readable,
  options: { tag: string; dockerfile: string; buildArgs: Record<string, string>; labels: Record<string, string>; platform?: string },
  failure: (message: string, output: string, cause: unknown) => D7yError,
): Promise<string> {
  const output: string[] = [];
  try {
    await ctx.engine.buildImage(
      context,
      options,
      (line) => {
        output.push(line);
        ctx.log.output('image', line);
      },
      ctx.signal,
    );
  } catch (err) {
    if (err instanceof D7yError) throw err;
    throw failure(engineMessage(err), output.slice(-20).join('\n'), err);
  }
  const built = await ctx.engine.inspectImage(options.tag);
  if (built === undefined) throw failure(`${options.tag} was built but is not listed by the engine`, output.slice(-20).join('\n'), undefined);
  return built.id;
}

/** The builder image this d7y-build uses on the Go image with this id, for a target platform: its tag, context files and build args. */
export async function builderImageFor(
  goImageId: string,
  target: TargetName,
): Promise<{ tag: string; files: ContextFile[]; buildArgs: Record<string, string> }> {
  const files = await builderContextFiles(packageRoot());
  const buildArgs = builderBuildArgs(goImageId, target);
  return { tag: builderImageTag(files, buildArgs), files, buildArgs };
}

/** The builder image on top of the Go image with this id, built when absent. */
async function ensureBuilderImage(ctx: SessionContext, goImage: string, goImageId: string): Promise<BuilderImage> {
  const { tag: builderImage, files, buildArgs } = await builderImageFor(goImageId, ctx.target);
  const present = await ctx.engine.inspectImage(builderImage);
  if (present !== undefined) {
    ctx.log.info(`using ${builderImage} (${goImage})`);
    return { goImageId, builderImage, builderImageId: present.id };
  }

  const cross = crossPackages(ctx.target);
  ctx.log.info(`building ${builderImage} from ${goImage}${cross.length > 0 ? `, with ${cross.join(' ')} for ${ctx.target}` : ''}`);
  const context = tarFs.pack(packageRoot(), { entries: files.map((f) => f.name) }) as unknown as Readable;
  const builtId = await buildTagged(
    ctx,
    context,
    { tag: builderImage, dockerfile: DOCKERFILE, buildArgs, labels: { ...toolLabels(BUILDER_ROLE), [GO_IMAGE_LABEL]: goImage } },
    (message, output, cause) =>
      new GoImageError(`cannot build the builder image on ${goImage}: ${message}`, {
        hint: NO_APT_GET.test(output)
          ? `--platform ${ctx.target} needs Debian's cross toolchain (${crossPackages(ctx.target).join(' ')}), installed with apt-get, which ${goImage} lacks: pass a Debian-based Go image with --go-image, like golang:<version>-bookworm`
          : 'the Go image must be a Debian-based golang image (bash, coreutils, gcc), like golang:<version>-bookworm',
        detail: output,
        cause,
      }),
  );
  return { goImageId, builderImage, builderImageId: builtId };
}

/** The chosen Go image, present or pulled, and the builder image on top of it, built when absent. */
export async function ensureImages(ctx: SessionContext, choice: GoImageChoice): Promise<ImageFacts> {
  const builder = await ensureBuilderImage(ctx, choice.image, await ensureGoImage(ctx, choice));
  return { goImage: choice.image, goImageReason: choice.reason, goRelease: choice.release, ...builder };
}

/**
 * With --go-image the Go image is known before the source: when the engine has it, its builder
 * image is found or built while resolve-source fetches Dragonfly, and prepare-image waits for it. A
 * Go image to pull is left to prepare-image, whose hint names the release go.mod asks for.
 */
export function startBuilderImage(ctx: SourceContext): void {
  const goImage = ctx.spec.goImage;
  if (goImage === undefined) return;
  ctx.state.builderImage = inBackground(ctx, async (signal) => {
    const present = await ctx.engine.inspectImage(goImage);
    return present === undefined ? undefined : ensureBuilderImage({ ...ctx, signal }, goImage, present.id);
  });
}

export async function prepareImage(ctx: SourceContext): Promise<void> {
  const source = need(ctx.state.source, 'the source');
  const choice = chooseGoImage(source.goMod, ctx.spec.goImage);
  if (choice === undefined) {
    const line =
      source.goMod.toolchain !== undefined ? `toolchain go${source.goMod.toolchain}` : source.goMod.go !== undefined ? `go ${source.goMod.go}` : 'no go line';
    throw new GoImageError(`go.mod at ${source.shortSha} names no Go release to pick a Go image by (${line})`, {
      hint: `pass ${hintOption('goImage')}, e.g. ${hintOption('goImage', 'golang:1.23.5-bookworm')}`,
    });
  }
  ctx.log.info(`Go image ${choice.image}: ${choice.reason}`);
  const early = await ctx.state.builderImage?.wait();
  ctx.state.image =
    early !== undefined ? { goImage: choice.image, goImageReason: choice.reason, goRelease: choice.release, ...early } : await ensureImages(ctx, choice);
}
