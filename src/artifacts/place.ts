/**
 * Putting finished files in place so that nobody ever sees half of one, and a failure changes
 * nothing: every target is checked first, each file is written under a temporary name in its
 * target directory and flushed, the files it replaces are kept aside (hard links, under temporary
 * names), and only then is each renamed over its target. When a rename fails, those already done
 * are undone from what was kept aside. Temporaries go either way.
 */
import { createHash, randomBytes } from 'node:crypto';
import { access, chmod, constants, copyFile, link, lstat, mkdir, open, rename, rm, rmdir, stat, utimes } from 'node:fs/promises';
import path from 'node:path';
import { InstallError } from '../errors';
import { kindOf, makeDirectory, probePath } from '../files';
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
  /**
   * The target may be a hard link to `from` rather than a copy, where the file system allows: for
   * large files that nothing writes in place (each is replaced by a rename, or removed).
   */
  link?: boolean;
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

interface StagedFile {
  temp: string;
  to: string;
  /** The file it replaces, kept aside under a temporary name; undefined when there was none. */
  kept?: string;
}

/**
 * Keeps the file at target aside under a temporary name: a hard link, so the target never goes
 * missing; a copy with the same mode and times where the file system or the kernel refuses the
 * link (protected_hardlinks, for a file this user does not own).
 */
async function keepAside(target: string): Promise<string | undefined> {
  const kept = tempName(target);
  try {
    await link(target, kept);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code !== 'EPERM' && code !== 'EXDEV' && code !== 'ENOTSUP' && code !== 'EMLINK') throw err;
    const info = await stat(target);
    await copyFile(target, kept, constants.COPYFILE_EXCL);
    await utimes(kept, info.atime, info.mtime);
  }
  return kept;
}

/**
 * Files written and flushed under temporary names beside their targets, ready to be renamed into
 * place (commit) or dropped (discard). Build one with stagePlacements.
 */
export class StagedPlacements {
  private settled = false;

  constructor(
    private readonly files: StagedFile[],
    /** Directories created for the targets, parents first: removed again when nothing is placed. */
    private readonly createdDirs: string[],
    private readonly what: string,
  ) {}

  /**
   * Renames every file into place. When one rename fails, the ones before it are undone (the kept
   * file renamed back, or the new one removed where there was none) and InstallError says so.
   */
  async commit(): Promise<void> {
    const done: StagedFile[] = [];
    let current: StagedFile | undefined;
    try {
      for (const f of this.files) {
        current = f;
        await rename(f.temp, f.to);
        done.push(f);
      }
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      const unrestored: StagedFile[] = [];
      for (const f of done.reverse()) {
        try {
          if (f.kept !== undefined) {
            await rename(f.kept, f.to);
            // A rename between two links to one file leaves both names (see below).
            await rm(f.kept, { force: true });
          } else await rm(f.to, { force: true });
          f.kept = undefined;
        } catch {
          unrestored.push(f);
        }
      }
      await this.drop(unrestored);
      const to = current?.to ?? this.what;
      if (unrestored.length > 0) {
        throw new InstallError(`cannot write ${to}: ${e.message}; and could not put back ${unrestored.map((f) => f.to).join(', ')}`, {
          hint: `the previous files are kept as ${unrestored.map((f) => f.kept ?? f.to).join(', ')}: rename them back`,
          cause: err,
        });
      }
      throw new InstallError(`cannot write ${to}: ${e.message}; ${this.what} left as they were`, { hint: hintFor(e, path.dirname(to)), cause: err });
    }
    this.settled = true;
    // rename(2) between two names of one file (a linked placement over the same file) does nothing:
    // the temporary name stays, and goes here.
    await Promise.all(this.files.flatMap((f) => [rm(f.temp, { force: true }), f.kept === undefined ? undefined : rm(f.kept, { force: true })]));
  }

  /** Removes every temporary, and the directories created for nothing. */
  async discard(): Promise<void> {
    await this.drop([]);
  }

  /** Removes temporaries and kept files (but those in keep), then the directories created. */
  private async drop(keep: StagedFile[]): Promise<void> {
    if (this.settled) return;
    this.settled = true;
    await Promise.all(
      this.files.flatMap((f) => [rm(f.temp, { force: true }), f.kept === undefined || keep.includes(f) ? undefined : rm(f.kept, { force: true })]),
    );
    for (const dir of [...this.createdDirs].reverse()) await rmdir(dir).catch(() => undefined);
  }
}

/**
 * Checks every target and writes every file under its temporary name. A target is refused when
 * its directory can't take files, or something other than a regular file (a directory, a link, a
 * pipe) stands where the file goes; another build that replaced a file in unchangedSince wins.
 * Nothing is renamed yet; on failure nothing was changed and no temporary is left.
 */
export async function stagePlacements(placements: Placement[], what: string, options: PlaceOptions = {}): Promise<StagedPlacements> {
  const files: StagedFile[] = [];
  const createdDirs: string[] = [];
  const staged = new StagedPlacements(files, createdDirs, what);
  let current = placements[0]?.to ?? what;
  try {
    for (const p of placements) {
      current = p.to;
      const dir = path.dirname(p.to);
      createdDirs.push(...(await makeDirectory(dir)));
      await access(dir, constants.W_OK | constants.X_OK);
      const info = await lstat(p.to).catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return undefined;
        throw err;
      });
      if (info !== undefined && !info.isFile()) {
        throw new InstallError(`${p.to} is ${kindOf(info)}, not a file; installed nothing`, {
          hint: `move ${p.to} out of the way: d7y-build replaces only regular files`,
        });
      }
    }
    // Written and flushed all at once: each flush waits on the disk, not on the others.
    const written = await Promise.allSettled(
      placements.map(async (p) => {
        const temp = tempName(p.to);
        files.push({ temp, to: p.to });
        if (typeof p.from === 'string') {
          const from = p.from;
          if (p.link) await link(from, temp).catch(() => copyFile(from, temp));
          else await copyFile(from, temp);
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
      }),
    );
    // The first failure in the placements' order is the one reported.
    const failed = written.findIndex((w) => w.status === 'rejected');
    if (failed >= 0) {
      current = placements[failed]!.to;
      throw (written[failed] as PromiseRejectedResult).reason;
    }
    for (const [file, before] of options.unchangedSince ?? []) {
      const now = await fileState(file);
      if (!sameState(before, now)) {
        throw new InstallError(`${file} was ${before.exists ? 'replaced' : 'created'} by someone else while this build ran; installed nothing`, {
          hint: `another build installed the same plugin first (at ${new Date(now.mtimeMs ?? Date.now()).toISOString()}): run again to install this build's`,
        });
      }
    }
    for (const f of files) {
      current = f.to;
      f.kept = await keepAside(f.to);
    }
    return staged;
  } catch (err) {
    await staged.discard();
    if (err instanceof InstallError) throw err;
    const e = err as NodeJS.ErrnoException;
    throw new InstallError(`cannot write ${what}: ${e.message}`, { hint: hintFor(e, path.dirname(current)), cause: err });
  }
}

/**
 * Places every file, all or nothing: stagePlacements, then commit. Callers serialise concurrent
 * placements with placeAllLocked.
 */
export async function placeAll(placements: Placement[], what: string, options: PlaceOptions = {}): Promise<void> {
  await (await stagePlacements(placements, what, options)).commit();
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
