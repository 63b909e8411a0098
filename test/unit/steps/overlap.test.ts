/**
 * Work started ahead of the step that needs it, over the fake engine: the builder image of
 * --go-image while the source resolves, the host's compile beside the plugins'.
 */
import { readdir, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { BuildContext } from '../../../src/commands/build/state';
import type { BuildFlags } from '../../../src/config';
import { CompileError, GoImageError, SourceError, ValidationError } from '../../../src/errors';
import { CONTAINER } from '../../../src/session/layout';
import { PipelineError, runSteps } from '../../../src/session/runner';
import { BUILD_STEPS, buildSteps } from '../../../src/commands/build/steps';
import type { FakeEngine } from '../fake-engine';
import { buildingEngine, cleanUp, contextOf, GO_IMAGE, LOADED_LINE, PLUGIN, runBefore, runStep, specOf, useWorld } from './harness';

const BUILD_SH = CONTAINER.tools.buildSh;

const world = useWorld({ clearTargets: true });
let ctx: BuildContext | undefined;

function context(engine: FakeEngine, flags: BuildFlags = {}): BuildContext {
  ctx = contextOf(engine, specOf(world, flags));
  return ctx;
}

/** The go builds asked of build.sh, in the order they were started. */
const builds = (engine: FakeEngine) => engine.execs.filter((e) => e.cmd[0] === BUILD_SH && ['plugin', 'host'].includes(e.cmd[1]!)).map((e) => e.cmd[1]);

describe('the builder image of --go-image', () => {
  it('is built while the source resolves, and prepare-image takes it', async () => {
    const engine = buildingEngine();
    const c = context(engine);
    await runBefore(c, 'resolve-source');
    await runStep(c, 'resolve-source');
    // Started by resolve-source: done before prepare-image begins.
    await c.state.builderImage!.wait();
    expect(engine.builds).toHaveLength(1);
    await runStep(c, 'prepare-image');
    expect(engine.builds).toHaveLength(1);
    expect(c.state.image).toEqual({
      goImage: GO_IMAGE,
      goImageReason: '--go-image',
      goRelease: '1.21.13',
      goImageId: 'sha256:go',
      builderImage: engine.builds[0]!.tag,
      builderImageId: engine.images.get(engine.builds[0]!.tag)!.id,
    });
  });

  it('is left to prepare-image when the Go image is to be pulled', async () => {
    const engine = buildingEngine();
    engine.images.delete(GO_IMAGE);
    engine.registry.set(GO_IMAGE, { id: 'sha256:pulled', env: {}, labels: {}, arch: 'amd64' });
    const c = context(engine);
    await runBefore(c, 'prepare-image');
    expect(engine.pulls).toEqual([]);
    expect(engine.builds).toEqual([]);
    await runStep(c, 'prepare-image');
    expect(engine.pulls).toHaveLength(1);
    expect(engine.builds).toHaveLength(1);
  });

  it("fails in prepare-image, as a GoImageError, when it can't be built", async () => {
    const engine = buildingEngine();
    engine.buildImage = async () => {
      throw new Error("The command '/bin/sh -c set -eu;' returned a non-zero code: 127");
    };
    const c = context(engine);
    const failure = await runSteps(BUILD_STEPS, c).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(PipelineError);
    const { error, timings } = failure as PipelineError;
    expect(error).toBeInstanceOf(GoImageError);
    expect(error.step).toBe('prepare-image');
    expect(error.message).toMatch(/^cannot build the builder image on golang:1\.23\.5-bookworm: /);
    expect(timings.map((t) => [t.name, t.status])).toEqual([
      ['check-inputs', 'done'],
      ['resolve-source', 'done'],
      ['prepare-image', 'failed'],
    ]);
  });

  it("is cancelled when the source does not resolve, and the run fails with the source's error", async () => {
    const engine = buildingEngine();
    engine.holdBuilds = true;
    const c = context(engine, { commit: 'no-such-tag' });
    const failure = await runSteps(BUILD_STEPS, c).catch((e: unknown) => e);
    expect((failure as PipelineError).error).toBeInstanceOf(SourceError);
    expect((failure as PipelineError).error.step).toBe('resolve-source');
    expect(engine.builds).toHaveLength(1);
    expect(engine.builds[0]!.signal!.aborted).toBe(true);
    expect(c.cleanups).toEqual([]);
  });
});

describe('the host beside the plugins', () => {
  const HOST_CACHE_GET = [BUILD_SH, 'host-cache', 'get'];

  it('is looked up in the host cache while the one plugin compiles, and on a miss compiles beside it; compile-host waits for it', async () => {
    const engine = buildingEngine();
    const c = context(engine);
    await runBefore(c, 'compile-plugins');
    await runStep(c, 'compile-plugins');
    // The plugin's compile did not wait for the lookup: it started before the host's, which only a miss starts.
    const lookup = engine.execs.findIndex((e) => e.cmd.join(' ').startsWith(HOST_CACHE_GET.join(' ')));
    const plugin = engine.execs.findIndex((e) => e.cmd[0] === BUILD_SH && e.cmd[1] === 'plugin');
    expect(Math.max(lookup, plugin)).toBeLessThan(engine.execs.findIndex((e) => e.cmd[0] === BUILD_SH && e.cmd[1] === 'host'));
    expect(engine.execsOf(HOST_CACHE_GET)).toHaveLength(1);
    await runStep(c, 'compile-host');
    expect(builds(engine)).toEqual(['plugin', 'host']);
    expect(engine.execsOf(HOST_CACHE_GET)).toHaveLength(1);
    expect(engine.execsOf([BUILD_SH, 'host-cache', 'put'])).toHaveLength(1);
    expect(c.state.hostCache).toMatchObject({ host: 'miss' });
  });

  it('on a hit compiles no host at all, and compile-host has nothing left to do', async () => {
    const engine = buildingEngine().onExec(HOST_CACHE_GET, { exitCode: 0 });
    const c = context(engine);
    await runBefore(c, 'compile-plugins');
    await runStep(c, 'compile-plugins');
    expect(c.state.hostCache).toMatchObject({ host: 'hit' });
    await runStep(c, 'compile-host');
    expect(builds(engine)).toEqual(['plugin']);
    expect(engine.execsOf(HOST_CACHE_GET)).toHaveLength(1);
    expect(engine.execsOf([BUILD_SH, 'host-cache', 'put'])).toEqual([]);
  });

  it('takes one CPU of the plugins while it compiles, and none on a hit', async () => {
    const plugins = ['aa', 'bb', 'cc'].map((name) => ({ dir: `/src/${name}`, name, file: `d7y-resource-plugin-${name}.so` }));
    const compiling = async (engine: FakeEngine) => {
      const c = context(engine, { cpus: '3' });
      await runBefore(c, 'compile-plugins');
      const lines: string[] = [];
      c.log = { ...c.log, info: (m: string) => lines.push(m) };
      c.spec = { ...c.spec, plugins };
      await runStep(c, 'compile-plugins');
      await cleanUp(c);
      return lines.find((l) => l.startsWith('compiling '));
    };
    expect(await compiling(buildingEngine())).toBe('compiling 3 plugins, 2 at a time, beside dfget');
    expect(await compiling(buildingEngine().onExec(HOST_CACHE_GET, { exitCode: 0 }))).toBe('compiling 3 plugins, 3 at a time');
  });

  it.each<[string, BuildFlags, number]>([
    ['--memory is set', { memory: '4g' }, 4],
    ['--cpus is less than 2', { cpus: '1.5' }, 4],
    ['the engine has one CPU', {}, 1],
  ])('waits for the plugins when %s', async (_label, flags, cpus) => {
    const engine = buildingEngine();
    engine.info = { ...engine.info, cpus };
    const c = context(engine, flags);
    await runBefore(c, 'compile-plugins');
    await runStep(c, 'compile-plugins');
    expect(builds(engine)).toEqual(['plugin']);
    await runStep(c, 'compile-host');
    expect(builds(engine)).toEqual(['plugin', 'host']);
  });

  it("fails in compile-plugins with the plugin's error when both fail, the host's compile settled", async () => {
    const engine = buildingEngine()
      .onExec([BUILD_SH, 'plugin'], { exitCode: 1, stderr: './main.go:3:1: syntax error\n' })
      .onExec([BUILD_SH, 'host'], { exitCode: 2, stderr: 'cmd/dfget/main.go:1: undefined: x\n' });
    const c = context(engine);
    const failure = await runSteps(BUILD_STEPS, c).catch((e: unknown) => e);
    const { error, timings } = failure as PipelineError;
    expect(error).toBeInstanceOf(CompileError);
    expect(error.step).toBe('compile-plugins');
    expect(error.message).toMatch(/^plugin myfs does not compile/);
    expect(timings.at(-1)).toMatchObject({ name: 'compile-plugins', status: 'failed' });
    expect(engine.removed).toEqual([engine.containers[0]!.id]);
    expect(c.cleanups).toEqual([]);
  });

  it("fails in compile-host with the host's error when only the host does not compile", async () => {
    const engine = buildingEngine().onExec([BUILD_SH, 'host'], { exitCode: 2, stderr: 'cmd/dfget/main.go:1: undefined: x\n' });
    const c = context(engine);
    const failure = await runSteps(BUILD_STEPS, c).catch((e: unknown) => e);
    const { error, timings } = failure as PipelineError;
    expect(error).toBeInstanceOf(CompileError);
    expect(error.step).toBe('compile-host');
    expect(error.detail).toBe('cmd/dfget/main.go:1: undefined: x');
    expect(timings.slice(-2).map((t) => [t.name, t.status])).toEqual([
      ['compile-plugins', 'done'],
      ['compile-host', 'failed'],
    ]);
  });
});

describe('the artifacts beside validate', () => {
  /** This process's staging directories for artifacts (makeTempDir('out')). */
  const stagingDirs = async () => (await readdir(os.tmpdir())).filter((n) => n.startsWith(`d7y-build-${process.pid}-out-`));

  it('come out of the container while the plugins validate, and are installed after', async () => {
    let askedWhileValidating = false;
    const engine = buildingEngine().onExec([BUILD_SH, 'validate'], async () => {
      // validate answers once the artifacts were asked for (or after a second): the two run at once.
      for (let i = 0; i < 200 && engine.archiveReads.length === 0; i++) await new Promise((r) => setTimeout(r, 5));
      askedWhileValidating = engine.archiveReads.length > 0;
      return { stdout: LOADED_LINE, stderr: '' };
    });
    const c = context(engine);
    const timings = await runSteps(BUILD_STEPS, c);
    expect(askedWhileValidating).toBe(true);
    expect(engine.archiveReads).toEqual([CONTAINER.out]);
    expect(timings.slice(-4).map((t) => [t.name, t.status])).toEqual([
      ['validate', 'done'],
      ['collect-artifacts', 'done'],
      ['verify', 'done'],
      ['install', 'done'],
    ]);
    expect(c.state.verification).toBeDefined();
    expect(await readFile(path.join(world.plugins, PLUGIN.file), 'utf8')).toBe('plugin binary');
    expect(await stagingDirs()).toEqual([]);
  });

  it("fail with validate's error, install nothing, and leave no staging directory", async () => {
    const engine = buildingEngine().onExec([BUILD_SH, 'validate'], { exitCode: 2, stderr: 'panic: plugin init\n' });
    const c = context(engine);
    const { error, timings } = (await runSteps(BUILD_STEPS, c).catch((e: unknown) => e)) as PipelineError;
    expect(error).toBeInstanceOf(ValidationError);
    expect(error.step).toBe('validate');
    expect(timings.at(-1)).toMatchObject({ name: 'validate', status: 'failed' });
    await expect(readdir(world.plugins)).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await stagingDirs()).toEqual([]);
    expect(c.cleanups).toEqual([]);
  });
});

describe('the container beside install', () => {
  it('is removed while install writes, once, and the build installs', async () => {
    const engine = buildingEngine();
    const c = context(engine);
    let removedBeforeInstallEnded = false;
    const steps = buildSteps({ image: undefined, push: false }).map((step) =>
      step.name !== 'install'
        ? step
        : {
            ...step,
            run: async (ctx: BuildContext) => {
              await step.run(ctx);
              removedBeforeInstallEnded = engine.removed.length > 0;
            },
          },
    );
    await runSteps(steps, c);
    expect(removedBeforeInstallEnded).toBe(true);
    expect(engine.removed).toEqual([engine.containers[0]!.id]);
    expect(await readFile(path.join(world.plugins, PLUGIN.file), 'utf8')).toBe('plugin binary');
  });

  it('is kept with --keep', async () => {
    const engine = buildingEngine();
    const c = context(engine, { keep: true });
    await runSteps(buildSteps({ image: undefined, push: false }), c);
    expect(engine.removed).toEqual([]);
  });
});
