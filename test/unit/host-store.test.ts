/** The copies of hosts this machine keeps by sha256 (src/artifacts/host-store.ts), on a real directory. */
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HOST_STORE_FILES, HostStore } from '../../src/artifacts/host-store';
import { parseHostSums } from '../../src/commands/build/host-cache';

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
let root: string;
let store: HostStore;

beforeEach(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'host-store-'));
  store = HostStore.in(path.join(root, 'cache'));
});
afterEach(() => rm(root, { recursive: true, force: true }));

async function kept(content: string): Promise<string> {
  const file = path.join(root, `file-${sha256(content).slice(0, 8)}`);
  await writeFile(file, content);
  await store.keep(file, sha256(content));
  return sha256(content);
}

describe('HostStore', () => {
  it('gives back a kept file by its sum, with its size, and nothing for another sum', async () => {
    const sum = await kept('a host');
    const dest = path.join(root, 'staging', 'bin', 'dfget');
    expect(await store.take(sum, dest, 0o755)).toEqual({ found: true, size: 6 });
    expect(await readFile(dest, 'utf8')).toBe('a host');
    // On one file system, a hard link: nothing is copied.
    expect((await stat(dest)).ino).toBe((await stat(path.join(store.dir, sum))).ino);
    expect(await store.take(sha256('another'), path.join(root, 'other'), 0o755)).toEqual({ found: false, corrupt: false });
    await expect(readFile(path.join(root, 'other'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('removes a copy whose bytes no longer match its name, and leaves no half file behind', async () => {
    const sum = await kept('a host');
    await writeFile(path.join(store.dir, sum), 'a host, changed');
    const dest = path.join(root, 'dest');
    expect(await store.take(sum, dest, 0o755)).toEqual({ found: false, corrupt: true });
    expect(await readdir(store.dir)).toEqual([]);
    await expect(readFile(dest)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it(`keeps the ${HOST_STORE_FILES} most recently used copies, and the temporaries of dead writers go`, async () => {
    const sums: string[] = [];
    for (let i = 0; i < HOST_STORE_FILES; i++) {
      sums.push(await kept(`host ${i}`));
      // Apart in time, oldest first.
      const t = new Date(Date.UTC(2026, 0, 1, 0, i));
      await utimes(path.join(store.dir, sums[i]!), t, t);
    }
    // The oldest is used again: the second oldest goes first.
    expect((await store.take(sums[0]!, path.join(root, 'x'), 0o755)).found).toBe(true);
    const dead = `.${sha256('z')}.d7y-tmp-999999999-abcd1234`;
    await writeFile(path.join(store.dir, dead), 'half');
    const newest = await kept('host new');
    const names = await readdir(store.dir);
    expect(names).toHaveLength(HOST_STORE_FILES);
    expect(names).toContain(newest);
    expect(names).toContain(sums[0]);
    expect(names).not.toContain(sums[1]);
    expect(names).not.toContain(dead);
  });

  it('refuses a name that is not a sha256', async () => {
    await expect(store.take('../../etc/passwd', path.join(root, 'x'), 0o644)).rejects.toThrow(/not a sha256/);
  });
});

describe('parseHostSums', () => {
  it("reads build.sh's lines by command, and ignores anything else", () => {
    const a = sha256('a');
    const b = sha256('b');
    expect(parseHostSums(`${a}  bin/dfget\n${b}  bin/d7y-loadcheck\nnoise\n${a} bin/one-space\n`)).toEqual(
      new Map([
        ['dfget', a],
        ['d7y-loadcheck', b],
      ]),
    );
  });
});
