/**
 * From command-line flags, the environment and config files to typed specs: every option's
 * defaults, its D7Y_* variable and its config-file key (OPTIONS), the one precedence rule over them
 * (resolver: flag, variable, d7y-plugin.yaml, the user's config.yaml, default), and every check
 * that needs no I/O. Pure: the environment, the working directory and the config files read
 * (config-files.ts) are parameters.
 */
import path from 'node:path';
import os from 'node:os';
import type { ConfigFile } from './config-files';
import { UsageError } from './errors';
import { envName as namedEnv, flagName as namedFlag, hintOption, type BUILD_OPTION_NAMES } from './option-names';
import { isInside } from './files';
import { dropHint, setHint, settingName, settingValue, sourceText, type FileScope, type Origin } from './origin';
import type { PluginMeta } from './plugin-meta';
import {
  fixedName,
  HOST_LIST,
  isPluginType,
  parsePluginFileName,
  PLUGIN_FILE_PATTERN,
  pluginFileName,
  pluginName,
  PLUGIN_TYPES,
  type PluginType,
} from './plugin';
import { DEFAULT_TARGET, ENGINE_PLATFORM, isTargetName, TARGET_NAMES, type TargetName } from './platform';
import { DRAGONFLY_DIRS } from './session/layout';
import { checkTagLength, imageForRef, placeholderProblem } from './matrix/image-tag';
import { BUILD_TAG, buildTimestamp, ldflagsQuotable, type ToolchainSettings } from './toolchain/goflags';

export const DEFAULT_REPO = 'https://github.com/dragonflyoss/dragonfly.git';
/** Where Dragonfly looks for plugins by default, on this machine as in the container. */
export const DEFAULT_PLUGINS_DIR = DRAGONFLY_DIRS.plugins;
export const DEFAULT_OUT_DIR = 'd7y-build-out';
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
  registryAuth?: string;
  image?: string;
  push?: boolean;
  /** The os/arch the host and plugins are built for (--platform). */
  platform?: string;
  /** The user config file, instead of $XDG_CONFIG_HOME/d7y-build/config.yaml (config-files.ts). */
  config?: string;
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
  /** undefined: nothing is installed, the plugins are in outDir only (a cell of a matrix of several cells). */
  pluginsDir: string | undefined;
  outDir: string;
  /** undefined: golang:<version>-bookworm, the version read from go.mod at the commit. */
  goImage: string | undefined;
  toolchain: ToolchainSettings;
  /** undefined: the Dragonfly short SHA (see buildCommitFor). */
  buildCommit: string | undefined;
  /** undefined: the Dragonfly commit's committer date (see buildTimeFor). */
  buildTime: BuildTime | undefined;
  /** SOURCE_DATE_EPOCH, when set: the SBOM's timestamp, whatever --build-time says. */
  sourceDateEpoch?: number;
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
  /** --registry-auth: a Docker config.json whose credentials go ahead of the user's for push and pull (read at run time, never stored). */
  registryAuthFile: string | undefined;
  /** How long the engine may take to answer (D7Y_PING_TIMEOUT). */
  pingTimeoutMs: number;
  /** How long loading the plugins may take (D7Y_LOAD_TIMEOUT). */
  loadTimeoutMs: number;
  /** The os/arch the images are pulled and the container created for: the engine's (ENGINE_PLATFORM). */
  platform: string;
  /** --platform: the os/arch the host and plugins are compiled for, and validated on (under qemu when it is not the container's). */
  target: TargetName;
  /** --image: the runtime image (name:tag) built from the host and plugins after validation; undefined: none. */
  image: string | undefined;
  /** --push: push the runtime image to its registry (only with image). */
  push: boolean;
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

/** The defaults of D7Y_PING_TIMEOUT and D7Y_LOAD_TIMEOUT, as written and in milliseconds. */
export const DEFAULT_PING_TIMEOUT = '15s';
export const DEFAULT_LOAD_TIMEOUT = '2m';
export const DEFAULT_PING_TIMEOUT_MS = parseDuration(DEFAULT_PING_TIMEOUT)!;
export const DEFAULT_LOAD_TIMEOUT_MS = parseDuration(DEFAULT_LOAD_TIMEOUT)!;

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

/**
 * A reference an image can be built and tagged as: name:tag, no digest (a digest names what a
 * registry holds, not what a build makes). The repository and the tag apart, as a push takes them.
 */
export function splitTaggedReference(ref: string): { repository: string; tag: string } | undefined {
  if (!isImageReference(ref) || ref.includes('@')) return undefined;
  const slash = ref.lastIndexOf('/');
  const colon = ref.lastIndexOf(':');
  if (colon <= slash) return undefined;
  return { repository: ref.slice(0, colon), tag: ref.slice(colon + 1) };
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
        hint: `pass ${hintOption('buildTime', '2024-01-02T03:04:05Z')}, ${hintOption('buildTime', 'now')}, or leave it out for the Dragonfly commit's committer date`,
      });
    }
    return { time: buildTimestamp(seconds), reason: `--build-time ${value}` };
  }
  const epoch = parseSourceDateEpoch(env.SOURCE_DATE_EPOCH);
  return epoch === undefined ? undefined : { time: buildTimestamp(epoch), reason: `SOURCE_DATE_EPOCH=${epoch}` };
}

