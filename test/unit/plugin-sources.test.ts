import { execFileSync } from 'node:child_process';
import net from 'node:net';
import { mkdir, mkdtemp, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readPluginSources, sourcesDigest } from '../../src/artifacts/plugin-sources';
import { UsageError } from '../../src/errors';
import { makeDirectory, readRegularFile } from '../../src/files';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'd7y-context-'));
  await mkdir(path.join(dir, '.git/objects'), { recursive: true });
  await writeFile(path.join(dir, '.git/HEAD'), 'ref: refs/heads/main\n');
  await mkdir(path.join(dir, 'testdata/big'), { recursive: true });
  await mkdir(path.join(dir, 'internal'), { recursive: true });
  await writeFile(path.join(dir, 'main.go'), 'package main\n');
  await writeFile(path.join(dir, 'internal/x.go'), 'package internal\n');
  await writeFile(path.join(dir, 'secret.env'), 'TOKEN=x\n');
  await writeFile(path.join(dir, 'testdata/big/blob.bin'), Buffer.alloc(4096));
  await writeFile(path.join(dir, 'notes.log'), 'log\n');
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('readPluginSources', () => {
  it('leaves out .git and what .gitignore and .dockerignore ignore', async () => {
    await writeFile(path.join(dir, '.gitignore'), '*.log\n');
    await writeFile(path.join(dir, '.dockerignore'), 'testdata/\nsecret.env\n');
    const context = await readPluginSources(dir, 1024 ** 2);
    expect([...context.entries].sort()).toEqual(['', '.dockerignore', '.gitignore', 'internal', 'internal/x.go', 'main.go']);
  });

  it('counts the bytes it would send', async () => {
    const context = await readPluginSources(dir, 1024 ** 2);
    expect(context.entries.has('testdata/big/blob.bin')).toBe(true);
    expect(context.entries.has('.git/HEAD')).toBe(false);
    expect(context.bytes).toBe(13 + 17 + 8 + 4096 + 4);
  });

  it('refuses a context over the limit, naming the fix', async () => {
    const err = await readPluginSources(dir, 1000).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).message).toMatch(/holds more than 1000 bytes to send to the build \(reached at testdata\/big\/blob\.bin\)/);
    expect((err as UsageError).hint).toMatch(/\.dockerignore/);
  });
});

const servers: net.Server[] = [];
afterEach(() => {
  for (const server of servers.splice(0)) server.close();
});

/** A unix socket at file: a file of a kind that can't be sent (FIFOs are in the e2e catalogue). */
function listen(file: string): Promise<void> {
  const server = net.createServer();
  servers.push(server);
  return new Promise((resolve) => server.listen(file, resolve));
}

describe('sourcesDigest', () => {
  it('is what sha256sum says of sha256sum over the files sent, in byte order of their paths', async () => {
    await writeFile(path.join(dir, 'Zeta.go'), 'package main\n');
    await writeFile(path.join(dir, 'ärger.go'), 'package main // ä\n');
    const digest = await sourcesDigest(await readPluginSources(dir, 1024 ** 2));
    const shell = "find . -type f ! -path './.git/*' -printf '%P\\n' | LC_ALL=C sort | xargs -d '\\n' sha256sum | sha256sum";
    expect(execFileSync('sh', ['-c', shell], { cwd: dir, encoding: 'utf8' })).toBe(`${digest}  -\n`);
  });

  it('follows the content, not the times, and leaves out what is not sent', async () => {
    const before = await sourcesDigest(await readPluginSources(dir, 1024 ** 2));
    await utimes(path.join(dir, 'main.go'), new Date(0), new Date(0));
    await writeFile(path.join(dir, '.git/HEAD'), 'ref: refs/heads/other\n');
    expect(await sourcesDigest(await readPluginSources(dir, 1024 ** 2))).toBe(before);
    await writeFile(path.join(dir, 'main.go'), 'package main\n\n');
    expect(await sourcesDigest(await readPluginSources(dir, 1024 ** 2))).not.toBe(before);
  });
});

