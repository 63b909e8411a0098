/**
 * build-image and push-image (only with --image): the runtime image a release ships, built from the
 * host and plugins this build compiled and validated (the staged files, not a rebuild) with what they
 * need to run (runtime-root.ts), then run once with `<host> plugin`, and pushed with --push. Both run
 * before install: a build whose image fails installs nothing.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { buildTimeFor, splitTaggedReference } from '../../config';
import { engineMessage, type BuildContainer, type ExecResult } from '../../docker/engine';
import { toolLabels } from '../../docker/labels';
import { isUnauthorized, registryOf, unauthorizedHint } from '../../docker/registry-auth';
import { D7yError, ImageError, PushError, UnsupportedHostError, ValidationError } from '../../errors';
import { maskSecrets, redactUrl } from '../../secrets';
import { buildTagged } from '../../session/image';
import { CONTAINER, RUNTIME_IMAGE } from '../../session/layout';
import { need } from '../../session/session';
import { checkListing, parsePluginOutput } from '../../validate/plugin-output';
import { hintFor } from '../../validate/diagnose';
import type { BuildContext } from './state';
import { hintOption } from '../../option-names';
import { targetPlatform } from '../../platform';
import { packTar, rootTar, runtimeLibraries } from './runtime-root';

const DOCKERFILE = 'Dockerfile';

/** The label prefix of a plugin's sha256: io.d7y-build.plugin.<type>.<name>.sha256. */
export const PLUGIN_LABEL_PREFIX = 'io.d7y-build.plugin';

export interface RuntimeImageFacts {
  commit: string;
  /** The Dragonfly repository, credentials already removed. */
  source: string;
  ref: string;
  /** RFC 3339 UTC. */
  created: string;
  plugins: Array<{ type: string; name: string; sha256: string }>;
}

/** The image's labels: OCI annotations, one sha256 per plugin, and d7y-build's own. Pure. */
export function runtimeImageLabels(facts: RuntimeImageFacts): Record<string, string> {
  return {
    ...toolLabels('runtime'),
    'org.opencontainers.image.revision': facts.commit,
    'org.opencontainers.image.source': facts.source,
    'org.opencontainers.image.version': facts.ref,
    'org.opencontainers.image.created': facts.created,
    ...Object.fromEntries(facts.plugins.map((p) => [`${PLUGIN_LABEL_PREFIX}.${p.type}.${p.name}.sha256`, p.sha256])),
  };
}

/** The image's root file system, unpacked by ADD with its modes and owners. */
const ROOT_TAR = 'root.tar';

/**
 * The Dockerfile of the runtime image: the root file system and nothing under it. No RUN: nothing
 * executes while it is built, so its one layer is the tar's bytes.
 */
export function runtimeDockerfile(host: string): string {
  return ['FROM scratch', `ADD ${ROOT_TAR} /`, `USER ${RUNTIME_IMAGE.user}`, `ENTRYPOINT ${JSON.stringify([`${RUNTIME_IMAGE.bin}/${host}`])}`, ''].join('\n');
}

/**
 * The build context: the Dockerfile and the root file system. Packed into memory (the files are
 * read already): an aborted request then drops a buffer, where a live tar-stream pack would fail
 * its entries' streams with errors nobody listens to.
 */
async function contextTar(dockerfile: string, root: Buffer, mtime: Date): Promise<Readable> {
  const entries = [
    { name: DOCKERFILE, mode: 0o644, content: Buffer.from(dockerfile) },
    { name: ROOT_TAR, mode: 0o644, content: root },
  ];
  return Readable.from([await packTar(entries, mtime)]);
}

