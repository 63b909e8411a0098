/**
 * The one way src/elf and src/verify get bytes of a file: every offset, length and count that comes
 * from the file is checked here, against the file's size and against fixed limits, before anything
 * is allocated. A crafted file whose headers claim gigabytes gets an UnreadableFileError at once.
 */
import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';

export class UnreadableFileError extends Error {}

const MiB = 1024 * 1024;

/**
 * Limits no Go binary comes near. The largest single read of a real host is its .strtab (a few MiB
 * for Dragonfly's biggest binaries); .bss data is read only for Go string headers and hashes.
 */
export const LIMITS = {
  /** Bytes in one read from the file. */
  read: 64 * MiB,
  /** Bytes of a table scanned in chunks (a symbol table, relocations): ten times Dragonfly's largest. */
  table: 256 * MiB,
  /** Zeros for data that has no bytes in the file (SHT_NOBITS). */
  zeros: 1 * MiB,
  /** Entries of a table whose count comes from the file: packages, strings, sections. */
  entries: 1 << 16,
} as const;

/** A value read from the file as a number, refused when no offset or size in a file could be it. */
export function fileNumber(value: bigint, what: string): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new UnreadableFileError(`${what} is 0x${value.toString(16)}: not an offset or size in any file`);
  return Number(value);
}

/** A count that comes from the file, refused above LIMITS.entries. */
export function boundedCount(count: number, what: string): number {
  if (!Number.isSafeInteger(count) || count < 0 || count > LIMITS.entries) {
    throw new UnreadableFileError(`${what}: ${count} entries, more than any Go binary has (${LIMITS.entries})`);
  }
  return count;
}

export class BoundedReader {
  private constructor(
    private readonly handle: FileHandle,
    readonly size: number,
  ) {}

  /**
   * Opens a regular file. O_NONBLOCK keeps a FIFO swapped in after the caller's stat from blocking
   * the open; what is not a regular file is refused before any byte is read.
   */
  static async open(path: string): Promise<BoundedReader> {
    const handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
    try {
      const info = await handle.stat();
      if (!info.isFile()) throw new UnreadableFileError('not a regular file');
      return new BoundedReader(handle, info.size);
    } catch (err) {
      await handle.close();
      throw err;
    }
  }

  close(): Promise<void> {
    return this.handle.close();
  }

  /** `length` bytes at `offset`, all inside the file and at most LIMITS.read; `what` names them in errors. */
  async read(offset: number, length: number, what: string): Promise<Buffer> {
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > this.size) {
      throw new UnreadableFileError(`truncated: ${what} lies past the end of the file`);
    }
    if (length > LIMITS.read) throw new UnreadableFileError(`${what} claims ${length} bytes, more than d7y-build reads at once (${LIMITS.read})`);
    const buf = Buffer.alloc(length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await this.handle.read(buf, done, length - done, offset + done);
      if (bytesRead === 0) throw new UnreadableFileError(`truncated: the file ended while reading ${what}`);
      done += bytesRead;
    }
    return buf;
  }

  /** The contents of data with no bytes in the file (.bss): zeros, as the loader maps them. */
  zeros(length: number, what: string): Buffer {
    if (!Number.isSafeInteger(length) || length < 0 || length > LIMITS.zeros) {
      throw new UnreadableFileError(`${what} claims ${length} bytes of a section with no data in the file`);
    }
    return Buffer.alloc(length);
  }
}
