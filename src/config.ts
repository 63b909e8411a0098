/**
 * From command-line flags and the environment to a BuildSpec: defaults, env fallbacks (a flag beats
 * its D7Y_* variable, which beats the default) and every check that needs no I/O. Pure: the
 * environment and working directory are parameters.
 */
import path from 'node:path';
import os from 'node:os';
import { UsageError } from './errors';
import { isInside } from './files';
import type { PluginMeta } from './plugin-meta';
import { fixedName, HOST_LIST, isPluginType, parsePluginFileName, PLUGIN_FILE_PATTERN, pluginFileName, pluginName, PLUGIN_TYPES, type PluginType } from './plugin';
import { DRAGONFLY_DIRS } from './session/layout';
import { BUILD_TAG, buildTimestamp, ldflagsQuotable, type ToolchainSettings } from './toolchain/goflags';

export const DEFAULT_REPO = 'https://github.com/dragonflyoss/dragonfly.git';
/** Where Dragonfly looks for plugins by default, on this machine as in the container. */
export const DEFAULT_PLUGINS_DIR = DRAGONFLY_DIRS.plugins;
export const DEFAULT_OUT_DIR = 'd7y-build-out';
/**
 * The os/arch of the images pulled and the containers created: Dragonfly's hosts and their plugins
 * are built for this platform, whatever the engine's machine is.
 */
export const DEFAULT_PLATFORM = 'linux/amd64';
export const DEFAULT_PLUGIN_TYPE: PluginType = 'resource';

/** The flags as commander hands them over. */
export interface BuildFlags {
  commit?: string;
  repo?: string;
  type?: string;
  name?: string;
  pluginsDir?: string;
  out?: string;
  goImage?: string;
  tags?: string;
  gcflags?: string;
  trimpath?: boolean;
  race?: boolean;
  buildCommit?: string;
  buildTime?: string;
  /** false with --no-cache. */
  cache?: boolean;
  keep?: boolean;
  memory?: string;
  cpus?: string;
  timeout?: string;
  maxContext?: string;
  netrc?: string;
}

export interface PluginSpec {
  /** Absolute path of the plugin's source directory on this machine. */
  dir: string;
  name: string;
  /** d7y-<type>-plugin-<name>.so */
  file: string;
}

export interface BuildSpec {
  /** What the user asked for: branch, tag, short or full SHA. */
  ref: string;
  repo: string;
  type: PluginType;
  plugins: PluginSpec[];
  pluginsDir: string;
  outDir: string;
  /** undefined: golang:<version>-bookworm, the version read from go.mod at the commit. */
  goImage: string | undefined;
  toolchain: ToolchainSettings;
  /** undefined: the Dragonfly short SHA (see buildCommitFor). */
  buildCommit: string | undefined;
  /** undefined: the Dragonfly commit's committer date (see buildTimeFor). */
  buildTime: BuildTime | undefined;
  /** --no-cache: no host from the host cache, none stored in it, and an empty Go build cache. */
  noCache: boolean;
  keep: boolean;
  /** Where the git mirror cache lives. */
  cacheDir: string;
  /** Which variable chose cacheDir, for messages. */
  cacheDirOrigin: string;
  /** The variables of this machine that reach the build container (see FORWARDED_ENV). */
  goEnv: Record<string, string>;
  limits: Limits;
  /** The most a plugin directory may send to the build container. */
  maxContextBytes: number;
  /** A netrc file whose credentials the build may use (read at run time, never stored). */
  netrcFile: string | undefined;
  /** How long the engine may take to answer (D7Y_PING_TIMEOUT). */
  pingTimeoutMs: number;
  /** How long loading the plugins may take (D7Y_LOAD_TIMEOUT). */
  loadTimeoutMs: number;
  /** The os/arch the images are pulled and the container created for. */
  platform: string;
}

export const DEFAULT_MAX_CONTEXT = '100m';

/** What main.buildTime (and the host's version.BuildTime) is stamped with, and why. */
export interface BuildTime {
  /** RFC 3339 UTC with second precision: 2024-01-02T03:04:05Z. */
  time: string;
  /** "SOURCE_DATE_EPOCH=1704164645", "--build-time now", "committer date of a9b2adb", … */
  reason: string;
}

/** What the build container may use, and how long the build may take. */
export interface Limits {
  memoryBytes?: number;
  /** In units of 1e-9 CPUs, as the engine takes them. */
  nanoCpus?: number;
  timeoutMs?: number;
}

