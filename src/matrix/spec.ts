/**
 * What a build command line asks for: one build, as always, or a matrix of builds, one per commit
 * (--commit a,b or --matrix <file>) and platform. Each cell is a BuildSpec of its own, resolved as
 * a build of that one commit would be. With several cells, each writes under its own directory of
 * --out and none installs: one plugins directory holds one build. Also the cells alone, for
 * `d7y-build matrix`, which prints them for a CI system. Pure but for reading the matrix file.
 */
import path from 'node:path';
import { DEFAULT_PLATFORM, envName, resolveSpec, resolver, type BuildFlags, type BuildSpec, type ConfigInputs } from '../config';
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
}

type Env = Record<string, string | undefined>;

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
  const specOf = (entry: MatrixEntry) =>
    resolveSpec(entry.plugins ?? dirs, { ...flags, commit: entry.ref, goImage: entry.goImage ?? flags.goImage }, env, cwd, now, readMeta, config);
  let entries: MatrixEntry[];
  if (flags.matrix === undefined) {
    const spec = resolveSpec(dirs, flags, env, cwd, now, readMeta, config);
    if (!spec.ref.includes(',')) return { spec };
    entries = refList(spec.ref).map((ref) => ({ ref }));
  } else {
    entries = entriesOf(flags.commit, flags.matrix, flags.commit, cwd);
  }
  const specs = new Map(entries.map((e) => [e.ref, specOf(e)]));
  const first = specs.get(entries[0]!.ref)!;
  // Today one platform, the spec's; a list of platforms expands the cells here.
  const cells = expandCells(entries, [first.platform]);
  if (cells.length === 1) return { spec: first };

  const pluginsDir = resolver(flags, env, cwd, { plugin: [], user: config.user?.file })('pluginsDir');
  if (pluginsDir.origin.kind !== 'default') {
    throw new UsageError(`${settingName(pluginsDir.origin)} installs one build, but the matrix has ${cells.length} cells`, {
      hint: `${dropHint(pluginsDir.origin)}: each cell's plugins are written to <out>/<commit>/<platform>/plugins/; build one commit with ${settingName(pluginsDir.origin)} to install it`,
    });
  }
  if (first.image !== undefined) {
    throw new UsageError(`--image names one image, but the matrix has ${cells.length} cells`, {
      hint: 'build the runtime image of one commit at a time: d7y-build --commit <ref> --image <name:tag>',
    });
  }
  return {
    matrix: {
      outDir: first.outDir,
      cells: cells.map((cell) => ({
        cell,
        spec: { ...specs.get(cell.ref)!, platform: cell.platform, outDir: path.join(first.outDir, cell.dir), pluginsDir: undefined },
      })),
      failFast: flags.failFast ?? false,
    },
  };
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
  const pluginFiles = dirs.map((d) => config.readPluginConfig?.(path.resolve(cwd, d))).filter((f): f is ConfigFile => f !== undefined);
  const opt = resolver(flags, env, cwd, { plugin: pluginFiles, user: config.user?.file });
  const commit = flags.matrix === undefined ? opt('commit').value : undefined;
  if (flags.matrix === undefined && commit === undefined) {
    throw new UsageError('no Dragonfly commit given', { hint: `pass --commit v2.1.0,v2.1.1 (or set ${envName('commit')}), or --matrix <file>` });
  }
  const entries = entriesOf(commit, flags.matrix, flags.commit, cwd);
  const cells = expandCells(entries, [DEFAULT_PLATFORM]);
  const out = opt('out').value;
  return cells.map((cell) => ({
    commit: cell.ref,
    platform: cell.platform,
    out: fromCwd(cwd, cells.length === 1 ? out : path.join(out, cell.dir)),
    ...(cell.goImage === undefined ? {} : { goImage: cell.goImage }),
    ...((cell.plugins ?? dirs).length === 0 ? {} : { plugins: (cell.plugins ?? dirs).map((d) => fromCwd(cwd, path.resolve(cwd, d))) }),
  }));
}
