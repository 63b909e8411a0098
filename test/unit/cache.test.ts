/**
 * `d7y-build cache` over the fake engine and a real cache directory: which volumes are d7y-build's
 * caches, their sizes and last use; what prune removes and spares; the export format (manifest
 * first, a source tree's published tree under an import's name and its link last); and import,
 * which only creates volumes, checks every entry, and takes back what it made when it fails.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import tarStream from 'tar-stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HostStore } from '../../src/artifacts/host-store';
import { exportCache, importCache, listCache, pruneCache } from '../../src/commands/cache';
import { toolLabels } from '../../src/docker/labels';
import type { ExportImageFilter } from '../../src/config';
import { UsageError } from '../../src/errors';
import { builderImageFor } from '../../src/session/image';
import { CACHE_HELPER } from '../../src/session/layout';
import { sourceTreeLabels } from '../../src/session/source-tree';
import { FakeEngine } from './fake-engine';

const OLD_SHA = '1'.repeat(40);
const NEW_SHA = '2'.repeat(40);
const OLD_TREE = `d7y-build-src-${OLD_SHA.slice(0, 12)}-aaaaaaaa`;
const NEW_TREE = `d7y-build-src-${NEW_SHA.slice(0, 12)}-bbbbbbbb`;
const MB = 1024 ** 2;

let dir: string;
let cacheDir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'd7y-cache-'));
  cacheDir = path.join(dir, 'cache');
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const at = (volume: string, file: string): string => `${CACHE_HELPER.volumes}/${volume}/${file}`;

/**
 * An engine with Go's caches, an old and a new source tree (the new one used by a running build),
 * a volume d7y-build labelled, and one that is not d7y-build's.
 */
async function cachedEngine(): Promise<FakeEngine> {
  const engine = new FakeEngine();
  engine.volumes.set('d7y-build-go-mod', toolLabels('go-mod-cache'));
  engine.volumes.set('d7y-build-go-build', toolLabels('go-build-cache'));
  engine.volumes.set(OLD_TREE, sourceTreeLabels(OLD_SHA));
  engine.volumes.set(NEW_TREE, sourceTreeLabels(NEW_SHA));
  engine.volumes.set('d7y-build-go-host', toolLabels('host-cache'));
  engine.volumes.set('pgdata', {});
  for (const [name, mb] of [
    ['d7y-build-go-mod', 300],
    ['d7y-build-go-build', 500],
    [OLD_TREE, 40],
    [NEW_TREE, 50],
    ['d7y-build-go-host', 10],
    ['pgdata', 900],
  ] as const) {
    engine.volumeSizes.set(name, mb * MB);
  }
  engine.archives.set(at(OLD_TREE, '.last-used'), { '.last-used': '1700000000\n' });
  engine.archives.set(at(NEW_TREE, '.last-used'), { '.last-used': '1800000000\n' });
  await engine.createContainer({
    image: 'builder',
    labels: { 'io.d7y-build.run': 'r' },
    volumes: [{ name: NEW_TREE, target: '/work/src' }],
    env: {},
    workdir: '/work',
  });
  return engine;
}

/** A mirror, a clone that was cut short beside it, a stale lock, a held lock. */
async function mirrorCache(): Promise<{ mirror: string; aside: string; stale: string; held: string }> {
  const git = path.join(cacheDir, 'git');
  const mirror = path.join(git, '0123456789abcdef.git');
  await mkdir(mirror, { recursive: true });
  await writeFile(path.join(mirror, 'config'), '[core]\n\tbare = true\n[remote "origin"]\n\turl = https://example.com/dragonfly.git\n\tmirror = true\n');
  await writeFile(path.join(mirror, 'HEAD'), 'ref: refs/heads/main\n');
  const aside = path.join(git, 'fedcba9876543210.git.tmp-0a1b2c3d');
  await mkdir(aside);
  await writeFile(path.join(aside, 'packed-refs'), 'x'.repeat(100));
  const stale = path.join(git, 'fedcba9876543210.git.lock');
  await writeFile(stale, JSON.stringify({ host: os.hostname(), pid: 2 ** 22 + 1, startedMs: 1 }));
  await mkdir(path.join(cacheDir, 'locks'));
  const held = path.join(cacheDir, 'locks', 'install-0123456789abcdef.lock');
  await writeFile(held, JSON.stringify({ host: os.hostname(), pid: process.pid, startedMs: Date.now() - process.uptime() * 1000 }));
  return { mirror, aside, stale, held };
}

