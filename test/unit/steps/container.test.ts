/** start-container and upload-sources over the fake engine: what the container is made with, and what is sent into it. */
import { DEFAULT_TARGET } from '../../../src/platform';
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { BuildContext } from '../../../src/commands/build/state';
import { GoImageError, InternalError } from '../../../src/errors';
import { CACHE_VOLUMES } from '../../../src/session/cache';
import { builderBuildArgs, CONTAINER, layoutEnv } from '../../../src/session/layout';
import { loaderProgram } from '../../../src/validate/loader';
import { VERSION } from '../../../src/version';
import { buildingEngine, cleanUp, contextOf, GO_IMAGE, PLUGIN_MAIN, runBefore, runStep, specOf, useWorld } from './harness';
import type { FakeEngine } from '../fake-engine';

const world = useWorld();
let ctx: BuildContext | undefined;

describe('prepare-image', () => {
  it('pulls a Go image the engine lacks for the platform, then builds the builder image on it', async () => {
    const engine = buildingEngine();
    engine.images.delete(GO_IMAGE);
    engine.registry.set(GO_IMAGE, { id: 'sha256:pulled', env: {}, labels: {}, arch: 'amd64' });
    ctx = contextOf(engine, specOf(world));
    await runBefore(ctx, 'prepare-image');
    await runStep(ctx, 'prepare-image');
    expect(engine.pulls).toEqual([{ ref: GO_IMAGE, platform: 'linux/amd64' }]);
    expect(engine.builds).toHaveLength(1);
    expect(engine.builds[0]!.buildArgs).toEqual(builderBuildArgs('sha256:pulled', DEFAULT_TARGET));
    expect(engine.builds[0]!.buildArgs).toMatchObject({ GO_IMAGE: 'sha256:pulled' });
    expect(ctx.state.image).toMatchObject({ goImage: GO_IMAGE, goImageId: 'sha256:pulled', builderImage: engine.builds[0]!.tag });
  });

  it('builds a builder image of its own with the cross packages for --platform linux/arm64', async () => {
    const engine = buildingEngine();
    ctx = contextOf(engine, { ...specOf(world), target: 'linux/arm64' });
    await runBefore(ctx, 'prepare-image');
    await runStep(ctx, 'prepare-image');
    expect(engine.builds[0]!.buildArgs).toMatchObject({ D7Y_CROSS_PACKAGES: 'gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user-static' });
    const native = contextOf(engine, specOf(world));
    await runBefore(native, 'prepare-image');
    await runStep(native, 'prepare-image');
    expect(engine.builds).toHaveLength(2);
    expect(engine.builds[1]!.buildArgs).toMatchObject({ D7Y_CROSS_PACKAGES: '' });
    expect(native.state.image!.builderImage).not.toBe(ctx.state.image!.builderImage);
    await cleanUp(native);
  });

  it('names the fix when the Go image has no apt-get for the cross toolchain', async () => {
    const engine = buildingEngine();
    engine.buildOutput = ['d7y-build: no apt-get in the Go image to install gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user-static'];
    engine.buildError = new Error("The command '/bin/sh -c set -eu; …' returned a non-zero code: 1");
    ctx = contextOf(engine, { ...specOf(world), target: 'linux/arm64' });
    await runBefore(ctx, 'prepare-image');
    const err = await runStep(ctx, 'prepare-image').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GoImageError);
    expect((err as GoImageError).exitCode).toBe(5);
    expect((err as GoImageError).hint).toMatch(
      /^--platform linux\/arm64 needs Debian's cross toolchain .* installed with apt-get, which .* lacks: pass a Debian-based Go image with --go-image/,
    );
  });

  it('neither pulls nor builds what the engine has', async () => {
    const engine = buildingEngine();
    ctx = contextOf(engine, specOf(world));
    await runBefore(ctx, 'prepare-image');
    await runStep(ctx, 'prepare-image');
    const builderImage = ctx.state.image!.builderImage;
    const again = contextOf(engine, specOf(world));
    await runBefore(again, 'prepare-image');
    await runStep(again, 'prepare-image');
    expect(again.state.image!.builderImage).toBe(builderImage);
    expect(engine.pulls).toEqual([]);
    expect(engine.builds).toHaveLength(1);
  });

  it('says how to get a Go image that can be neither found nor pulled', async () => {
    const engine = buildingEngine();
    engine.images.delete(GO_IMAGE);
    ctx = contextOf(engine, specOf(world));
    await runBefore(ctx, 'prepare-image');
    const err = await runStep(ctx, 'prepare-image').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GoImageError);
    expect((err as GoImageError).message).toBe(`the Go image ${GO_IMAGE} is not here and can't be pulled (--go-image): pull access denied for ${GO_IMAGE}`);
    expect(engine.pulls).toEqual([{ ref: GO_IMAGE, platform: 'linux/amd64' }]);
  });
});

