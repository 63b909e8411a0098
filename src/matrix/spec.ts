/**
 * What a build command line asks for: one build, as always, or a matrix of builds, one per commit
 * (--commit a,b or --matrix <file>) and platform. Each cell is a BuildSpec of its own, resolved as
 * a build of that one commit would be. With several cells, each writes under its own directory of
 * --out and none installs: one plugins directory holds one build. Also the cells alone, for
 * `d7y-build matrix`, which prints them for a CI system. Pure but for reading the matrix file.
 */
import path from 'node:path';
import { envName, resolveSpec, resolver, splitTaggedReference, type BuildFlags, type BuildSpec, type ConfigInputs } from '../config';
import type { ConfigFile } from '../config-files';
import { UsageError } from '../errors';
import { dropHint, settingName } from '../origin';
import type { PluginMeta } from '../plugin-meta';
import { expandCells, refList, type MatrixCell, type MatrixEntry } from './cells';
import { readMatrixFile } from './file';

/** The flags a matrix adds to a build's. */
export interface MatrixFlags {
  /** A matrix file: the commits, each with its Go image and plugins. */
  matrix?: string;
  /** Stop at the first failed cell; the rest are skipped. */
  failFast?: boolean;
}

export interface MatrixSpec {
  /** --out: the cells write under it, and matrix.json goes in it. */
  outDir: string;
  cells: Array<{ cell: MatrixCell; spec: BuildSpec }>;
  failFast: boolean;
  /**
   * --image for one commit on several platforms: each cell builds (and with --push pushes) the
   * image of its platform at <tag>-<os>-<arch>; with push, ref becomes an index of them all.
   */
  image?: { ref: string; repository: string; tag: string; push: boolean; registryAuthFile: string | undefined };
}

/** The longest tag a registry takes (the distribution spec's [A-Za-z0-9_][A-Za-z0-9._-]{0,127}). */
const MAX_TAG = 128;

/** The tag of one platform's image beside the index: v2.1.0 → v2.1.0-linux-arm64. Pure. */
export function platformImageRef(repository: string, tag: string, platform: string): string {
  return `${repository}:${tag}-${platform.replace('/', '-')}`;
}

type Env = Record<string, string | undefined>;

/** Settings as a build resolves them: flag, variable, the plugin directories' files, the user's file. */
function settingsOf(dirs: string[], flags: object, env: Env, cwd: string, config: ConfigInputs) {
  const pluginFiles = dirs.map((d) => config.readPluginConfig?.(path.resolve(cwd, d))).filter((f): f is ConfigFile => f !== undefined);
  return resolver(flags, env, cwd, { plugin: pluginFiles, user: config.user?.file });
}

/** The commits of a matrix file, or of a comma list; a file and --commit at once is ambiguous. */
function entriesOf(commit: string | undefined, file: string | undefined, commitFlag: string | undefined, cwd: string): MatrixEntry[] {
  if (file === undefined) return refList(commit ?? '').map((ref) => ({ ref }));
  if (commitFlag !== undefined) {
    throw new UsageError('--commit and --matrix both name the commits', {
      hint: 'list the commits in the matrix file, or pass --commit v2.1.0,v2.1.1 without --matrix',
    });
  }
  return readMatrixFile(path.resolve(cwd, file));
}

/**
 * The build or the matrix the command line asks for. A single commit without --matrix is a build
 * exactly as before; so is a matrix of one cell.
 */
export function resolveBuildPlan(
  dirs: string[],
  flags: BuildFlags & MatrixFlags,
  env: Env,
  cwd: string,
  now: Date,
  readMeta: (dir: string) => PluginMeta,
  config: ConfigInputs,
): { spec: BuildSpec } | { matrix: MatrixSpec } {
  const settings = settingsOf(dirs, flags, env, cwd, config);
  const platforms = settings('platform').value;
  // Each cell's spec is resolved as a build of its one commit on its one platform would be.
  const specOf = (entry: MatrixEntry, platform: string) =>
    resolveSpec(
      entry.plugins ?? dirs,
      { ...flags, commit: entry.ref, goImage: entry.goImage ?? flags.goImage, ...(platforms.length > 1 ? { platform } : {}) },
      env,
      cwd,
      now,
      readMeta,
      config,
    );
  let entries: MatrixEntry[];
  if (flags.matrix === undefined) {
    const ref = settings('commit').value;
    // No commit at all: resolveSpec says so, as for any build.
    if (ref === undefined || (!ref.includes(',') && platforms.length === 1)) return { spec: resolveSpec(dirs, flags, env, cwd, now, readMeta, config) };
    entries = refList(ref).map((r) => ({ ref: r }));
  } else {
    entries = entriesOf(flags.commit, flags.matrix, flags.commit, cwd);
  }
  const cells = expandCells(entries, platforms);
  const specs = cells.map((cell) => specOf(cell, cell.platform));
  const first = specs[0]!;
  if (cells.length === 1) return { spec: first };

  const pluginsDir = resolver(flags, env, cwd, { plugin: [], user: config.user?.file })('pluginsDir');
  if (pluginsDir.origin.kind !== 'default') {
    throw new UsageError(`${settingName(pluginsDir.origin)} installs one build, but the matrix has ${cells.length} cells`, {
      hint: `${dropHint(pluginsDir.origin)}: each cell's plugins are written to <out>/<commit>/<platform>/plugins/; build one commit with ${settingName(pluginsDir.origin)} to install it`,
    });
  }
  const image = first.image === undefined ? undefined : platformImages(first, cells);
  const imageOf = (cell: MatrixCell) => (image === undefined ? {} : { image: platformImageRef(image.repository, image.tag, cell.platform) });
  return {
    matrix: {
      outDir: first.outDir,
      cells: cells.map((cell, i) => ({ cell, spec: { ...specs[i]!, outDir: path.join(first.outDir, cell.dir), pluginsDir: undefined, ...imageOf(cell) } })),
      failFast: flags.failFast ?? false,
      ...(image === undefined ? {} : { image }),
    },
  };
}