/** A copy of a host kept by a build (src/artifacts/host-store.ts): its path. */
async function hostCopy(): Promise<string> {
  const file = path.join(cacheDir, 'host');
  await mkdir(cacheDir, { recursive: true });
  await writeFile(file, 'a host');
  const sum = createHash('sha256').update('a host').digest('hex');
  await HostStore.in(cacheDir).keep(file, sum);
  await rm(file);
  return path.join(cacheDir, 'hosts', sum);
}

describe('cache ls', () => {
  it('lists the cache volumes with sizes, last use and users, the mirrors and the leftovers', async () => {
    const engine = await cachedEngine();
    const { mirror, aside, stale } = await mirrorCache();
    const listing = await listCache(engine, cacheDir);

    expect(listing.volumes.map((v) => [v.name, v.role, v.sizeBytes])).toEqual([
      ['d7y-build-go-build', 'go-build-cache', 500 * MB],
      ['d7y-build-go-host', 'host-cache', 10 * MB],
      ['d7y-build-go-mod', 'go-mod-cache', 300 * MB],
      [OLD_TREE, 'dragonfly-source', 40 * MB],
      [NEW_TREE, 'dragonfly-source', 50 * MB],
    ]);
    const tree = listing.volumes.find((v) => v.name === NEW_TREE)!;
    expect(tree).toMatchObject({ lastUsed: new Date(1_800_000_000_000).toISOString(), sha: NEW_SHA, usedBy: [engine.containers[0]!.id] });
    expect(listing.volumes.find((v) => v.name === OLD_TREE)).toMatchObject({ lastUsed: new Date(1_700_000_000_000).toISOString(), usedBy: [] });
    expect(listing.volumeBytes).toBe(900 * MB);

    expect(listing.mirrors).toEqual([{ path: mirror, repo: 'https://example.com/dragonfly.git', sizeBytes: expect.any(Number) }]);
    expect(listing.mirrors[0]!.sizeBytes).toBeGreaterThan(0);
    expect(listing.leftovers.map((l) => l.path).sort()).toEqual([aside, stale].sort());
    expect(listing.leftovers.find((l) => l.path === aside)!.sizeBytes).toBe(100);

    // The last-use times were read through a throwaway container of the helper image, now gone.
    const helper = engine.containers.find((c) => c.spec.start === false)!;
    expect(helper.spec.volumes.map((v) => v.target).sort()).toEqual([`${CACHE_HELPER.volumes}/${OLD_TREE}`, `${CACHE_HELPER.volumes}/${NEW_TREE}`]);
    expect(engine.removed).toEqual([helper.id]);
    expect(engine.builds.map((b) => b.tag)).toEqual(['d7y-build/cache-helper:1']);

    expect(listing.hostCopies).toEqual([]);
    const copy = await hostCopy();
    expect((await listCache(engine, cacheDir)).hostCopies).toEqual([{ path: copy, sizeBytes: 6, lastUsed: expect.any(String) }]);
  });
});