describe('start-container', () => {
  it('creates one labelled container from the builder image, with the cache volumes, limits, env and secrets tmpfs', async () => {
    const engine = buildingEngine();
    ctx = contextOf(engine, specOf(world, { memory: '1g', cpus: '1.5' }, { GOPROXY: 'https://proxy.example' }));
    await runBefore(ctx, 'start-container');
    await runStep(ctx, 'start-container');

    expect(engine.containers).toHaveLength(1);
    const { id, spec } = engine.containers[0]!;
    expect(spec.image).toBe(engine.images.get(ctx.state.image!.builderImage)!.id);
    expect(spec.labels).toEqual(ctx.runLabels);
    expect(spec.labels).toMatchObject({ 'io.d7y-build': 'true', 'io.d7y-build.run': 'run-1', 'io.d7y-build.pid': String(process.pid) });
    // The source tree's volume, named by the commit and the loader check program written into the tree.
    const sha = world.sha['v2.1.0'];
    const program = createHash('sha256').update(loaderProgram(ctx.state.source!.loader)).digest('hex').slice(0, 8);
    const tree = `d7y-build-src-${sha.slice(0, 12)}-${program}`;
    expect(spec.volumes).toEqual([
      { name: 'd7y-build-go-mod', target: '/home/d7y/go/pkg/mod' },
      { name: 'd7y-build-go-build', target: '/home/d7y/.cache/go-build' },
      { name: 'd7y-build-host-cache', target: '/home/d7y/.cache/d7y-build-host' },
      { name: tree, target: CONTAINER.sourceVolume },
    ]);
    for (const v of CACHE_VOLUMES) expect(engine.volumes.get(v.name)).toMatchObject({ 'io.d7y-build.role': v.role });
    expect(engine.volumes.get(tree)).toEqual({
      'io.d7y-build': 'true',
      'io.d7y-build.version': VERSION,
      'io.d7y-build.role': 'dragonfly-source',
      'io.d7y-build.sha': sha,
    });
    expect(ctx.state.sourceTree).toMatchObject({ volume: tree });
    expect(spec.env).toEqual({ GOPROXY: 'https://proxy.example', ...layoutEnv() });
    expect(spec.workdir).toBe(CONTAINER.work);
    expect(spec.platform).toBe('linux/amd64');
    expect(spec.memoryBytes).toBe(1024 ** 3);
    expect(spec.nanoCpus).toBe(1.5e9);
    expect(Object.keys(spec.tmpfs ?? {})).toEqual(['/run/d7y-secrets']);

    // The Go it has, from the container, and the go commands' environment for that Go.
    expect(engine.execs.map((e) => e.cmd)).toEqual([['go', 'version']]);
    expect(ctx.state.toolchain).toEqual({ goVersion: 'go1.23.5', platform: 'linux/amd64', env: { GOFLAGS: '-buildvcs=false' } });
    expect(ctx.state.container!.id).toBe(id);

    // The container goes with the cleanups.
    expect(engine.removed).toEqual([]);
    await cleanUp(ctx);
    expect(engine.removed).toEqual([id]);
  });

  it('leaves the container with --keep', async () => {
    const engine = buildingEngine();
    ctx = contextOf(engine, specOf(world, { keep: true }));
    await runBefore(ctx, 'start-container');
    await runStep(ctx, 'start-container');
    await cleanUp(ctx);
    expect(engine.containers).toHaveLength(1);
    expect(engine.removed).toEqual([]);
  });

  it('writes netrc credentials through stdin onto the tmpfs, never into the environment', async () => {
    const engine = buildingEngine();
    const netrc = 'machine corp.example login u password s3cret\n';
    ctx = contextOf(engine, specOf(world), { netrc, values: ['s3cret'] });
    await runBefore(ctx, 'start-container');
    await runStep(ctx, 'start-container');
    const [write, probe] = engine.execs;
    expect(write).toMatchObject({ cmd: ['sh', '-c', 'umask 077 && cat > "$1"', 'sh', CONTAINER.secrets.netrc], stdin: netrc });
    expect(probe!.cmd).toEqual(['go', 'version']);
    expect(JSON.stringify(engine.containers[0]!.spec)).not.toContain('s3cret');
  });

  it('refuses an image whose Go is older than go.mod asks for, and still removes the container', async () => {
    const engine = buildingEngine('go1.20.14');
    ctx = contextOf(engine, specOf(world));
    await runBefore(ctx, 'start-container');
    const err = await runStep(ctx, 'start-container').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GoImageError);
    expect((err as GoImageError).exitCode).toBe(5);
    expect((err as GoImageError).message).toMatch(/^Dragonfly at [0-9a-f]{7} needs Go 1\.21 or newer, but golang:1\.23\.5-bookworm has go1\.20\.14$/);
    await cleanUp(ctx);
    expect(engine.removed).toEqual([engine.containers[0]!.id]);
  });

  it('refuses an image without a working go command', async () => {
    const engine = buildingEngine().onExec(['go', 'version'], { exitCode: 127, stderr: 'sh: go: not found' });
    ctx = contextOf(engine, specOf(world));
    await runBefore(ctx, 'start-container');
    const err = await runStep(ctx, 'start-container').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GoImageError);
    expect((err as GoImageError).message).toBe('golang:1.23.5-bookworm has no working Go: `go version` said "sh: go: not found"');
  });
});