describe('readPluginSources refuses what cannot be sent', () => {
  const refusal = async (): Promise<UsageError> => {
    const err = await readPluginSources(dir, 1024 ** 2).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    return err as UsageError;
  };

  it.each([
    ['a socket', async () => listen(path.join(dir, 'x.go')), /x\.go in the plugin directory is a socket/],
    [
      'a link to a device',
      async () => symlink('/dev/zero', path.join(dir, 'zero.go')),
      /zero\.go in the plugin directory is a symbolic link to the absolute path \/dev\/zero/,
    ],
    [
      'a relative link out of the directory',
      async () => symlink('../../etc/passwd', path.join(dir, 'passwd')),
      /passwd in the plugin directory is a symbolic link to \/etc\/passwd, outside the plugin directory/,
    ],
    [
      'a link to nothing',
      async () => symlink('missing.go', path.join(dir, 'gone.go')),
      /gone\.go in the plugin directory is a symbolic link to missing\.go, which does not exist/,
    ],
    [
      'a name that is not UTF-8',
      async () => writeFile(Buffer.from(`${dir}/caf\xe9.go`, 'latin1'), 'package main\n'),
      /caf\\xe9\.go in the plugin directory has a name that is not UTF-8/,
    ],
    ['a .gitignore that is a socket', async () => listen(path.join(dir, '.gitignore')), /the ignore file .*\.gitignore is a socket, not a regular file/],
    ['a .dockerignore that is a directory', async () => mkdir(path.join(dir, '.dockerignore')), /\.dockerignore is a directory, not a regular file/],
  ])('%s', async (_label, make, message) => {
    await make();
    const err = await refusal();
    expect(err.message).toMatch(message);
    expect(err.hint).toBeTruthy();
  });

  it('sends what .dockerignore leaves out of the refusals unread, and links inside as links', async () => {
    await listen(path.join(dir, 'pipe'));
    await writeFile(path.join(dir, '.dockerignore'), 'pipe\n');
    await symlink('main.go', path.join(dir, 'alias.go'));
    await mkdir(path.join(dir, 'sub.go'));
    const context = await readPluginSources(dir, 1024 ** 2);
    expect(context.entries.has('pipe')).toBe(false);
    expect(context.files.has('alias.go')).toBe(true);
    expect(context.entries.has('sub.go')).toBe(true);
    expect(context.files.has('sub.go')).toBe(false);
  });
});

describe('readRegularFile', () => {
  const options = { what: 'the file', hint: 'fix it', maxBytes: 16 };
  it.each([
    ['/dev/zero', /the file \/dev\/zero is a character device, not a regular file/],
    ['/nonexistent', /does not exist/],
    ['/', /is a directory/],
  ])('refuses %s', async (file, message) => {
    await expect(readRegularFile(file, options)).rejects.toThrow(message);
  });

  it('reads up to the limit, and refuses more', async () => {
    await writeFile(path.join(dir, 'small'), 'x'.repeat(16));
    await writeFile(path.join(dir, 'big'), 'x'.repeat(17));
    expect(await readRegularFile(path.join(dir, 'small'), options)).toBe('x'.repeat(16));
    await expect(readRegularFile(path.join(dir, 'big'), options)).rejects.toThrow(/is larger than 16 bytes/);
    await expect(readRegularFile('/proc/self/status', options)).rejects.toThrow(/is larger than 16 bytes/);
  });
});

describe('makeDirectory', () => {
  it('makes every missing level', async () => {
    await makeDirectory(path.join(dir, 'a/b/c'));
    await makeDirectory(path.join(dir, 'a/b/c'));
    expect((await stat(path.join(dir, 'a/b/c'))).isDirectory()).toBe(true);
  });

  it.each([
    ['under /proc, where mkdir says ENOENT', '/proc/d7y-test/cache', /ENOENT|EACCES/],
    ['below a file', 'main.go/cache', /ENOTDIR/],
    ['at a file', 'main.go', /ENOTDIR/],
  ])('fails at once %s', async (_label, where, code) => {
    const err = (await makeDirectory(path.resolve(dir, where)).catch((e: unknown) => e)) as NodeJS.ErrnoException;
    expect(err.code).toMatch(code);
  });
});
