/**
 * The container a session works in: one labelled container from the builder image, Go's caches on
 * named volumes, credentials on a tmpfs, and the Go it really has.
 */
import type { BuildContainer } from '../docker/engine';
import { toolLabels } from '../docker/labels';
import { GoImageError, InternalError } from '../errors';
import { CACHE_VOLUMES } from './cache';
import { CONTAINER, layoutEnv } from './layout';
import { type ImageFacts, type SessionContext, type ToolchainFacts } from './session';
import { goTargetEnv } from '../platform';
import { goCommandEnv } from '../toolchain/goflags';
import { parseGoVersionOutput } from '../toolchain/gomod';
import { hintOption } from '../option-names';

/** A volume of the session beyond Go's caches: created with its labels when new, mounted at target. */
export interface SessionVolume {
  name: string;
  labels: Record<string, string>;
  target: string;
}

/**
 * One labelled container from the builder image, removed by the pipeline's cleanup unless --keep,
 * and the Go it really has.
 */
export async function openContainer(
  ctx: SessionContext,
  image: ImageFacts,
  volumes: SessionVolume[] = [],
): Promise<{ container: BuildContainer; toolchain: ToolchainFacts }> {
  const all = [...CACHE_VOLUMES.map((v) => ({ name: v.name, labels: toolLabels(v.role), target: v.target })), ...volumes];
  // Each is created when missing, and creating one that exists is a no-op: no order among them.
  await Promise.all(all.map((v) => ctx.engine.ensureVolume(v.name, v.labels)));
  const container = await ctx.engine.createContainer({
    image: image.builderImageId,
    labels: ctx.runLabels,
    volumes: all.map((v) => ({ name: v.name, target: v.target })),
    // The layout last: builder/build.sh reads it, and nothing forwarded from this machine may move it.
    env: { ...ctx.goEnv, ...layoutEnv() },
    workdir: CONTAINER.work,
    platform: ctx.platform,
    memoryBytes: ctx.limits.memoryBytes,
    nanoCpus: ctx.limits.nanoCpus,
    tmpfs: { [CONTAINER.secrets.dir]: `rw,noexec,nosuid,size=64k,mode=0700,uid=${CONTAINER.user.uid},gid=${CONTAINER.user.gid}` },
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
    // Through the exec's stdin onto the tmpfs (~/.netrc in the builder image points there): never
    // in an image layer, an environment or a log.
    const written = await container.exec(['sh', '-c', 'umask 077 && cat > "$1"', 'sh', CONTAINER.secrets.netrc], { stdin: ctx.secrets.netrc });
    if (written.exitCode !== 0) throw new InternalError(`cannot put the netrc credentials into the container: ${written.stderr.trim()}`);
    ctx.log.info("netrc credentials are on the container's tmpfs for this build only");
  }

  const probe = await container.exec(['go', 'version']);
  const go = parseGoVersionOutput(probe.stdout);
  if (probe.exitCode !== 0 || go === undefined) {
    throw new GoImageError(`${image.goImage} has no working Go: \`go version\` said ${JSON.stringify((probe.stdout + probe.stderr).trim())}`, {
      hint: `pass a golang image with ${hintOption('goImage')}`,
    });
  }
  ctx.log.info(`${go.version} ${go.platform} in container ${short}`);
  return { container, toolchain: { goVersion: go.version, platform: go.platform, env: { ...goCommandEnv(go.version), ...goTargetEnv(ctx.target) } } };
}