/** "512m", "2g", "1.5G", "1073741824" → bytes. */
export function parseMemory(value: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)b?$/i.exec(value.trim());
  if (!m) return undefined;
  const unit = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g' | 't'];
  return Math.round(Number(m[1]) * unit);
}

/** "90s", "30m", "1h30m", "45" (seconds) → milliseconds. */
export function parseDuration(value: string): number | undefined {
  const v = value.trim();
  if (/^\d+(\.\d+)?$/.test(v)) return Number(v) * 1000;
  if (!/^(\d+(\.\d+)?(ms|s|m|h))+$/.test(v)) return undefined;
  const scale = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  let total = 0;
  for (const [, n, , unit] of v.matchAll(/(\d+(\.\d+)?)(ms|s|m|h)/g)) total += Number(n) * scale[unit as keyof typeof scale];
  return total;
}

/**
 * The ranges numbers must fall in. The engine takes memory as an int64 and CPUs from 0.01; Node's
 * timers fire at once past 2^31-1 ms (24.8 days), so --timeout stops well before that.
 */
export const RANGES = {
  memory: { min: 6 * 1024 ** 2, max: 1024 ** 5, text: 'between 6m and 1024t' },
  cpus: { min: 0.01, max: 1024, text: 'between 0.01 and 1024' },
  timeout: { min: 1000, max: 7 * 24 * 3_600_000, text: 'between 1s and 168h (7 days)' },
  maxContext: { min: 1, max: 1024 ** 4, text: 'between 1 and 1t' },
  cacheSize: { min: 0, max: 1024 ** 5, text: 'between 0 and 1024t' },
  pingTimeout: { min: 100, max: 3_600_000, text: 'between 100ms and 1h' },
  loadTimeout: { min: 1000, max: 3_600_000, text: 'between 1s and 1h' },
  sourceDateEpoch: { min: 0, max: 253_402_300_799, text: 'between 0 and 253402300799 (9999-12-31T23:59:59Z)' },
} as const;

function inRange(n: number | undefined, range: { min: number; max: number }): n is number {
  return n !== undefined && Number.isFinite(n) && n >= range.min && n <= range.max;
}

function parseLimits(flags: { memory?: string; cpus?: string; timeout?: string }): Limits {
  const limits: Limits = {};
  if (flags.memory !== undefined) {
    const bytes = parseMemory(flags.memory);
    if (!inRange(bytes, RANGES.memory)) {
      throw new UsageError(`--memory ${flags.memory} is not a memory size ${RANGES.memory.text}`, { hint: 'pass a size like --memory 2g or --memory 512m' });
    }
    limits.memoryBytes = bytes;
  }
  if (flags.cpus !== undefined) {
    const cpus = /^\s*\d*\.?\d+\s*$/.test(flags.cpus) ? Number(flags.cpus) : undefined;
    if (!inRange(cpus, RANGES.cpus)) {
      throw new UsageError(`--cpus ${flags.cpus} is not a number of CPUs ${RANGES.cpus.text}`, { hint: 'pass a number of CPUs like --cpus 2 or --cpus 0.5' });
    }
    limits.nanoCpus = Math.round(cpus * 1e9);
  }
  if (flags.timeout !== undefined) {
    const ms = parseDuration(flags.timeout);
    if (ms === undefined) throw new UsageError(`--timeout ${flags.timeout} is not a duration`, { hint: 'pass a duration like --timeout 30m, --timeout 90s or --timeout 1h30m' });
    if (!inRange(ms, RANGES.timeout)) {
      throw new UsageError(`--timeout ${flags.timeout} is not ${RANGES.timeout.text}`, { hint: 'pass a duration like --timeout 30m or --timeout 24h, or leave --timeout out for no limit' });
    }
    limits.timeoutMs = ms;
  }
  return limits;
}

/** The defaults of D7Y_PING_TIMEOUT and D7Y_LOAD_TIMEOUT, as written and in milliseconds. */
export const DEFAULT_PING_TIMEOUT = '15s';
export const DEFAULT_LOAD_TIMEOUT = '2m';
export const DEFAULT_PING_TIMEOUT_MS = parseDuration(DEFAULT_PING_TIMEOUT)!;
export const DEFAULT_LOAD_TIMEOUT_MS = parseDuration(DEFAULT_LOAD_TIMEOUT)!;