/**
 * SOURCE_DATE_EPOCH for the timestamps of the files a build writes besides the binaries. Where
 * --build-time is given, a malformed SOURCE_DATE_EPOCH stops nothing, as before: it is then unset.
 */
function sourceDateEpochOf(flag: string | undefined, env: Env): number | undefined {
  if (nonEmpty(flag) === undefined) return parseSourceDateEpoch(env.SOURCE_DATE_EPOCH);
  try {
    return parseSourceDateEpoch(env.SOURCE_DATE_EPOCH);
  } catch {
    return undefined;
  }
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
export function checkDirsApart(outDir: string, pluginsDir: string | undefined, pluginDirs: string[]): void {
  for (const dir of pluginDirs) {
    if (isInside(outDir, dir)) {
      throw new UsageError(`--out ${outDir} is inside the plugin directory ${dir}`, {
        hint: `put the output elsewhere, e.g. ${hintOption('out', `./${DEFAULT_OUT_DIR}`)} next to the plugin, so it is not sent as plugin source`,
      });
    }
  }
  if (pluginsDir === undefined) return;
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
      hint: `keep ${hintOption('out')} and ${hintOption('pluginsDir')} apart: ${hintOption('out')} gets bin/, plugins/ and manifest.json, and Dragonfly takes every file in ${hintOption('pluginsDir')} for a plugin`,
    });
  }
}

/** A git URL (scheme://… or scp-like user@host:path) stays as is; anything else is a local path. */
function resolveRepo(repo: string, base: string): string {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(repo) || /^[^/\s]+@[^/\s]+:/.test(repo)) return repo;
  return path.resolve(base, repo);
}

/** An option's value as a flag, a variable or a config file gives it. */
export type RawValue = string | boolean | string[];

/** What `d7y-build config` shows of a value: as a config file would say it; null when unset. */
export type ShownValue = string | boolean | string[] | null;

/**
 * The shape a config file's value must have: `size` is a string or a number (memory, CPUs,
 * durations), `list` a string or a list of strings.
 */
export type ValueKind = 'string' | 'boolean' | 'size' | 'list' | 'type';

/** One option: where it may be set, and how a value becomes what the spec holds. */
export interface OptionDef<T> {
  /** The config files that may set it: a plugin's d7y-plugin.yaml, the user's config.yaml. */
  files: readonly FileScope[];
  kind: ValueKind;
  /** What a value is, and examples, for messages: "a memory size", ["2g", "512m"]. */
  what: string;
  examples: readonly string[];
  /** Messages show the value in quotes after a flag: --go-image "Bad Image". */
  quoted?: boolean;
  /** Set per plugin directory (name): the plugin files of several directories need not agree on it. */
  perPlugin?: boolean;
  /** The value, trimmed, to what the spec holds; relative paths are taken from base. Throws UsageError naming at. */
  parse(raw: RawValue, at: Origin, base: string, self: OptionDef<T>): T;
  /** When nothing sets it: a value as a flag would give it, or one computed from the environment and the variable it came from. */
  fallback?: RawValue | ((env: Env) => { raw: string; from: string });
}

function text(raw: RawValue): string {
  return Array.isArray(raw) ? raw.join(',') : String(raw);
}

function invalid(at: Origin, value: string, why: string, self: OptionDef<unknown>): UsageError {
  return new UsageError(`${settingValue(at, value, self.quoted)} ${why}`, { hint: setHint(at, self.what, [...self.examples]) });
}

/** A size in bytes within range (memory, --max-context). */
function sizeIn(range: { min: number; max: number; text: string }) {
  return (raw: RawValue, at: Origin, _base: string, self: OptionDef<unknown>): number => {
    const bytes = parseMemory(text(raw));
    if (!inRange(bytes, range)) throw invalid(at, text(raw), `is not ${self.what} ${range.text}`, self);
    return bytes;
  };
}

/**
 * A duration in milliseconds within range (--timeout, D7Y_PING_TIMEOUT, D7Y_LOAD_TIMEOUT); apart:
 * a value that is no duration and one out of range are told apart, as --timeout's messages do.
 */
function durationIn(range: { min: number; max: number; text: string }, apart = false) {
  return (raw: RawValue, at: Origin, _base: string, self: OptionDef<unknown>): number => {
    const ms = parseDuration(text(raw));
    if (apart && ms === undefined) throw invalid(at, text(raw), 'is not a duration', self);
    if (!inRange(ms, range)) throw invalid(at, text(raw), apart ? `is not ${range.text}` : `is not a duration ${range.text}`, self);
    return ms;
  };
}

/** -gcflags and main.buildCommit go into a shell-quoted argument: one kind of quote only. */
function quotable(raw: RawValue, at: Origin): string {
  const value = text(raw);
  if (!ldflagsQuotable(value)) {
    throw new UsageError(`${settingName(at)} holds both single and double quotes`, { hint: `use one kind of quote in ${settingName(at)}` });
  }
  return value;
}

function pathFrom(raw: RawValue, _at: Origin, base: string): string {
  return path.resolve(base, text(raw));
}

