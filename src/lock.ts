/**
 * A lock file shared by concurrent d7y-build processes on one machine: created with O_EXCL, holding
 * its owner; a lock whose owner is dead is taken over. Used where two builds must take turns: the
 * git mirror's fetch, and installing into the same directory.
 */
import { open, readFile, rm } from 'node:fs/promises';
import { currentOwner, ownerAlive, type Owner } from './owner';

export class LockTimeoutError extends Error {
  constructor(
    readonly file: string,
    readonly holder: Owner | undefined,
  ) {
    super(`${file} is held by ${holder ? `process ${holder.pid} on ${holder.host}` : 'another process'}`);
  }
}

async function holderOf(file: string): Promise<Owner | undefined> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as Owner;
  } catch {
    return undefined;
  }
}

async function tryAcquire(file: string, owner: Owner): Promise<boolean> {
  try {
    const handle = await open(file, 'wx', 0o644);
    try {
      await handle.writeFile(JSON.stringify(owner));
    } finally {
      await handle.close();
    }
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    const holder = await holderOf(file);
    // A lock left by a killed process: take it over. One unreadable a moment after its creation is
    // being written, and stays.
    if (holder !== undefined && !ownerAlive(holder)) {
      await rm(file, { force: true });
      return tryAcquire(file, owner);
    }
    return false;
  }
}

/** Runs fn holding the lock file, waiting up to timeoutMs for it; the signal stops the wait. */
export async function withLock<T>(file: string, fn: () => Promise<T>, options: { timeoutMs: number; signal?: AbortSignal; onWait?: (holder: Owner | undefined) => void }): Promise<T> {
  const owner = currentOwner();
  const deadline = Date.now() + options.timeoutMs;
  let announced = false;
  while (!(await tryAcquire(file, owner))) {
    if (!announced) {
      options.onWait?.(await holderOf(file));
      announced = true;
    }
    if (Date.now() > deadline) throw new LockTimeoutError(file, await holderOf(file));
    options.signal?.throwIfAborted();
    await new Promise((r) => setTimeout(r, 200));
  }
  try {
    return await fn();
  } finally {
    await rm(file, { force: true });
  }
}