/** A duration from the environment, else its default; out of range is a UsageError naming the variable. */
function durationFromEnv(env: Env, name: string, fallback: number, range: { min: number; max: number; text: string }, example: string): number {
  const value = nonEmpty(env[name]);
  if (value === undefined) return fallback;
  const ms = parseDuration(value);
  if (!inRange(ms, range)) {
    throw new UsageError(`${name}="${value}" is not a duration ${range.text}`, { hint: `set ${name} to a duration like ${example}, or unset it` });
  }
  return ms;
}

/** How long the engine may take to answer its first request: D7Y_PING_TIMEOUT, else DEFAULT_PING_TIMEOUT. */
export function pingTimeoutFor(env: Env): number {
  return durationFromEnv(env, 'D7Y_PING_TIMEOUT', DEFAULT_PING_TIMEOUT_MS, RANGES.pingTimeout, DEFAULT_PING_TIMEOUT);
}

/**
 * How long loading the plugins may take, in the host's `plugin` command and in the loader check:
 * D7Y_LOAD_TIMEOUT, else DEFAULT_LOAD_TIMEOUT. A plugin whose init never returns would otherwise hold the
 * build for ever.
 */
export function loadTimeoutFor(env: Env): number {
  return durationFromEnv(env, 'D7Y_LOAD_TIMEOUT', DEFAULT_LOAD_TIMEOUT_MS, RANGES.loadTimeout, DEFAULT_LOAD_TIMEOUT);
}

/** Variables the Go toolchain may need to reach modules; nothing else of this machine goes in. */
export const FORWARDED_ENV = ['GOPROXY', 'GOPRIVATE', 'GONOPROXY', 'GONOSUMDB', 'GOSUMDB', 'GOINSECURE'] as const;

function goEnvOf(env: Env): Record<string, string> {
  return Object.fromEntries(FORWARDED_ENV.flatMap((k) => (nonEmpty(env[k]) ? [[k, nonEmpty(env[k])!]] : [])));
}

type Env = Record<string, string | undefined>;

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

/**
 * Where the git mirrors and locks live, and which variable said so: D7Y_CACHE_DIR, else
 * $XDG_CACHE_HOME/d7y-build, else $HOME/.cache/d7y-build. A relative XDG_CACHE_HOME is ignored, as
 * the XDG spec says; a relative D7Y_CACHE_DIR or HOME is refused, rather than putting the cache
 * under whatever the working directory is.
 */
export function cacheDirFor(env: Env): { dir: string; origin: string } {
  const explicit = nonEmpty(env.D7Y_CACHE_DIR);
  if (explicit !== undefined) {
    if (!path.isAbsolute(explicit)) {
      throw new UsageError(`D7Y_CACHE_DIR="${explicit}" is not an absolute path`, { hint: 'set D7Y_CACHE_DIR to an absolute path, e.g. D7Y_CACHE_DIR=$HOME/.cache/d7y-build' });
    }
    return { dir: path.resolve(explicit), origin: 'D7Y_CACHE_DIR' };
  }
  const xdg = nonEmpty(env.XDG_CACHE_HOME);
  if (xdg !== undefined && path.isAbsolute(xdg)) return { dir: path.join(xdg, 'd7y-build'), origin: 'XDG_CACHE_HOME' };
  // Unset, HOME is the account's home directory; set, it must say where that is.
  const home = env.HOME ?? os.homedir();
  if (!path.isAbsolute(home)) {
    throw new UsageError(`HOME="${home}" is not an absolute path, so there is no cache directory`, {
      hint: 'set HOME to your home directory, or D7Y_CACHE_DIR to an absolute path for d7y-build\'s cache',
    });
  }
  return { dir: path.join(home, '.cache', 'd7y-build'), origin: 'HOME' };
}

/**
 * Docker's image reference grammar (distribution/reference): [domain[:port]/]path[:tag][@digest],
 * path components lower case. Anything else would reach the engine as a malformed request.
 */
const IMAGE_REFERENCE = (() => {
  const alnum = '[a-z0-9]+';
  const separator = '(?:[._]|__|-+)';
  const component = `${alnum}(?:${separator}${alnum})*`;
  const domainComponent = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
  const host = `(?:${domainComponent}(?:\\.${domainComponent})*|\\[[a-fA-F0-9:]+\\])`;
  const name = `(?:${host}(?::[0-9]+)?/)?${component}(?:/${component})*`;
  const tag = '[\\w][\\w.-]{0,127}';
  const digest = '[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}';
  return new RegExp(`^(${name})(?::${tag})?(?:@${digest})?$`);
})();

