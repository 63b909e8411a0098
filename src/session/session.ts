/**
 * The session every command that works in a build container runs in: the adapters, the run's labels
 * and limits, the facts all of them establish (source, image, toolchain, validation), and runSession,
 * which runs a command's steps over it.
 */
import { DEFAULT_LOAD_TIMEOUT_MS, type BuildSpec, type Limits } from '../config';
import { DEFAULT_TARGET, type TargetName } from '../platform';
import { NO_SECRETS, type Secrets } from '../secrets';
import { DockerEngine } from '../docker/dockerode';
import type { Engine } from '../docker/engine';
import { nodeAuthIo, RegistryAuth, userConfigFile } from '../docker/registry-auth';
import { runLabels } from '../docker/labels';
import { nullLogger, type Logger } from '../log';
import { currentOwner } from '../owner';
import type { DragonflyMirror, ResolvedCommit } from '../git/source';
import type { Loader } from '../validate/loader';
import type { LoadedPlugin } from '../validate/plugin-output';
import type { GoMod } from '../toolchain/gomod';
import type { HostName } from '../plugin';
import type { Background } from './background';
import { PipelineError, RunFailure, runSteps, type PipelineContext, type Step, type StepTiming } from './runner';
import { randomUUID } from 'node:crypto';
import { InternalError } from '../errors';

export interface SourceFacts {
  mirror: DragonflyMirror;
  commit: ResolvedCommit;
  shortSha: string;
  /** The commit's committer date, in seconds since the epoch: the default build time. */
  commitTime: number;
  goMod: GoMod;
  /** The Dragonfly command that loads this plugin type. */
  host: HostName;
  /** The function the host loads this plugin type with, at this commit. */
  loader: Loader;
  /** Whether the commit's commands have the `plugin` subcommand (v2.0.0 has none). */
  pluginCommand: boolean;
}

/** The builder image and the Go image it is built on. */
export interface BuilderImage {
  goImageId: string;
  builderImage: string;
  builderImageId: string;
}

export interface ImageFacts extends BuilderImage {
  goImage: string;
  /** Why this Go image: "--go-image", "go.mod toolchain go1.23.5", … (see chooseGoImage). */
  goImageReason: string;
  /** The Go release go.mod asks for, when it names one. */
  goRelease?: string;
}

export interface ToolchainFacts {
  /** e.g. "go1.23.5" */
  goVersion: string;
  /** The Go toolchain's own platform, as `go version` says it, e.g. "linux/amd64" (the target is SessionContext.target). */
  platform: string;
  /** The environment every go command runs with, fit for that Go (see goCommandEnv) and the target (GOOS, GOARCH, CC: goTargetEnv). */
  env: Record<string, string>;
}

export interface ValidationFacts {
  /** What `<host> plugin` printed and listed (empty when the commit has no such command). */
  stdout: string;
  stderr: string;
  plugins: LoadedPlugin[];
  /** The loader check, per plugin: the interface its value implements; undefined when it could not run. */
  loader?: Array<{ file: string; interface: string; ok: boolean }>;
}

/** What any pipeline that runs a build container needs, whatever it does in it. */
export interface SessionContext extends PipelineContext {
  engine: Engine;
  /** Labels every container of this run carries. */
  runLabels: Record<string, string>;
  /** --keep: leave the container for debugging. */
  keep: boolean;
  /** Environment variables for the container (GOPROXY and friends). */
  goEnv: Record<string, string>;
  /** Memory and CPU limits of the container. */
  limits: Limits;
  /** How long the host's `plugin` command and the loader check may take to load the plugins. */
  loadTimeoutMs: number;
  /** Credentials for private modules: put on a tmpfs in the container, masked in all output. */
  secrets: Secrets;
  /** Registry credentials for pulls and pushes, looked up per registry and masked once found. */
  registryAuth: RegistryAuth;
  /** The os/arch the images are pulled and the container created for: the engine's. */
  platform: string;
  /** The os/arch the go commands compile for and the host's binaries are run as (under qemu when not the container's). */
  target: TargetName;
  /** When the run started: the provenance's startedOn. */
  startedAt: Date;
}

