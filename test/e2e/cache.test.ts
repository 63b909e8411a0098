/**
 * The caches carried from one engine state to another: a build fills them, `cache ls` measures them,
 * `cache export` writes them with the builder image of its Go image and platform to a file, the
 * engine loses them (volumes and builder image; the Go image stays), `cache import` brings them
 * back, and the next build builds no image, sends no Dragonfly tree, takes the host from the host
 * cache and compiles nothing; `cache prune --all` removes the volumes.
 */
import path from 'node:path';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { docker, examples, exists, fixtureArgs, leftoverContainers, runCli, tempDir } from './helpers';

afterEach(async () => {
  expect(await leftoverContainers()).toEqual([]);
});

/** d7y-build's cache volumes on the engine. */
async function cacheVolumes(): Promise<string[]> {
  const out = await docker('volume', 'ls', '-q', '--filter', 'label=io.d7y-build');
  return out === '' ? [] : out.split('\n').sort();
}

/**
 * The compile outputs in Go's build cache: a compile that ran adds some, one served from the cache
 * none. Go's index of a package directory ("go index v2") is left out: Go writes none for a
 * directory changed in the last two seconds, so the first build over a just-sent tree skips it and
 * a later one adds it, though nothing is compiled.
 */
async function compileOutputs(): Promise<number> {
  const out = await docker(
    'run',
    '--rm',
    '-v',
    'd7y-build-go-build:/cache:ro',
    inject('goImage'),
    'sh',
    '-c',
    'find /cache -type f -name "*-d" | while read -r f; do [ "$(head -c 11 "$f")" = "go index v2" ] || echo "$f"; done',
  );
  return out === '' ? 0 : out.split('\n').length;
}

describe('d7y-build cache', () => {
  it('ls, export, import onto an engine without the caches, a build that reuses them, prune --all', async () => {
    await using work = await tempDir('cache-');
    const env = { D7Y_CACHE_DIR: path.join(work.path, 'cache'), SOURCE_DATE_EPOCH: '1704164645' };
    const build = (name: string) =>
      runCli(
        [
          ...fixtureArgs('v2.1.0'),
          '--out',
          path.join(work.path, name, 'out'),
          '--plugins-dir',
          path.join(work.path, name, 'plugins'),
          '--json',
          path.join(examples, 'd7yfs'),
        ],
        { env },
      );

    const first = await build('first');
    expect(first.stderr).not.toMatch(/error:/);
    expect(first.exitCode).toBe(0);
    const tree = JSON.parse(first.stdout).sourceTree.volume as string;
    expect(tree).toMatch(/^d7y-build-src-[0-9a-f]{12}-[0-9a-f]{8}$/);

    const ls = await runCli(['cache', 'ls', '--json'], { env });
    expect(ls.exitCode).toBe(0);
    const listing = JSON.parse(ls.stdout);
    const byName = new Map(listing.volumes.map((v: { name: string }) => [v.name, v]));
    for (const [name, role] of [
      ['d7y-build-go-mod', 'go-mod-cache'],
      ['d7y-build-go-build', 'go-build-cache'],
      [tree, 'dragonfly-source'],
    ]) {
      expect(byName.get(name), name).toMatchObject({ role, usedBy: [] });
      expect((byName.get(name) as { sizeBytes: number }).sizeBytes, name).toBeGreaterThan(0);
    }
    // The build stamped its use of the tree.
    expect(Date.parse((byName.get(tree) as { lastUsed: string }).lastUsed)).toBeGreaterThan(Date.now() - 10 * 60_000);
    expect(listing.mirrors).toHaveLength(1);
    const builderImage = JSON.parse(first.stdout).builderImage as string;
    const goImage = inject('goImage');
    expect(listing.images).toEqual(
      expect.arrayContaining([expect.objectContaining({ ref: builderImage, role: 'builder' }), expect.objectContaining({ ref: goImage, role: 'go' })]),
    );

    const file = path.join(work.path, 'export', 'd7y-cache.tar');
    // Of the builder images, only the one of this Go image and platform: other files' Go images and
    // the cross builder may be on the engine too.
    const exported = await runCli(['cache', 'export', '--go-image', goImage, '--platform', 'linux/amd64', file], { env });
    expect(exported.stderr).not.toMatch(/error:/);
    expect(exported.exitCode).toBe(0);
    expect(exported.stdout).toContain(`exported volume ${tree}\n`);
    expect(exported.stdout.split('\n').filter((line) => line.startsWith('exported image '))).toEqual([`exported image ${builderImage} (on ${goImage})`]);
    expect(await exists(file)).toBe(true);

    // The engine loses d7y-build's cache volumes and its builder image; the Go image stays.
    const before = await cacheVolumes();
    await docker('volume', 'rm', ...before);
    expect(await cacheVolumes()).toEqual([]);
    await docker('image', 'rm', builderImage);
    const goImageId = await docker('image', 'inspect', '--format', '{{.Id}}', goImage);

    const imported = await runCli(['cache', 'import', file], { env });
    expect(imported.stderr).not.toMatch(/error:/);
    expect(imported.exitCode).toBe(0);
    expect(imported.stdout).toContain(`imported image ${builderImage}\n`);
    expect(await docker('image', 'inspect', '--format', '{{.Id}}', goImage)).toBe(goImageId);
    expect(await cacheVolumes()).toEqual(expect.arrayContaining(['d7y-build-go-build', 'd7y-build-go-mod', tree]));
    const labels = JSON.parse(await docker('volume', 'inspect', tree))[0].Labels;
    expect(labels).toMatchObject({ 'io.d7y-build': 'true', 'io.d7y-build.role': 'dragonfly-source', 'io.d7y-build.sha': JSON.parse(first.stdout).commit });

    const entries = await compileOutputs();
    expect(entries).toBeGreaterThan(0);
    const second = await build('second');
    expect(second.stderr).not.toMatch(/error:/);
    expect(second.exitCode).toBe(0);
    // No image built: the imported builder image was taken; no tree sent: the imported one was used;
    // the host from the imported host cache; no compile ran: Go's build cache gained no compile output.
    const outcome = JSON.parse(second.stdout);
    expect(outcome.builderImage).toBe(builderImage);
    expect(second.stderr).toContain(`using ${builderImage} (${goImage})`);
    expect(second.stderr).not.toContain('building d7y-build/builder');
    expect(outcome.steps.find((s: { name: string }) => s.name === 'prepare-image').durationMs).toBeLessThan(2000);
    expect(second.stderr).toContain(`the source tree in volume ${tree} is reused, nothing sent`);
    expect(outcome.sourceTree).toEqual({ volume: tree, reused: true });
    expect(outcome.cache).toMatchObject({ host: 'hit' });
    expect(await compileOutputs()).toBe(entries);

    const pruned = await runCli(['cache', 'prune', '--all', '--json'], { env });
    expect(pruned.exitCode).toBe(0);
    expect(JSON.parse(pruned.stdout).removedVolumes.map((v: { name: string }) => v.name)).toEqual(
      expect.arrayContaining(['d7y-build-go-build', 'd7y-build-go-mod', tree]),
    );
    expect(await cacheVolumes()).toEqual([]);

    // The engine warm again for the tests after this one.
    expect((await runCli(['cache', 'import', file], { env })).exitCode).toBe(0);
  });
});