export function isImageReference(ref: string): boolean {
  const m = IMAGE_REFERENCE.exec(ref);
  return m !== null && m[1]!.length <= 255;
}

function parseGoImage(value: string | undefined): string | undefined {
  const image = nonEmpty(value);
  if (image !== undefined && !isImageReference(image)) {
    throw new UsageError(`--go-image "${image}" is not an image reference`, {
      hint: 'pass an image like golang:1.23.5-bookworm or registry.example:5000/go/golang:1.23@sha256:<digest> (lower-case name)',
    });
  }
  return image;
}

function parseTags(value: string | undefined): string[] {
  if (value === undefined) return [];
  const tags = value.split(/[,\s]+/).filter((t) => t !== '');
  for (const tag of tags) {
    if (!BUILD_TAG.test(tag)) {
      throw new UsageError(`--tags: "${tag}" is not a build tag`, {
        hint: 'build tags are letters, digits, "_", "-" and ".", separated by commas: --tags netgo,osusergo',
      });
    }
  }
  return tags;
}

function parseSourceDateEpoch(value: string | undefined): number | undefined {
  const v = nonEmpty(value);
  if (v === undefined) return undefined;
  const seconds = /^\d+$/.test(v) ? Number(v) : undefined;
  if (!inRange(seconds, RANGES.sourceDateEpoch)) {
    throw new UsageError(`SOURCE_DATE_EPOCH="${v}" is not a number of seconds ${RANGES.sourceDateEpoch.text}`, {
      hint: 'set SOURCE_DATE_EPOCH to a Unix time in seconds, e.g. $(git log -1 --format=%ct), or unset it',
    });
  }
  return seconds;
}

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:Z|([+-])(\d{2}):(\d{2}))$/i;

/** "2024-01-02T03:04:05Z" or "2024-01-02T05:04:05+02:00" → seconds since the epoch; undefined for anything else (Feb 30 too). */
export function parseRfc3339(value: string): number | undefined {
  const m = RFC3339.exec(value);
  if (m === null) return undefined;
  const [y, mo, d, h, mi, sec] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const local = new Date(Date.UTC(y, mo - 1, d, h, mi, sec));
  // Date.UTC rolls 2024-02-30 over into March: a date that does not round-trip does not exist.
  if (local.getUTCFullYear() !== y || local.getUTCMonth() !== mo - 1 || local.getUTCDate() !== d || h > 23 || mi > 59 || sec > 59) return undefined;
  const offset = m[7] === undefined ? 0 : (m[7] === '-' ? -1 : 1) * (Number(m[8]) * 60 + Number(m[9])) * 60;
  return local.getTime() / 1000 - offset;
}

/**
 * The build time, unless the commit's committer date (undefined): `--build-time` (now, commit, or
 * an RFC 3339 time), else SOURCE_DATE_EPOCH. The default keeps a build of the same commit with the
 * same settings byte for byte the same, so the host cache can serve it.
 */
function buildTimeOf(flag: string | undefined, env: Env, now: Date): BuildTime | undefined {
  const value = nonEmpty(flag);
  if (value === 'commit') return undefined;
  if (value === 'now') return { time: buildTimestamp(undefined, now), reason: '--build-time now' };
  if (value !== undefined) {
    const seconds = parseRfc3339(value);
    if (!inRange(seconds, RANGES.sourceDateEpoch)) {
      throw new UsageError(`--build-time ${value} is not now, commit or an RFC 3339 time from 1970 to 9999`, {
        hint: 'pass --build-time 2024-01-02T03:04:05Z, --build-time now, or leave it out for the Dragonfly commit\'s committer date',
      });
    }
    return { time: buildTimestamp(seconds), reason: `--build-time ${value}` };
  }
  const epoch = parseSourceDateEpoch(env.SOURCE_DATE_EPOCH);
  return epoch === undefined ? undefined : { time: buildTimestamp(epoch), reason: `SOURCE_DATE_EPOCH=${epoch}` };
}

/** D7Y_NO_CACHE: 1 or true asks for --no-cache, 0, false or empty does not. */
function noCacheOf(flag: boolean | undefined, env: Env): boolean {
  if (flag === false) return true;
  const value = nonEmpty(env.D7Y_NO_CACHE)?.toLowerCase();
  if (value === undefined || value === '0' || value === 'false') return false;
  if (value === '1' || value === 'true') return true;
  throw new UsageError(`D7Y_NO_CACHE="${env.D7Y_NO_CACHE}" is not 1, true, 0 or false`, { hint: 'set D7Y_NO_CACHE=1 to build without caches, or unset it' });
}

