import { mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { assertWritableDir, placeAll, stagePlacements } from '../../src/artifacts/place';
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

  it('links a placement that may be linked, and copies the others', async () => {
    const host = path.join(tmp, 'host');
    await writeFile(host, 'a large host');
    const out = path.join(tmp, 'out');
    await placeAll(
      [
        { from: host, to: path.join(out, 'linked'), mode: 0o755, link: true },
        { from: host, to: path.join(out, 'copied'), mode: 0o755 },
      ],
      'test',
    );
    expect((await stat(path.join(out, 'linked'))).ino).toBe((await stat(host)).ino);
    expect((await stat(path.join(out, 'copied'))).ino).not.toBe((await stat(host)).ino);
    expect(await readFile(path.join(out, 'linked'), 'utf8')).toBe('a large host');
    // The same file linked over itself: rename(2) between two names of one file does nothing, and
    // the temporary name must not stay behind.
    await placeAll([{ from: host, to: path.join(out, 'linked'), mode: 0o755, link: true }], 'test');
    expect((await readdir(out)).sort()).toEqual(['copied', 'linked']);
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

describe('placeAll as one transaction over --out and --plugins-dir', () => {
  /** --out holding a previous build's files, and a plugins dir with an installed plugin. */
  async function previousInstall(): Promise<{ out: string; plugins: string; before: Record<string, string> }> {
    const out = path.join(tmp, 'out');
    const plugins = path.join(tmp, 'plugins');
    await mkdir(path.join(out, 'bin'), { recursive: true });
    await mkdir(path.join(out, 'plugins'));
    await mkdir(plugins);
    await writeFile(path.join(out, 'bin', 'dfget'), 'old host');
    await writeFile(path.join(out, 'plugins', 'd7y-resource-plugin-a.so'), 'old plugin a');
    await writeFile(path.join(out, 'manifest.json'), 'old manifest');
    await writeFile(path.join(plugins, 'd7y-resource-plugin-b.so'), 'installed b');
    return { out, plugins, before: await contents(tmp) };
  }

  /** relative path → content (or the kind, for what is not a file) of everything under dir. */
  async function contents(dir: string): Promise<Record<string, string>> {
    const out: Record<string, string> = {};
    for (const name of await listTree(dir)) {
      const info = await stat(path.join(dir, name)).catch(() => undefined);
      out[name] = info?.isFile() ? await readFile(path.join(dir, name), 'utf8') : info?.isDirectory() ? '<dir>' : '<other>';
    }
    return out;
  }

  const build = (out: string, plugins: string) => [
    { from: { content: 'new host' }, to: path.join(out, 'bin', 'dfget'), mode: 0o755 },
    { from: { content: 'new plugin a' }, to: path.join(out, 'plugins', 'd7y-resource-plugin-a.so'), mode: 0o755 },
    { from: { content: 'new manifest' }, to: path.join(out, 'manifest.json') },
    { from: { content: 'new plugin a' }, to: path.join(plugins, 'd7y-resource-plugin-a.so'), mode: 0o755 },
  ];

  it.each([
    ['a directory', async (p: string) => mkdir(p).then(() => writeFile(path.join(p, 'inside'), 'kept'))],
    ['a symbolic link', async (p: string) => symlink('/etc/hostname', p)],
    ['a dangling symbolic link', async (p: string) => symlink(path.join(tmp, 'nowhere'), p)],
  ])('refuses %s where a plugin goes, before anything is renamed', async (kind, make) => {
    const { out, plugins } = await previousInstall();
    const target = path.join(plugins, 'd7y-resource-plugin-a.so');
    await make(target);
    const before = await contents(tmp);

    const err = await rejection(placeAll(build(out, plugins), '--out and --plugins-dir'));
    expect(err).toBeInstanceOf(InstallError);
    expect((err as InstallError).message).toBe(`${target} is ${kind.replace('dangling ', '')}, not a file; installed nothing`);
    expect((err as InstallError).hint).toMatch(/move .* out of the way/);
    expect(await contents(tmp)).toEqual(before);
    expect(await temporaries(tmp)).toEqual([]);
  });

  it('refuses a directory where a file of --out goes, leaving the plugins dir alone', async () => {
    const { out, plugins } = await previousInstall();
    await rm(path.join(out, 'manifest.json'));
    await mkdir(path.join(out, 'manifest.json'));
    const before = await contents(tmp);
    const err = await rejection(placeAll(build(out, plugins), '--out and --plugins-dir'));
    expect((err as InstallError).message).toMatch(/manifest\.json is a directory, not a file/);
    expect(await contents(tmp)).toEqual(before);
  });

  it('puts every previous file back when a rename fails half-way, and removes what had no predecessor', async () => {
    const { out, plugins, before } = await previousInstall();
    const placements = [
      ...build(out, plugins),
      { from: { content: 'new plugin c' }, to: path.join(out, 'plugins', 'd7y-resource-plugin-c.so') },
      { from: { content: 'new plugin c' }, to: path.join(plugins, 'sub', 'd7y-resource-plugin-c.so') },
    ];
    // The installed plugin's inode: put back means the same file, not a copy.
    const hostIno = (await stat(path.join(out, 'bin', 'dfget'))).ino;
    const staged = await stagePlacements(placements, '--out and --plugins-dir');
    // After every check passed, something takes the last target's place: its rename fails.
    await mkdir(path.join(plugins, 'sub', 'd7y-resource-plugin-c.so'));
    await writeFile(path.join(plugins, 'sub', 'd7y-resource-plugin-c.so', 'x'), 'x');

    const err = await rejection(staged.commit());
    expect(err).toBeInstanceOf(InstallError);
    expect((err as InstallError).message).toMatch(/^cannot write .*sub\/d7y-resource-plugin-c\.so: .*; --out and --plugins-dir left as they were$/);
    expect(await contents(tmp)).toEqual({
      ...before,
      [path.join('plugins', 'sub')]: '<dir>',
      [path.join('plugins', 'sub', 'd7y-resource-plugin-c.so')]: '<dir>',
      [path.join('plugins', 'sub', 'd7y-resource-plugin-c.so', 'x')]: 'x',
    });
    expect((await stat(path.join(out, 'bin', 'dfget'))).ino).toBe(hostIno);
    expect(await temporaries(tmp)).toEqual([]);
  });

  it('removes the directories it created when it installs nothing', async () => {
    const { out, plugins, before } = await previousInstall();
    await mkdir(path.join(plugins, 'd7y-resource-plugin-a.so'));
    const err = await rejection(
      placeAll([{ from: { content: 'x' }, to: path.join(out, 'new', 'deeper', 'file') }, ...build(out, plugins)], '--out and --plugins-dir'),
    );
    expect(err).toBeInstanceOf(InstallError);
    expect(await contents(tmp)).toEqual({ ...before, [path.join('plugins', 'd7y-resource-plugin-a.so')]: '<dir>' });
  });

  it('discarding a staged placement leaves everything as it was', async () => {
    const { out, plugins, before } = await previousInstall();
    const staged = await stagePlacements(build(out, plugins), '--out and --plugins-dir');
    expect((await temporaries(tmp)).length).toBeGreaterThan(0);
    await staged.discard();
    expect(await contents(tmp)).toEqual(before);
  });

  it('replaces every file on success and keeps no previous copies', async () => {
    const { out, plugins } = await previousInstall();
    await placeAll(build(out, plugins), '--out and --plugins-dir');
    expect(await contents(tmp)).toMatchObject({
      [path.join('out', 'bin', 'dfget')]: 'new host',
      [path.join('out', 'manifest.json')]: 'new manifest',
      [path.join('plugins', 'd7y-resource-plugin-a.so')]: 'new plugin a',
      [path.join('plugins', 'd7y-resource-plugin-b.so')]: 'installed b',
    });
    expect(await temporaries(tmp)).toEqual([]);
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
