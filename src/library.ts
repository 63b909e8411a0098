/**
 * d7y-build as a library: build, a matrix of builds, install, verify, inspect and prune with options as plain values.
 * Each resolves its options as the CLI resolves flags (config.ts: option, else D7Y_* variable, else
 * d7y-plugin.yaml, else the user's config.yaml, else the default) and runs the command's own
 * function, as the CLI does. Results are the CLI's --json documents; failures are thrown as the
 * typed errors of errors.ts (exitCode, hint). Nothing is written to stdout or stderr, and no signal
 * handler is installed: progress goes to onEvent, and an AbortSignal cancels a run, with the same
 * cleanup as SIGINT. Each command's code is loaded when it runs, as in the CLI: verify and inspect
 * never load Docker's client.
 */
import {
  resolveInstallSpec,
  resolveInspectSpec,
  resolvePruneSpec,
  resolveSpec,
  resolveVerifySpec,
  type BuildFlags,
  type BuildSpec,
  type InstallSpec,
  type PruneSpec,
} from './config';
import { configInputs } from './config-files';
import { asD7yError } from './errors';
import { eventLogger, maskEvent, type ProgressEvent } from './events';
import type { PluginType } from './plugin';
import { readPluginMeta } from './plugin-meta';
import { knownSecrets, maskSecrets } from './secrets';
import { RunFailure } from './session/runner';
import { resolveBuildPlan, resolveCiCells, type CiCell, type MatrixSpec } from './matrix/spec';
import type { MatrixResult } from './commands/matrix';
import type { CommandIo } from './commands/io';
import type { BuildResult } from './commands/build';
import type { InstallResult } from './commands/install';
import type { PruneResult } from './commands/prune';
import type { InspectReport, VerifyReport } from './verify';
import type { AttestedVerifyReport } from './verify/attested';

type Env = Record<string, string | undefined>;

/** Where relative paths and the D7Y_* variables are read from. */
export interface ContextOptions {
  /** Relative paths are taken from here; default process.cwd(). */
  cwd?: string;
  /** The variables read as the CLI reads them (D7Y_*, SOURCE_DATE_EPOCH, GOPROXY, GIT_AUTH_TOKEN, …); default process.env. */
  env?: Env;
}

/** What every command that runs steps takes besides its own options. */
export interface RunContextOptions extends ContextOptions {
  /** Cancels the run: the build container is removed, nothing is installed, and the call throws an InterruptedError. */
  signal?: AbortSignal;
  /** Each progress event, as it happens, with secret values masked. */
  onEvent?: (event: ProgressEvent) => void;
}

/**
 * A build's options: those of the CLI's build command, named as the config files name them. Sizes
 * and durations are strings as the flags take them ("2g", "30m") or numbers as the config files do
 * (bytes, seconds).
 */
export interface BuildOptions extends RunContextOptions {
  /** The plugin source directories. */
  plugins: string[];
  /** Branch, tag, short or full SHA of Dragonfly; required unless D7Y_COMMIT or d7y-plugin.yaml gives it. */
  commit?: string;
  repo?: string;
  type?: PluginType;
  /** The plugin's name; only with one plugin directory. */
  name?: string;
  pluginsDir?: string;
  out?: string;
  goImage?: string;
  tags?: string | string[];
  gcflags?: string;
  trimpath?: boolean;
  race?: boolean;
  buildCommit?: string;
  /** "now", "commit" or an RFC 3339 time. */
  buildTime?: string;
  /** Neither read nor write the host cache, and start from an empty Go build cache. */
  noCache?: boolean;
  keep?: boolean;
  memory?: string | number;
  cpus?: string | number;
  timeout?: string | number;
  maxContext?: string | number;
  netrc?: string;
  /** A Docker config.json whose registry credentials go ahead of the user's, for push and for the Go image's pull. */
  registryAuth?: string;
  /**
   * The runtime image to build after validation, name:tag. `{ref}` in the tag is the commit as given,
   * made a tag (a matrix of several commits needs it): `registry.example/d7y/x:{ref}`.
   */
  image?: string;
  /** Push the image to its registry; over several platforms, each commit's tag becomes an index of its platforms' images. */
  push?: boolean;
  /** The os/arch the host and plugins are built for: linux/amd64 (the default) or linux/arm64. */
  platform?: string;
  /** The user's config file, instead of $XDG_CONFIG_HOME/d7y-build/config.yaml. */
  config?: string;
}

/**
 * A matrix's options: a build's, with the commits as a list (or a comma list) or a matrix file.
 * Each commit is built as a build of its own; with several, each under <out>/<ref>/<platform>/.
 */
export interface MatrixOptions extends Omit<BuildOptions, 'commit' | 'platform'> {
  /** The Dragonfly commits; required unless matrix, D7Y_COMMIT or d7y-plugin.yaml gives them. */
  commits?: string | string[];
  /** The platforms each commit is built for, e.g. ['linux/amd64', 'linux/arm64']; default linux/amd64. */
  platforms?: string | string[];
  /** A matrix file (YAML or JSON): the commits, each with its own Go image and plugin directories if need be. */
  matrix?: string;
  /** Stop at the first failed cell; the cells after it are skipped. */
  failFast?: boolean;
}

