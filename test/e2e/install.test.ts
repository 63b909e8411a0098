/**
 * `d7y-build install`: prebuilt plugins are installed only when the given host loads them. A plugin
 * built for one fixture tag is refused by the host of the other, exactly as plugin.Open refuses it.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { digest, examples, fixtureArgs, leftoverContainers, runCli, snapshot, tempDir } from './helpers';

let work: { path: string } & AsyncDisposable;
const PLUGIN = 'plugins/d7y-resource-plugin-d7yfs.so';

beforeAll(async () => {
  work = await tempDir('install-');
  // The same plugin source, built against v2.1.0 and against v2.1.1.
  for (const tag of ['v2.1.0', 'v2.1.1']) {
    const run = await runCli([
      ...fixtureArgs(tag),
      '--out',
      path.join(work.path, tag),
      '--plugins-dir',
      path.join(work.path, `${tag}-plugins`),
      path.join(examples, 'd7yfs'),
    ]);
    expect(run.exitCode, run.stderr).toBe(0);
  }
});

afterAll(async () => {
  await work[Symbol.asyncDispose]();
});

afterEach(async () => {
  expect(await leftoverContainers()).toEqual([]);
});

describe('d7y-build install', () => {
  it('refuses a plugin built for another Dragonfly commit and leaves the plugins dir as it was', async () => {
    const plugins = path.join(work.path, 'target-refused');
    await mkdir(plugins);
    await writeFile(path.join(plugins, 'd7y-resource-plugin-d7yfs.so'), 'the plugin in production');
    const before = await snapshot(plugins);

    const run = await runCli([
      'install',
      '--host',
      path.join(work.path, 'v2.1.1/bin/dfget'),
      '--plugins-dir',
      plugins,
      '--json',
      path.join(work.path, 'v2.1.0', PLUGIN),
    ]);
    expect(run.exitCode).toBe(8);
    const outcome = JSON.parse(run.stdout);
    expect(outcome).toMatchObject({ ok: false, error: { code: 'validation', exitCode: 8, step: 'validate' } });
    expect(outcome.error.message).toMatch(
      /does not load d7y-resource-plugin-d7yfs\.so: .*plugin was built with a different version of package d7y\.io\/dragonfly\/v2\/pkg\/source/,
    );
    expect(outcome.error.hint).toMatch(/rebuild both with d7y-build/);
    expect(await snapshot(plugins)).toEqual(before);
  });

  it('installs a plugin into the host it was built with', async () => {
    const plugins = path.join(work.path, 'target-ok');
    const run = await runCli([
      'install',
      '--host',
      path.join(work.path, 'v2.1.0/bin/dfget'),
      '--plugins-dir',
      plugins,
      '--json',
      path.join(work.path, 'v2.1.0', PLUGIN),
    ]);
    expect(run.stderr).not.toMatch(/error:/);
    expect(run.exitCode).toBe(0);
    const outcome = JSON.parse(run.stdout);
    expect(outcome.installed).toEqual([path.join(plugins, 'd7y-resource-plugin-d7yfs.so')]);
    expect(outcome.validation.plugins[0]).toMatchObject({ type: 'resource', name: 'd7yfs' });
    // The Go image came from the manifest the build wrote beside bin/.
    expect(outcome.goImage).toBe(JSON.parse(await readFile(path.join(work.path, 'v2.1.0/manifest.json'), 'utf8')).go.image);
    expect(await digest(path.join(plugins, 'd7y-resource-plugin-d7yfs.so'))).toBe(await digest(path.join(work.path, 'v2.1.0', PLUGIN)));
  });

  it('refuses a file Dragonfly would not load by its name', async () => {
    const run = await runCli(['install', '--host', path.join(work.path, 'v2.1.0/bin/dfget'), path.join(work.path, 'README.so')]);
    expect(run.exitCode).toBe(2);
    expect(run.stderr).toMatch(/README\.so is not a plugin file name Dragonfly loads/);
    expect(run.stderr).toMatch(/^hint: plugin files are named d7y-/m);
  });
});