export async function buildRuntimeImage(ctx: BuildContext): Promise<void> {
  const { spec } = ctx;
  const ref = need(spec.image, 'the --image reference');
  const source = need(ctx.state.source, 'the source');
  const image = need(ctx.state.image, 'the image');
  const staged = need(ctx.state.staged, 'the artifacts');
  if (!source.pluginCommand) {
    throw new UnsupportedHostError(`${source.host} at ${source.shortSha} has no plugin command, so the image ${ref} can't be checked`, {
      hint: `leave out ${hintOption('image')} for this commit, or build a Dragonfly that has \`plugin\` (v2.0.1 on)`,
    });
  }
  const buildTime = buildTimeFor(spec, source);
  const labels = runtimeImageLabels({
    commit: source.commit.sha,
    source: maskSecrets(redactUrl(spec.repo), ctx.secrets.values),
    ref: spec.ref,
    created: buildTime.time,
    plugins: spec.plugins.map((p, i) => ({ type: spec.type, name: p.name, sha256: staged.plugins[i]!.sha256 })),
  });
  const container = need(ctx.state.container, 'the container');
  const inContainer = [path.posix.join(CONTAINER.outBin, source.host), ...spec.plugins.map((p) => path.posix.join(CONTAINER.outPlugins, p.file))];
  const files = [
    ...(await runtimeLibraries(container, inContainer, ctx.target)),
    { path: `${RUNTIME_IMAGE.bin}/${source.host}`, content: await readFile(staged.host.path), mode: 0o755 },
    ...(await Promise.all(
      spec.plugins.map(async (p, i) => ({ path: `${RUNTIME_IMAGE.plugins}/${p.file}`, content: await readFile(staged.plugins[i]!.path), mode: 0o755 })),
    )),
  ];
  const mtime = new Date(buildTime.time);
  const root = await rootTar(files, mtime);

  // Until the image passed its check, a failure (or an interruption) takes its tag away again.
  let accepted = false;
  ctx.cleanups.push(async () => {
    if (!accepted) await ctx.engine.removeImage(ref);
  });
  ctx.log.info(`building ${ref}: ${source.host}, the plugins and the libraries they load from ${image.goImage}`);
  const id = await buildTagged(
    ctx,
    await contextTar(runtimeDockerfile(source.host), root, mtime),
    { tag: ref, dockerfile: DOCKERFILE, buildArgs: {}, labels, platform: ctx.target },
    (message, output, cause) =>
      new ImageError(`cannot build the image ${ref}: ${message}`, {
        hint: "the engine's reason and the build's last lines are shown; --verbose prints all of its output (docker system df shows whether the engine has room)",
        detail: output,
        cause,
      }),
  );

  const run = await checkRun(ctx, container, id, root, source.host);
  const output = [run.stdout.trim(), run.stderr.trim()].filter((t) => t !== '').join('\n');
  for (const line of output.split('\n')) if (line !== '') ctx.log.output('image', line);
  const expected = spec.plugins.map((p) => ({ type: spec.type, name: p.name, file: p.file }));
  if (run.timedOut || run.exitCode !== 0) {
    throw new ValidationError(
      `\`${source.host} plugin\` in the image ${ref} ${run.timedOut ? `did not finish within ${Math.ceil(ctx.loadTimeoutMs / 1000)} s` : `exited with ${run.exitCode}`}; the image was removed`,
      { hint: hintFor(output, expected[0]!), detail: output },
    );
  }
  const verdict = checkListing(parsePluginOutput(run.stdout, run.stderr), expected);
  if (!verdict.ok) {
    const first = verdict.problems[0]!;
    throw new ValidationError(`the image ${ref} does not load ${first.file}: ${first.reason}; the image was removed`, {
      hint: hintFor(first.reason, expected.find((p) => p.file === first.file) ?? expected[0]!),
      detail: output,
    });
  }
  accepted = true;
  ctx.log.info(`${ref} (${id.slice(0, 19)}): \`${source.host} plugin\` lists ${verdict.plugins.map((p) => p.name).join(', ')}`);
  ctx.state.runtimeImage = { ref, id };
}

/**
 * `<host> plugin` as the image will run it, as the image's user: the image itself on the engine for
 * the engine's own platform; for a cross target (which the engine can't run), the image's root file
 * system, unpacked in the build container, under the target's qemu with that root as its -L, so the
 * host, its loader, its libraries and the plugins directory are the image's.
 */
async function checkRun(ctx: BuildContext, container: BuildContainer, id: string, root: Buffer, host: string): Promise<ExecResult & { timedOut: boolean }> {
  const cross = targetPlatform(ctx.target).cross;
  if (cross === undefined) {
    return ctx.engine.runToEnd(
      { image: id, cmd: ['plugin'], labels: ctx.runLabels, volumes: [], env: {}, workdir: '/', platform: ctx.platform },
      { timeoutMs: ctx.loadTimeoutMs, signal: ctx.signal },
    );
  }
  const made = await container.exec(['mktemp', '-d']);
  const dir = made.stdout.trim();
  if (made.exitCode !== 0 || !path.posix.isAbsolute(dir))
    throw new ImageError(`cannot make a directory for the image's files in the build container: ${made.stderr.trim()}`);
  await container.putArchive(Readable.from([root]), dir);
  ctx.log.info(`running the ${ctx.target} image's files under ${cross.qemu} -L <its root>`);
  const seconds = Math.ceil(ctx.loadTimeoutMs / 1000);
  const result = await container.exec(['timeout', '-k', '5', String(seconds), cross.qemu, '-L', dir, `${dir}${RUNTIME_IMAGE.bin}/${host}`, 'plugin']);
  return { ...result, timedOut: result.exitCode === 124 };
}

export async function pushRuntimeImage(ctx: BuildContext): Promise<void> {
  const built = need(ctx.state.runtimeImage, 'the runtime image');
  const { repository, tag } = need(splitTaggedReference(built.ref), 'a tagged --image');
  const registry = registryOf(repository);
  const kept = `the image is kept here as ${built.ref} (${built.id.slice(0, 19)}) and nothing was installed`;
  const fail = (why: string, hint: string, cause?: unknown) => new PushError(`cannot push ${built.ref} to ${registry}: ${why}`, { hint, cause });
  const found = await ctx.registryAuth.credentialsFor(registry, (why, hint, cause) => fail(why, `${hint}; ${kept}`, cause));
  ctx.log.info(`pushing ${built.ref} to ${registry}${found.credential === undefined ? '' : ` with the credentials from ${found.source}`}`);
  try {
    const pushed = await ctx.engine.pushImage(repository, tag, {
      ...(found.credential !== undefined ? { auth: found.credential } : {}),
      onProgress: (status) => ctx.log.output('push', status),
      signal: ctx.signal,
    });
    built.digest = pushed.digest;
  } catch (err) {
    if (ctx.signal.aborted || err instanceof D7yError) throw err;
    const message = engineMessage(err);
    throw fail(
      message,
      isUnauthorized(message)
        ? `${unauthorizedHint(registry, found)}; ${kept}`
        : `${kept}: start or reach the registry, and push it with docker push ${built.ref}`,
      err,
    );
  }
  ctx.log.info(`pushed ${built.ref}${built.digest === undefined ? '' : `@${built.digest}`}`);
}
