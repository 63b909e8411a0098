/**
 * The source-tree volume's protocol, run by the real builder/build.sh on a real directory standing
 * in for the volume: a tree is used only once its link exists, the first of two uploads to publish
 * wins and the other is removed, and a sweep removes what interrupted runs left, but never the
 * published tree, a running build's upload or an import.
 */
import { execFile } from 'node:child_process';
import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isSourceTreeVolume, sourceTreeVolume, TREE_LINK, treeDir } from '../../src/session/source-tree';
import { buildShEnv } from './build-sh-env';

const run = promisify(execFile);
const BUILD_SH = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../builder/build.sh');

let volume: string;
beforeEach(async () => {
  volume = await mkdtemp(path.join(os.tmpdir(), 'd7y-tree-'));
});
afterEach(async () => {
  await rm(volume, { recursive: true, force: true });
});

/** build.sh tree …, with the layout pointing into the stand-in volume. */
async function tree(...args: string[]): Promise<string> {
  const env = buildShEnv(path.join(volume, 'unused'), { D7Y_SOURCE_VOLUME: volume, D7Y_DRAGONFLY: path.join(volume, TREE_LINK) });
  return (await run('bash', [BUILD_SH, 'tree', ...args], { env })).stdout.trim();
}

/** An uploaded tree, as putArchive leaves it. */
async function upload(dir: string, content = 'module d7y.io/dragonfly/v2\n'): Promise<void> {
  await mkdir(path.join(volume, dir), { recursive: true });
  await writeFile(path.join(volume, dir, 'go.mod'), content);
}

describe('build.sh tree', () => {
  it('says missing until a tree is published, then ready, and records the use', async () => {
    expect(await tree('status')).toBe('missing');
    await upload(treeDir('run-1'));
    // Uploaded but not published: not used.
    expect(await tree('status')).toBe('missing');
    expect(await tree('publish', treeDir('run-1'))).toBe('published');
    expect(await readlink(path.join(volume, TREE_LINK))).toBe('t-run-1');
    expect(await tree('status')).toBe('ready');
    expect(Number(await readFile(path.join(volume, '.last-used'), 'utf8'))).toBeGreaterThan(1_700_000_000);
    expect(await readFile(path.join(volume, TREE_LINK, 'go.mod'), 'utf8')).toBe('module d7y.io/dragonfly/v2\n');
  });

  it('lets the first of two uploads publish; the second is removed and the first one used', async () => {
    await upload(treeDir('run-1'), 'first\n');
    await upload(treeDir('run-2'), 'second\n');
    const [a, b] = await Promise.all([tree('publish', treeDir('run-1')), tree('publish', treeDir('run-2'))]);
    expect([a, b].sort()).toEqual(['exists', 'published']);
    const winner = a === 'published' ? 'first\n' : 'second\n';
    expect(await readFile(path.join(volume, TREE_LINK, 'go.mod'), 'utf8')).toBe(winner);
    expect((await readdir(volume)).filter((n) => n.startsWith('t-'))).toHaveLength(1);
  });

  it('sweeps unpublished trees of runs that are over, and keeps the published one, running uploads and imports', async () => {
    await upload(treeDir('done'));
    await tree('publish', treeDir('done'));
    await upload(treeDir('crashed'));
    await upload(treeDir('running'));
    await upload('t-import-0123456789ab');
    await tree('sweep', treeDir('running'), 't-import-*');
    expect((await readdir(volume)).sort()).toEqual(['.last-used', TREE_LINK, 't-done', 't-import-0123456789ab', 't-running']);
    expect(await tree('status')).toBe('ready');
  });

  it('removes a link that names no tree, so that a build publishes again', async () => {
    await symlink('t-gone', path.join(volume, TREE_LINK));
    expect(await tree('status')).toBe('missing');
    await tree('sweep');
    await expect(lstat(path.join(volume, TREE_LINK))).rejects.toMatchObject({ code: 'ENOENT' });
    await upload(treeDir('run-1'));
    expect(await tree('publish', treeDir('run-1'))).toBe('published');
  });
});

describe('sourceTreeVolume', () => {
  it('names the volume by the commit and the loader check program, and labels it with the commit', () => {
    const sha = 'a'.repeat(40);
    const one = sourceTreeVolume(sha, 'package main // one\n');
    expect(one.name).toMatch(/^d7y-build-src-aaaaaaaaaaaa-[0-9a-f]{8}$/);
    expect(sourceTreeVolume(sha, 'package main // two\n').name).not.toBe(one.name);
    expect(sourceTreeVolume('b'.repeat(40), 'package main // one\n').name).not.toBe(one.name);
    expect(one.labels).toMatchObject({ 'io.d7y-build': 'true', 'io.d7y-build.role': 'dragonfly-source', 'io.d7y-build.sha': sha });
    expect(isSourceTreeVolume(one.name)).toBe(true);
    expect(isSourceTreeVolume('d7y-build-go-mod')).toBe(false);
  });
});
