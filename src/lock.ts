/**
 * A lock file shared by concurrent d7y-build processes on one machine, holding its owner (host, pid,
 * process start time); a lock whose owner is gone is taken over. Used where two builds must take
 * turns: the git mirror's clone and fetch, and installing into the same directory.
 *
 * The file appears with its owner already in it (written under a private name, then hard-linked to
 * the lock's name, which fails when the lock exists), so a lock file that is empty or unreadable is
 * never one being written: a crash, a full disk or another tool left it, and it is taken over once
 * it is UNREADABLE_GRACE_MS old (that long, in case a d7y-build of the old create-then-write kind
 * is writing it).
 */
import { randomBytes } from 'node:crypto';
import { link, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { currentOwner, ownerAlive, type Owner } from './owner';

const UNREADABLE_GRACE_MS = 5_000;
const POLL_MS = 200;

export class LockTimeoutError extends Error {
  constructor(
    readonly file: string,
    readonly holder: Owner | undefined,
  ) {
    super(`${file} is held by ${describeHolder(holder)}`);
  }
}

/** Who holds a lock, for a person: the process, or that the file names none. */
export function describeHolder(holder: Owner | undefined): string {
  return holder === undefined
    ? 'no process it names (the file is empty or unreadable; taken over once 5 s old)'
    : `process ${holder.pid} on ${holder.host}, started ${new Date(holder.startedMs).toISOString()}`;
}

function isOwner(value: unknown): value is Owner {
  const o = value as Partial<Owner> | null;
  return typeof o === 'object' && o !== null && typeof o.host === 'string' && Number.isInteger(o.pid) && typeof o.startedMs === 'number';
}

async function holderOf(file: string): Promise<Owner | undefined> {
  try {
    const parsed: unknown = JSON.parse(await readFile(file, 'utf8'));
    return isOwner(parsed) ? parsed : undefined;
  } catch {
    return undefined;
  }
}

/** Creates file with content, complete from its first moment; false when it already exists. */
async function createComplete(file: string, content: string): Promise<boolean> {
  const temp = `${file}.${process.pid}-${randomBytes(4).toString('hex')}`;
  await writeFile(temp, content, { flag: 'wx', mode: 0o644 });
  try {
    await link(temp, file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    await rm(temp, { force: true });
  }
}

/** The lock's inode when nobody holds it any more: its owner is dead, or it names none and is old. */
async function staleInode(file: string): Promise<number | undefined> {
  const info = await stat(file).catch(() => undefined);
  if (info === undefined) return undefined;
  const holder = await holderOf(file);
  const stale = holder === undefined ? Date.now() - info.mtimeMs > UNREADABLE_GRACE_MS : !ownerAlive(holder);
  return stale ? info.ino : undefined;
}

/** Whether a lock file is there and nobody holds it any more: what a crash left. */
export async function lockIsStale(file: string): Promise<boolean> {
  return (await staleInode(file)) !== undefined;
}

/** A lock's file while its owner writes it: <lock>.<pid>-<hex>; the pid says whether a crash left it. */
export const LOCK_TEMP = /\.lock\.(\d+)-[0-9a-f]{8}$/;

async function tryAcquire(file: string, content: string): Promise<boolean> {
  if (await createComplete(file, content)) return true;
  const stale = await staleInode(file);
  if (stale === undefined) return false;
  // Two waiters may find the same stale lock: only the one that creates <lock>.takeover removes it,
  // so neither removes the fresh lock the other just took. A takeover file outlives only a process
  // killed within these few lines, and goes after the grace.
  const takeover = `${file}.takeover`;
  if (!(await createComplete(takeover, content))) {
    const info = await stat(takeover).catch(() => undefined);
    if (info !== undefined && Date.now() - info.mtimeMs > UNREADABLE_GRACE_MS) await rm(takeover, { force: true });
    return false;
  }
  try {
    if ((await stat(file).catch(() => undefined))?.ino === stale) await rm(file, { force: true });
  } finally {
    await rm(takeover, { force: true });
  }
  return createComplete(file, content);
}

export interface LockOptions {
  timeoutMs: number;
  signal?: AbortSignal;
  /** Called once when the lock is taken, with its holder as the lock file names it. */
  onWait?: (holder: Owner | undefined) => void;
}

/** Runs fn holding the lock file, waiting up to timeoutMs for it; the signal stops the wait. */
export async function withLock<T>(file: string, fn: () => Promise<T>, options: LockOptions): Promise<T> {
  const content = JSON.stringify(currentOwner());
  const deadline = Date.now() + options.timeoutMs;
  let announced = false;
  while (!(await tryAcquire(file, content))) {
    if (!announced) {
      options.onWait?.(await holderOf(file));
      announced = true;
    }
    if (Date.now() > deadline) throw new LockTimeoutError(file, await holderOf(file));
    options.signal?.throwIfAborted();
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  try {
    return await fn();
  } finally {
    await rm(file, { force: true });
  }
}