/** What `d7y-build matrix` prints the cells from: the commits, --out and the plugin directories. */
export interface MatrixCellsOptions extends ContextOptions {
  commits?: string | string[];
  platforms?: string | string[];
  matrix?: string;
  out?: string;
  plugins?: string[];
  config?: string;
}

export interface InstallOptions extends RunContextOptions {
  /** The host binary the plugins must load into. */
  host: string;
  /** The plugin files, named d7y-<type>-plugin-<name>.so. */
  plugins: string[];
  pluginsDir?: string;
  goImage?: string;
  keep?: boolean;
  config?: string;
}

export interface VerifyOptions extends Pick<ContextOptions, 'cwd'> {
  host: string;
  plugins: string[];
}

/**
 * verify against a provenance: `d7y-build verify --provenance`. The set is a build's --out: give
 * its directory (or its provenance.intoto.json) as `provenance`, or `true` with `host` in its bin/.
 * Without host and plugins, the provenance's own host and plugins are checked.
 */
export interface VerifyProvenanceOptions extends Pick<ContextOptions, 'cwd'> {
  provenance: string | true;
  host?: string;
  plugins?: string[];
}

export interface InspectOptions extends Pick<ContextOptions, 'cwd'> {
  /** A host binary or a plugin .so. */
  file: string;
}

export interface PruneOptions extends ContextOptions {
  /** Also remove containers of runs that still run, or that other hosts' runs own. */
  all?: boolean;
  pluginsDir?: string;
  out?: string;
  config?: string;
  signal?: AbortSignal;
}

const flagText = (value: string | number | undefined): string | undefined => (value === undefined ? undefined : String(value));

/** Build options as the CLI's flags would give them: the one resolution (config.ts) takes both. */
export function buildFlagsOf(options: BuildOptions): BuildFlags {
  return {
    commit: options.commit,
    repo: options.repo,
    type: options.type,
    name: options.name,
    pluginsDir: options.pluginsDir,
    out: options.out,
    goImage: options.goImage,
    tags: Array.isArray(options.tags) ? options.tags.join(',') : options.tags,
    gcflags: options.gcflags,
    trimpath: options.trimpath,
    race: options.race,
    buildCommit: options.buildCommit,
    buildTime: options.buildTime,
    cache: options.noCache === true ? false : undefined,
    keep: options.keep,
    memory: flagText(options.memory),
    cpus: flagText(options.cpus),
    timeout: flagText(options.timeout),
    maxContext: flagText(options.maxContext),
    netrc: options.netrc,
    registryAuth: options.registryAuth,
    image: options.image,
    push: options.push,
    platform: options.platform,
    config: options.config,
  };
}

/** A list option as the command line's comma list. */
const listText = (value: string | string[] | undefined) => (Array.isArray(value) ? value.join(',') : value);

const contextOf = (options: ContextOptions) => ({ cwd: options.cwd ?? process.cwd(), env: options.env ?? process.env });

/** The spec a build with these options runs, as `d7y-build` with the same flags would; redact takes the secrets of the config files. */
export function resolveBuildOptions(options: BuildOptions, redact?: (values: string[]) => void): BuildSpec {
  const { cwd, env } = contextOf(options);
  return resolveSpec(options.plugins, buildFlagsOf(options), env, cwd, new Date(), readPluginMeta, configInputs(options.config, env, cwd, redact));
}

/** The cells a matrix with these options runs; a single cell is a build as `build` runs it, under --out itself. */
export function resolveMatrixOptions(options: MatrixOptions, redact?: (values: string[]) => void): MatrixSpec {
  const { cwd, env } = contextOf(options);
  const [commit, platform] = [listText(options.commits), listText(options.platforms)];
  const flags = { ...buildFlagsOf({ ...options, commit, platform }), matrix: options.matrix, failFast: options.failFast };
  const plan = resolveBuildPlan(options.plugins, flags, env, cwd, new Date(), readPluginMeta, configInputs(options.config, env, cwd, redact));
  if ('matrix' in plan) return plan.matrix;
  const { spec } = plan;
  return { outDir: spec.outDir, cells: [{ cell: { ref: spec.ref, platform: spec.target, dir: '.' }, spec }], failFast: flags.failFast ?? false };
}

export function resolveInstallOptions(options: InstallOptions, redact?: (values: string[]) => void): InstallSpec {
  const { cwd, env } = contextOf(options);
  const { host, pluginsDir, goImage, keep, config } = options;
  return resolveInstallSpec(options.plugins, { host, pluginsDir, goImage, keep, config }, env, cwd, configInputs(config, env, cwd, redact));
}

export function resolvePruneOptions(options: PruneOptions): PruneSpec {
  const { cwd, env } = contextOf(options);
  const { all, pluginsDir, out, config } = options;
  return resolvePruneSpec({ all, pluginsDir, out, config }, env, cwd, configInputs(config, env, cwd));
}

