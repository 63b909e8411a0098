/**
 * Copies of hosts on this machine, named by their sha256, under <cacheDir>/hosts. A host taken from
 * the host cache volume is the same file build after build; the container reports its sha256, and
 * when a copy with that sum is here the host does not leave the container again: a large host (upstream
 * dfget is over 100 MB) is most of what a warm build would otherwise transfer.
 *
 * A copy is checked against its name as it is read; one that does not match is removed and never
 * used. Copies are written under a temporary name and renamed, so a reader sees a whole file or none,
 * and the directory keeps the most recently used few: each is as large as a host.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { chmod, copyFile, link, mkdir, readdir, rename, rm, stat, utimes } from 'node:fs/promises';
import path from 'node:path';
import { pidAlive } from '../owner';
import { TEMP_FILE, tempName } from './place';

/** Files kept: a host and its loader check per build setting, for a few settings at once. */
export const HOST_STORE_FILES = 8;

const SHA256 = /^[0-9a-f]{64}$/;

export type TakeResult = { found: true; size: number } | { found: false; corrupt: boolean };

export class HostStore {
  constructor(readonly dir: string) {}

  static in(cacheDir: string): HostStore {
    return new HostStore(path.join(cacheDir, 'hosts'));
  }

  private file(sha256: string): string {
    if (!SHA256.test(sha256)) throw new Error(`not a sha256: ${JSON.stringify(sha256)}`);
    return path.join(this.dir, sha256);
  }

  /**
   * Puts the file named sha256 at dest, a hard link where the file system allows (copies are never
   * written in place: one is replaced by a rename or removed), else a copy, and hashes what dest
   * holds: found only when the bytes match. A copy that does not match is removed, and dest with it.
   */
  async take(sha256: string, dest: string, mode: number): Promise<TakeResult> {
    const from = this.file(sha256);
    const hash = createHash('sha256');
    let size = 0;
    try {
      await mkdir(path.dirname(dest), { recursive: true });
      await link(from, dest).catch(async (err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') throw err;
        await copyFile(from, dest);
        await chmod(dest, mode);
      });
      for await (const chunk of createReadStream(dest) as AsyncIterable<Buffer>) {
        hash.update(chunk);
        size += chunk.length;
      }
    } catch (err) {
      await rm(dest, { force: true });
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { found: false, corrupt: false };
      throw err;
    }
    if (hash.digest('hex') !== sha256) {
      await Promise.all([rm(dest, { force: true }), rm(from, { force: true })]);
      return { found: false, corrupt: true };
    }
    // Its time says when it was last used: the least recently used go first when the store trims.
    const now = new Date();
    await utimes(from, now, now).catch(() => undefined);
    return { found: true, size };
  }

  /** Keeps a copy of file under its sha256, then trims the store to the most recently used files. */
  async keep(file: string, sha256: string): Promise<void> {
    const to = this.file(sha256);
    await mkdir(this.dir, { recursive: true });
    const temp = tempName(to);
    try {
      await copyFile(file, temp);
      await rename(temp, to);
    } finally {
      await rm(temp, { force: true });
    }
    await this.trim(HOST_STORE_FILES);
  }

  /** The copies here, most recently used first. */
  async list(): Promise<Array<{ path: string; sizeBytes: number; lastUsed: Date }>> {
    const names = (await readdir(this.dir).catch(() => [] as string[])).filter((n) => SHA256.test(n));
    const found = await Promise.all(
      names.map(async (n) => {
        const info = await stat(path.join(this.dir, n)).catch(() => undefined);
        return info && { path: path.join(this.dir, n), sizeBytes: info.size, lastUsed: info.mtime };
      }),
    );
    return found.filter((f) => f !== undefined).sort((a, b) => b.lastUsed.getTime() - a.lastUsed.getTime());
  }

  /** Down to the keep most recently used copies; half-written ones of writers that died go too. */
  private async trim(keep: number): Promise<void> {
    const copies = await this.list();
    const names = await readdir(this.dir).catch(() => [] as string[]);
    const dead = names.filter((n) => {
      const pid = TEMP_FILE.exec(n)?.[1];
      return pid !== undefined && !pidAlive(Number(pid));
    });
    await Promise.all([...copies.slice(keep).map((c) => c.path), ...dead.map((n) => path.join(this.dir, n))].map((p) => rm(p, { force: true })));
  }
}