/**
 * --out, --plugins-dir and the plugin directories must not hold one another: the output would be
 * sent as plugin source, and Dragonfly takes every file in --plugins-dir for a plugin. Checked on
 * the paths as given here, and on their real paths in check-inputs.
 */
export function checkDirsApart(outDir: string, pluginsDir: string, pluginDirs: string[]): void {
  for (const dir of pluginDirs) {
    if (isInside(outDir, dir)) {
      throw new UsageError(`--out ${outDir} is inside the plugin directory ${dir}`, {
        hint: 'put the output elsewhere, e.g. --out ./d7y-build-out next to the plugin, so it is not sent as plugin source',
      });
    }
  }
  const clash =
    outDir === pluginsDir
      ? `--out and --plugins-dir are the same directory, ${outDir}`
      : isInside(outDir, pluginsDir)
        ? `--out ${outDir} is inside --plugins-dir ${pluginsDir}`
        : isInside(pluginsDir, outDir)
          ? `--plugins-dir ${pluginsDir} is inside --out ${outDir}`
          : undefined;
  if (clash !== undefined) {
    throw new UsageError(clash, {
      hint: 'keep --out and --plugins-dir apart: --out gets bin/, plugins/ and manifest.json, and Dragonfly takes every file in --plugins-dir for a plugin',
    });
  }
}

function resolvePath(file: string | undefined, cwd: string): string | undefined {
  return file === undefined ? undefined : path.resolve(cwd, file);
}

/** A git URL (scheme://… or scp-like user@host:path) stays as is; anything else is a local path. */
function resolveRepo(repo: string, cwd: string): string {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(repo) || /^[^/\s]+@[^/\s]+:/.test(repo)) return repo;
  return path.resolve(cwd, repo);
}

/** `--commit`, else D7Y_COMMIT: every command that reads Dragonfly needs one. */
function refOf(flags: { commit?: string }, env: Env): string {
  const ref = nonEmpty(flags.commit) ?? nonEmpty(env.D7Y_COMMIT);
  if (ref === undefined) {
    throw new UsageError('no Dragonfly commit given', {
      hint: 'pass --commit <branch|tag|sha> (or set D7Y_COMMIT), e.g. --commit v2.1.0',
    });
  }
  return ref;
}

function typeOf(name: string | undefined): PluginType {
  if (name === undefined || !isPluginType(name)) {
    throw new UsageError(name === undefined ? 'no plugin type given' : `unknown plugin type "${name}"`, {
      hint: `--type takes one of ${PLUGIN_TYPES.join(', ')}`,
    });
  }
  return name;
}

function repoOf(flags: { repo?: string }, env: Env, cwd: string): string {
  return resolveRepo(nonEmpty(flags.repo) ?? nonEmpty(env.D7Y_REPO) ?? DEFAULT_REPO, cwd);
}

/** Where plugins are installed: `--plugins-dir`, else D7Y_PLUGINS_DIR, else the directory Dragonfly's hosts search. */
export function pluginsDirFor(flags: { pluginsDir?: string }, env: Env, cwd: string): string {
  return path.resolve(cwd, nonEmpty(flags.pluginsDir) ?? nonEmpty(env.D7Y_PLUGINS_DIR) ?? DEFAULT_PLUGINS_DIR);
}

/** Where the host, the plugins and manifest.json are written: `--out`, else DEFAULT_OUT_DIR. */
export function outDirFor(flags: { out?: string }, cwd: string): string {
  return path.resolve(cwd, nonEmpty(flags.out) ?? DEFAULT_OUT_DIR);
}

/** What main.buildCommit is stamped with: `--build-commit`, else the short SHA of the Dragonfly commit. */
export function buildCommitFor(spec: Pick<BuildSpec, 'buildCommit'>, shortSha: string): string {
  return spec.buildCommit ?? shortSha;
}

/** What main.buildTime is stamped with: the spec's, else the committer date (seconds) of the Dragonfly commit. */
export function buildTimeFor(spec: Pick<BuildSpec, 'buildTime'>, commit: { shortSha: string; commitTime: number }): BuildTime {
  return spec.buildTime ?? { time: buildTimestamp(commit.commitTime), reason: `committer date of ${commit.shortSha}` };
}