function asText(raw: RawValue): string {
  return text(raw);
}

function booleanOf(raw: RawValue, at: Origin, _base: string, self: OptionDef<unknown>): boolean {
  if (typeof raw === 'boolean') return raw;
  if (/^(1|true|yes|on)$/i.test(text(raw))) return true;
  if (/^(0|false|no|off)$/i.test(text(raw))) return false;
  throw invalid(at, text(raw), 'is not true or false', self);
}

/**
 * Where the git mirrors and locks live when nothing says: $XDG_CACHE_HOME/d7y-build, else
 * $HOME/.cache/d7y-build. A relative XDG_CACHE_HOME is ignored, as the XDG spec says; a relative
 * HOME is refused, rather than putting the cache under whatever the working directory is.
 */
function defaultCacheDir(env: Env): { raw: string; from: string } {
  const xdg = nonEmpty(env.XDG_CACHE_HOME);
  if (xdg !== undefined && path.isAbsolute(xdg)) return { raw: path.join(xdg, 'd7y-build'), from: 'XDG_CACHE_HOME' };
  // Unset, HOME is the account's home directory; set, it must say where that is.
  const home = env.HOME ?? os.homedir();
  if (!path.isAbsolute(home)) {
    throw new UsageError(`HOME="${home}" is not an absolute path, so there is no cache directory`, {
      hint: "set HOME to your home directory, or D7Y_CACHE_DIR to an absolute path for d7y-build's cache",
    });
  }
  return { raw: path.join(home, '.cache', 'd7y-build'), from: 'HOME' };
}

const option = <T>(def: OptionDef<T>): OptionDef<T> => def;

/** An on/off flag: --<key>, D7Y_<KEY>=1|true|0|false, and `key: true|false` in the config files given. */
const switchOption = (fallback: boolean, files: readonly FileScope[] = ['user']): OptionDef<boolean> =>
  option<boolean>({ files, kind: 'boolean', what: 'true or false', examples: ['true', 'false'], parse: booleanOf, fallback });

/**
 * Every build option, once: where it may be set and how its value is read. Its flag, variable and
 * library option are named by option-names.ts, the config-file key is the key itself; relative
 * paths in a config file are taken from the file's directory, elsewhere from the working directory.
 */
