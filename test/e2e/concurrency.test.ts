/**
 * Builds at once: different commits and plugins sharing the caches (a mirror cloned by all four at
 * the same moment, the Go cache volumes, the builder image) all succeed; two builds installing the
 * same plugin take turns, and the one that finds the other's plugin in place installs nothing; two
 * builds of one commit share one source-tree volume that ends with one tree.
 */
import path from 'node:path';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { digest, docker, examples, fixtureSha, leftoverContainers, runCli, tempDir } from './helpers';

afterEach(async () => {
  expect(await leftoverContainers()).toEqual([]);
});

describe('concurrent builds', () => {
  it('four builds of different commits and plugins, sharing one new cache', async () => {
    await using work = await tempDir('conc-');
    const env = { D7Y_CACHE_DIR: path.join(work.path, 'cache') };
    const builds = [
      { commit: 'v2.1.0', type: 'resource', dir: 'd7yfs', file: 'd7y-resource-plugin-d7yfs.so', host: 'dfget' },
      { commit: 'v2.1.1', type: 'resource', dir: 'humanfs', file: 'd7y-resource-plugin-humanfs.so', host: 'dfget' },
      { commit: 'main', type: 'scheduler', dir: 'evaluator', file: 'd7y-scheduler-plugin-evaluator.so', host: 'scheduler' },
      { commit: 'v2.1.0', type: 'scheduler', dir: 'evaluator', file: 'd7y-scheduler-plugin-evaluator.so', host: 'scheduler' },
    ];
    const runs = await Promise.all(
      builds.map((b, i) =>
        runCli(
          [
            '--commit',
            b.commit,
            '--repo',
            inject('fixtureRepo'),
            '--go-image',
            inject('goImage'),
            '--type',
            b.type,
            '--out',
            path.join(work.path, `out${i}`),
            '--plugins-dir',
            path.join(work.path, `plugins${i}`),
            '--json',
            path.join(examples, b.dir),
          ],
          { env },
        ),
      ),
    );
    for (const [i, run] of runs.entries()) {
      expect(run.stderr).not.toMatch(/error:/);
      expect(run.exitCode).toBe(0);
      const outcome = JSON.parse(run.stdout);
      const b = builds[i]!;
      expect(outcome.validation.plugins.map((p: { location: string }) => p.location)).toEqual([b.file]);
      const installed = path.join(work.path, `plugins${i}`, b.file);
      expect(outcome.installed).toEqual([installed]);
      expect(await digest(installed)).toBe(outcome.artifacts.find((a: { kind: string }) => a.kind === 'plugin').sha256);
      expect(outcome.artifacts.find((a: { kind: string }) => a.kind === 'host').path).toBe(path.join(work.path, `out${i}`, 'bin', b.host));
    }
    // Each was built against its own commit.
    const commits = runs.map((r) => JSON.parse(r.stdout).commit as string);
    expect(commits[0]).toBe(commits[3]);
    expect(new Set(commits).size).toBe(3);
  });

  it('two builds installing the same plugin take turns; the second installs nothing and says why', async () => {
    await using work = await tempDir('same-');
    const plugins = path.join(work.path, 'plugins');
    const runs = await Promise.all(
      ['v2.1.0', 'v2.1.1'].map((commit) =>
        runCli([
          '--commit',
          commit,
          '--repo',
          inject('fixtureRepo'),
          '--go-image',
          inject('goImage'),
          '--out',
          path.join(work.path, commit),
          '--plugins-dir',
          plugins,
          '--json',
          path.join(examples, 'd7yfs'),
        ]),
      ),
    );
    const codes = runs.map((r) => r.exitCode).sort();
    expect(codes).toEqual([0, 9]);
    const winner = runs.find((r) => r.exitCode === 0)!;
    const loser = runs.find((r) => r.exitCode === 9)!;
    const outcome = JSON.parse(loser.stdout);
    expect(outcome.error.message).toMatch(/d7y-resource-plugin-d7yfs\.so was created by someone else while this build ran; installed nothing/);
    expect(outcome.error.hint).toMatch(/run again to install this build's/);
    const won = JSON.parse(winner.stdout);
    expect(await digest(path.join(plugins, 'd7y-resource-plugin-d7yfs.so'))).toBe(won.artifacts.find((a: { kind: string }) => a.kind === 'plugin').sha256);
  });

  it('two builds of one commit fill one new source-tree volume: one tree is published, and both use it', async () => {
    await using work = await tempDir('tree-');
    const sha = await fixtureSha('v2.1.1');
    // The commit's source trees gone, so that both builds find their volume new.
    const trees = await docker('volume', 'ls', '-q', '--filter', `label=io.d7y-build.sha=${sha}`);
    if (trees !== '') await docker('volume', 'rm', ...trees.split('\n'));
    const runs = await Promise.all(
      ['a', 'b'].map((name) =>
        runCli([
          '--commit',
          'v2.1.1',
          '--repo',
          inject('fixtureRepo'),
          '--go-image',
          inject('goImage'),
          '--out',
          path.join(work.path, name, 'out'),
          '--plugins-dir',
          path.join(work.path, name, 'plugins'),
          '--json',
          path.join(examples, 'd7yfs'),
        ]),
      ),
    );
    for (const run of runs) {
      expect(run.stderr).not.toMatch(/error:/);
      expect(run.exitCode).toBe(0);
    }
    const [a, b] = runs.map((r) => JSON.parse(r.stdout).sourceTree as { volume: string; reused: boolean });
    expect(a!.volume).toBe(b!.volume);
    // One sent the tree that both used: the other found it, or lost the race to publish and dropped its own.
    expect([a!.reused, b!.reused].sort()).toEqual([false, true]);
    const listing = await docker('run', '--rm', '-v', `${a!.volume}:/v:ro`, inject('goImage'), 'sh', '-c', 'ls -A /v; readlink /v/dragonfly');
    const [published, ...entries] = listing.split('\n').reverse();
    expect(entries.sort()).toEqual(['.last-used', 'dragonfly', published].sort());
  });
});
