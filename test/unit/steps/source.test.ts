/** resolve-source against a real git repository: the ref to a SHA, go.mod, the host and its loader. */
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { SourceError, UnsupportedHostError } from '../../../src/errors';
import type { PluginType } from '../../../src/plugin';
import { FakeEngine } from '../fake-engine';
import { contextOf, runStep, specOf, useWorld } from './harness';

const world = useWorld();

/** The source at commit; the type is set on the spec as is (this plugin's sources say resource). */
async function resolve(commit: string, type: PluginType = 'resource') {
  const ctx = contextOf(new FakeEngine(), { ...specOf(world, { commit }), type });
  await runStep(ctx, 'resolve-source');
  return ctx.state.source!;
}

describe('resolve-source', () => {
  it('resolves a tag to its full SHA and reads go.mod, the host and its loader at it', async () => {
    const source = await resolve('v2.1.0');
    expect(source.commit.sha).toBe(world.sha['v2.1.0']);
    expect(source.shortSha).toBe(world.sha['v2.1.0'].slice(0, 7));
    expect(source.goMod).toMatchObject({ module: 'd7y.io/dragonfly/v2', go: '1.21' });
    expect(source.host).toBe('dfget');
    expect(source.loader).toEqual({ dir: 'pkg/source', importPath: 'd7y.io/dragonfly/v2/pkg/source', iface: 'ResourceClient', params: ['dir', 'name'] });
    expect(source.pluginCommand).toBe(true);
    // The committer date: the default build time.
    expect(source.commitTime).toBe(Number(execFileSync('git', ['show', '-s', '--format=%ct', 'v2.1.0'], { cwd: world.repo, encoding: 'utf8' }).trim()));
  });

  it('resolves a short SHA, and notes a commit whose host has no `plugin` command', async () => {
    const source = await resolve(world.sha['no-plugin-cmd'].slice(0, 10));
    expect(source.commit.sha).toBe(world.sha['no-plugin-cmd']);
    expect(source.pluginCommand).toBe(false);
  });

  it('refuses a ref that is no branch, tag or SHA name before git sees it', async () => {
    const err = await resolve('--upload-pack=x').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SourceError);
    expect((err as SourceError).message).toBe('"--upload-pack=x" is not a branch, tag or commit name');
  });

  it('refuses a repository whose go.mod is not Dragonfly', async () => {
    const err = await resolve('other').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SourceError);
    expect((err as SourceError).exitCode).toBe(4);
    expect((err as SourceError).message).toMatch(/is not Dragonfly: its go\.mod declares example\.com\/other$/);
  });

  it('refuses a commit without the host of the plugin type', async () => {
    const err = await resolve('v2.4.0').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnsupportedHostError);
    expect((err as UnsupportedHostError).message).toMatch(/^Dragonfly at v2\.4\.0 \([0-9a-f]{7}\) has no cmd\/dfget/);
  });

  it('refuses a host that has no loader for the plugin type', async () => {
    const err = await resolve('v2.1.0', 'scheduler').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnsupportedHostError);
    expect((err as UnsupportedHostError).message).toMatch(
      /has no LoadPlugin for scheduler plugins \(looked in scheduler\/scheduling\/evaluator\/plugin\.go, scheduler\/core\/evaluator\/plugin\.go\)/,
    );
  });
});