export const OPTIONS = {
  commit: option<string | undefined>({ files: ['plugin'], kind: 'string', what: 'a branch, tag or SHA', examples: ['v2.1.0'], parse: asText }),
  repo: option<string>({
    files: ['plugin', 'user'],
    kind: 'string',
    what: 'a git URL or path',
    examples: [DEFAULT_REPO],
    parse: (raw, _at, base) => resolveRepo(text(raw), base),
    fallback: DEFAULT_REPO,
  }),
  type: option<PluginType>({
    files: ['plugin'],
    kind: 'type',
    what: 'a plugin type',
    examples: PLUGIN_TYPES,
    parse: (raw, at) => {
      const type = text(raw);
      if (!isPluginType(type)) {
        throw new UsageError(`unknown plugin type "${type}" (${settingName(at)})`, { hint: `${settingName(at)} takes one of ${PLUGIN_TYPES.join(', ')}` });
      }
      return type;
    },
    fallback: DEFAULT_PLUGIN_TYPE,
  }),
  name: option<string | undefined>({
    files: ['plugin'],
    kind: 'string',
    what: 'a plugin name',
    examples: ['myfs'],
    perPlugin: true,
    parse: asText,
  }),
  pluginsDir: option<string>({
    files: ['user'],
    kind: 'string',
    what: 'a directory',
    examples: [DEFAULT_PLUGINS_DIR],
    parse: pathFrom,
    fallback: DEFAULT_PLUGINS_DIR,
  }),
  out: option<string>({
    files: ['user'],
    kind: 'string',
    what: 'a directory',
    examples: [`./${DEFAULT_OUT_DIR}`],
    parse: pathFrom,
    fallback: DEFAULT_OUT_DIR,
  }),
  goImage: option<string | undefined>({
    files: ['plugin', 'user'],
    kind: 'string',
    what: 'an image (lower-case name)',
    examples: ['golang:1.23.5-bookworm', 'registry.example:5000/go/golang:1.23@sha256:<digest>'],
    quoted: true,
    parse: (raw, at, _base, self) => {
      if (!isImageReference(text(raw))) throw invalid(at, text(raw), 'is not an image reference', self);
      return text(raw);
    },
  }),
  tags: option<string[]>({
    files: ['plugin'],
    kind: 'list',
    what: 'build tags',
    examples: ['netgo,osusergo'],
    parse: (raw, at, _base, self) => {
      const tags = text(raw)
        .split(/[,\s]+/)
        .filter((t) => t !== '');
      const bad = tags.find((tag) => !BUILD_TAG.test(tag));
      if (bad !== undefined) {
        throw new UsageError(`${settingName(at)}: "${bad}" is not a build tag`, {
          hint: `build tags are letters, digits, "_", "-" and ".": ${setHint(at, self.what, [...self.examples])}`,
        });
      }
      return tags;
    },
    fallback: [],
  }),
  gcflags: option<string>({ files: ['plugin'], kind: 'string', what: 'go build -gcflags', examples: ['all=-N -l'], parse: quotable, fallback: '' }),
  trimpath: switchOption(true),
  race: switchOption(false),
  buildCommit: option<string | undefined>({ files: ['user'], kind: 'string', what: 'a stamp', examples: ['abc1234'], parse: quotable }),
  keep: switchOption(false),
  memory: option<number | undefined>({
    files: ['user'],
    kind: 'size',
    what: 'a memory size',
    examples: ['2g', '512m'],
    parse: sizeIn(RANGES.memory),
  }),
  cpus: option<number | undefined>({
    files: ['user'],
    kind: 'size',
    what: 'a number of CPUs',
    examples: ['2', '0.5'],
    parse: (raw, at, _base, self) => {
      const cpus = /^\s*\d*\.?\d+\s*$/.test(text(raw)) ? Number(text(raw)) : undefined;
      if (!inRange(cpus, RANGES.cpus)) throw invalid(at, text(raw), `is not a number of CPUs ${RANGES.cpus.text}`, self);
      // The engine takes CPUs in units of 1e-9.
      return Math.round(cpus * 1e9);
    },
  }),
  timeout: option<number | undefined>({
    files: ['user'],
    kind: 'size',
    what: 'a duration',
    examples: ['30m', '24h'],
    parse: durationIn(RANGES.timeout, true),
  }),
  maxContext: option<number>({
    files: ['user'],
    kind: 'size',
    what: 'a size',
    examples: ['200m'],
    parse: sizeIn(RANGES.maxContext),
    fallback: DEFAULT_MAX_CONTEXT,
  }),
  netrc: option<string | undefined>({ files: ['user'], kind: 'string', what: 'a netrc file', examples: ['/home/me/.netrc'], parse: pathFrom }),
  // Per call, like --netrc's file is: no config file points at registry passwords.
  registryAuth: option<string | undefined>({
    files: [],
    kind: 'string',
    what: 'a Docker config.json',
    examples: ['/run/secrets/registry.json'],
    parse: pathFrom,
  }),
  // A release job's choice, per call: no config file names the image it ships.
  image: option<string | undefined>({
    files: [],
    kind: 'string',
    what: 'an image name with a tag (lower-case name, no digest)',
    examples: ['registry.example:5000/d7y/dfget-plugins:v2.1.0', 'registry.example:5000/d7y/dfget-plugins:{ref}'],
    quoted: true,
    // The tag may hold {ref}, filled in per build (resolveSpec): checked as the reference of a ref "x".
    parse: (raw, at, _base, self) => {
      const ref = text(raw);
      const problem = placeholderProblem(ref);
      if (problem !== undefined) throw invalid(at, ref, problem, self);
      const filled = imageForRef(ref, 'x');
      if (!isImageReference(filled)) throw invalid(at, ref, 'is not an image reference', self);
      if (splitTaggedReference(filled) === undefined) throw invalid(at, ref, ref.includes('@') ? 'names a digest, not a tag' : 'has no tag', self);
      return ref;
    },
  }),
  push: switchOption(false, []),
  platform: option<TargetName[]>({
    files: ['plugin', 'user'],
    kind: 'string',
    what: 'a platform, or a comma list of them',
    examples: TARGET_NAMES,
    // A comma list makes a matrix of builds (matrix/spec.ts), one per platform; each build has one.
    parse: (raw, at) => {
      const values = [
        ...new Set(
          text(raw)
            .split(',')
            .map((v) => v.trim()),
        ),
      ];
      for (const value of values) {
        if (!isTargetName(value)) {
          throw new UsageError(`unknown platform "${value}" (${settingName(at)})`, {
            hint: `${settingName(at)} takes one of ${TARGET_NAMES.join(', ')}, or a comma list of them`,
          });
        }
      }
      return values as TargetName[];
    },
    fallback: [DEFAULT_TARGET],
  }),
  cacheDir: option<string>({
    files: ['user'],
    kind: 'string',
    what: 'an absolute path',
    examples: ['$HOME/.cache/d7y-build'],
    parse: (raw, at, base, self) => {
      // A config file's relative path is taken from its directory; a variable's would depend on the working directory.
      if (at.kind !== 'file' && !path.isAbsolute(text(raw))) throw invalid(at, text(raw), 'is not an absolute path', self);
      return path.resolve(base, text(raw));
    },
    fallback: defaultCacheDir,
  }),
  pingTimeout: option<number>({
    files: ['user'],
    kind: 'size',
    what: 'a duration',
    examples: [DEFAULT_PING_TIMEOUT],
    parse: durationIn(RANGES.pingTimeout),
    fallback: DEFAULT_PING_TIMEOUT,
  }),
  // A plugin whose init never returns would otherwise hold the build for ever.
  loadTimeout: option<number>({
    files: ['user'],
    kind: 'size',
    what: 'a duration',
    examples: [DEFAULT_LOAD_TIMEOUT],
    parse: durationIn(RANGES.loadTimeout),
    fallback: DEFAULT_LOAD_TIMEOUT,
  }),
} as const satisfies Record<keyof typeof BUILD_OPTION_NAMES, OptionDef<any>>; // eslint-disable-line @typescript-eslint/no-explicit-any

