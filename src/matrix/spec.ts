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
import { hintOption } from '../option-names';
import { dropHint, settingName } from '../origin';
import type { PluginMeta } from '../plugin-meta';
import { expandCells, refList, type MatrixCell, type MatrixEntry } from './cells';
import { checkTagLength, hasRefPlaceholder, platformImageRef, REF_PLACEHOLDER } from './image-tag';
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
   * --image over several platforms: each cell builds (and with --push pushes) the image of its
   * platform at <tag>-<os>-<arch>, the tag being its commit's; with push, each commit's tag becomes
   * an index of its platforms' images. (On one platform each cell's image is its commit's tag.)
   */
  image?: MatrixImages;
}

export interface MatrixImages {
  push: boolean;
  registryAuthFile: string | undefined;
  /** One per commit, in the cells' order: the tag its platforms' images go beside. */
  indexes: IndexSpec[];
}

export interface IndexSpec {
  /** The commit as given: the cells whose ref it is make the index. */
  commit: string;
  /** The tag --image names for the commit ({ref} filled in), and its repository and tag apart. */
  ref: string;
  repository: string;
  tag: string;
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
  const template = settings('image').value;
  if (template !== undefined) checkCommitImages(template, cells, specs);
  const image = template === undefined || platforms.length === 1 ? undefined : platformImages(template, cells, specs, first);
  // Each cell's spec names its commit's image (resolveSpec filled {ref} in); over several platforms, its platform's beside it.
  const imageOf = (spec: BuildSpec, cell: MatrixCell) => {
    if (image === undefined) return {};
    const { repository, tag } = splitTaggedReference(spec.image!)!;
    return { image: platformImageRef(repository, tag, cell.platform) };
  };
  return {
    matrix: {
      outDir: first.outDir,
      cells: cells.map((cell, i) => ({
        cell,
        spec: { ...specs[i]!, outDir: path.join(first.outDir, cell.dir), pluginsDir: undefined, ...imageOf(specs[i]!, cell) },
      })),
      failFast: flags.failFast ?? false,
      ...(image === undefined ? {} : { image }),
    },
  };
}

/**
 * --image over several commits: each needs a tag of its own, so the tag must hold {ref}, and no two
 * commits' refs may make the same tag (a/b and a-b both make a-b).
 */
function checkCommitImages(template: string, cells: MatrixCell[], specs: BuildSpec[]): void {
  const commits = [...new Set(cells.map((c) => c.ref))];
  if (commits.length > 1 && !hasRefPlaceholder(template)) {
    throw new UsageError(`--image names one image, but the matrix has ${commits.length} commits`, {
      hint: `put ${REF_PLACEHOLDER} in its tag for an image per commit, e.g. ${hintOption('image', 'registry.example:5000/d7y/dfget-plugins:{ref}')}, or build one commit at a time`,
    });
  }
  const commitOf = new Map<string, string>();
  for (const [i, cell] of cells.entries()) {
    const image = specs[i]!.image!;
    const other = commitOf.get(image);
    if (other !== undefined && other !== cell.ref) {
      throw new UsageError(`--image ${template}: the commits ${other} and ${cell.ref} would both be ${image}`, {
        hint: `name one of them another way (its full SHA, say), or build them in separate runs: ${REF_PLACEHOLDER} keeps letters, digits, ".", "_" and "-" of a ref and makes any other character "-"`,
      });
    }
    commitOf.set(image, cell.ref);
  }
}

/**
 * --image over several platforms: per commit, the index its platforms' images make, each image's
 * tag (with its platform's suffix) checked for every cell before anything is built.
 */
function platformImages(template: string, cells: MatrixCell[], specs: BuildSpec[], first: BuildSpec): MatrixImages {
  const indexes: IndexSpec[] = [];
  for (const [i, cell] of cells.entries()) {
    const ref = specs[i]!.image!;
    const { repository, tag } = splitTaggedReference(ref)!;
    const platformTag = platformImageRef(repository, tag, cell.platform).slice(repository.length + 1);
    checkTagLength(template, "the tag of a platform's image", platformTag);
    if (!indexes.some((x) => x.commit === cell.ref)) indexes.push({ commit: cell.ref, ref, repository, tag });
  }
  return { push: first.push, registryAuthFile: first.registryAuthFile, indexes };
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
