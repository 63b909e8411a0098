import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { assertWritableDir, placeAll } from '../../src/artifacts/install';
import { InstallError } from '../../src/errors';

let tmp: string;

beforeEach(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'd7y-install-test-'));
});

afterEach(async () => {
  await rm(tmp, { recursive: true, force: true });
});

/** Every path under dir, relative, sorted. */
async function listTree(dir: string): Promise<string[]> {
  return ((await readdir(dir, { recursive: true })) as string[]).sort();
}

const temporaries = async (dir: string): Promise<string[]> => (await listTree(dir)).filter((n) => n.includes('.d7y-tmp-'));

const modeOf = async (file: string): Promise<number> => (await stat(file)).mode & 0o777;

/** The error a promise rejects with; fails the test when it resolves. */
async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection, but the promise resolved');
}

describe('placeAll', () => {
  it('writes files from a path and from content, with the given modes, and leaves no temporaries', async () => {
    const staged = path.join(tmp, 'staged');
    await mkdir(staged);
    await writeFile(path.join(staged, 'dfget'), 'host binary', { mode: 0o600 });
    const out = path.join(tmp, 'out');
    const plugins = path.join(tmp, 'plugins', 'nested');

    await placeAll(
      [
        { from: path.join(staged, 'dfget'), to: path.join(out, 'dfget'), mode: 0o755 },
        { from: { content: '{"ok":true}\n' }, to: path.join(out, 'manifest.json'), mode: 0o640 },
        { from: { content: 'plugin' }, to: path.join(plugins, 'd7y-resource-plugin-x.so') },
      ],
      'the build output',
    );

    expect(await readFile(path.join(out, 'dfget'), 'utf8')).toBe('host binary');
    expect(await readFile(path.join(out, 'manifest.json'), 'utf8')).toBe('{"ok":true}\n');
    expect(await readFile(path.join(plugins, 'd7y-resource-plugin-x.so'), 'utf8')).toBe('plugin');
    expect(await modeOf(path.join(out, 'dfget'))).toBe(0o755);
    expect(await modeOf(path.join(out, 'manifest.json'))).toBe(0o640);
    expect(await temporaries(tmp)).toEqual([]);
    expect(await listTree(out)).toEqual(['dfget', 'manifest.json']);
    // the staged file is copied, not moved
    expect(await readFile(path.join(staged, 'dfget'), 'utf8')).toBe('host binary');
  });

  it('sets the mode even when the process umask would clear bits', async () => {
    const old = process.umask(0o077);
    try {
      await placeAll([{ from: { content: 'x' }, to: path.join(tmp, 'f'), mode: 0o755 }], 'f');
    } finally {
      process.umask(old);
    }
    expect(await modeOf(path.join(tmp, 'f'))).toBe(0o755);
  });

  it('replaces an existing file', async () => {
    const target = path.join(tmp, 'manifest.json');
    await writeFile(target, 'old');
    await placeAll([{ from: { content: 'new' }, to: target }], 'the manifest');
    expect(await readFile(target, 'utf8')).toBe('new');
    expect(await listTree(tmp)).toEqual(['manifest.json']);
  });

  it('does nothing for no placements', async () => {
    await placeAll([], 'nothing');
    expect(await listTree(tmp)).toEqual([]);
  });

  it('on failure throws InstallError, removes its temporaries and leaves other files alone', async () => {
    const out = path.join(tmp, 'out');
    await mkdir(out);
    await writeFile(path.join(out, 'dfget'), 'old host');
    // the plugins "directory" is a regular file
    const notADir = path.join(tmp, 'plugins');
    await writeFile(notADir, 'I am a file');

    const err = await rejection(
      placeAll(
        [
          { from: { content: 'new host' }, to: path.join(out, 'dfget'), mode: 0o755 },
          { from: { content: 'plugin' }, to: path.join(notADir, 'd7y-resource-plugin-x.so') },
        ],
        'the plugins',
      ),
    );

    expect(err).toBeInstanceOf(InstallError);
    const e = err as InstallError;
    expect(e.exitCode).toBe(9);
    expect(e.code).toBe('install');
    expect(e.message).toMatch(/^cannot write the plugins: /);
    expect(e.hint).toMatch(/a file stands where a directory is needed/);
    expect(e.cause).toBeInstanceOf(Error);

    expect(await temporaries(tmp)).toEqual([]);
    expect(await readFile(path.join(out, 'dfget'), 'utf8')).toBe('old host');
    expect(await readFile(notADir, 'utf8')).toBe('I am a file');
    expect(await listTree(tmp)).toEqual(['out', path.join('out', 'dfget'), 'plugins'].sort());
  });

  it('on a missing source file throws InstallError and leaves no temporaries', async () => {
    const out = path.join(tmp, 'out');
    await mkdir(out);
    const err = await rejection(
      placeAll(
        [
          { from: { content: 'a' }, to: path.join(out, 'a') },
          { from: path.join(tmp, 'does-not-exist'), to: path.join(out, 'b') },
        ],
        'the output',
      ),
    );
    expect(err).toBeInstanceOf(InstallError);
    expect(await listTree(out)).toEqual([]);
  });
});

describe('assertWritableDir', () => {
  it('accepts a writable directory', async () => {
    await expect(assertWritableDir(tmp, '--out')).resolves.toBeUndefined();
  });

  it('accepts a directory that does not exist yet under a writable parent', async () => {
    await expect(assertWritableDir(path.join(tmp, 'a', 'b', 'c'), '--out')).resolves.toBeUndefined();
  });

  it('does not create the directory', async () => {
    await assertWritableDir(path.join(tmp, 'new'), '--out');
    expect(await listTree(tmp)).toEqual([]);
  });

  it.each([
    ['the directory itself is a file', (file: string) => file],
    ['a parent is a file', (file: string) => path.join(file, 'sub', 'dir')],
  ])('throws InstallError when %s', async (_label, dirFor) => {
    const file = path.join(tmp, 'file');
    await writeFile(file, 'x');
    const err = await rejection(assertWritableDir(dirFor(file), '--plugins-dir'));
    expect(err).toBeInstanceOf(InstallError);
    const e = err as InstallError;
    expect(e.exitCode).toBe(9);
    expect(e.message).toContain('--plugins-dir');
    expect(e.message).toContain(`${file} is not a directory`);
  });
});