describe('cache prune', () => {
  it('removes the source trees no container has, and the leftovers; spares the rest', async () => {
    const engine = await cachedEngine();
    const { mirror, aside, stale, held } = await mirrorCache();
    const staleBytes = (await stat(stale)).size;
    const copy = await hostCopy();
    const result = await pruneCache(engine, cacheDir, { all: false });
    expect(engine.removedVolumes).toEqual([OLD_TREE]);
    expect(result.sparedVolumes).toEqual([{ name: NEW_TREE, usedBy: [engine.containers[0]!.id] }]);
    // The copies of hosts stay: they keep themselves few.
    expect(await readdir(path.dirname(copy))).toEqual([path.basename(copy)]);
    expect(result.removedPaths.sort()).toEqual([aside, stale].sort());
    expect(result.freedBytes).toBe(40 * MB + 100 + staleBytes);
    expect(await readdir(path.join(cacheDir, 'git'))).toEqual([path.basename(mirror)]);
    expect(await readdir(path.join(cacheDir, 'locks'))).toEqual([path.basename(held)]);
  });

  it('with --max-size, removes the least recently used source trees, then the largest caches, until under the size', async () => {
    const engine = await cachedEngine();
    engine.containers.length = 0; // no build runs
    const result = await pruneCache(engine, cacheDir, { all: false, maxSizeBytes: 850 * MB });
    expect(engine.removedVolumes).toEqual([OLD_TREE, NEW_TREE]);
    expect(result.volumeBytes).toBe(810 * MB);
    const again = await pruneCache(engine, cacheDir, { all: false, maxSizeBytes: 400 * MB });
    expect(engine.removedVolumes).toEqual([OLD_TREE, NEW_TREE, 'd7y-build-go-build']);
    expect(again.volumeBytes).toBe(310 * MB);
    expect(engine.volumes.has('pgdata')).toBe(true);
  });

  it('with --all, removes every cache volume no container has, and no other volume', async () => {
    const engine = await cachedEngine();
    const copy = await hostCopy();
    const result = await pruneCache(engine, cacheDir, { all: true });
    expect(engine.removedVolumes.sort()).toEqual(['d7y-build-go-build', 'd7y-build-go-host', 'd7y-build-go-mod', OLD_TREE].sort());
    expect(result.removedPaths).toEqual([copy]);
    await expect(stat(copy)).rejects.toMatchObject({ code: 'ENOENT' });
    expect(result.sparedVolumes.map((v) => v.name)).toEqual([NEW_TREE]);
    expect([...engine.volumes.keys()].sort()).toEqual([NEW_TREE, 'pgdata'].sort());
  });
});

/** An engine whose volumes hold something to export. */
async function exportingEngine(): Promise<FakeEngine> {
  const engine = await cachedEngine();
  engine.volumes.delete('d7y-build-go-host');
  engine.archives.set(`${CACHE_HELPER.volumes}/d7y-build-go-mod`, { 'd7y-build-go-mod/cache/download/x/@v/v1.0.0.zip': 'zip' });
  engine.archives.set(`${CACHE_HELPER.volumes}/d7y-build-go-build`, { 'd7y-build-go-build/ab/abcd-d': 'compiled' });
  // The new tree is published; the old one has only an upload that never was.
  engine.archives.set(at(NEW_TREE, 'dragonfly'), { dragonfly: { link: 't-run-7' } });
  engine.archives.set(at(NEW_TREE, 't-run-7'), { 't-run-7/go.mod': 'module d7y.io/dragonfly/v2\n', 't-run-7/cmd/dfget/main.go': 'package main\n' });
  return engine;
}

const GO_REF = 'golang:1.23.5-bookworm';
const GO_ID = `sha256:${'a'.repeat(64)}`;
const BUILDER_ID = `sha256:${'b'.repeat(64)}`;
const GO_LAYERS = [`sha256:${'1'.repeat(64)}`, `sha256:${'2'.repeat(64)}`];
const BUILDER_LAYER = `sha256:${'3'.repeat(64)}`;
const goImage = () => ({ id: GO_ID, env: {}, labels: {}, arch: 'amd64', layers: GO_LAYERS });

/**
 * An exporting engine with the builder image this d7y-build uses on the Go image, and a builder
 * image of an earlier d7y-build on it, which no build would use.
 */
async function engineWithImages(): Promise<{ engine: FakeEngine; builder: string }> {
  const engine = await exportingEngine();
  const builder = (await builderImageFor(GO_ID, 'linux/amd64')).tag;
  const labels = { ...toolLabels('builder'), 'io.d7y-build.go-image': GO_REF };
  engine.images.set(GO_REF, goImage());
  engine.images.set(builder, { id: BUILDER_ID, env: {}, labels, arch: 'amd64', layers: [...GO_LAYERS, BUILDER_LAYER] });
  engine.images.set('d7y-build/builder:0123456789abcdef', { id: `sha256:${'c'.repeat(64)}`, env: {}, labels, arch: 'amd64' });
  engine.imageSizes.set(BUILDER_ID, 900 * MB);
  return { engine, builder };
}