export type OptionKey = keyof typeof OPTIONS;
export type OptionValue<K extends OptionKey> = (typeof OPTIONS)[K] extends OptionDef<infer T> ? T : never;
export const OPTION_KEYS = Object.keys(OPTIONS) as OptionKey[];

/** goImage → D7Y_GO_IMAGE */
export function envName(key: OptionKey): string {
  return namedEnv(key);
}

/** goImage → --go-image; undefined for options without a flag. */
export function flagName(key: OptionKey): string | undefined {
  return namedFlag(key);
}

/** An option's value, where it came from, and how `d7y-build config` shows it. */
export interface Setting<T> {
  value: T;
  origin: Origin;
  shown: ShownValue;
}

/** The config files besides flags and variables: the plugin directories' and the user's. */
export interface ConfigLayers {
  plugin: ConfigFile[];
  user?: ConfigFile;
}

/** Resolves one option; pluginFiles instead of all the plugin directories' files (a name, per directory). */
export type Resolve = <K extends OptionKey>(key: K, pluginFiles?: ConfigFile[]) => Setting<OptionValue<K>>;

function isSet(value: unknown): value is RawValue | number {
  return value !== undefined && value !== null && !(typeof value === 'string' && value.trim() === '');
}

/**
 * The one precedence rule, for every option: its flag, else its D7Y_* variable, else the plugin
 * directories' config files, else the user's config file, else the default. Blank values count as
 * unset. Only the value that wins is read, so a bad value that a higher one hides fails nothing;
 * plugin files that set an option all count, and must agree on it.
 */
export function resolver(flags: object, env: Env, cwd: string, layers: ConfigLayers = { plugin: [] }): Resolve {
  const given = flags as Record<string, unknown>;
  const settle = (def: OptionDef<unknown>, raw: RawValue | number, at: Origin, base: string): Setting<unknown> => {
    const value = typeof raw === 'string' ? raw.trim() : typeof raw === 'number' ? String(raw) : raw;
    const parsed = def.parse(value, at, base, def);
    // Sizes and durations as written (2g, 30m); everything else as read (absolute paths, tag lists).
    return { value: parsed, origin: at, shown: def.kind === 'size' ? text(value) : ((parsed ?? null) as ShownValue) };
  };
  const fromFile = (def: OptionDef<unknown>, key: OptionKey, file: ConfigFile) =>
    settle(def, file.values[key] as RawValue | number, { kind: 'file', path: file.path, key, scope: file.scope }, path.dirname(file.path));

  return <K extends OptionKey>(key: K, pluginFiles?: ConfigFile[]): Setting<OptionValue<K>> => {
    const def = OPTIONS[key] as OptionDef<unknown>;
    const flag = given[key];
    if (flagName(key) !== undefined && isSet(flag)) {
      // --no-trimpath sets trimpath to false.
      const name = flag === false ? `--no-${flagName(key)!.slice(2)}` : flagName(key)!;
      return settle(def, flag as RawValue, { kind: 'flag', name }, cwd) as Setting<OptionValue<K>>;
    }
    const variable = env[envName(key)];
    if (isSet(variable)) return settle(def, variable, { kind: 'env', name: envName(key) }, cwd) as Setting<OptionValue<K>>;

    const plugin = (pluginFiles ?? (def.perPlugin ? [] : layers.plugin)).filter((f) => isSet(f.values[key])).map((f) => fromFile(def, key, f));
    for (const other of plugin.slice(1)) {
      if (JSON.stringify(other.value) !== JSON.stringify(plugin[0]!.value)) {
        const [a, b] = [plugin[0]!, other].map((s) => ({ file: (s.origin as { path: string }).path, shown: JSON.stringify(s.shown) }));
        throw new UsageError(`${a!.file} and ${b!.file} disagree on ${key}: ${a!.shown} and ${b!.shown}`, {
          hint: `plugins built together share one ${key}: set the same ${key} in both files, or build them apart${flagName(key) !== undefined ? `, or pass ${hintOption(key)} to choose` : ''}`,
        });
      }
    }
    if (plugin[0] !== undefined) return plugin[0] as Setting<OptionValue<K>>;
    if (layers.user !== undefined && isSet(layers.user.values[key])) {
      return fromFile(def, key, layers.user) as Setting<OptionValue<K>>;
    }

    if (def.fallback === undefined) return { value: undefined, origin: { kind: 'default' }, shown: null } as Setting<OptionValue<K>>;
    if (typeof def.fallback === 'function') {
      const computed = def.fallback(env);
      return settle(def, computed.raw, { kind: 'default', from: computed.from }, cwd) as Setting<OptionValue<K>>;
    }
    return settle(def, def.fallback, { kind: 'default' }, cwd) as Setting<OptionValue<K>>;
  };
}

/** Where a value came from, for messages that name it: D7Y_CACHE_DIR, HOME, /ci/config.yaml: cacheDir. */
function originName(at: Origin): string {
  return at.kind === 'default' ? (at.from ?? 'the default') : settingName(at);
}