export function resolveSpec(
  dirs: string[],
  flags: BuildFlags,
  env: Env,
  cwd: string,
  now: Date = new Date(),
  /** What a plugin directory's sources say of its metadata (plugin-meta.ts readPluginMeta); nothing by default. */
  readMeta: (dir: string) => PluginMeta = () => ({}),
): BuildSpec {
  const ref = refOf(flags, env);
  const type = typeOf(flags.type ?? DEFAULT_PLUGIN_TYPE);

  if (dirs.length === 0) {
    throw new UsageError('no plugin directory given', { hint: 'pass the plugin source directory: d7y-build --commit <ref> ./myplugin' });
  }
  if (dirs.length > 1 && flags.name !== undefined) {
    throw new UsageError('--name applies to one plugin, but several directories were given', {
      hint: 'drop --name: each plugin takes the name its DragonflyPluginInit returns, else its directory\'s',
    });
  }

  const plugins = dirs.map((dir) => {
    const abs = path.resolve(cwd, dir);
    const name = pluginName(type, path.basename(abs), flags.name, readMeta(abs), dirs.length > 1);
    return { dir: abs, name, file: pluginFileName(type, name) };
  });
  const seen = new Map<string, string>();
  for (const p of plugins) {
    const other = seen.get(p.name);
    if (other !== undefined) {
      const hint =
        fixedName(type) === undefined
          ? 'give each plugin directory its own name'
          : `a ${type} host loads exactly one plugin: build one directory per call`;
      throw new UsageError(`${other} and ${p.dir} would both be ${p.file}`, { hint });
    }
    seen.set(p.name, p.dir);
  }

  const outDir = outDirFor(flags, cwd);
  const pluginsDir = pluginsDirFor(flags, env, cwd);
  checkDirsApart(outDir, pluginsDir, plugins.map((p) => p.dir));

  const cache = cacheDirFor(env);
  const gcflags = flags.gcflags ?? '';
  if (!ldflagsQuotable(gcflags)) {
    throw new UsageError('--gcflags holds both single and double quotes', { hint: 'use one kind of quote in --gcflags' });
  }
  const buildCommit = nonEmpty(flags.buildCommit);
  if (buildCommit !== undefined && !ldflagsQuotable(buildCommit)) {
    throw new UsageError('--build-commit holds both single and double quotes', { hint: 'use one kind of quote in --build-commit' });
  }

  return {
    ref,
    repo: repoOf(flags, env, cwd),
    type,
    plugins,
    pluginsDir,
    outDir,
    goImage: parseGoImage(flags.goImage),
    toolchain: {
      trimpath: flags.trimpath ?? true,
      tags: parseTags(flags.tags),
      gcflags,
      race: flags.race ?? false,
    },
    buildCommit,
    buildTime: buildTimeOf(flags.buildTime, env, now),
    noCache: noCacheOf(flags.cache, env),
    keep: flags.keep ?? false,
    cacheDir: cache.dir,
    cacheDirOrigin: cache.origin,
    goEnv: goEnvOf(env),
    limits: parseLimits(flags),
    maxContextBytes: parseMaxContext(flags.maxContext ?? DEFAULT_MAX_CONTEXT),
    netrcFile: resolvePath(nonEmpty(flags.netrc) ?? nonEmpty(env.D7Y_NETRC), cwd),
    pingTimeoutMs: pingTimeoutFor(env),
    loadTimeoutMs: loadTimeoutFor(env),
    platform: DEFAULT_PLATFORM,
  };
}

function parseMaxContext(value: string): number {
  const bytes = parseMemory(value);
  if (!inRange(bytes, RANGES.maxContext)) {
    throw new UsageError(`--max-context ${value} is not a size ${RANGES.maxContext.text}`, { hint: 'pass a size like --max-context 200m' });
  }
  return bytes;
}

/** `d7y-build install`: prebuilt plugins, the host they must load into, and where they go. */
export interface InstallFlags {
  host?: string;
  pluginsDir?: string;
  goImage?: string;
  keep?: boolean;
}

