/**
 * A matrix's cells: one per Dragonfly commit and platform, each built as a build of its own. The
 * commits come from a comma list (--commit v2.1.66,v2.3.4) or a matrix file's entries, which may
 * also give a commit its own Go image and plugin directories. Each cell of several writes under
 * <out>/<ref dir>/<platform dir>/: names that are safe on any file system, and never the same for
 * two cells, whatever the refs hold. Pure.
 */
import path from 'node:path';
import { UsageError } from '../errors';
import { nodeCrypto } from '../lazy-crypto';

/** One commit of a matrix, with what a matrix file says of it; undefined: as the command line says. */
export interface MatrixEntry {
  ref: string;
  goImage?: string;
  /** Plugin source directories, absolute. */
  plugins?: string[];
}

/** One build of the matrix: a commit on a platform, and the directory under --out its outputs go to. */
export interface MatrixCell extends MatrixEntry {
  platform: string;
  /** Relative to --out: "v2.1.66/linux-amd64". */
  dir: string;
}

/** "v2.1.66,v2.3.4" → its refs; one ref stays a list of one. Empty items and repeats are refused. */
export function refList(value: string, from = '--commit'): string[] {
  const refs = value.split(',').map((r) => r.trim());
  if (refs.some((r) => r === '')) {
    throw new UsageError(`${from} ${JSON.stringify(value)} has an empty item`, {
      hint: `list the commits separated by single commas, e.g. ${from} v2.1.0,v2.1.1`,
    });
  }
  const repeated = refs.find((r, i) => refs.indexOf(r) !== i);
  if (repeated !== undefined) {
    throw new UsageError(`${from} lists ${repeated} twice`, { hint: 'list each commit once: each one is a cell of the matrix' });
  }
  return refs;
}

/** Characters kept as they are in a cell's directory name; every other one becomes "_". */
const UNSAFE = /[^A-Za-z0-9._-]/g;
/** Long enough for any tag or full SHA-256 commit id, short enough for deep --out paths. */
const MAX_NAME = 64;
const HASH_CHARS = 8;

/**
 * A ref or platform as one directory name: letters, digits, ".", "_" and "-", not starting with a
 * dot (no "..", no hidden directory), at most MAX_NAME characters. A name that had to be changed
 * ends in a hash of the original, so "a b" and "a_b" stay apart.
 */
export function safeDirName(value: string): string {
  const cleaned = value.replace(UNSAFE, '_').replace(/^\./, '_');
  if (cleaned === value && value.length <= MAX_NAME && value !== '') return value;
  const hash = nodeCrypto().createHash('sha256').update(value).digest('hex').slice(0, HASH_CHARS);
  return `${cleaned.slice(0, MAX_NAME - HASH_CHARS - 1)}-${hash}`;
}

/**
 * The cells of entries × platforms, in the order given: commit by commit, each on every platform.
 * Directory names are unique even where the file system ignores case: a later one that would
 * repeat an earlier one gets "-2", "-3", ….
 */
export function expandCells(entries: MatrixEntry[], platforms: string[]): MatrixCell[] {
  const taken = new Set<string>();
  const unique = (name: string) => {
    let candidate = name;
    for (let n = 2; taken.has(candidate.toLowerCase()); n++) candidate = `${name}-${n}`;
    taken.add(candidate.toLowerCase());
    return candidate;
  };
  const refDirs = entries.map((e) => unique(safeDirName(e.ref)));
  return entries.flatMap((entry, i) =>
    platforms.map((platform) => ({ ...entry, platform, dir: path.posix.join(refDirs[i]!, safeDirName(platform.replace(/\//g, '-'))) })),
  );
}