/** Where the git mirrors and locks live, from the environment alone, and which variable said so. */
export function cacheDirFor(env: Env): { dir: string; origin: string } {
  const setting = resolver({}, env, '/')('cacheDir');
  return { dir: setting.value, origin: originName(setting.origin) };
}

/** How long the engine may take to answer its first request, from the environment alone: D7Y_PING_TIMEOUT, else DEFAULT_PING_TIMEOUT. */
export function pingTimeoutFor(env: Env): number {
  return resolver({}, env, '/')('pingTimeout').value;
}

/**
 * How long loading the plugins may take, in the host's `plugin` command and in the loader check,
 * from the environment alone: D7Y_LOAD_TIMEOUT, else DEFAULT_LOAD_TIMEOUT.
 */
export function loadTimeoutFor(env: Env): number {
  return resolver({}, env, '/')('loadTimeout').value;
}

/** What the config files say, for the options they may set: read by config-files.ts, passed in by the CLI. */
export interface ConfigInputs {
  /** The user's config file: where it is looked for and, when it exists, what it says. */
  user?: { path: string; file?: ConfigFile };
  /** A plugin directory's d7y-plugin.yaml (or .json), when it has one. */
  readPluginConfig?: (dir: string) => ConfigFile | undefined;
}

/** The options of a command that reads no plugin directory: flags, variables, the user's config file, defaults. */
function userResolver(flags: object, env: Env, cwd: string, config: ConfigInputs): Resolve {
  return resolver(flags, env, cwd, { plugin: [], user: config.user?.file });
}

/** Every command that reads Dragonfly needs a commit. */
function commitOf(setting: Setting<string | undefined>): string {
  if (setting.value === undefined) {
    throw new UsageError('no Dragonfly commit given', {
      hint: `pass ${hintOption('commit', '<branch|tag|sha>')} (or set D7Y_COMMIT, or commit in the plugin's d7y-plugin.yaml), e.g. ${hintOption('commit', 'v2.1.0')}`,
    });
  }
  return setting.value;
}

/** What build limits the options give, with only the limits set. */
function limitsOf(opt: Resolve): Limits {
  const limits: Limits = {};
  const memory = opt('memory').value;
  const cpus = opt('cpus').value;
  const timeout = opt('timeout').value;
  if (memory !== undefined) limits.memoryBytes = memory;
  if (cpus !== undefined) limits.nanoCpus = cpus;
  if (timeout !== undefined) limits.timeoutMs = timeout;
  return limits;
}

/** The plugin directories' config files, by directory, and the resolver over them and the user's. */
function buildResolver(dirs: string[], flags: BuildFlags, env: Env, cwd: string, config: ConfigInputs) {
  const abs = dirs.map((dir) => path.resolve(cwd, dir));
  const files = abs.map((dir) => config.readPluginConfig?.(dir));
  const opt = resolver(flags, env, cwd, { plugin: files.filter((f): f is ConfigFile => f !== undefined), user: config.user?.file });
  /** A plugin's explicit name: --name or D7Y_NAME for a single directory, else its own config file's. */
  const nameOf = (i: number) => opt('name', files[i] === undefined ? [] : [files[i]]);
  return { abs, files, opt, nameOf };
}

/** --name and D7Y_NAME name one plugin. */
function checkOneName(opt: Resolve, dirs: string[]): void {
  const name = opt('name');
  if (dirs.length > 1 && name.value !== undefined) {
    throw new UsageError(`${settingName(name.origin)} applies to one plugin, but several directories were given`, {
      hint: `${dropHint(name.origin)}: each plugin takes the name its d7y-plugin.yaml or DragonflyPluginInit gives, else its directory's`,
    });
  }
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
  /** The config files; none by default. */
  config: ConfigInputs = {},
): BuildSpec {
  const { abs, opt, nameOf } = buildResolver(dirs, flags, env, cwd, config);
  const ref = commitOf(opt('commit'));
  const type = opt('type').value;

  if (dirs.length === 0) {
    throw new UsageError('no plugin directory given', { hint: 'pass the plugin source directory: d7y-build --commit <ref> ./myplugin' });
  }
  checkOneName(opt, dirs);

  const plugins = abs.map((dir, i) => {
    const explicit = nameOf(i);
    const name = pluginName(type, path.basename(dir), explicit.value, readMeta(dir), dirs.length > 1, explicit.origin);
    return { dir, name, file: pluginFileName(type, name) };
  });
  const seen = new Map<string, string>();
  for (const p of plugins) {
    const other = seen.get(p.name);
    if (other !== undefined) {
      const hint =
        fixedName(type) === undefined ? 'give each plugin directory its own name' : `a ${type} host loads exactly one plugin: build one directory per call`;
      throw new UsageError(`${other} and ${p.dir} would both be ${p.file}`, { hint });
    }
    seen.set(p.name, p.dir);
  }

  const outDir = opt('out').value;
  const pluginsDir = opt('pluginsDir').value;
  checkDirsApart(
    outDir,
    pluginsDir,
    plugins.map((p) => p.dir),
  );

  const image = opt('image');
  const push = opt('push');
  if (push.value && image.value === undefined) {
    throw new UsageError(`${settingName(push.origin)} pushes the runtime image, but no --image names it`, {
      hint: `pass ${hintOption('image', '<name:tag>')} too, e.g. ${hintOption('image', 'registry.example:5000/d7y/dfget-plugins:v2.1.0')} ${hintOption('push')}`,
    });
  }

  const targets = opt('platform');
  if (targets.value.length > 1) {
    throw new UsageError(`${settingName(targets.origin)} names ${targets.value.length} platforms, and one build has one`, {
      hint: 'build them as a matrix (d7y-build on the command line, or buildMatrix in the library), or name one platform',
    });
  }
  const target = { value: targets.value[0]!, origin: targets.origin };
  const cache = opt('cacheDir');
  return {
    ref,
    repo: opt('repo').value,
    type,
    plugins,
    pluginsDir,
    outDir,
    goImage: opt('goImage').value,
    toolchain: {
      trimpath: opt('trimpath').value,
      tags: opt('tags').value,
      gcflags: opt('gcflags').value,
      race: opt('race').value,
    },
    buildCommit: opt('buildCommit').value,
    buildTime: buildTimeOf(flags.buildTime, env, now),
    sourceDateEpoch: sourceDateEpochOf(flags.buildTime, env),
    noCache: noCacheOf(flags.cache, env),
    keep: opt('keep').value,
    cacheDir: cache.value,
    cacheDirOrigin: originName(cache.origin),
    goEnv: goEnvOf(env),
    limits: limitsOf(opt),
    maxContextBytes: opt('maxContext').value,
    netrcFile: opt('netrc').value,
    registryAuthFile: opt('registryAuth').value,
    pingTimeoutMs: opt('pingTimeout').value,
    loadTimeoutMs: opt('loadTimeout').value,
    platform: ENGINE_PLATFORM,
    target: target.value,
    image: image.value === undefined ? undefined : imageOfBuild(image.value, ref),
    push: push.value,
  };
}

