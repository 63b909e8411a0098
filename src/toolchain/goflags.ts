/**
 * The `go build` arguments for the host and the plugins. The toolchain settings are the same for
 * both, by construction: plugin.Open refuses a plugin whose shared packages were compiled with
 * other -trimpath, -tags, -gcflags or -race settings. Pure.
 */
import { compareGoVersions } from './gomod';

export interface ToolchainSettings {
  trimpath: boolean;
  tags: string[];
  /** Passed to -gcflags as is, e.g. "all=-N -l"; empty for none. */
  gcflags: string;
  race: boolean;
}

/** Build tags as the go command accepts them in -tags. */
export const BUILD_TAG = /^[A-Za-z0-9_.-]+$/;

export const VERSION_PKG = 'd7y.io/dragonfly/v2/version';

/**
 * What the build uses that older Go lacks, by the version of the image's Go ("go1.17.13").
 * Everything else it passes (-trimpath: Go 1.13, `go list -deps` and `go mod edit`: Go 1.11,
 * -buildmode=plugin, -gcflags=all=…) is older than any Go that Dragonfly v2 asks for (1.15).
 */
export interface GoFeatures {
  /** -buildvcs (Go 1.18): an unknown flag in GOFLAGS stops every go command of older Go. */
  buildvcs: boolean;
  /** `go work` (Go 1.18): how plugins with their own go.mod are built with the pinned Dragonfly. */
  workspaces: boolean;
}

export function goFeatures(goVersion: string): GoFeatures {
  const since118 = compareGoVersions(goVersion, '1.18') >= 0;
  return { buildvcs: since118, workspaces: since118 };
}

/**
 * The environment of every go command in the build container. -buildvcs=false: the build stamps its
 * own version facts (-ldflags -X); VCS stamping stays off whatever the container holds, so the
 * output depends on the sources alone. Set per command, not in the image: Go before 1.18 refuses it.
 */
export function goCommandEnv(goVersion: string): Record<string, string> {
  return goFeatures(goVersion).buildvcs ? { GOFLAGS: '-buildvcs=false' } : {};
}

/** The arguments host and plugin share, in a stable order. */
export function sharedGoArgs(settings: ToolchainSettings): string[] {
  const args: string[] = [];
  if (settings.trimpath) args.push('-trimpath');
  if (settings.tags.length > 0) args.push(`-tags=${settings.tags.join(',')}`);
  if (settings.gcflags !== '') args.push(`-gcflags=${settings.gcflags}`);
  if (settings.race) args.push('-race');
  return args;
}

/**
 * One `-X name=value` for -ldflags. The go command splits -ldflags into fields on spaces, honouring
 * single or double quotes around a field (cmd/internal/quoted), so a value with spaces is quoted.
 */
export function ldflagsX(name: string, value: string): string {
  const assignment = `${name}=${value}`;
  if (!/[\s'"]/.test(assignment)) return `-X ${assignment}`;
  if (!assignment.includes('"')) return `-X "${assignment}"`;
  if (!assignment.includes("'")) return `-X '${assignment}'`;
  throw new Error(`cannot quote ${JSON.stringify(value)} for -ldflags: it holds both kinds of quote`);
}

/**
 * The `-X name=value` assignments of an -ldflags string, as the go command splits it: fields on
 * spaces, a field in single or double quotes taken whole (cmd/internal/quoted). The inverse of
 * ldflagsX; other flags are skipped.
 */
export function ldflagsAssignments(ldflags: string): Record<string, string> {
  const fields = [...ldflags.matchAll(/"([^"]*)"|'([^']*)'|(\S+)/g)].map((m) => m[1] ?? m[2] ?? m[3]!);
  const out: Record<string, string> = {};
  for (let i = 0; i < fields.length - 1; i++) {
    if (fields[i] !== '-X') continue;
    const assignment = fields[++i]!;
    const eq = assignment.indexOf('=');
    if (eq > 0) out[assignment.slice(0, eq)] = assignment.slice(eq + 1);
  }
  return out;
}

/** True when ldflagsX can carry the value. */
export function ldflagsQuotable(value: string): boolean {
  return !(value.includes('"') && value.includes("'"));
}

export interface HostStamp {
  gitCommit: string;
  buildTime: string;
  /** As upstream's hack/build.sh records it: `go version` without "go version ", e.g. "go1.23.5 linux/amd64". */
  goVersion: string;
}

/** -ldflags for the host: the version variables upstream's hack/build.sh stamps. */
export function hostLdflags(stamp: HostStamp, settings: ToolchainSettings): string {
  return [
    ldflagsX(`${VERSION_PKG}.GitCommit`, stamp.gitCommit),
    ldflagsX(`${VERSION_PKG}.BuildTime`, stamp.buildTime),
    ldflagsX(`${VERSION_PKG}.Gotags`, settings.tags.length > 0 ? settings.tags.join(',') : 'none'),
    ldflagsX(`${VERSION_PKG}.GoVersion`, stamp.goVersion),
    ldflagsX(`${VERSION_PKG}.Gogcflags`, settings.gcflags !== '' ? settings.gcflags : 'none'),
  ].join(' ');
}

/** -ldflags for a plugin: main.buildCommit and main.buildTime, as upstream's plugin-builder stamps. */
export function pluginLdflags(buildCommit: string, buildTime: string): string {
  return [ldflagsX('main.buildCommit', buildCommit), ldflagsX('main.buildTime', buildTime)].join(' ');
}

/** SOURCE_DATE_EPOCH (seconds) or now, as RFC 3339 UTC with second precision: 2024-01-02T03:04:05Z. */
export function buildTimestamp(sourceDateEpoch: number | undefined, now: Date = new Date()): string {
  const date = sourceDateEpoch === undefined ? now : new Date(sourceDateEpoch * 1000);
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}
