/**
 * Putting finished files in place so that nobody ever sees half of one: each is written under a
 * temporary name in its target directory, flushed, then renamed over the old one.
 */
import { createHash, randomBytes } from 'node:crypto';
import { access, chmod, constants, copyFile, lstat, mkdir, open, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { InstallError } from '../errors';
import { makeDirectory, probePath } from '../files';
import { LockTimeoutError, withLock } from '../lock';

/** Temporary files are .<name>.d7y-tmp-<pid>-<random>: `prune` removes those of dead processes. */
export const TEMP_FILE = /^\..+\.d7y-tmp-(\d+)-[0-9a-f]+$/;

export function tempName(target: string): string {
  return path.join(path.dirname(target), `.${path.basename(target)}.d7y-tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
}

async function flush(file: string): Promise<void> {
  const handle = await open(file, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

export interface Placement {
  /** A finished file (staged in a temporary directory) or the content to write. */
  from: string | { content: string };
  to: string;
  mode?: number;
}

/** What a file was when a build started, to tell whether another build replaced it meanwhile. */
export interface FileState {
  exists: boolean;
  size?: number;
  mtimeMs?: number;
  ino?: number;
}

export async function fileState(file: string): Promise<FileState> {
  const info = await stat(file).catch(() => undefined);
  return info === undefined ? { exists: false } : { exists: true, size: info.size, mtimeMs: info.mtimeMs, ino: info.ino };
}

export async function statesOf(files: string[]): Promise<Map<string, FileState>> {
  return new Map(await Promise.all(files.map(async (f) => [f, await fileState(f)] as const)));
}

function sameState(a: FileState, b: FileState): boolean {
  return a.exists === b.exists && a.size === b.size && a.mtimeMs === b.mtimeMs && a.ino === b.ino;
}

function hintFor(err: NodeJS.ErrnoException, dir: string): string {
  switch (err.code) {
    case 'ENOSPC':
    case 'EDQUOT':
      return `free space on the file system of ${dir}, or choose another directory`;
    case 'EROFS':
      return `${dir} is on a read-only file system: choose another directory`;
    case 'ENOTDIR':
    case 'EEXIST':
      return `a file stands where a directory is needed in ${dir}: choose another directory`;
    default:
      return `make ${dir} a writable directory for this user, or choose another one`;
  }
}

export interface PlaceOptions {
  /**
   * Files that must still be as they were when the build started: another build that replaced one
   * meanwhile wins, and this one installs nothing rather than silently overwrite it.
   */
  unchangedSince?: Map<string, FileState>;
}

/**
 * Places every file, all-or-nothing as far as the file system allows: all temporaries are written
 * first, and only when every one is complete (and, with unchangedSince, no target was replaced by
 * someone else) are they renamed into place. Callers serialise concurrent placements with withLock.
 */
export async function placeAll(placements: Placement[], what: string, options: PlaceOptions = {}): Promise<void> {
  const staged: Array<{ temp: string; to: string }> = [];
  let current = placements[0]?.to ?? what;
  try {
    for (const p of placements) {
      current = p.to;
      await makeDirectory(path.dirname(p.to));
      const temp = tempName(p.to);
      staged.push({ temp, to: p.to });
      if (typeof p.from === 'string') {
        await copyFile(p.from, temp);
      } else {
        const handle = await open(temp, 'wx', p.mode ?? 0o644);
        try {
          await handle.writeFile(p.from.content);
        } finally {
          await handle.close();
        }
      }
      if (p.mode !== undefined) await chmod(temp, p.mode);
      await flush(temp);
    }
    for (const [file, before] of options.unchangedSince ?? []) {
      const now = await fileState(file);
      if (!sameState(before, now)) {
        throw new InstallError(`${file} was ${before.exists ? 'replaced' : 'created'} by someone else while this build ran; installed nothing`, {
          hint: `another build installed the same plugin first (at ${new Date(now.mtimeMs ?? Date.now()).toISOString()}): run again to install this build's`,
        });
      }
    }
    for (const s of staged) {
      current = s.to;
      await rename(s.temp, s.to);
    }
  } catch (err) {
    await Promise.all(staged.map((s) => rm(s.temp, { force: true })));
    if (err instanceof InstallError) throw err;
    const e = err as NodeJS.ErrnoException;
    throw new InstallError(`cannot write ${what}: ${e.message}`, { hint: hintFor(e, path.dirname(current)), cause: err });
  }
}