export interface InstallSpec {
  /** The install command takes no limits; the container gets the engine's defaults. */
  limits: Limits;
  /** Absolute path of the host binary (dfget, scheduler or manager). */
  host: string;
  plugins: Array<{ path: string; type: PluginType; name: string; file: string }>;
  pluginsDir: string;
  /** undefined: the image named in the manifest.json next to the host's bin/ directory. */
  goImage: string | undefined;
  keep: boolean;
  goEnv: Record<string, string>;
  /** Where install locks live. */
  cacheDir: string;
  /** Which variable chose cacheDir, for messages. */
  cacheDirOrigin: string;
  /** How long the engine may take to answer (D7Y_PING_TIMEOUT). */
  pingTimeoutMs: number;
  /** How long loading the plugins may take (D7Y_LOAD_TIMEOUT). */
  loadTimeoutMs: number;
  /** The os/arch the images are pulled and the container created for. */
  platform: string;
}

export function resolveInstallSpec(files: string[], flags: InstallFlags, env: Env, cwd: string): InstallSpec {
  const host = nonEmpty(flags.host);
  if (host === undefined) {
    throw new UsageError('no host binary given', {
      hint: `pass --host <path to the ${HOST_LIST} the plugins must load into>`,
    });
  }
  const plugins = files.map((file) => {
    const abs = path.resolve(cwd, file);
    const parsed = parsePluginFileName(path.basename(abs));
    if (parsed === undefined) {
      throw new UsageError(`${path.basename(abs)} is not a plugin file name Dragonfly loads`, {
        hint: `plugin files are named ${PLUGIN_FILE_PATTERN}`,
      });
    }
    return { path: abs, ...parsed, file: path.basename(abs) };
  });
  if (new Set(plugins.map((p) => p.file)).size !== plugins.length) {
    throw new UsageError('the same plugin file name is given twice', { hint: 'install each plugin once' });
  }
  const cache = cacheDirFor(env);
  return {
    host: path.resolve(cwd, host),
    plugins,
    pluginsDir: pluginsDirFor(flags, env, cwd),
    goImage: parseGoImage(flags.goImage),
    keep: flags.keep ?? false,
    goEnv: goEnvOf(env),
    limits: {},
    cacheDir: cache.dir,
    cacheDirOrigin: cache.origin,
    pingTimeoutMs: pingTimeoutFor(env),
    loadTimeoutMs: loadTimeoutFor(env),
    platform: DEFAULT_PLATFORM,
  };
}

/** `d7y-build inspect-api`: the plugin type and the Dragonfly commit whose interface is read. */
export interface ApiFlags {
  commit?: string;
  repo?: string;
  type?: string;
  goImage?: string;
}

export interface ApiSpec {
  ref: string;
  repo: string;
  type: PluginType;
  /** undefined: golang:<version>-bookworm, as for builds. */
  goImage: string | undefined;
  cacheDir: string;
  goEnv: Record<string, string>;
  /** The container only reads sources: no limits, never kept. */
  limits: Limits;
  keep: false;
  pingTimeoutMs: number | undefined;
  /** The os/arch the images are pulled and the container created for. */
  platform: string;
}

export function resolveApiSpec(flags: ApiFlags, env: Env, cwd: string): ApiSpec {
  return {
    ref: refOf(flags, env),
    repo: repoOf(flags, env, cwd),
    type: typeOf(flags.type),
    goImage: parseGoImage(flags.goImage),
    cacheDir: cacheDirFor(env).dir,
    goEnv: goEnvOf(env),
    limits: {},
    keep: false,
    pingTimeoutMs: pingTimeoutFor(env),
    platform: DEFAULT_PLATFORM,
  };
}

/** `d7y-build init`: inspect-api's flags, the scaffold's directory and the plugin's name. */
export interface InitFlags extends ApiFlags {
  name?: string;
}

export interface InitSpec extends ApiSpec {
  /** Absolute path of the directory to create. */
  dir: string;
  name: string;
}

export function resolveInitSpec(dir: string, flags: InitFlags, env: Env, cwd: string): InitSpec {
  const api = resolveApiSpec(flags, env, cwd);
  const abs = path.resolve(cwd, dir);
  return { ...api, dir: abs, name: pluginName(api.type, path.basename(abs), nonEmpty(flags.name)) };
}

/** `d7y-build verify`: the host and the plugin files, as absolute paths. */
export interface VerifySpec {
  host: string;
  plugins: string[];
}

export function resolveVerifySpec(files: string[], flags: { host: string }, cwd: string): VerifySpec {
  return { host: path.resolve(cwd, flags.host), plugins: files.map((f) => path.resolve(cwd, f)) };
}

/** `d7y-build inspect`: one Go binary, as an absolute path. */
export interface InspectSpec {
  file: string;
}