/** Every entry of a tar file: name, type, link target, content. */
async function entriesOf(file: string): Promise<Array<{ name: string; type: string; linkname?: string; content: string }>> {
  const extract = tarStream.extract();
  createReadStream(file).pipe(extract);
  const entries = [];
  for await (const entry of extract) {
    const chunks: Buffer[] = [];
    for await (const chunk of entry) chunks.push(chunk as Buffer);
    entries.push({
      name: entry.header.name,
      type: entry.header.type,
      ...(entry.header.type === 'symlink' ? { linkname: entry.header.linkname } : {}),
      content: Buffer.concat(chunks).toString('utf8'),
    });
  }
  return entries;
}

const IMPORTED = `t-import-${NEW_SHA.slice(0, 12)}`;

describe('cache export', () => {
  it('writes one tar: the manifest first, each volume, a source tree as its published tree and then its link', async () => {
    const engine = await exportingEngine();
    const file = path.join(dir, 'out', 'cache.tar');
    const result = await exportCache(engine, file);
    expect(result.volumes.map((v) => v.name)).toEqual(['d7y-build-go-build', 'd7y-build-go-mod', NEW_TREE]);
    expect(result.skipped).toEqual([{ name: OLD_TREE, why: 'no complete source tree in it yet' }]);

    const entries = await entriesOf(file);
    expect(entries[0]!.name).toBe('d7y-build-cache.json');
    const manifest = JSON.parse(entries[0]!.content);
    expect(manifest).toMatchObject({
      schemaVersion: 2,
      images: [],
      volumes: [
        { name: 'd7y-build-go-build', role: 'go-build-cache' },
        { name: 'd7y-build-go-mod' },
        { name: NEW_TREE, labels: { 'io.d7y-build.sha': NEW_SHA } },
      ],
    });
    expect(entries.slice(1).map((e) => [e.name.replace(/\/$/, ''), e.linkname ?? e.content])).toEqual([
      ['d7y-build-go-build/ab/abcd-d', 'compiled'],
      ['d7y-build-go-mod/cache/download/x/@v/v1.0.0.zip', 'zip'],
      [NEW_TREE, ''],
      [`${NEW_TREE}/${IMPORTED}/go.mod`, 'module d7y.io/dragonfly/v2\n'],
      [`${NEW_TREE}/${IMPORTED}/cmd/dfget/main.go`, 'package main\n'],
      [`${NEW_TREE}/dragonfly`, IMPORTED],
    ]);
    // Written under a temporary name and renamed: nothing else is left beside it.
    expect(await readdir(path.dirname(file))).toEqual(['cache.tar']);
    expect(engine.containers.filter((c) => c.spec.start === false).every((c) => engine.removed.includes(c.id))).toBe(true);
  });

  it('writes a directory: one tar per volume and the manifest naming them; tars of volumes gone are removed', async () => {
    const engine = await exportingEngine();
    const target = path.join(dir, 'export');
    await mkdir(target);
    await writeFile(path.join(target, `${OLD_TREE}.tar`), 'from an earlier export');
    await writeFile(path.join(target, 'notes.tar'), 'not ours');
    await exportCache(engine, target);
    expect((await readdir(target)).sort()).toEqual(
      ['d7y-build-cache.json', 'd7y-build-go-build.tar', 'd7y-build-go-mod.tar', `${NEW_TREE}.tar`, 'notes.tar'].sort(),
    );
    const manifest = JSON.parse(await readFile(path.join(target, 'd7y-build-cache.json'), 'utf8'));
    expect(manifest.volumes.map((v: { file: string }) => v.file)).toEqual(['d7y-build-go-build.tar', 'd7y-build-go-mod.tar', `${NEW_TREE}.tar`]);
    expect((await entriesOf(path.join(target, `${NEW_TREE}.tar`))).map((e) => e.name.replace(/\/$/, ''))).toEqual([
      NEW_TREE,
      `${NEW_TREE}/${IMPORTED}/go.mod`,
      `${NEW_TREE}/${IMPORTED}/cmd/dfget/main.go`,
      `${NEW_TREE}/dragonfly`,
    ]);
  });

  it('carries the builder image a build would use, without the layers of its Go image, after the manifest', async () => {
    const { engine, builder } = await engineWithImages();
    const file = path.join(dir, 'cache.tar');
    const result = await exportCache(engine, file);
    expect(result.images).toEqual([{ ref: builder, base: GO_REF }]);
    expect(engine.saves).toEqual([[builder]]);
    const entries = await entriesOf(file);
    expect(JSON.parse(entries[0]!.content).images).toEqual([{ ref: builder, id: BUILDER_ID, base: { ref: GO_REF, id: GO_ID } }]);
    expect(entries.slice(1, 3).map((e) => e.name)).toEqual([`images/${'3'.repeat(64)}/layer.tar`, 'images/manifest.json']);
    expect(entries[3]!.name).toBe('d7y-build-go-build/ab/abcd-d');

    const listing = await listCache(engine, cacheDir);
    expect(listing.images.map((i) => [i.ref, i.role, i.sizeBytes])).toEqual([
      ['d7y-build/builder:0123456789abcdef', 'builder', 0],
      [builder, 'builder', 900 * MB],
      [GO_REF, 'go', 0],
    ]);
  });

  it('takes only the builder images of the Go image and platforms asked for; the volumes whole', async () => {
    const { engine, builder } = await engineWithImages();
    // The cross builder on the same Go image, and a builder on another Go image.
    const cross = (await builderImageFor(GO_ID, 'linux/arm64')).tag;
    const labels = { ...toolLabels('builder'), 'io.d7y-build.go-image': GO_REF };
    engine.images.set(cross, { id: `sha256:${'d'.repeat(64)}`, env: {}, labels, arch: 'amd64', layers: [...GO_LAYERS, `sha256:${'4'.repeat(64)}`] });
    const otherId = `sha256:${'f'.repeat(64)}`;
    const otherBuilder = (await builderImageFor(otherId, 'linux/amd64')).tag;
    engine.images.set('golang:1.20.14-bookworm', { id: otherId, env: {}, labels: {}, arch: 'amd64', layers: [`sha256:${'5'.repeat(64)}`] });
    engine.images.set(otherBuilder, {
      id: `sha256:${'6'.repeat(64)}`,
      env: {},
      labels: { ...labels, 'io.d7y-build.go-image': 'golang:1.20.14-bookworm' },
      arch: 'amd64',
      layers: [`sha256:${'5'.repeat(64)}`, `sha256:${'7'.repeat(64)}`],
    });
    const refs = async (filter: ExportImageFilter) =>
      (await exportCache(engine, path.join(dir, `${randomUUID()}.tar`), {}, filter as ExportImageFilter)).images.map((i) => i.ref);

    expect(await refs({})).toEqual([builder, cross, otherBuilder].sort());
    expect(await refs({ goImage: GO_REF })).toEqual([builder, cross].sort());
    expect(await refs({ platforms: ['linux/amd64'] })).toEqual([builder, otherBuilder].sort());
    expect(await refs({ goImage: GO_REF, platforms: ['linux/amd64'] })).toEqual([builder]);
    const onlyVolumes = await exportCache(engine, path.join(dir, 'none.tar'), {}, { goImage: 'golang:1.20.14-bookworm', platforms: ['linux/arm64'] });
    expect(onlyVolumes.images).toEqual([]);
    expect(onlyVolumes.volumes.map((v) => v.name)).toContain('d7y-build-go-build');

    const err = await exportCache(engine, path.join(dir, 'x.tar'), {}, { goImage: 'golang:9' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect(err).toMatchObject({ exitCode: 2, message: '--go-image golang:9: the engine has no such image, so no builder image is on it' });
    expect(existsSync(path.join(dir, 'x.tar'))).toBe(false);
  });

  it('refuses an engine without caches, and a target it cannot write', async () => {
    await expect(exportCache(new FakeEngine(), path.join(dir, 'x.tar'))).rejects.toMatchObject({
      code: 'usage',
      message: 'there is no d7y-build cache on this engine to export',
    });
    await writeFile(path.join(dir, 'file'), '');
    const err = await exportCache(await exportingEngine(), path.join(dir, 'file', 'x.tar')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).message).toBe(`cannot write the cache export to ${path.join(dir, 'file', 'x.tar')}: ENOTDIR`);
  });
});

describe('cache import', () => {
  it('creates the volumes of an export with their labels and fills them; a volume that exists is kept as it is', async () => {
    for (const kind of ['file', 'dir'] as const) {
      const target = kind === 'file' ? path.join(dir, `${kind}.tar`) : path.join(dir, kind);
      await exportCache(await exportingEngine(), target);
      const fresh = new FakeEngine();
      fresh.volumes.set('d7y-build-go-build', toolLabels('go-build-cache'));
      const result = await importCache(fresh, target);
      expect(result.volumes.map((v) => v.name)).toEqual(['d7y-build-go-mod', NEW_TREE]);
      expect(result.kept).toEqual(['d7y-build-go-build']);
      expect(fresh.volumes.get('d7y-build-go-mod')).toEqual(toolLabels('go-mod-cache'));
      expect(fresh.volumes.get(NEW_TREE)).toEqual(sourceTreeLabels(NEW_SHA));

      // Into the throwaway container that mounts the new volumes, nothing of the kept one.
      const helper = fresh.containers.find((c) => c.spec.start === false)!;
      expect(helper.spec.volumes.map((v) => v.name)).toEqual(['d7y-build-go-mod', NEW_TREE]);
      expect(fresh.puts).toEqual([
        {
          container: helper.id,
          dir: CACHE_HELPER.volumes,
          files: {
            'd7y-build-go-mod/cache/download/x/@v/v1.0.0.zip': 'zip',
            [`${NEW_TREE}/${IMPORTED}/go.mod`]: 'module d7y.io/dragonfly/v2\n',
            [`${NEW_TREE}/${IMPORTED}/cmd/dfget/main.go`]: 'package main\n',
          },
          links: { [`${NEW_TREE}/dragonfly`]: IMPORTED },
        },
      ]);
      expect(fresh.removed).toEqual([helper.id]);
    }
  });

  it('loads a builder image the engine lacks onto its Go image, keeps one it has, from a file or a directory', async () => {
    for (const kind of ['file', 'dir'] as const) {
      const target = kind === 'file' ? path.join(dir, `${kind}.tar`) : path.join(dir, kind);
      const { engine, builder } = await engineWithImages();
      await exportCache(engine, target);
      if (kind === 'dir') expect(await readdir(target)).toContain('images.tar');
      const fresh = new FakeEngine();
      fresh.images.set(GO_REF, goImage());
      const result = await importCache(fresh, target);
      expect(result.images).toEqual([{ ref: builder, base: GO_REF }]);
      expect(fresh.loads).toEqual([[builder]]);
      expect(fresh.images.get(builder)).toMatchObject({ id: BUILDER_ID, layers: [...GO_LAYERS, BUILDER_LAYER] });
      expect(result.volumes.map((v) => v.name)).toEqual(['d7y-build-go-build', 'd7y-build-go-mod', NEW_TREE]);
      // The images' entries went to the engine's image load, none into a volume.
      expect(Object.keys(fresh.puts[0]!.files).every((name) => !name.startsWith('images/'))).toBe(true);

      // Imported again: the image is there.
      const again = await importCache(fresh, target);
      expect(again.images).toEqual([]);
      expect(again.keptImages).toEqual([builder]);
      expect(fresh.loads).toHaveLength(1);
    }
  });

  it('loads no builder image without its Go image, or where its tag names another image', async () => {
    const { engine, builder } = await engineWithImages();
    const file = path.join(dir, 'cache.tar');
    await exportCache(engine, file);
    const bare = new FakeEngine();
    const result = await importCache(bare, file);
    expect(result.skippedImages).toEqual([
      { ref: builder, why: `it is built on ${GO_REF} (sha256:aaaaaaaaaaaa), which is not here; the first build makes its own` },
    ]);
    expect(result.volumes).toHaveLength(3);
    const other = new FakeEngine();
    other.images.set(GO_REF, goImage());
    other.images.set(builder, { id: `sha256:${'e'.repeat(64)}`, env: {}, labels: {}, arch: 'amd64' });
    expect((await importCache(other, file)).skippedImages).toEqual([{ ref: builder, why: `${builder} is another image here (sha256:eeeeeeeeeeee)` }]);
    expect([...bare.loads, ...other.loads]).toEqual([]);
  });

  it('refuses images that would tag what the manifest does not list, or that the engine refuses, and takes back all it made', async () => {
    const { engine, builder } = await engineWithImages();
    const file = path.join(dir, 'cache.tar');
    await exportCache(engine, file);
    const entries = await entriesOf(file);
    const pack = tarStream.pack();
    for (const e of entries) {
      const content = e.name === 'images/manifest.json' ? e.content.replace(`"RepoTags":["${builder}"]`, '"RepoTags":["alpine:latest"]') : e.content;
      if (e.type === 'symlink') pack.entry({ name: e.name, type: 'symlink', linkname: e.linkname });
      else if (e.type === 'directory') pack.entry({ name: e.name, type: 'directory' });
      else pack.entry({ name: e.name }, content);
    }
    pack.finalize();
    const crafted = path.join(dir, 'crafted.tar');
    await writeFile(crafted, Buffer.concat(await Readable.from(pack).toArray()));

    const fresh = new FakeEngine();
    fresh.images.set(GO_REF, goImage());
    const err = await importCache(fresh, crafted).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).message).toBe(
      `${crafted} is not a d7y-build cache export: the images would tag "alpine:latest", which the manifest does not list`,
    );
    expect([...fresh.images.keys()]).toEqual([GO_REF]);
    expect([...fresh.volumes.keys()]).toEqual([]);

    const refusing = new FakeEngine();
    refusing.images.set(GO_REF, goImage());
    refusing.loadError = new Error('unexpected EOF');
    const refused = await importCache(refusing, file).catch((e: unknown) => e);
    expect(refused).toMatchObject({ exitCode: 2, message: `the engine refused the images of ${file}: unexpected EOF` });
    expect(refusing.removedImages).toEqual([builder]);
    expect([...refusing.volumes.keys()]).toEqual([]);
  });

  /** A one-file export with this manifest and these entries. */
  async function craft(
    name: string,
    volumes: object[],
    entries: Array<{ name: string; type?: 'file' | 'symlink' | 'link'; linkname?: string }>,
  ): Promise<string> {
    const pack = tarStream.pack();
    pack.entry({ name: 'd7y-build-cache.json' }, JSON.stringify({ schemaVersion: 1, volumes }));
    for (const e of entries) {
      if (e.type === undefined || e.type === 'file') pack.entry({ name: e.name }, 'x');
      else pack.entry({ name: e.name, type: e.type, linkname: e.linkname });
    }
    pack.finalize();
    const file = path.join(dir, name);
    await writeFile(file, Buffer.concat(await Readable.from(pack).toArray()));
    return file;
  }

  const goMod = { name: 'd7y-build-go-mod', role: 'go-mod-cache', labels: {} };

  it.each([
    [
      'an entry outside its volume',
      [{ name: 'd7y-build-go-mod/../d7y-build-go-build/x' }],
      /entry "d7y-build-go-mod\/\.\.\/d7y-build-go-build\/x" points outside its volume/,
    ],
    ['an entry of no listed volume', [{ name: 'elsewhere/x' }], /belongs to no volume the manifest lists/],
    ['an absolute link', [{ name: 'd7y-build-go-mod/l', type: 'symlink' as const, linkname: '/etc' }], /links to "\/etc", outside its volume/],
    [
      'a link out of the volume',
      [{ name: 'd7y-build-go-mod/a/l', type: 'symlink' as const, linkname: '../../x' }],
      /links to "\.\.\/\.\.\/x", outside its volume/,
    ],
    [
      'a hard link',
      [{ name: 'd7y-build-go-mod/h', type: 'link' as const, linkname: 'd7y-build-go-mod/x' }],
      /is a link: a cache holds directories, files and links/,
    ],
  ])('refuses %s, and removes the volumes it made', async (_what, entries, message) => {
    const file = await craft('bad.tar', [goMod], [{ name: 'd7y-build-go-mod/ok' }, ...entries]);
    const engine = new FakeEngine();
    const err = await importCache(engine, file).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).exitCode).toBe(2);
    expect((err as UsageError).message).toMatch(message);
    expect((err as UsageError).hint).toBe('pass a file or directory that `d7y-build cache export` wrote');
    expect([...engine.volumes.keys()]).toEqual([]);
    expect(engine.removedVolumes).toEqual(['d7y-build-go-mod']);
  });

  it.each([
    ['a volume that is not a cache', [{ name: 'pgdata', role: 'x', labels: {} }], /names "pgdata", which is no d7y-build cache volume/],
    [
      'a source tree without its commit',
      [{ name: OLD_TREE, role: 'dragonfly-source', labels: {} }],
      /source tree d7y-build-src-111111111111-aaaaaaaa has no matching io\.d7y-build\.sha label/,
    ],
    [
      'a source tree of another commit',
      [{ name: OLD_TREE, role: 'dragonfly-source', labels: { 'io.d7y-build.sha': NEW_SHA } }],
      /has no matching io\.d7y-build\.sha label/,
    ],
  ])('refuses a manifest naming %s, before anything is made', async (_what, volumes, message) => {
    const file = await craft('bad.tar', volumes, []);
    const engine = new FakeEngine();
    await expect(importCache(engine, file)).rejects.toMatchObject({ code: 'usage', message: expect.stringMatching(message) });
    expect(engine.containers).toEqual([]);
  });

  it('refuses an export cut short, and removes the volumes it made', async () => {
    const file = path.join(dir, 'whole.tar');
    await exportCache(await exportingEngine(), file);
    const whole = await readFile(file);
    await writeFile(file, whole.subarray(0, whole.length - 2048 - 100));
    const engine = new FakeEngine();
    const err = await importCache(engine, file).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).message).toMatch(/whole\.tar is not a d7y-build cache export: /);
    expect([...engine.volumes.keys()]).toEqual([]);
    expect(engine.removedVolumes.sort()).toEqual(['d7y-build-go-build', 'd7y-build-go-mod', NEW_TREE].sort());
  });

  it('refuses what is missing, unreadable or not an export, as usage errors', async () => {
    const engine = new FakeEngine();
    await expect(importCache(engine, path.join(dir, 'nope.tar'))).rejects.toMatchObject({
      exitCode: 2,
      message: `cannot read the cache export ${path.join(dir, 'nope.tar')}: ENOENT`,
    });
    await writeFile(path.join(dir, 'text.tar'), 'not a tar at all, just some text that is long enough to fill a block '.repeat(10));
    await expect(importCache(engine, path.join(dir, 'text.tar'))).rejects.toMatchObject({
      exitCode: 2,
      message: expect.stringMatching(/^.*text\.tar is not a d7y-build cache export: it is not a tar archive/),
    });
    const other = await craft('other.tar', [], []);
    await writeFile(
      other,
      Buffer.concat(
        await Readable.from(
          (() => {
            const p = tarStream.pack();
            p.entry({ name: 'README' }, 'hi');
            p.finalize();
            return p;
          })(),
        ).toArray(),
      ),
    );
    await expect(importCache(engine, other)).rejects.toMatchObject({
      exitCode: 2,
      message: `${other} is not a d7y-build cache export: its first entry is not d7y-build-cache.json`,
    });
    await mkdir(path.join(dir, 'emptydir'));
    await expect(importCache(engine, path.join(dir, 'emptydir'))).rejects.toMatchObject({
      exitCode: 2,
      message: expect.stringContaining('the cache export manifest'),
    });
    expect(engine.containers).toEqual([]);
  });
});