/**
 * --image over a matrix: one commit's platforms, each an image of its own beside the tag --image
 * names, which --push makes an index of them. Several commits would need several such tags.
 */
function platformImages(first: BuildSpec, cells: MatrixCell[]): NonNullable<MatrixSpec['image']> {
  const ref = first.image!;
  const commits = new Set(cells.map((c) => c.ref));
  if (commits.size > 1) {
    throw new UsageError(`--image names one image, but the matrix has ${commits.size} commits`, {
      hint: 'build the runtime image of one commit at a time (on one platform or several): d7y-build --commit <ref> --image <name:tag>',
    });
  }
  const { repository, tag } = splitTaggedReference(ref)!;
  const longest = platformImageRef(repository, tag, cells.map((c) => c.platform).sort((a, b) => b.length - a.length)[0]!);
  if (longest.length - repository.length - 1 > MAX_TAG) {
    throw new UsageError(
      `--image ${ref}: the tag of a platform's image, ${longest.slice(repository.length + 1)}, is longer than a registry takes (${MAX_TAG})`,
      {
        hint: 'shorten the tag of --image',
      },
    );
  }
  return { ref, repository, tag, push: first.push, registryAuthFile: first.registryAuthFile };
}

/** `d7y-build matrix`: the CI system, and the cells of the commits and plugin directories given. */
export interface CiMatrixSpec {
  format: CiFormat;
  cells: CiCell[];
}

export const CI_FORMATS = ['github', 'gitlab'] as const;
export type CiFormat = (typeof CI_FORMATS)[number];

/** One cell as a CI job runs it: `d7y-build --commit <commit> --out <out> [--go-image <goImage>] <plugins…>`. */
export interface CiCell {
  commit: string;
  platform: string;
  /** Relative to the working directory, as the job passes it to --out. */
  out: string;
  goImage?: string;
  /** The plugin directories, relative to the working directory; absent when none were given. */
  plugins?: string[];
}

export interface CiMatrixFlags {
  commit?: string;
  platform?: string;
  matrix?: string;
  out?: string;
  config?: string;
}

/** What a path is called from cwd: relative when inside it, else absolute. */
function fromCwd(cwd: string, p: string): string {
  const rel = path.relative(cwd, p);
  return rel === '' ? '.' : rel.startsWith('..') ? p : rel;
}

/**
 * The cells `d7y-build matrix` prints: the same commits, platforms and directories a build of the
 * same flags would run, each with what its own build needs on the command line. The commit is taken
 * as a build takes it (flag, variable, the plugin directories' files).
 */
export function resolveCiCells(dirs: string[], flags: CiMatrixFlags, env: Env, cwd: string, config: ConfigInputs): CiCell[] {
  const opt = settingsOf(dirs, flags, env, cwd, config);
  const commit = flags.matrix === undefined ? opt('commit').value : undefined;
  if (flags.matrix === undefined && commit === undefined) {
    throw new UsageError('no Dragonfly commit given', { hint: `pass --commit v2.1.0,v2.1.1 (or set ${envName('commit')}), or --matrix <file>` });
  }
  const entries = entriesOf(commit, flags.matrix, flags.commit, cwd);
  const cells = expandCells(entries, opt('platform').value);
  const out = opt('out').value;
  return cells.map((cell) => ({
    commit: cell.ref,
    platform: cell.platform,
    out: fromCwd(cwd, cells.length === 1 ? out : path.join(out, cell.dir)),
    ...(cell.goImage === undefined ? {} : { goImage: cell.goImage }),
    ...((cell.plugins ?? dirs).length === 0 ? {} : { plugins: (cell.plugins ?? dirs).map((d) => fromCwd(cwd, path.resolve(cwd, d))) }),
  }));
}