export function resolveInspectSpec(file: string, cwd: string): InspectSpec {
  return { file: path.resolve(cwd, file) };
}

/** `d7y-build prune`: whether live runs' containers go too, and the directories swept for half-written files. */
export interface PruneFlags {
  all?: boolean;
  pluginsDir?: string;
  out?: string;
}

export interface PruneSpec {
  all: boolean;
  /** --plugins-dir, and --out with its bin/ and plugins/. */
  dirs: string[];
  pingTimeoutMs: number;
}

export function resolvePruneSpec(flags: PruneFlags, env: Env, cwd: string): PruneSpec {
  const out = outDirFor(flags, cwd);
  return {
    all: flags.all ?? false,
    dirs: [pluginsDirFor(flags, env, cwd), ...['bin', 'plugins', '.'].map((d) => path.join(out, d))],
    pingTimeoutMs: pingTimeoutFor(env),
  };
}

/** `d7y-build cache <action>`: its options, and where the caches are. */
export interface CacheFlags {
  all?: boolean;
  maxSize?: string;
}

export type CacheAction =
  | { action: 'ls' }
  | { action: 'prune'; all: boolean; maxSizeBytes?: number }
  | { action: 'export'; target: string }
  | { action: 'import'; source: string };

export type CacheSpec = CacheAction & {
  /** The git mirrors and locks (D7Y_CACHE_DIR). */
  cacheDir: string;
  pingTimeoutMs: number;
};

export function resolveCacheSpec(action: CacheAction['action'], file: string | undefined, flags: CacheFlags, env: Env, cwd: string): CacheSpec {
  const common = { cacheDir: cacheDirFor(env).dir, pingTimeoutMs: pingTimeoutFor(env) };
  switch (action) {
    case 'ls':
      return { action, ...common };
    case 'prune': {
      if (flags.all && flags.maxSize !== undefined) {
        throw new UsageError('--all and --max-size do not go together: --all removes every cache volume not in use', {
          hint: 'pass --max-size to trim the caches to a size, or --all to remove them',
        });
      }
      if (flags.maxSize === undefined) return { action, all: flags.all ?? false, ...common };
      const bytes = parseMemory(flags.maxSize);
      if (!inRange(bytes, RANGES.cacheSize)) {
        throw new UsageError(`--max-size ${flags.maxSize} is not a size ${RANGES.cacheSize.text}`, { hint: 'pass a size like --max-size 10g' });
      }
      return { action, all: false, maxSizeBytes: bytes, ...common };
    }
    case 'export':
      return { action, target: path.resolve(cwd, file!), ...common };
    case 'import':
      return { action, source: path.resolve(cwd, file!), ...common };
  }
}

/** `d7y-build doctor`: the commit and Go image to check a build against. */
export interface DoctorFlags {
  commit?: string;
  repo?: string;
  goImage?: string;
}

/**
 * What doctor checks. The environment a build would refuse (a relative D7Y_CACHE_DIR, a malformed
 * SOURCE_DATE_EPOCH or D7Y_PING_TIMEOUT) is kept as the UsageError a build would stop with:
 * doctor reports it as a failed check, beside the others, instead of stopping at the first.
 */
export interface DoctorSpec {
  /** `--commit`, else D7Y_COMMIT; undefined: no commit to read go.mod from. */
  ref: string | undefined;
  repo: string;
  goImage: string | undefined;
  cache: { dir: string; origin: string } | UsageError;
  /** In seconds; undefined when unset. */
  sourceDateEpoch: number | undefined | UsageError;
  pingTimeoutMs: number | UsageError;
  goEnv: Record<string, string>;
  platform: string;
}

function settle<T>(resolve: () => T): T | UsageError {
  try {
    return resolve();
  } catch (err) {
    if (err instanceof UsageError) return err;
    throw err;
  }
}

export function resolveDoctorSpec(flags: DoctorFlags, env: Env, cwd: string): DoctorSpec {
  return {
    ref: nonEmpty(flags.commit) ?? nonEmpty(env.D7Y_COMMIT),
    repo: repoOf(flags, env, cwd),
    goImage: parseGoImage(flags.goImage),
    cache: settle(() => cacheDirFor(env)),
    sourceDateEpoch: settle(() => parseSourceDateEpoch(env.SOURCE_DATE_EPOCH)),
    pingTimeoutMs: settle(() => pingTimeoutFor(env)),
    goEnv: goEnvOf(env),
    platform: DEFAULT_PLATFORM,
  };
}
