import { mkdtemp, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { placeAll, placeAllLocked, statesOf } from '../../src/artifacts/place';
import { InstallError } from '../../src/errors';
import { LockTimeoutError, withLock } from '../../src/lock';
import { currentOwner } from '../../src/owner';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'd7y-concurrency-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('withLock', () => {
  it('runs callers one after the other', async () => {
    const lock = path.join(dir, 'a.lock');
    const events: string[] = [];
    const holder = (name: string) =>
      withLock(
        lock,
        async () => {
          events.push(`${name} in`);
          await new Promise((r) => setTimeout(r, 50));
          events.push(`${name} out`);
        },
        { timeoutMs: 5000 },
      );
    await Promise.all([holder('one'), holder('two')]);
    expect(events).toHaveLength(4);
    expect(events[0]!.replace(/ in$/, '')).toBe(events[1]!.replace(/ out$/, ''));
    expect(await readdir(dir)).toEqual([]);
  });

  it('takes over a lock whose owner process is gone', async () => {
    const lock = path.join(dir, 'b.lock');
    await writeFile(lock, JSON.stringify({ ...currentOwner(), pid: 2 ** 22 + 12345 }));
    await expect(withLock(lock, async () => 'ran', { timeoutMs: 1000 })).resolves.toBe('ran');
  });

  it('gives up after the timeout while a live owner holds it, naming the holder', async () => {
    const lock = path.join(dir, 'c.lock');
    await writeFile(lock, JSON.stringify(currentOwner()));
    const waited: unknown[] = [];
    const err = await withLock(lock, async () => 'never', { timeoutMs: 300, onWait: (h) => waited.push(h) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LockTimeoutError);
    expect((err as Error).message).toContain(`process ${process.pid}`);
    expect(waited).toHaveLength(1);
    expect(await readFile(lock, 'utf8')).toBe(JSON.stringify(currentOwner()));
  });

  it('holds its owner in the lock file from the moment it exists', async () => {
    const lock = path.join(dir, 'd.lock');
    const seen = await withLock(lock, async () => readFile(lock, 'utf8'), { timeoutMs: 1000 });
    expect(JSON.parse(seen)).toEqual(currentOwner());
    expect(await readdir(dir)).toEqual([]);
  });

  const past = new Date(Date.now() - 60_000);
  it.each([
    ['empty', ''],
    ['cut short', '{"host":"'],
    ['JSON that names no owner', '{"pid":"x"}'],
    ['binary garbage', '\u0000\u00ff\u001b[2J'],
  ])('takes over a lock file that is %s once it is old, naming no holder while it waits', async (_label, content) => {
    const lock = path.join(dir, 'e.lock');
    await writeFile(lock, content);
    await utimes(lock, past, past);
    await expect(withLock(lock, async () => 'ran', { timeoutMs: 1000 })).resolves.toBe('ran');
    expect(await readdir(dir)).toEqual([]);
  });

  it('waits for an unreadable lock file that is still young, saying it names no holder', async () => {
    const lock = path.join(dir, 'f.lock');
    await writeFile(lock, '');
    const waited: unknown[] = [];
    const err = await withLock(lock, async () => 'never', { timeoutMs: 300, onWait: (h) => waited.push(h) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LockTimeoutError);
    expect((err as Error).message).toMatch(/f\.lock is held by no process it names \(the file is empty or unreadable; taken over once 5 s old\)/);
    expect(waited).toEqual([undefined]);
  });

  it('lets one waiter at a time in when several find the same dead owner', async () => {
    const lock = path.join(dir, 'g.lock');
    await writeFile(lock, JSON.stringify({ ...currentOwner(), pid: 2 ** 22 + 12345 }));
    let inside = 0;
    let most = 0;
    const holder = () =>
      withLock(
        lock,
        async () => {
          most = Math.max(most, ++inside);
          await new Promise((r) => setTimeout(r, 30));
          inside--;
        },
        { timeoutMs: 5000 },
      );
    await Promise.all(Array.from({ length: 6 }, holder));
    expect(most).toBe(1);
    expect(await readdir(dir)).toEqual([]);
  });
});

describe('installing against a plugin another build replaced', () => {
  it('installs nothing and says who won', async () => {
    const target = path.join(dir, 'd7y-resource-plugin-x.so');
    const other = path.join(dir, 'other.txt');
    await writeFile(other, 'untouched');
    const before = await statesOf([target]);
    await writeFile(target, 'installed by another build meanwhile');

    const err = await placeAll(
      [
        { from: { content: 'ours' }, to: target },
        { from: { content: 'ours too' }, to: other },
      ],
      'the plugins',
      { unchangedSince: before },
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InstallError);
    expect((err as InstallError).message).toMatch(/d7y-resource-plugin-x\.so was created by someone else while this build ran; installed nothing/);
    expect((err as InstallError).hint).toMatch(/run again/);
    expect(await readFile(target, 'utf8')).toBe('installed by another build meanwhile');
    expect(await readFile(other, 'utf8')).toBe('untouched');
    expect((await readdir(dir)).sort()).toEqual(['d7y-resource-plugin-x.so', 'other.txt']);
  });

  it('installs when the target is as it was, holding a lock outside the target directory', async () => {
    const cache = path.join(dir, 'cache');
    const plugins = path.join(dir, 'plugins');
    const target = path.join(plugins, 'd7y-resource-plugin-x.so');
    await placeAllLocked(cache, [{ from: { content: 'ours' }, to: target }], 'the plugins', { unchangedSince: await statesOf([target]) });
    expect(await readFile(target, 'utf8')).toBe('ours');
    expect(await readdir(plugins)).toEqual(['d7y-resource-plugin-x.so']);
    expect(await readdir(path.join(cache, 'locks'))).toEqual([]);
  });
});
