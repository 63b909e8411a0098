/**
 * Reading the files a user points d7y-build at (plugin sources, ignore files, netrc, config
 * files): regular files only, up to a size. The open never blocks (O_NONBLOCK) and the type is taken
 * from the open file, so a FIFO, a device or a socket is refused before a byte is read, instead of
 * hanging the run or reading /dev/zero without end.
 */
import { closeSync, constants, fstatSync, openSync, readSync, type Stats } from 'node:fs';
import { lstat, mkdir, mkdtemp, open, readdir, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { UsageError } from './errors';
import { nodeCrypto } from './lazy-crypto';
import { currentOwner, type Owner } from './owner';

/** Whether child is parent or below it (paths already resolved). */
export function isInside(child: string, parent: string): boolean {
  const rel = path.relative(parent, child);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

/** What a non-regular file is, in words. */
export function kindOf(info: Stats): string {
  if (info.isDirectory()) return 'a directory';
  if (info.isFIFO()) return 'a FIFO (named pipe)';
  if (info.isSocket()) return 'a socket';
  if (info.isCharacterDevice()) return 'a character device';
  if (info.isBlockDevice()) return 'a block device';
  if (info.isSymbolicLink()) return 'a symbolic link';
  return 'a regular file';
}

export function formatBytes(n: number): string {
  if (n >= 1024 ** 3) return `${(n / 1024 ** 3).toFixed(1)} GiB`;
  if (n >= 1024 ** 2) return `${(n / 1024 ** 2).toFixed(0)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(0)} KiB`;
  return `${n} bytes`;
}

export interface ReadOptions {
  /** Names the file in the error, e.g. "the netrc file". */
  what: string;
  /** Says how to fix it. */
  hint: string;
  maxBytes: number;
}

/** Opens that never block: a FIFO without a writer opens at once and is refused by its type. */
const OPEN_FLAGS = constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY;

/** Why a file could not be opened, or undefined when it is missing and that is allowed. */
function openRefusal(err: unknown, optional: boolean | undefined): string | undefined {
  const code = (err as NodeJS.ErrnoException).code;
  // ENOTDIR: a path below a regular file does not exist either.
  if ((code === 'ENOENT' || code === 'ENOTDIR') && optional) return undefined;
  return code === 'ENOENT' ? 'does not exist' : code === 'ENXIO' ? 'is a socket, not a regular file' : `cannot be read (${code ?? String(err)})`;
}

/** The size of the next read: what the file says it holds, at least 64 KiB (files under /proc say 0), at most one byte past the limit. */
function chunkSize(size: number, length: number, maxBytes: number): number {
  return Math.min(Math.max(size - length, 64 * 1024), maxBytes + 1 - length);
}

/**
 * One bounded read of an open regular file, the same for the sync and the async reader: the buffer
 * to read into next, the limit checked after each read, the text at the end.
 */
class BoundedRead {
  private readonly chunks: Buffer[] = [];
  private length = 0;

  constructor(
    private readonly info: Stats,
    private readonly maxBytes: number,
    private readonly refuse: (why: string) => UsageError,
  ) {
    if (!info.isFile()) throw refuse(`is ${kindOf(info)}, not a regular file`);
  }

  /** The buffer for the next read. Files under /proc and /sys say size 0 and still hold text: the limit is on what is read. */
  next(): Buffer {
    return Buffer.alloc(chunkSize(this.info.size, this.length, this.maxBytes));
  }

  /** Keeps what one read put into the buffer; false at the end of the file. */
  took(chunk: Buffer, bytesRead: number): boolean {
    if (bytesRead === 0) return false;
    this.chunks.push(chunk.subarray(0, bytesRead));
    this.length += bytesRead;
    if (this.length > this.maxBytes) throw this.refuse(`is larger than ${formatBytes(this.maxBytes)}`);
    return true;
  }

  text(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }
}

/** A refusal stays as it is; any other failure while reading becomes one naming its errno code. */
function readFailure(err: unknown, refuse: (why: string) => UsageError): UsageError {
  if (err instanceof UsageError) return err;
  return refuse(`cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
}

/**
 * The text of a regular file (symbolic links followed), or a UsageError naming the file and why it
 * was refused: missing, unreadable, not a regular file, or larger than maxBytes. With `optional`, a
 * missing file reads as undefined.
 */
export async function readRegularFile(file: string, options: ReadOptions & { optional: true }): Promise<string | undefined>;
export async function readRegularFile(file: string, options: ReadOptions): Promise<string>;
export async function readRegularFile(file: string, options: ReadOptions & { optional?: boolean }): Promise<string | undefined> {
  const refuse = (why: string) => new UsageError(`${options.what} ${file} ${why}`, { hint: options.hint });
  let handle;
  try {
    handle = await open(file, OPEN_FLAGS);
  } catch (err) {
    const why = openRefusal(err, options.optional);
    if (why === undefined) return undefined;
    throw refuse(why);
  }
  try {
    const read = new BoundedRead(await handle.stat(), options.maxBytes, refuse);
    for (let chunk = read.next(); read.took(chunk, (await handle.read(chunk, 0, chunk.length, null)).bytesRead); chunk = read.next());
    return read.text();
  } catch (err) {
    throw readFailure(err, refuse);
  } finally {
    await handle.close();
  }
}

/**
 * readRegularFile, synchronously: for the small files read while the command line is parsed
 * (config files), which is synchronous. Same checks, same errors.
 */
export function readRegularFileSync(file: string, options: ReadOptions & { optional: true }): string | undefined;
export function readRegularFileSync(file: string, options: ReadOptions): string;
export function readRegularFileSync(file: string, options: ReadOptions & { optional?: boolean }): string | undefined;
export function readRegularFileSync(file: string, options: ReadOptions & { optional?: boolean }): string | undefined {
  const refuse = (why: string) => new UsageError(`${options.what} ${file} ${why}`, { hint: options.hint });
  let fd: number;
  try {
    fd = openSync(file, OPEN_FLAGS);
  } catch (err) {
    const why = openRefusal(err, options.optional);
    if (why === undefined) return undefined;
    throw refuse(why);
  }
  try {
    const read = new BoundedRead(fstatSync(fd), options.maxBytes, refuse);
    for (let chunk = read.next(); read.took(chunk, readSync(fd, chunk, 0, chunk.length, null)); chunk = read.next());
    return read.text();
  } catch (err) {
    throw readFailure(err, refuse);
  } finally {
    closeSync(fd);
  }
}

/**
 * mkdir -p that ends. Node's recursive mkdir retries without end where mkdir answers ENOENT though
 * the parent exists (under /proc and /sys), and no signal stops it there: here each missing level
 * is made once, and the first failure is thrown with its errno code. Returns the directories it
 * made, outermost first, so that a caller that fails later can remove them again.
 */
export async function makeDirectory(dir: string): Promise<string[]> {
  const missing: string[] = [];
  for (let probe = path.resolve(dir); ; probe = path.dirname(probe)) {
    const info = await stat(probe).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined;
      throw err;
    });
    if (info !== undefined) {
      if (!info.isDirectory()) throw Object.assign(new Error(`${probe} is not a directory`), { code: 'ENOTDIR' });
      break;
    }
    missing.unshift(probe);
    if (path.dirname(probe) === probe) break;
  }
  const made: string[] = [];
  for (const level of missing) {
    const created = await mkdir(level).then(
      () => true,
      (err: NodeJS.ErrnoException) => {
        // Another run made it meanwhile.
        if (err.code !== 'EEXIST') throw err;
        return false;
      },
    );
    if (created) made.push(level);
  }
  return made;
}

/** The bytes of the files below p (p itself when a file), links not followed; what vanishes meanwhile counts 0. */
export async function diskUsage(p: string): Promise<number> {
  const info = await lstat(p).catch(() => undefined);
  if (info === undefined) return 0;
  if (!info.isDirectory()) return info.size;
  let total = 0;
  for (const name of await readdir(p).catch(() => [] as string[])) total += await diskUsage(path.join(p, name));
  return total;
}

/** A name in dir for a file or directory made only to see whether dir takes new entries, and removed at once. */
export function probePath(dir: string): string {
  return path.join(dir, `.d7y-probe-${process.pid}-${nodeCrypto().randomBytes(4).toString('hex')}`);
}

/** Temp dirs are named d7y-build-<pid>-<purpose>-XXXXXX, so `prune` knows whose they are. */
export const TEMP_DIR = /^d7y-build-(\d+)-/;

export function makeTempDir(purpose: string, owner: Owner = currentOwner()): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), `d7y-build-${owner.pid}-${purpose}-`));
}
