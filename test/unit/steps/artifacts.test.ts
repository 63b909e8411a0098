/** collect-artifacts and install over the fake engine: files out of the container's tar, hashed, then placed all or none. */
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { BuildContext } from '../../../src/commands/build/state';
import { InstallError, InternalError } from '../../../src/errors';
import { BUILD_TIME, buildingEngine, cleanUp, contextOf, EPOCH, OUT_FILES, PLUGIN, runBefore, runStep, specOf, useWorld } from './harness';
import { CONTAINER } from '../../../src/session/layout';

const world = useWorld({ clearTargets: true });
let ctx: BuildContext | undefined;

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

describe('collect-artifacts', () => {
  it('extracts host, loader check and plugins from the container, each with its sha256 and size', async () => {
    const engine = buildingEngine();
    ctx = contextOf(engine, specOf(world));
    await runBefore(ctx, 'collect-artifacts');
    await runStep(ctx, 'collect-artifacts');
    const staged = ctx.state.staged!;
    expect(staged.host).toMatchObject({ name: 'out/bin/dfget', sha256: sha256('host binary'), size: 11 });
    expect(staged.loadcheck).toMatchObject({ name: 'out/bin/d7y-loadcheck', sha256: sha256('loadcheck binary') });
    expect(staged.plugins.map((f) => f.name)).toEqual([`out/plugins/${PLUGIN.file}`]);
    expect(await readFile(staged.plugins[0]!.path, 'utf8')).toBe('plugin binary');
    // The staging directory goes with the cleanups.
    await cleanUp(ctx);
    await expect(readFile(staged.host.path)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('refuses an archive holding a file the build did not produce', async () => {
    const engine = buildingEngine();
    engine.archives.set(CONTAINER.out, { ...OUT_FILES, 'out/bin/extra': 'x' });
    ctx = contextOf(engine, specOf(world));
    await runBefore(ctx, 'collect-artifacts');
    const err = await runStep(ctx, 'collect-artifacts').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InternalError);
    expect((err as InternalError).message).toBe(
      'the build container returned a bad archive: refusing archive entry "out/bin/extra": the build was not expected to produce it',
    );
  });

  it('refuses an archive that lacks a plugin', async () => {
    const engine = buildingEngine();
    engine.archives.set(CONTAINER.out, { 'out/bin/dfget': 'h', 'out/bin/d7y-loadcheck': 'l' });
    ctx = contextOf(engine, specOf(world));
    await runBefore(ctx, 'collect-artifacts');
    const err = await runStep(ctx, 'collect-artifacts').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InternalError);
    expect((err as InternalError).message).toBe(`the build container did not return out/plugins/${PLUGIN.file}`);
  });
});

describe('collect-artifacts with copies of the host on this machine', () => {
  /** build.sh's answer to a host cache hit: the commands put in place, with their sums. */
  const hit = (host = 'host binary', loadcheck = 'loadcheck binary') => ({
    stdout: `${sha256(host)}  bin/dfget\n${sha256(loadcheck)}  bin/d7y-loadcheck\n`,
  });
  const collect = async (engine: ReturnType<typeof buildingEngine>, cache: string, flags = {}) => {
    const c = contextOf(engine, specOf(world, flags, { D7Y_CACHE_DIR: cache }));
    const warnings: string[] = [];
    c.log = { ...c.log, warn: (m: string) => warnings.push(m) };
    await runBefore(c, 'collect-artifacts');
    await runStep(c, 'collect-artifacts');
    return { c, warnings };
  };

  it('takes the host from the copy kept by an earlier build, and fetches only the plugins', async () => {
    const cache = await mkdtemp(path.join(world.root, 'cache-'));
    const first = buildingEngine().onExec([CONTAINER.tools.buildSh, 'host-cache', 'get'], hit());
    await collect(first, cache);
    expect(first.archiveReads).toEqual([CONTAINER.out]);
    expect((await readdir(path.join(cache, 'hosts'))).sort()).toEqual([sha256('host binary'), sha256('loadcheck binary')].sort());

    const second = buildingEngine().onExec([CONTAINER.tools.buildSh, 'host-cache', 'get'], hit());
    const { c } = await collect(second, cache);
    expect(second.archiveReads).toEqual([CONTAINER.outPlugins]);
    const staged = c.state.staged!;
    expect(staged.host).toMatchObject({ name: 'out/bin/dfget', sha256: sha256('host binary'), size: 11 });
    expect(await readFile(staged.host.path, 'utf8')).toBe('host binary');
    expect(await readFile(staged.loadcheck.path, 'utf8')).toBe('loadcheck binary');
    expect(staged.plugins.map((f) => [f.name, f.sha256])).toEqual([[`out/plugins/${PLUGIN.file}`, sha256('plugin binary')]]);
  });

  it('never uses a copy that does not match its sum: it is removed, and the host comes from the container', async () => {
    const cache = await mkdtemp(path.join(world.root, 'cache-'));
    await collect(buildingEngine().onExec([CONTAINER.tools.buildSh, 'host-cache', 'get'], hit()), cache);
    await writeFile(path.join(cache, 'hosts', sha256('host binary')), 'host binary, changed on disk');

    const engine = buildingEngine().onExec([CONTAINER.tools.buildSh, 'host-cache', 'get'], hit());
    const { c, warnings } = await collect(engine, cache);
    expect(engine.archiveReads).toEqual([CONTAINER.out]);
    expect(await readFile(c.state.staged!.host.path, 'utf8')).toBe('host binary');
    expect(warnings).toEqual([expect.stringMatching(/^the copy of dfget in .*hosts did not match its sha256: removed it; taking dfget from the container$/)]);
    // Kept again, whole, for the next build.
    expect(await readFile(path.join(cache, 'hosts', sha256('host binary')), 'utf8')).toBe('host binary');
  });

  it('fetches the host when the container reports other sums than the copies here', async () => {
    const cache = await mkdtemp(path.join(world.root, 'cache-'));
    await collect(buildingEngine().onExec([CONTAINER.tools.buildSh, 'host-cache', 'get'], hit()), cache);
    const engine = buildingEngine().onExec([CONTAINER.tools.buildSh, 'host-cache', 'get'], hit('another host'));
    engine.archives.set(CONTAINER.out, { ...OUT_FILES, 'out/bin/dfget': 'another host' });
    const { c } = await collect(engine, cache);
    expect(engine.archiveReads).toEqual([CONTAINER.out]);
    expect(await readFile(c.state.staged!.host.path, 'utf8')).toBe('another host');
  });

  it('takes the host from the container, with a warning, when a file stands where the copies go', async () => {
    const cache = await mkdtemp(path.join(world.root, 'cache-'));
    await writeFile(path.join(cache, 'hosts'), 'not a directory');
    const engine = buildingEngine().onExec([CONTAINER.tools.buildSh, 'host-cache', 'get'], hit());
    const { c, warnings } = await collect(engine, cache);
    expect(engine.archiveReads).toEqual([CONTAINER.out]);
    expect(await readFile(c.state.staged!.host.path, 'utf8')).toBe('host binary');
    expect(warnings.some((w) => /^cannot read the copies of hosts in .*hosts \(ENOTDIR\): taking dfget from the container$/.test(w))).toBe(true);
  });

  it('with --no-cache, keeps no copy and uses none', async () => {
    const cache = await mkdtemp(path.join(world.root, 'cache-'));
    const engine = buildingEngine();
    await collect(engine, cache, { cache: false });
    expect(engine.archiveReads).toEqual([CONTAINER.out]);
    await expect(readdir(path.join(cache, 'hosts'))).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

describe('install', () => {
  it('writes --out with its manifest and installs the plugin into --plugins-dir', async () => {
    const engine = buildingEngine();
    ctx = contextOf(engine, specOf(world));
    await runBefore(ctx, 'install');
    await runStep(ctx, 'install');

    expect(await readdir(world.plugins)).toEqual([PLUGIN.file]);
    expect(await readFile(path.join(world.plugins, PLUGIN.file), 'utf8')).toBe('plugin binary');
    expect(await readFile(path.join(world.out, 'bin', 'dfget'), 'utf8')).toBe('host binary');
    const manifest = JSON.parse(await readFile(path.join(world.out, 'manifest.json'), 'utf8'));
    expect(manifest.platform).toBe('linux/amd64');
    expect(manifest.dragonfly).toMatchObject({ ref: 'v2.1.0', commit: world.sha['v2.1.0'] });
    expect(manifest.go).toMatchObject({ version: 'go1.23.5', image: 'golang:1.23.5-bookworm', imageId: 'sha256:go' });
    expect(manifest).toMatchObject({ buildTime: BUILD_TIME, buildTimeReason: `SOURCE_DATE_EPOCH=${EPOCH}` });
    expect(manifest.artifacts.map((a: { path: string; sha256: string }) => [a.path, a.sha256])).toEqual([
      ['bin/dfget', sha256('host binary')],
      ['bin/d7y-loadcheck', sha256('loadcheck binary')],
      [`plugins/${PLUGIN.file}`, sha256('plugin binary')],
    ]);
    expect(manifest.validation).toMatchObject({ command: 'dfget plugin', plugins: [{ name: 'myfs', location: PLUGIN.file }] });
    expect(ctx.state.outputs!.installed).toEqual([path.join(world.plugins, PLUGIN.file)]);

    // Beside the manifest: the provenance of the same files, and their SBOM.
    expect((await readdir(world.out)).sort()).toEqual(['bin', 'manifest.json', 'plugins', 'provenance.intoto.json', 'sbom.cdx.json']);
    const provenance = JSON.parse(await readFile(path.join(world.out, 'provenance.intoto.json'), 'utf8'));
    expect(provenance.subject).toEqual(manifest.artifacts.map((a: { path: string; sha256: string }) => ({ name: a.path, digest: { sha256: a.sha256 } })));
    expect(provenance.predicate.buildDefinition.resolvedDependencies[0]).toMatchObject({ digest: { gitCommit: world.sha['v2.1.0'] } });
    expect(provenance.predicate.buildDefinition.resolvedDependencies[2]).toMatchObject({
      name: 'plugin/myfs',
      digest: { sha256: expect.stringMatching(/^[0-9a-f]{64}$/) },
    });
    expect(provenance.predicate.buildDefinition.externalParameters.flags.ldflags.plugins).toBe(
      `-X main.buildCommit=${world.sha['v2.1.0'].slice(0, 7)} -X main.buildTime=${BUILD_TIME}`,
    );
    expect(provenance.predicate.runDetails.metadata.invocationId).toBe('run-1');
    const sbom = JSON.parse(await readFile(path.join(world.out, 'sbom.cdx.json'), 'utf8'));
    expect(sbom.metadata.timestamp).toBe(BUILD_TIME);
    // What the fake engine hands out is no Go binary: listed with its digest, and without modules, saying why.
    expect(sbom.components.map((c: { name: string; hashes: Array<{ content: string }> }) => [c.name, c.hashes[0]!.content])).toEqual([
      ['dfget', sha256('host binary')],
      ['d7y-loadcheck', sha256('loadcheck binary')],
      ['myfs', sha256('plugin binary')],
    ]);
    expect(sbom.components[0].properties).toContainEqual({ name: 'd7y-build:modulesUnknown', value: expect.any(String) });
  });

  it('with no plugins directory (a cell of a matrix), writes --out and installs nothing', async () => {
    const engine = buildingEngine();
    ctx = contextOf(engine, { ...specOf(world), pluginsDir: undefined });
    await runBefore(ctx, 'install');
    await runStep(ctx, 'install');
    expect(await readFile(path.join(world.out, 'plugins', PLUGIN.file), 'utf8')).toBe('plugin binary');
    expect(ctx.state.outputs!.installed).toEqual([]);
    expect(await readdir(world.plugins).catch(() => [])).toEqual([]);
  });

  it('writes the credentials of --repo into neither the manifest nor the provenance', async () => {
    const engine = buildingEngine();
    ctx = contextOf(engine, specOf(world));
    await runBefore(ctx, 'install');
    // The repository as a user would give a private one: only what is written is under test here.
    ctx.spec.repo = 'https://user:s3cr3t-pass@git.example.com/dragonfly.git';
    await runStep(ctx, 'install');
    const provenance = JSON.parse(await readFile(path.join(world.out, 'provenance.intoto.json'), 'utf8'));
    expect(provenance.predicate.buildDefinition.externalParameters.repository).toBe('https://git.example.com/dragonfly.git');
    for (const file of ['manifest.json', 'provenance.intoto.json', 'sbom.cdx.json']) {
      expect(await readFile(path.join(world.out, file), 'utf8')).not.toContain('s3cr3t-pass');
    }
  });

  it('changes neither directory when one file cannot be placed', async () => {
    const engine = buildingEngine();
    await mkdir(world.plugins, { recursive: true });
    await writeFile(path.join(world.plugins, PLUGIN.file), 'the plugin before');
    ctx = contextOf(engine, specOf(world));
    await runBefore(ctx, 'install');
    // Where bin/ must go there is now a file: bin/dfget cannot be written.
    await mkdir(world.out, { recursive: true });
    await writeFile(path.join(world.out, 'bin'), 'in the way');

    const err = await runStep(ctx, 'install').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InstallError);
    expect(await readdir(world.plugins)).toEqual([PLUGIN.file]);
    expect(await readFile(path.join(world.plugins, PLUGIN.file), 'utf8')).toBe('the plugin before');
    // Nor the manifest, the provenance or the SBOM.
    expect((await readdir(world.out)).sort()).toEqual(['bin']);
  });

  it('refuses to replace a plugin another build installed meanwhile', async () => {
    const engine = buildingEngine();
    ctx = contextOf(engine, specOf(world));
    await runBefore(ctx, 'install');
    await mkdir(world.plugins, { recursive: true });
    await writeFile(path.join(world.plugins, PLUGIN.file), 'installed by another build');

    const err = await runStep(ctx, 'install').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InstallError);
    expect(await readFile(path.join(world.plugins, PLUGIN.file), 'utf8')).toBe('installed by another build');
    expect(await readdir(world.out).catch(() => [])).toEqual([]);
  });
});