/** What resolve-source and prepare-image read of a spec: the build's, or that of a command that only reads the API. */
export type SourceSpec = Pick<BuildSpec, 'ref' | 'repo' | 'type' | 'cacheDir' | 'goImage'>;

/** A session that resolves a Dragonfly commit and prepares the images for it. */
export interface SourceContext extends SessionContext {
  spec: SourceSpec;
  state: SourceState;
}

export interface SourceState {
  source?: SourceFacts;
  image?: ImageFacts;
  /** The builder image of --go-image, made while the source resolves; undefined when the Go image is to be pulled. */
  builderImage?: Background<BuilderImage | undefined>;
}

/** What a caller of the library may pass to a run. */
export interface RunOptions {
  log?: Logger;
  signal?: AbortSignal;
  engine?: Engine;
  /** Credentials for private modules (see loadSecrets); none by default. */
  secrets?: Secrets;
  /** Registry credentials (see registryAuth); by default the user's config.json, DOCKER_CONFIG respected. */
  registryAuth?: RegistryAuth;
}

/** What of a command's spec its session takes. */
export interface SessionSettings {
  keep: boolean;
  goEnv: Record<string, string>;
  limits: Limits;
  /** How long the engine may take to answer its first request (D7Y_PING_TIMEOUT). */
  pingTimeoutMs?: number;
  /** How long loading the plugins may take (D7Y_LOAD_TIMEOUT); the default when absent. */
  loadTimeoutMs?: number;
  platform: string;
  /** The build's --platform; the container's own (DEFAULT_TARGET) for commands that compile nothing. */
  target?: TargetName;
}

/** A new session for one run: its id, labels, adapters and settings; no steps run yet. */
export function newSession(runId: string, settings: SessionSettings, options: RunOptions, signal: AbortSignal): SessionContext {
  return {
    log: options.log ?? nullLogger,
    signal,
    engine: options.engine ?? new DockerEngine(undefined, { pingTimeoutMs: settings.pingTimeoutMs }),
    runLabels: runLabels(runId, currentOwner()),
    keep: settings.keep,
    goEnv: settings.goEnv,
    limits: settings.limits,
    loadTimeoutMs: settings.loadTimeoutMs ?? DEFAULT_LOAD_TIMEOUT_MS,
    secrets: options.secrets ?? NO_SECRETS,
    registryAuth: options.registryAuth ?? new RegistryAuth({ userFile: userConfigFile(process.env), io: nodeAuthIo, redact: () => {} }),
    platform: settings.platform,
    target: settings.target ?? DEFAULT_TARGET,
    startedAt: new Date(),
    cleanups: [],
  };
}

/** A fact an earlier step must have established; its absence is a bug in the step order. */
export function need<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new InternalError(`pipeline step order: ${what} is not known yet`);
  return value;
}

/**
 * Runs a command's steps over a new session with the spec's settings and an empty state. A failure
 * comes out as a RunFailure with the step timings and, once resolved, the Dragonfly commit.
 */
export async function runSession<C extends SessionContext & { spec: SessionSettings; state: object }>(
  steps: ReadonlyArray<Step<C>>,
  spec: C['spec'],
  options: RunOptions,
  signal: AbortSignal = options.signal ?? new AbortController().signal,
): Promise<{ runId: string; ctx: C; steps: StepTiming[] }> {
  const runId = randomUUID();
  const ctx = { ...newSession(runId, spec, options, signal), spec, state: {} } as C;
  try {
    return { runId, ctx, steps: await runSteps(steps, ctx) };
  } catch (err) {
    // Pipelines that resolve a Dragonfly commit keep it in state.source; the others have none.
    const { source } = ctx.state as { source?: SourceFacts };
    if (err instanceof PipelineError) throw new RunFailure(err.error, runId, err.timings, source?.commit.sha);
    throw err;
  }
}
