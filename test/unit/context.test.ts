import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { pluginContext } from '../../src/artifacts/context';
import { UsageError } from '../../src/errors';

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

describe('pluginContext', () => {
  it('leaves out .git and what .gitignore and .dockerignore ignore', async () => {
    await writeFile(path.join(dir, '.gitignore'), '*.log\n');
    await writeFile(path.join(dir, '.dockerignore'), 'testdata/\nsecret.env\n');
    const context = await pluginContext(dir, 1024 ** 2);
    expect([...context.entries].sort()).toEqual(['', '.dockerignore', '.gitignore', 'internal', 'internal/x.go', 'main.go']);
  });

  it('counts the bytes it would send', async () => {
    const context = await pluginContext(dir, 1024 ** 2);
    expect(context.entries.has('testdata/big/blob.bin')).toBe(true);
    expect(context.entries.has('.git/HEAD')).toBe(false);
    expect(context.bytes).toBe(13 + 17 + 8 + 4096 + 4);
  });

  it('refuses a context over the limit, naming the fix', async () => {
    const err = await pluginContext(dir, 1000).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).message).toMatch(/holds more than 1000 bytes to send to the build \(reached at testdata\/big\/blob\.bin\)/);
    expect((err as UsageError).hint).toMatch(/\.dockerignore/);
  });
});
