/**
 * The build command: runBuild(spec) announces the build, reads its credentials and runs the
 * pipeline; it returns what was built, or throws a RunFailure that carries the typed error and the
 * step timings. The CLI and the library both run it.
 */
import { buildTimeFor, type BuildSpec } from '../../config';
import { registryAuth } from '../../docker/registry-auth';
import { loadSecrets } from '../../secrets';
import { VERSION } from '../../version';
import type { CommandIo } from '../io';
import { TimeoutError } from '../../errors';
import { formatDuration } from '../../log';
import type { VerifyReport } from '../../verify';
import { need, runSession, type RunOptions, type ValidationFacts } from '../../session/session';
import type { BuildContext } from './state';
import type { Step, StepTiming } from '../../session/runner';
import { buildSteps } from './steps';
import { sharedGoArgs } from '../../toolchain/goflags';
import type { HostCacheOutcome } from './host-cache';
import type { WatchOutput } from './watch';
import { hintOption } from '../../option-names';

export interface BuiltFile {
  kind: 'host' | 'loader-check' | 'plugin' | 'manifest';
  path: string;
  sha256?: string;
  size?: number;
}

export interface BuildResult {
  runId: string;
  commit: string;
  ref: string;
  goVersion: string;
  /** The os/arch the host and plugins were built for (--platform). */
  platform: string;
  goImage: string;
  /** Why that Go image: "--go-image", or the go.mod line it was chosen by. */
  goImageReason: string;
  builderImage: string;
  /** The commit's source-tree volume, and whether its tree was there already (nothing sent). */
  sourceTree: { volume: string; reused: boolean };
  flags: { cgoEnabled: true; goArgs: string[]; trimpath: boolean; tags: string[]; gcflags: string; race: boolean };
  buildCommit: string;
  buildTime: string;
  /** Why that build time: "committer date of a9b2adb", "SOURCE_DATE_EPOCH=…", "--build-time …". */
  buildTimeReason: string;
  /** Whether the host came from the host cache, and under which key. */
  cache: HostCacheOutcome;
  artifacts: BuiltFile[];
  /** provenance.intoto.json and sbom.cdx.json, beside manifest.json. */
  attestations: { provenance: string; sbom: string };
  installed: string[];
  validation: ValidationFacts;
  /** The static verdict of `verify` on the same files. */
  verify: VerifyReport | { error: string };
  steps: StepTiming[];
  /** With --image: the image's reference and id, and with --push the digest the registry gave it. */
  image?: { ref: string; id: string; digest?: string };
  /** Set with --keep. */
  container?: string;
}

/** The caller's signal, plus --timeout until endTimeout(): both abort the run, each with its own error. */
function runSignal(outer: AbortSignal | undefined, timeoutMs: number | undefined): { signal: AbortSignal; endTimeout: () => void; dispose: () => void } {
  const controller = new AbortController();
  const onOuter = () => controller.abort(outer!.reason);
  outer?.addEventListener('abort', onOuter, { once: true });
  if (outer?.aborted) onOuter();
  const timer =
    timeoutMs === undefined
      ? undefined
      : setTimeout(() => {
          controller.abort(
            new TimeoutError(`the build took longer than --timeout (${formatDuration(timeoutMs)})`, {
              hint: `raise ${hintOption('timeout')}, or warm the caches with one build without it; nothing was installed`,
            }),
          );
        }, timeoutMs);
  const endTimeout = () => clearTimeout(timer);
  return {
    signal: controller.signal,
    endTimeout,
    dispose: () => {
      endTimeout();
      outer?.removeEventListener('abort', onOuter);
    },
  };
}

/**
 * A build as a command: its headline, the credentials of --netrc and GIT_AUTH_TOKEN (masked from
 * then on), the registry credentials (--registry-auth read now, masked as they are found), the run. With a watch's output, the build goes on watching (watch.ts) and settles only
 * by rejecting.
 */
export async function runBuild(spec: BuildSpec, { log, signal, env, engine, redact }: CommandIo, watch?: WatchOutput): Promise<BuildResult> {
  const plugins = spec.plugins.map((p) => p.name).join(', ');
  log.headline(`d7y-build ${VERSION}: ${spec.type} plugin${spec.plugins.length > 1 ? 's' : ''} ${plugins} against Dragonfly ${spec.ref}`);
  const secrets = await loadSecrets(spec.netrcFile, env);
  redact(secrets.values);
  const options = { log, signal, secrets, engine, registryAuth: await registryAuth(spec.registryAuthFile, env, redact) };
  if (watch === undefined) return build(spec, options);
  const { watchBuild } = await import('./watch');
  return watchBuild(spec, options, watch);
}

/**
 * Runs steps over a new build session, aborted by the caller's signal and by --timeout. The steps
 * are made with a way to end the timeout: a watch (watch.ts) runs until it is stopped.
 */
export async function runBuildSteps(
  spec: BuildSpec,
  options: RunOptions,
  steps: (endTimeout: () => void) => ReadonlyArray<Step<BuildContext>>,
): Promise<{ runId: string; ctx: BuildContext; steps: StepTiming[] }> {
  const run = runSignal(options.signal, spec.limits.timeoutMs);
  try {
    return await runSession(steps(run.endTimeout), spec, options, run.signal);
  } finally {
    run.dispose();
  }
}

export async function build(spec: BuildSpec, options: RunOptions = {}): Promise<BuildResult> {
  const { runId, ctx, steps } = await runBuildSteps(spec, options, () => buildSteps(spec));
  const { state } = ctx;
  const source = need(state.source, 'the source');
  const outputs = need(state.outputs, 'the outputs');
  const staged = need(state.staged, 'the artifacts');
  const buildTime = buildTimeFor(spec, source);
  return {
    runId,
    commit: source.commit.sha,
    ref: spec.ref,
    goVersion: need(state.toolchain, 'the toolchain').goVersion,
    platform: spec.target,
    goImage: need(state.image, 'the image').goImage,
    goImageReason: need(state.image, 'the image').goImageReason,
    builderImage: need(state.image, 'the image').builderImage,
    sourceTree: { volume: need(state.sourceTree, 'the source tree').volume, reused: state.sourceTree?.reused ?? false },
    flags: { cgoEnabled: true, goArgs: sharedGoArgs(spec.toolchain), ...spec.toolchain },
    buildCommit: need(state.buildCommit, 'the stamped build commit'),
    buildTime: buildTime.time,
    buildTimeReason: buildTime.reason,
    cache: need(state.hostCache, 'the host cache outcome'),
    artifacts: [
      { kind: 'host', path: outputs.host, sha256: staged.host.sha256, size: staged.host.size },
      { kind: 'loader-check', path: outputs.loadcheck, sha256: staged.loadcheck.sha256, size: staged.loadcheck.size },
      ...staged.plugins.map((f, i) => ({ kind: 'plugin' as const, path: outputs.plugins[i]!, sha256: f.sha256, size: f.size })),
      { kind: 'manifest', path: outputs.manifest },
    ],
    attestations: { provenance: outputs.provenance, sbom: outputs.sbom },
    installed: outputs.installed,
    validation: need(state.validation, 'the validation'),
    verify: need(state.verification, 'the verification'),
    steps,
    image: state.runtimeImage,
    container: spec.keep ? state.container?.id : undefined,
  };
}