/** --image for a build of ref: its {ref} filled in, the tag no longer than a registry takes. */
function imageOfBuild(template: string, ref: string): string {
  const image = imageForRef(template, ref);
  // The template has a tag (its parse checked), and a ref fills it in with no ":".
  checkTagLength(template, `the tag for ${ref}`, image.slice(image.lastIndexOf(':') + 1));
  return image;
}

/** What main.buildCommit is stamped with: `--build-commit`, else the short SHA of the Dragonfly commit. */
export function buildCommitFor(spec: Pick<BuildSpec, 'buildCommit'>, shortSha: string): string {
  return spec.buildCommit ?? shortSha;
}

/** `d7y-build config`: every option's effective value and where it came from, and each plugin directory's name. */
export interface ConfigSpec {
  /** The user's config file: where it is looked for, and whether it is there. */
  userConfig: { path: string; found: boolean } | null;
  plugins: Array<{ dir: string; config: string | null; name: string; nameFrom: string }>;
  options: Record<OptionKey, { value: ShownValue; source: string; origin: Origin; flag: string | null; env: string }>;
}

/**
 * What a build of these directories would take, without needing a commit: the same resolution as
 * resolveSpec, each option with its source.
 */
export function resolveConfigSpec(
  dirs: string[],
  flags: BuildFlags,
  env: Env,
  cwd: string,
  readMeta: (dir: string) => PluginMeta = () => ({}),
  config: ConfigInputs = {},
): ConfigSpec {
  const { abs, files, opt, nameOf } = buildResolver(dirs, flags, env, cwd, config);
  checkOneName(opt, dirs);
  const options = Object.fromEntries(
    OPTION_KEYS.map((key) => {
      const setting = opt(key);
      return [key, { value: setting.shown, source: sourceText(setting.origin), origin: setting.origin, flag: flagName(key) ?? null, env: envName(key) }];
    }),
  ) as ConfigSpec['options'];
  const type = opt('type').value;
  const plugins = abs.map((dir, i) => {
    const explicit = nameOf(i);
    const meta = readMeta(dir);
    const name = pluginName(type, path.basename(dir), explicit.value, meta, dirs.length > 1, explicit.origin);
    const nameFrom =
      explicit.origin.kind !== 'default'
        ? sourceText(explicit.origin)
        : fixedName(type) !== undefined
          ? `fixed for ${type} plugins`
          : meta.name !== undefined
            ? 'DragonflyPluginInit'
            : 'the directory name';
    return { dir, config: files[i]?.path ?? null, name, nameFrom };
  });
  return { userConfig: config.user === undefined ? null : { path: config.user.path, found: config.user.file !== undefined }, plugins, options };
}

