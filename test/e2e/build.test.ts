/**
 * The main job, through the bundled CLI, a real engine, the fixture Dragonfly and real go builds:
 * each example plugin built, validated, installed, and then loaded and used by the host it was built with.
 */
import { cp, mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { digest, docker, examples, exists, fixtureArgs, fixtureSha, leftoverContainers, runCli, runHost, tempDir } from './helpers';

const SOURCE_DATE_EPOCH = '1704164645'; // 2024-01-02T03:04:05Z

/** git in the fixture repository: its output. */
async function execGit(...args: string[]): Promise<string> {
  return (await promisify(execFile)('git', ['-C', inject('fixtureRepo'), ...args])).stdout;
}

interface Outcome {
  schemaVersion: number;
  ok: boolean;
  commit: string;
  goVersion: string;
  buildCommit: string;
  buildTime: string;
  buildTimeReason: string;
  cache: { host: 'hit' | 'miss' | 'off'; hostKey?: string };
  flags: { cgoEnabled: boolean; goArgs: string[]; trimpath: boolean; tags: string[] };
  artifacts: Array<{ kind: string; path: string; sha256?: string; size?: number }>;
  installed: string[];
  validation: { stdout: string; stderr: string; plugins: Array<{ type: string; name: string; location: string; attribute: Record<string, string> }> };
  steps: Array<{ name: string; status: string; durationMs: number }>;
}

function parseOutcome(stdout: string): Outcome {
  const lines = stdout.trim().split('\n');
  expect(lines).toHaveLength(1); // --json: exactly one document on stdout
  return JSON.parse(lines[0]!) as Outcome;
}

afterEach(async () => {
  expect(await leftoverContainers()).toEqual([]);
});

describe('d7y-build builds, validates and installs', () => {
  it('a resource plugin without go.mod, with a JSON outcome and manifest', async () => {
    await using work = await tempDir();
    const out = path.join(work.path, 'out');
    const plugins = path.join(work.path, 'plugins');
    const run = await runCli([...fixtureArgs('v2.1.0'), '--out', out, '--plugins-dir', plugins, '--json', path.join(examples, 'd7yfs')], {
      env: { SOURCE_DATE_EPOCH },
    });
    expect(run.stderr).not.toMatch(/error:/);
    expect(run.exitCode).toBe(0);

    const sha = await fixtureSha('v2.1.0');
    const outcome = parseOutcome(run.stdout);
    expect(outcome).toMatchObject({
      schemaVersion: 1,
      ok: true,
      commit: sha,
      goVersion: 'go1.23.5',
      buildCommit: sha.slice(0, 7),
      buildTime: '2024-01-02T03:04:05Z',
      buildTimeReason: `SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH}`,
      flags: { cgoEnabled: true, goArgs: ['-trimpath'], trimpath: true, tags: [] },
      installed: [path.join(plugins, 'd7y-resource-plugin-d7yfs.so')],
    });
    expect(outcome.steps.map((s) => s.name)).toEqual([
      'check-inputs',
      'resolve-source',
      'prepare-image',
      'start-container',
      'upload-sources',
      'check-api',
      'check-dependencies',
      'compile-plugins',
      'compile-host',
      'validate',
      'collect-artifacts',
      'verify',
      'install',
    ]);
    for (const step of outcome.steps) expect(run.stderr).toContain(step.name);

    // The attribute the host printed when it loaded the plugin: stamped by the build.
    expect(outcome.validation.plugins).toEqual([
      {
        type: 'resource',
        name: 'd7yfs',
        location: 'd7y-resource-plugin-d7yfs.so',
        attribute: { type: 'resource', name: 'd7yfs', scheme: 'd7yfs', buildCommit: sha.slice(0, 7), buildTime: '2024-01-02T03:04:05Z' },
      },
    ]);

    // Every artifact is on disk with the digest the outcome claims, and the manifest agrees.
    const manifest = JSON.parse(await readFile(path.join(out, 'manifest.json'), 'utf8'));
    expect(manifest).toMatchObject({
      schemaVersion: 1,
      dragonfly: { commit: sha, ref: 'v2.1.0', shortCommit: sha.slice(0, 7), goModGo: '1.23.0', goModToolchain: '1.23.5' },
      go: { version: 'go1.23.5', platform: 'linux/amd64' },
      flags: { cgoEnabled: true, trimpath: true },
      buildTime: '2024-01-02T03:04:05Z',
      buildTimeReason: `SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH}`,
      validation: { command: 'dfget plugin' },
      // The static check agrees with the real load.
      verify: {
        loads: true,
        host: { path: 'bin/dfget', goVersion: 'go1.23.5', dragonflyCommit: sha.slice(0, 7) },
        plugins: [{ file: 'plugins/d7y-resource-plugin-d7yfs.so', loads: true, reasons: [] }],
      },
    });
    for (const a of outcome.artifacts.filter((x) => x.kind !== 'manifest')) {
      expect(await digest(a.path)).toBe(a.sha256);
      const inManifest = manifest.artifacts.find((m: { path: string }) => path.join(out, m.path) === a.path);
      expect(inManifest.sha256).toBe(a.sha256);
    }
    expect(await digest(path.join(plugins, 'd7y-resource-plugin-d7yfs.so'))).toBe(await digest(path.join(out, 'plugins/d7y-resource-plugin-d7yfs.so')));

    // The installed plugin, loaded by the host built with it, outside d7y-build.
    const host = path.join(out, 'bin/dfget');
    const listed = await runHost(host, plugins, ['plugin']);
    expect(listed.stdout).toContain('source plugin: file, location: in-tree');
    expect(listed.stdout).toMatch(/^resource plugin: d7yfs, location: d7y-resource-plugin-d7yfs\.so, attribute: \{.*"buildCommit":"[0-9a-f]{7}"/m);
    expect(listed.stderr).not.toMatch(/not valid/);
    const download = await runHost(host, plugins, ['-u', 'd7yfs://example/some/file']);
    expect(download).toMatchObject({ exitCode: 0, stdout: 'hello from d7yfs: example/some/file\n' });
    const version = await runHost(host, plugins, ['version']);
    expect(version.stdout).toContain(`GitCommit:\t${sha.slice(0, 7)}`);
    expect(version.stdout).toContain('BuildTime:\t2024-01-02T03:04:05Z');
    expect(version.stdout).toContain('GoVersion:\tgo1.23.5 linux/amd64');
  });

  it('several plugins in one call, one with its own go.mod and a third-party module', async () => {
    await using work = await tempDir();
    const out = path.join(work.path, 'out');
    const plugins = path.join(work.path, 'plugins');
    const run = await runCli([
      ...fixtureArgs('v2.1.1'),
      '--out',
      out,
      '--plugins-dir',
      plugins,
      '--json',
      path.join(examples, 'd7yfs'),
      path.join(examples, 'humanfs'),
    ]);
    expect(run.stderr).not.toMatch(/error:/);
    expect(run.exitCode).toBe(0);
    const outcome = parseOutcome(run.stdout);
    expect(outcome.validation.plugins.map((p) => p.name)).toEqual(['d7yfs', 'humanfs']);
    expect(outcome.validation.plugins[1]!.attribute.maxSize).toBe('1.1 TB');
    expect(outcome.artifacts.filter((a) => a.kind === 'host')).toHaveLength(1);
    expect(outcome.steps.find((s) => s.name === 'check-dependencies')!.status).toBe('done');

    const host = path.join(out, 'bin/dfget');
    const download = await runHost(host, plugins, ['-u', 'humanfs://any/2048']);
    expect(download).toMatchObject({ exitCode: 0, stdout: 'humanfs: 2.0 kB\n' });
  });

  it('a scheduler evaluator, with build tags on host and plugin alike', async () => {
    await using work = await tempDir();
    const out = path.join(work.path, 'out');
    const plugins = path.join(work.path, 'plugins');
    const run = await runCli([
      ...fixtureArgs('v2.1.1'),
      '--type',
      'scheduler',
      '--tags',
      'd7ytest',
      '--out',
      out,
      '--plugins-dir',
      plugins,
      path.join(examples, 'evaluator'),
    ]);
    expect(run.stderr).not.toMatch(/error:/);
    expect(run.exitCode).toBe(0);
    // Without --json, stdout holds only the installed paths.
    expect(run.stdout).toBe(`${path.join(plugins, 'd7y-scheduler-plugin-evaluator.so')}\n`);

    const host = path.join(out, 'bin/scheduler');
    const listed = await runHost(host, plugins, ['plugin']);
    expect(listed.stdout).toMatch(/^scheduler plugin: evaluator, location: d7y-scheduler-plugin-evaluator\.so, attribute: /m);
    const ranked = await runHost(host, plugins, ['--algorithm', 'plugin']);
    expect(ranked.stdout).toBe('parent: parent-2, bad node: false\nparent: parent-1, bad node: false\n');
    const version = await runHost(host, plugins, ['version']);
    expect(version.stdout).toContain('Gotags:   \td7ytest');
    const manifest = JSON.parse(await readFile(path.join(out, 'manifest.json'), 'utf8'));
    expect(manifest.flags).toMatchObject({ tags: ['d7ytest'], goArgs: ['-trimpath', '-tags=d7ytest'] });
  });

  it('a plugin directory given as a symbolic link: what it points to is sent', async () => {
    await using work = await tempDir();
    const real = path.join(work.path, 'sources', 'd7yfs-checkout');
    await cp(path.join(examples, 'd7yfs'), real, { recursive: true });
    // A relative link within the directory travels as a link.
    await writeFile(path.join(real, 'NOTES.md'), 'notes\n');
    await symlink('NOTES.md', path.join(real, 'README.md'));
    await mkdir(path.join(work.path, 'links'));
    await symlink(real, path.join(work.path, 'links', 'd7yfs'));
    const plugins = path.join(work.path, 'plugins');
    const run = await runCli([
      ...fixtureArgs('v2.1.0'),
      '--out',
      path.join(work.path, 'out'),
      '--plugins-dir',
      plugins,
      path.join(work.path, 'links', 'd7yfs'),
    ]);
    expect(run.stderr).not.toMatch(/error:/);
    expect(run.exitCode).toBe(0);
    expect(run.stdout).toBe(`${path.join(plugins, 'd7y-resource-plugin-d7yfs.so')}\n`);
  });

  it('a plugin whose d7y-plugin.yaml gives its type and commit, the rest in the user config file: no flags', async () => {
    await using work = await tempDir();
    const dir = path.join(work.path, 'my-evaluator');
    await cp(path.join(examples, 'evaluator'), dir, { recursive: true });
    await writeFile(path.join(dir, 'd7y-plugin.yaml'), `type: scheduler\ncommit: v2.1.1\nrepo: ${JSON.stringify(inject('fixtureRepo'))}\n`);
    const xdg = path.join(work.path, 'xdg');
    await mkdir(path.join(xdg, 'd7y-build'), { recursive: true });
    // Relative paths in a config file are taken from its directory.
    await writeFile(path.join(xdg, 'd7y-build', 'config.yaml'), `goImage: ${inject('goImage')}\nout: ../../out\npluginsDir: ../../plugins\n`);
    const unset = {
      D7Y_COMMIT: undefined,
      D7Y_TYPE: undefined,
      D7Y_REPO: undefined,
      D7Y_GO_IMAGE: undefined,
      D7Y_OUT: undefined,
      D7Y_PLUGINS_DIR: undefined,
      D7Y_CONFIG: undefined,
    };
    const run = await runCli(['--json', dir], { env: { ...unset, XDG_CONFIG_HOME: xdg } });
    expect(run.stderr).not.toMatch(/error:/);
    expect(run.exitCode).toBe(0);
    const plugins = path.join(work.path, 'plugins');
    expect(parseOutcome(run.stdout)).toMatchObject({
      commit: await fixtureSha('v2.1.1'),
      goImage: inject('goImage'),
      installed: [path.join(plugins, 'd7y-scheduler-plugin-evaluator.so')],
    });
    expect(await exists(path.join(work.path, 'out', 'bin', 'scheduler'))).toBe(true);
  });

  it('builds a known commit again from the mirror cache, with the repository gone', async () => {
    await using work = await tempDir();
    const repo = path.join(work.path, 'dragonfly');
    await cp(inject('fixtureRepo'), repo, { recursive: true });
    // A cache of its own, so that the first build really clones.
    const env = { D7Y_CACHE_DIR: path.join(work.path, 'cache') };
    const args = (dir: string) => [
      '--commit',
      'v2.1.0',
      '--repo',
      repo,
      '--go-image',
      inject('goImage'),
      '--out',
      path.join(work.path, dir, 'out'),
      '--plugins-dir',
      path.join(work.path, dir, 'plugins'),
      path.join(examples, 'd7yfs'),
    ];
    const first = await runCli(args('first'), { env });
    expect(first.exitCode).toBe(0);
    expect(first.stderr).not.toContain('(from the mirror cache)');

    await rm(repo, { recursive: true, force: true });
    const second = await runCli(args('second'), { env });
    expect(second.stderr).toContain('(from the mirror cache)');
    expect(second.exitCode).toBe(0);
    expect(await exists(path.join(work.path, 'second/plugins/d7y-resource-plugin-d7yfs.so'))).toBe(true);
  });
});

describe('the host cache and reproducible builds', () => {
  /** The artifacts of a build of d7yfs at v2.1.0 into <dir>/out, its outcome and stderr. */
  async function buildD7yfs(dir: string, env: Record<string, string | undefined>, extra: string[] = []) {
    const out = path.join(dir, 'out');
    const run = await runCli(
      [...fixtureArgs('v2.1.0'), '--out', out, '--plugins-dir', path.join(dir, 'plugins'), '--json', ...extra, path.join(examples, 'd7yfs')],
      { env },
    );
    expect(run.stderr).not.toMatch(/error:/);
    expect(run.exitCode).toBe(0);
    const files = ['bin/dfget', 'bin/d7y-loadcheck', 'plugins/d7y-resource-plugin-d7yfs.so'];
    const digests = Object.fromEntries(await Promise.all(files.map(async (f) => [f, await digest(path.join(out, f))] as const)));
    return { outcome: parseOutcome(run.stdout), stderr: run.stderr, digests, out };
  }

  it('takes an unchanged host from the cache, byte for byte what a --no-cache build makes', async () => {
    await using work = await tempDir();
    // A cache directory of its own: the first build keeps the copies of the host this machine holds.
    const env = { SOURCE_DATE_EPOCH, D7Y_CACHE_DIR: path.join(work.path, 'cache') };
    // The first build stores the host, unless an earlier one of the same key already did.
    const first = await buildD7yfs(path.join(work.path, 'first'), env);
    expect(first.outcome.cache.host).toMatch(/^(hit|miss)$/);
    const key = first.outcome.cache.hostKey!;
    expect(key).toMatch(/^[0-9a-f]{64}$/);

    const second = await buildD7yfs(path.join(work.path, 'second'), env);
    expect(second.outcome.cache).toEqual({ host: 'hit', hostKey: key });
    expect(second.stderr).toContain(`dfget from cache (key ${key.slice(0, 12)})`);
    expect(second.stderr).not.toContain('built dfget');
    expect(second.digests).toEqual(first.digests);
    // The host stayed in the container: this machine holds a copy with the sum the container reported.
    const copies = path.join(work.path, 'cache', 'hosts');
    expect(second.stderr).toContain(`dfget from ${copies}: the container's has the same sha256, and stays there`);

    // A copy changed on disk is never used: the host comes out of the container again, the same bytes.
    const copyOfHost = path.join(copies, second.digests['bin/dfget']!);
    await writeFile(copyOfHost, 'not dfget');
    const third = await buildD7yfs(path.join(work.path, 'third'), env);
    expect(third.stderr).toContain(`the copy of dfget in ${copies} did not match its sha256: removed it; taking dfget from the container`);
    expect(third.digests).toEqual(first.digests);
    expect(await digest(copyOfHost)).toBe(first.digests['bin/dfget']);

    // No cache of any kind: the host cache is neither read nor written, Go compiles every package
    // anew; with the same SOURCE_DATE_EPOCH, host, loader check and plugin come out the same.
    const fresh = await buildD7yfs(path.join(work.path, 'fresh'), env, ['--no-cache']);
    expect(fresh.outcome.cache).toEqual({ host: 'off' });
    expect(fresh.stderr).toContain('built dfget');
    expect(fresh.stderr).not.toMatch(/from cache|host cache/);
    expect(fresh.digests).toEqual(second.digests);
  });

  it("stamps the commit's committer date by default, and rebuilds the host when its cache entry is corrupt", async () => {
    await using work = await tempDir();
    const env = { SOURCE_DATE_EPOCH: undefined };
    const sha = await fixtureSha('v2.1.0');
    const committed = new Date((await execGit('show', '-s', '--format=%cI', sha)).trim()).toISOString().replace(/\.\d{3}Z$/, 'Z');
    const first = await buildD7yfs(path.join(work.path, 'first'), env);
    expect(first.outcome).toMatchObject({ buildTime: committed, buildTimeReason: `committer date of ${sha.slice(0, 7)}` });
    const key = first.outcome.cache.hostKey!;

    // A byte of the cached host flipped, as a failing disk would.
    const flip = `f=/cache/$1/bin/dfget; dd if="$f" bs=1 skip=4096 count=1 status=none | tr '\\000-\\377' '\\001-\\377\\000' | dd of="$f" bs=1 seek=4096 conv=notrunc status=none`;
    await docker('run', '--rm', '--label', 'io.d7y-build.test=corrupt', '-v', 'd7y-build-host-cache:/cache', inject('goImage'), 'sh', '-c', flip, 'sh', key);

    const second = await buildD7yfs(path.join(work.path, 'second'), env);
    expect(second.stderr).toContain(`the host cache entry ${key.slice(0, 12)} was corrupt (bin/dfget does not match SHA256SUMS): removed it, building dfget`);
    expect(second.stderr).toContain(`stored dfget in the host cache (key ${key.slice(0, 12)})`);
    expect(second.outcome.cache).toEqual({ host: 'miss', hostKey: key });
    expect(second.outcome.buildTime).toBe(committed);
    expect(second.digests).toEqual(first.digests);
    // The rebuilt host loads the plugin, in the build and outside it.
    expect(second.outcome.validation.plugins.map((p) => p.name)).toEqual(['d7yfs']);
    const listed = await runHost(path.join(second.out, 'bin/dfget'), path.join(work.path, 'second/plugins'), ['plugin']);
    expect(listed.stdout).toMatch(/^resource plugin: d7yfs, location: d7y-resource-plugin-d7yfs\.so, attribute: /m);
  });
});
