/** What d7y-build reads from a go.mod: the module path and the Go it asks for, and the Go image that follows. Pure. */
import goReleases from './go-releases.json';

export interface GoMod {
  module?: string;
  /** The `go` line, e.g. "1.23.0" or "1.21". */
  go?: string;
  /** The `toolchain` line without its "go" prefix, e.g. "1.23.5". */
  toolchain?: string;
}

export function parseGoMod(text: string): GoMod {
  const mod: GoMod = {};
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\/\/.*$/, '').trim();
    const [keyword, value] = line.split(/\s+/, 2);
    if (value === undefined) continue;
    const unquoted = value.replace(/^"(.*)"$/, '$1');
    if (keyword === 'module') mod.module = unquoted;
    else if (keyword === 'go') mod.go = unquoted;
    else if (keyword === 'toolchain') mod.toolchain = unquoted.replace(/^go/, '');
  }
  return mod;
}

/**
 * A Go version as the go command orders them (cmd/go/internal/gover): "1.21" (a language version)
 * < "1.21rc1" < "1.21.0" < "1.21.1". Before Go 1.21 a release's first version was named like the
 * language version ("go1.20"), so "1.20" is also that release.
 */
export interface GoVersion {
  major: number;
  minor: number;
  /** Absent for a language version or a prerelease ("1.20", "1.21rc2"). */
  patch?: number;
  /** Prerelease kind; "" for releases and language versions. Ordered "" < alpha < beta < rc. */
  kind: '' | 'alpha' | 'beta' | 'rc';
  pre: number;
}

const GO_VERSION = /^(?:go)?(\d+)\.(\d+)(?:\.(\d+)|(alpha|beta|rc)(\d+))?/;

/** "go1.23.5", "1.20", "1.21rc2" → its parts; undefined when not a version. */
export function parseGoVersion(version: string): GoVersion | undefined {
  const m = GO_VERSION.exec(version.trim());
  if (!m) return undefined;
  return {
    major: Number(m[1]),
    minor: Number(m[2]),
    ...(m[3] === undefined ? {} : { patch: Number(m[3]) }),
    kind: (m[4] ?? '') as GoVersion['kind'],
    pre: Number(m[5] ?? 0),
  };
}

const KIND_ORDER = ['', 'alpha', 'beta', 'rc'];

/** Negative, zero or positive as a is older than, the same as or newer than b, in the go command's order. */
export function compareGoVersions(a: string, b: string): number {
  const va = parseGoVersion(a);
  const vb = parseGoVersion(b);
  if (!va || !vb) throw new Error(`not Go versions: ${a}, ${b}`);
  return (
    va.major - vb.major ||
    va.minor - vb.minor ||
    (va.patch ?? -1) - (vb.patch ?? -1) ||
    KIND_ORDER.indexOf(va.kind) - KIND_ORDER.indexOf(vb.kind) ||
    va.pre - vb.pre
  );
}

/** A form of version d7y-build can name an image and a release by: 1.23.5, 1.20, 1.21rc2. */
const RELEASE_FORM = /^\d+\.\d+(?:\.\d+|(?:alpha|beta|rc)\d+)?$/;

/**
 * For each Go minor whose series has ended: its last patch release and the newest Debian release
 * its official images were built on (Go 1.18 and older never had bookworm images). The one place
 * these facts live: scripts/go-image.sh reads the same file.
 */
export const GO_RELEASES: Readonly<Record<string, { latest: string; debian: string }>> = goReleases;

export interface GoImageChoice {
  /** The image to build with. */
  image: string;
  /** Why that image, for manifest.json and --json: "--go-image", "go.mod toolchain go1.23.5", … */
  reason: string;
  /**
   * The Go release go.mod asks for, as scripts/go-image.sh takes it (a full version), for hints
   * about offline stand-ins; undefined when go.mod names none d7y-build can tell.
   */
  release?: string;
}

interface GoModRelease {
  release: string;
  debian: string;
  reason: string;
}

/**
 * The concrete Go release go.mod asks for. A toolchain line names one. From Go 1.21 on, a go line
 * with a patch ("1.23.8") is the minimum toolchain, itself a release. A go line without one ("1.20",
 * "1.17", also "1.21") is a language version: any release of that minor fits, so the series' last
 * patch is taken. Not the moving tag golang:1.20-bookworm, which does exist: a concrete release
 * names the same Go on every machine, today and later, and scripts/go-image.sh can build it offline.
 * For a minor whose last patch is not known yet, its first release (1.24.0) is taken: it exists, and
 * from Go 1.21 on every minor's first release is <minor>.0.
 */
function goModRelease(mod: GoMod): GoModRelease | undefined {
  const version = mod.toolchain ?? mod.go;
  const parsed = version !== undefined && RELEASE_FORM.test(version) ? parseGoVersion(version) : undefined;
  if (version === undefined || parsed === undefined) return undefined;
  const line = mod.toolchain !== undefined ? `toolchain go${version}` : `go ${version}`;
  const minor = `${parsed.major}.${parsed.minor}`;
  const known = GO_RELEASES[minor];
  const debian = known?.debian ?? 'bookworm';
  if (parsed.patch !== undefined || parsed.kind !== '') return { release: version, debian, reason: `go.mod ${line}` };
  if (known !== undefined) {
    return { release: known.latest, debian, reason: `go.mod ${line} (language version): latest ${minor} patch, ${known.latest}` };
  }
  if (compareGoVersions(minor, '1.21') < 0) return undefined;
  return { release: `${minor}.0`, debian, reason: `go.mod ${line} (language version): first ${minor} release, ${minor}.0` };
}

/**
 * The Go image to build with: --go-image as given, else the official image of the release go.mod
 * asks for (see goModRelease), as users pull it: golang:1.20.14-bookworm. Undefined when there is no flag and go.mod names no release.
 */
export function chooseGoImage(mod: GoMod, flag: string | undefined): GoImageChoice | undefined {
  const wanted = goModRelease(mod);
  if (flag !== undefined) return { image: flag, reason: '--go-image', release: wanted?.release };
  if (wanted === undefined) return undefined;
  const debianNote = wanted.debian === 'bookworm' ? '' : ` on Debian ${wanted.debian} (no bookworm images of Go ${wanted.release})`;
  return { image: `golang:${wanted.release}-${wanted.debian}`, reason: `${wanted.reason}${debianNote}`, release: wanted.release };
}

/** The image scripts/go-image.sh builds for a release, and the command that builds it. */
export function offlineGoImage(release: string): { image: string; command: string } {
  return { image: `d7y-build/golang:${release}-bookworm`, command: `scripts/go-image.sh ${release}` };
}

/** The release in `go version` output: "go version go1.23.5 linux/amd64" → "go1.23.5 linux/amd64". */
export function parseGoVersionOutput(output: string): { version: string; platform: string } | undefined {
  const m = /\bgo version (go\S+) (\S+)/.exec(output);
  return m ? { version: m[1]!, platform: m[2]! } : undefined;
}