/** The upload whose entries are all under prefix. */
const putUnder = (engine: FakeEngine, prefix: string) => engine.puts.find((p) => Object.keys(p.files).every((name) => name.startsWith(prefix)));

describe('upload-sources', () => {
  const BUILD_SH = CONTAINER.tools.buildSh;

  it('sends the Dragonfly tree with the loader check program into a new volume and publishes it, and each plugin as its ignore files leave it', async () => {
    const engine = buildingEngine();
    ctx = contextOf(engine, specOf(world));
    await runBefore(ctx, 'upload-sources');
    // Another run's build container, still running: its upload is spared.
    const other = await engine.createContainer({ ...engine.containers[0]!.spec, labels: { ...ctx.runLabels, 'io.d7y-build.run': 'run-2' } });
    await runStep(ctx, 'upload-sources');

    const tree = engine.execsOf([BUILD_SH, 'tree']).map((e) => e.cmd.slice(2));
    expect(tree).toEqual([['status'], ['sweep', 't-run-1', 't-run-2', 't-import-*'], ['publish', 't-run-1']]);
    expect(engine.execsOf([BUILD_SH, 'tree'])[0]!.container).not.toBe(other.id);

    expect(engine.puts.map((p) => p.dir)).toEqual([CONTAINER.work, CONTAINER.work]);
    // Sent at once: the tree into the volume, the plugins beside it.
    const sent = putUnder(engine, 'src/');
    const plugin = putUnder(engine, 'plugins/');
    // Into the run's own directory of the volume, mounted at CONTAINER.sourceVolume (/work/src).
    expect(Object.keys(sent!.files).sort()).toEqual([
      'src/t-run-1/cmd/d7y-loadcheck/main.go',
      'src/t-run-1/cmd/dependency/plugin_cmd.go',
      'src/t-run-1/cmd/dfget/main.go',
      'src/t-run-1/cmd/scheduler/main.go',
      'src/t-run-1/go.mod',
      'src/t-run-1/pkg/source/plugin.go',
    ]);
    expect(sent!.files['src/t-run-1/cmd/d7y-loadcheck/main.go']).toBe(ctx.state.sourceTree!.program);
    expect(sent!.files['src/t-run-1/cmd/d7y-loadcheck/main.go']).toContain('loader "d7y.io/dragonfly/v2/pkg/source"');
    expect(sent!.files['src/t-run-1/cmd/d7y-loadcheck/main.go']).toContain('loader.LoadPlugin(dir, name)');
    expect(plugin!.files).toEqual({ 'plugins/myfs/.gitignore': 'notes.txt\n', 'plugins/myfs/main.go': PLUGIN_MAIN });
    expect(ctx.state.modulePlugins).toEqual([]);
    expect(ctx.state.sourceTree!.reused).toBe(false);
  });

  it('sends nothing of Dragonfly when the volume has its tree', async () => {
    const engine = buildingEngine().onExec([BUILD_SH, 'tree', 'status'], { stdout: 'ready\n' });
    ctx = contextOf(engine, specOf(world));
    await runBefore(ctx, 'upload-sources');
    await runStep(ctx, 'upload-sources');
    expect(engine.execsOf([BUILD_SH, 'tree']).map((e) => e.cmd[2])).toEqual(['status']);
    expect(engine.puts.map((p) => Object.keys(p.files))).toEqual([['plugins/myfs/.gitignore', 'plugins/myfs/main.go']]);
    expect(ctx.state.sourceTree!.reused).toBe(true);
  });

  it('uses the tree of a build that published first', async () => {
    const engine = buildingEngine().onExec([BUILD_SH, 'tree', 'publish'], { stdout: 'exists\n' });
    ctx = contextOf(engine, specOf(world));
    await runBefore(ctx, 'upload-sources');
    await runStep(ctx, 'upload-sources');
    expect(engine.execsOf([BUILD_SH, 'tree']).map((e) => e.cmd[2])).toEqual(['status', 'sweep', 'publish']);
    expect(ctx.state.sourceTree!.reused).toBe(true);
  });

  it('fails as a bug when build.sh cannot manage the volume', async () => {
    const engine = buildingEngine().onExec([BUILD_SH, 'tree', 'publish'], { exitCode: 2, stderr: 'build.sh: no uploaded tree t-run-1' });
    ctx = contextOf(engine, specOf(world));
    await runBefore(ctx, 'upload-sources');
    const err = await runStep(ctx, 'upload-sources').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InternalError);
    expect((err as InternalError).message).toBe('build.sh tree publish failed: build.sh: no uploaded tree t-run-1');
  });

  it('names a plugin with its own go.mod as one built in a workspace', async () => {
    const dir = path.join(world.root, 'modfs');
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'main.go'), PLUGIN_MAIN.replaceAll('myfs', 'modfs'));
    await writeFile(path.join(dir, 'go.mod'), 'module example.com/modfs\n\ngo 1.21\n');
    const engine = buildingEngine();
    const spec = specOf(world);
    ctx = contextOf(engine, { ...spec, plugins: [{ dir, name: 'modfs', file: 'd7y-resource-plugin-modfs.so' }] });
    await runBefore(ctx, 'upload-sources');
    await runStep(ctx, 'upload-sources');
    expect(Object.keys(putUnder(engine, 'plugins/')!.files).sort()).toEqual(['plugins/modfs/go.mod', 'plugins/modfs/main.go']);
    expect(ctx.state.modulePlugins).toEqual(['modfs']);
  });
});