/**
 * Anything thrown that is not a D7yError is a bug: thrown as an InternalError, so every failure has
 * its exitCode. Hints name the options of the call (goImage), not the CLI's flags (--go-image).
 */
async function typed<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    throw asD7yError(err).forLibrary();
  }
}

/**
 * Runs a command that reports progress: its spec resolved with the secrets of what it reads
 * collected, the events masked with them, and any failure thrown as its typed error.
 */
async function runCommand<S, R>(
  options: RunContextOptions & object,
  resolve: (redact: (values: string[]) => void) => S,
  command: (spec: S, io: CommandIo) => Promise<R>,
): Promise<R> {
  const env = contextOf(options).env;
  const texts = Object.values(options).flatMap((v) => (typeof v === 'string' ? [v] : Array.isArray(v) ? v.filter((x) => typeof x === 'string') : []));
  const secrets = knownSecrets(texts, env);
  const redact = (values: string[]) => secrets.push(...values);
  const onEvent = options.onEvent;
  const log = eventLogger((event) => onEvent?.(maskEvent(event, (text) => maskSecrets(text, secrets))));
  const signal = options.signal ?? new AbortController().signal;
  const mask = (text: string) => maskSecrets(text, secrets);
  return typed(async () => {
    try {
      return await command(resolve(redact), { log, signal, env, redact, mask });
    } catch (err) {
      // A RunFailure wraps the typed error with the step timings that the CLI's --json shows: a caller gets the error.
      throw err instanceof RunFailure ? err.error : err;
    }
  });
}

/** Builds the plugins and their host, validates, writes --out and installs: `d7y-build <plugin-dir...>`. */
export async function build(options: BuildOptions): Promise<BuildResult> {
  const { runBuild } = await import('./commands/build');
  return runCommand(options, (redact) => resolveBuildOptions(options, redact), runBuild);
}

/**
 * Builds the plugins at each commit of a matrix, one cell after another: `d7y-build --commit a,b`.
 * Some failed cells throw a MatrixPartlyFailedError whose result holds every cell's outcome.
 */
export async function buildMatrix(options: MatrixOptions): Promise<MatrixResult> {
  const { runMatrix } = await import('./commands/matrix');
  return runCommand(options, (redact) => resolveMatrixOptions(options, redact), runMatrix);
}

/** A matrix's cells as a CI job builds each: `d7y-build matrix`. Pure but for reading the matrix and config files. */
export function matrixCells(options: MatrixCellsOptions = {}): CiCell[] {
  const { cwd, env } = contextOf(options);
  const [commit, platform] = [listText(options.commits), listText(options.platforms)];
  const { matrix, out, config } = options;
  return resolveCiCells(options.plugins ?? [], { commit, platform, matrix, out, config }, env, cwd, configInputs(config, env, cwd));
}

/** Installs prebuilt plugins after proving the host loads them: `d7y-build install`. */
export async function install(options: InstallOptions): Promise<InstallResult> {
  const { runInstall } = await import('./commands/install');
  return runCommand(options, (redact) => resolveInstallOptions(options, redact), runInstall);
}

/**
 * Whether the plugins will load into the host, from the files alone: `d7y-build verify`. `loads`
 * false is an answer, not an error; so is `matches` false, with `provenance`: the files are not the
 * ones the provenance names (the CLI's exit 19), and `load` is then null.
 */
export async function verify(options: VerifyOptions): Promise<VerifyReport>;
export async function verify(options: VerifyProvenanceOptions): Promise<AttestedVerifyReport>;
export async function verify(options: VerifyOptions | VerifyProvenanceOptions): Promise<VerifyReport | AttestedVerifyReport> {
  const { provenance } = options as Partial<VerifyProvenanceOptions>;
  const spec = resolveVerifySpec(options.plugins ?? [], { host: options.host, provenance }, contextOf(options).cwd);
  if (spec.provenance !== undefined) {
    const { verifyProvenance } = await import('./verify/attested');
    return typed(() => verifyProvenance({ provenance: spec.provenance === true ? undefined : spec.provenance, host: spec.host, plugins: spec.plugins }));
  }
  const { verifyFiles } = await import('./verify');
  return typed(() => verifyFiles(spec.host ?? '', spec.plugins));
}

/** What a Go binary records: `d7y-build inspect`. */
export async function inspect(options: InspectOptions): Promise<InspectReport> {
  const spec = resolveInspectSpec(options.file, contextOf(options).cwd);
  const { inspectFile } = await import('./verify');
  return typed(() => inspectFile(spec.file));
}

/** Removes what killed runs left behind: `d7y-build prune`. */
export async function prune(options: PruneOptions = {}): Promise<PruneResult> {
  const { runPrune } = await import('./commands/prune');
  return typed(() => runPrune(resolvePruneOptions(options), { signal: options.signal ?? new AbortController().signal }));
}