/** `d7y-build install`: prebuilt plugins, the host they must load into, and where they go. */
export interface InstallFlags {
  host?: string;
  pluginsDir?: string;
  goImage?: string;
  keep?: boolean;
  config?: string;
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

export function resolveInstallSpec(files: string[], flags: InstallFlags, env: Env, cwd: string, config: ConfigInputs = {}): InstallSpec {
  const host = nonEmpty(flags.host);
  if (host === undefined) {
    throw new UsageError('no host binary given', {
      hint: `pass ${hintOption('host', `<path to the ${HOST_LIST} the plugins must load into>`)}`,
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
  const opt = userResolver(flags, env, cwd, config);
  const cache = opt('cacheDir');
  return {
    host: path.resolve(cwd, host),
    plugins,
    pluginsDir: opt('pluginsDir').value,
    goImage: opt('goImage').value,
    keep: opt('keep').value,
    goEnv: goEnvOf(env),
    limits: {},
    cacheDir: cache.value,
    cacheDirOrigin: originName(cache.origin),
    pingTimeoutMs: opt('pingTimeout').value,
    loadTimeoutMs: opt('loadTimeout').value,
    platform: ENGINE_PLATFORM,
  };
}

/** `d7y-build inspect-api`: the plugin type and the Dragonfly commit whose interface is read. */
export interface ApiFlags {
  commit?: string;
  repo?: string;
  type?: string;
  goImage?: string;
  config?: string;
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

export function resolveApiSpec(flags: ApiFlags, env: Env, cwd: string, config: ConfigInputs = {}): ApiSpec {
  const opt = userResolver(flags, env, cwd, config);
  const type = opt('type');
  // The question asked: a type no flag or variable names is none, not the build's default.
  if (type.origin.kind === 'default') {
    throw new UsageError('no plugin type given', { hint: `pass ${hintOption('type')} (or set D7Y_TYPE), one of ${PLUGIN_TYPES.join(', ')}` });
  }
  return {
    ref: commitOf(opt('commit')),
    repo: opt('repo').value,
    type: type.value,
    goImage: opt('goImage').value,
    cacheDir: opt('cacheDir').value,
    goEnv: goEnvOf(env),
    limits: {},
    keep: false,
    pingTimeoutMs: opt('pingTimeout').value,
    platform: ENGINE_PLATFORM,
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

export function resolveInitSpec(dir: string, flags: InitFlags, env: Env, cwd: string, config: ConfigInputs = {}): InitSpec {
  const api = resolveApiSpec(flags, env, cwd, config);
  const abs = path.resolve(cwd, dir);
  const explicit = userResolver(flags, env, cwd, config)('name');
  return { ...api, dir: abs, name: pluginName(api.type, path.basename(abs), explicit.value, {}, false, explicit.origin) };
}

/** `d7y-build verify`: the host and the plugin files (or, with --provenance, a build's --out), as absolute paths. */
export interface VerifySpec {
  /** Undefined only with provenance: the host the provenance names. */
  host: string | undefined;
  plugins: string[];
  /** --provenance: the file or directory given, absolute; true: the provenance.intoto.json of the set. */
  provenance?: string | true;
}

export function resolveVerifySpec(files: string[], flags: { host?: string; provenance?: string | boolean }, cwd: string): VerifySpec {
  const host = nonEmpty(flags.host);
  const provenance = typeof flags.provenance === 'string' ? path.resolve(cwd, flags.provenance) : flags.provenance === true ? true : undefined;
  return {
    host: host === undefined ? undefined : path.resolve(cwd, host),
    plugins: files.map((f) => path.resolve(cwd, f)),
    ...(provenance === undefined ? {} : { provenance }),
  };
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
  config?: string;
}

export interface PruneSpec {
  all: boolean;
  /** --plugins-dir, and --out with its bin/ and plugins/. */
  dirs: string[];
  pingTimeoutMs: number;
}

export function resolvePruneSpec(flags: PruneFlags, env: Env, cwd: string, config: ConfigInputs = {}): PruneSpec {
  const opt = userResolver(flags, env, cwd, config);
  const out = opt('out').value;
  return {
    all: flags.all ?? false,
    dirs: [opt('pluginsDir').value, ...['bin', 'plugins', '.'].map((d) => path.join(out, d))],
    pingTimeoutMs: opt('pingTimeout').value,
  };
}

/** `d7y-build cache <action>`: its options, and where the caches are. */
export interface CacheFlags {
  all?: boolean;
  maxSize?: string;
  goImage?: string;
  platform?: string;
}

/** Which builder images an export takes: those on this Go image, for these platforms; unset: every one. */
export interface ExportImageFilter {
  goImage?: string;
  platforms?: TargetName[];
}

export type CacheAction =
  | { action: 'ls' }
  | { action: 'prune'; all: boolean; maxSizeBytes?: number }
  | { action: 'export'; target: string; images: ExportImageFilter }
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
    case 'export': {
      // The flags alone: D7Y_GO_IMAGE and D7Y_PLATFORM choose what a build uses, not what an export takes.
      const opt = resolver(flags, {}, cwd);
      const images: ExportImageFilter = {
        ...(isSet(flags.goImage) ? { goImage: opt('goImage').value } : {}),
        ...(isSet(flags.platform) ? { platforms: opt('platform').value } : {}),
      };
      return { action, target: path.resolve(cwd, file!), images, ...common };
    }
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
  const opt = resolver(flags, env, cwd);
  return {
    ref: opt('commit').value,
    repo: opt('repo').value,
    goImage: opt('goImage').value,
    cache: settle(() => cacheDirFor(env)),
    sourceDateEpoch: settle(() => parseSourceDateEpoch(env.SOURCE_DATE_EPOCH)),
    pingTimeoutMs: settle(() => pingTimeoutFor(env)),
    goEnv: goEnvOf(env),
    platform: ENGINE_PLATFORM,
  };
}