/**
 * The lock that serialises installs into dir, kept under the cache dir: nothing but plugins ever
 * appears in a plugins directory (Dragonfly would list anything else as "not valid plugin name").
 */
export function installLockFile(cacheDir: string, dir: string): string {
  return path.join(cacheDir, 'locks', `install-${createHash('sha256').update(path.resolve(dir)).digest('hex').slice(0, 16)}.lock`);
}

/**
 * placeAll, holding the install locks of every target directory (taken in path order, so two
 * builds never wait on each other crosswise): concurrent builds installing there take turns.
 */
export async function placeAllLocked(
  cacheDir: string,
  placements: Placement[],
  what: string,
  options: PlaceOptions & { signal?: AbortSignal; onWait?: (dir: string) => void } = {},
): Promise<void> {
  const dirs = [...new Set(placements.map((p) => path.dirname(p.to)))].sort();
  await makeDirectory(path.join(cacheDir, 'locks'));
  const holding = async (i: number): Promise<void> => {
    if (i === dirs.length) return placeAll(placements, what, options);
    const dir = dirs[i]!;
    try {
      await withLock(installLockFile(cacheDir, dir), () => holding(i + 1), {
        timeoutMs: 5 * 60_000,
        signal: options.signal,
        onWait: () => options.onWait?.(dir),
      });
    } catch (err) {
      if (err instanceof LockTimeoutError) {
        throw new InstallError(`another d7y-build has been installing into ${dir} for 5 minutes (${err.message})`, {
          hint: `if no build is running, run d7y-build prune, or remove ${err.file}`,
        });
      }
      throw err;
    }
  };
  await holding(0);
}

/**
 * Fails early, before any build work, when dir can't take new files: it, or the nearest existing
 * parent it would be created in, must be a writable directory.
 */
export async function assertWritableDir(dir: string, flag: string): Promise<void> {
  let probe = dir;
  for (;;) {
    const info = await stat(probe).catch(async (err: NodeJS.ErrnoException) => {
      // Missing, or below a file: look further up, where the reason shows. A symbolic link to
      // nothing would fail only at install time, after the whole build.
      if (err.code === 'ENOENT' || err.code === 'ENOTDIR') {
        if (!(await lstat(probe).catch(() => undefined))?.isSymbolicLink()) return undefined;
        throw new InstallError(`${flag} ${dir}: ${probe} is a symbolic link to nothing`, {
          hint: `point ${flag} at a directory, or create the directory the link points to`,
        });
      }
      throw new InstallError(`${flag} ${dir} cannot be reached: ${err.code === 'EACCES' ? `permission denied on the way to ${probe}` : err.message}`, {
        hint: `run with permission to enter its parent directories, or pass ${flag} <a directory this user can reach>`,
      });
    });
    if (info !== undefined) {
      if (!info.isDirectory()) {
        throw new InstallError(`${flag} ${dir}: ${probe} is not a directory`, {
          hint: `point ${flag} at a directory`,
        });
      }
      try {
        await access(probe, constants.W_OK | constants.X_OK);
      } catch {
        throw new InstallError(`${flag} ${dir} is not writable${probe === dir ? '' : ` (${probe} is not)`}`, {
          hint: `run with permission to write there, or pass ${flag} <a writable directory>`,
        });
      }
      // Where dir is still to be made, make (and remove) one directory there now: /proc and /sys
      // pass the access check and refuse only the mkdir.
      if (probe !== dir) {
        const trial = probePath(probe);
        await mkdir(trial).then(
          () => rm(trial, { recursive: true }),
          (err: NodeJS.ErrnoException) => {
            throw new InstallError(`${flag} ${dir} can't be created in ${probe} (${err.code ?? err.message})`, { hint: hintFor(err, probe) });
          },
        );
      }
      return;
    }
    const parent = path.dirname(probe);
    if (parent === probe) return;
    probe = parent;
  }
}
