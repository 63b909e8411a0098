/**
 * Putting finished files in place so that nobody ever sees half of one: each is written under a
 * temporary name in its target directory, flushed, then renamed over the old one.
 */
import { randomBytes } from 'node:crypto';
import { access, chmod, constants, copyFile, mkdir, open, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { InstallError } from '../errors';

function tempName(target: string): string {
  return path.join(path.dirname(target), `.${path.basename(target)}.d7y-tmp-${randomBytes(4).toString('hex')}`);
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

/**
 * Places every file, all-or-nothing as far as the file system allows: all temporaries are written
 * first, and only when every one is complete are they renamed into place.
 */
export async function placeAll(placements: Placement[], what: string): Promise<void> {
  const staged: Array<{ temp: string; to: string }> = [];
  let current = placements[0]?.to ?? what;
  try {
    for (const p of placements) {
      current = p.to;
      await mkdir(path.dirname(p.to), { recursive: true });
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
    for (const s of staged) {
      current = s.to;
      await rename(s.temp, s.to);
    }
  } catch (err) {
    await Promise.all(staged.map((s) => rm(s.temp, { force: true })));
    const e = err as NodeJS.ErrnoException;
    throw new InstallError(`cannot write ${what}: ${e.message}`, {
      hint: `make ${path.dirname(current)} a writable directory for this user, or choose another one`,
      cause: err,
    });
  }
}

/**
 * Fails early, before any build work, when dir can't take new files: it, or the nearest existing
 * parent it would be created in, must be a writable directory.
 */
export async function assertWritableDir(dir: string, flag: string): Promise<void> {
  let probe = dir;
  for (;;) {
    const info = await stat(probe).catch(() => undefined);
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
      return;
    }
    const parent = path.dirname(probe);
    if (parent === probe) return;
    probe = parent;
  }
}
