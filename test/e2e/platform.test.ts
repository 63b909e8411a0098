/**
 * --platform linux/arm64: the host and the plugin cross-compiled in the engine's amd64 container,
 * validated by running the arm64 host's own `plugin` command and the loader check under qemu-user,
 * recorded as linux/arm64, and checked by `verify` against their ELF machine.
 */
import { copyFile, open, readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { digest, docker, examples, fixtureArgs, fixtureSha, leftoverContainers, runCli, tempDir } from './helpers';

const PLUGIN = 'd7y-resource-plugin-d7yfs.so';
/** The arm64 runtime image the build makes (--image), never pushed. */
const IMAGE = 'd7y-test/arm64-runtime:e2e';
/** ELF e_machine values. */
const EM_X86_64 = 62;
const EM_AARCH64 = 183;

/** The ELF header's class, data encoding, type and machine. */
async function elfHeader(file: string): Promise<{ magic: string; elfClass: number; type: number; machine: number }> {
  const handle = await open(file);
  try {
    const { buffer } = await handle.read(Buffer.alloc(20), 0, 20, 0);
    return { magic: buffer.subarray(0, 4).toString('latin1'), elfClass: buffer[4]!, type: buffer.readUInt16LE(16), machine: buffer.readUInt16LE(18) };
  } finally {
    await handle.close();
  }
}

afterEach(async () => {
  expect(await leftoverContainers()).toEqual([]);
});

describe('--platform linux/arm64', () => {
  let work: { path: string } & AsyncDisposable;
  let arm: { exitCode: number | null; stdout: string; stderr: string };
  const armOut = () => path.join(work.path, 'arm64');

  beforeAll(async () => {
    work = await tempDir('platform-');
    arm = await runCli(
      [
        ...fixtureArgs('v2.1.0'),
        '--platform',
        'linux/arm64',
        '--out',
        armOut(),
        '--plugins-dir',
        path.join(work.path, 'plugins'),
        '--image',
        IMAGE,
        '--json',
        path.join(examples, 'd7yfs'),
      ],
      { env: { SOURCE_DATE_EPOCH: '1704164645' } },
    );
    return async () => {
      await docker('image', 'rm', '-f', IMAGE).catch(() => '');
      await work[Symbol.asyncDispose]();
    };
  });

  it('cross-compiles the host, the loader check and the plugin to aarch64 ELF files', async () => {
    expect(arm.stderr).not.toMatch(/error:/);
    expect(arm.exitCode).toBe(0);
    for (const file of ['bin/dfget', 'bin/d7y-loadcheck', `plugins/${PLUGIN}`]) {
      expect(await elfHeader(path.join(armOut(), file)), file).toMatchObject({ magic: '\x7fELF', elfClass: 2, machine: EM_AARCH64 });
    }
    expect((await elfHeader(path.join(armOut(), `plugins/${PLUGIN}`))).type).toBe(3); // ET_DYN
  });

  it("validates by running the arm64 host's plugin command and the loader check under qemu in the amd64 container", () => {
    expect(arm.stderr).toMatch(/^(\d\d:\d\d:\d\d )?\s*running the linux\/arm64 binaries under qemu-aarch64-static -L \/usr\/aarch64-linux-gnu$/m);
    const outcome = JSON.parse(arm.stdout) as {
      platform: string;
      validation: { stdout: string; plugins: Array<{ type: string; name: string; location: string }>; loader: Array<{ file: string; ok: boolean }> };
    };
    expect(outcome.platform).toBe('linux/arm64');
    expect(outcome.validation.stdout).toMatch(/^resource plugin: d7yfs, location: d7y-resource-plugin-d7yfs\.so, attribute: /m);
    expect(outcome.validation.plugins).toEqual([expect.objectContaining({ type: 'resource', name: 'd7yfs', location: PLUGIN })]);
    expect(outcome.validation.loader).toEqual([expect.objectContaining({ file: PLUGIN, ok: true })]);
  });

  it('records linux/arm64 in the manifest and the provenance', async () => {
    const manifest = JSON.parse(await readFile(path.join(armOut(), 'manifest.json'), 'utf8')) as { platform: string; go: { platform: string } };
    expect(manifest.platform).toBe('linux/arm64');
    // The toolchain ran in the amd64 container.
    expect(manifest.go.platform).toBe('linux/amd64');
    const provenance = JSON.parse(await readFile(path.join(armOut(), 'provenance.intoto.json'), 'utf8')) as object;
    expect(JSON.stringify(provenance)).toContain('"platform":"linux/arm64"');
  });

  it('passes verify on the out directory', async () => {
    const run = await runCli(['verify', '--host', path.join(armOut(), 'bin/dfget'), path.join(armOut(), 'plugins', PLUGIN)]);
    expect(run.stderr).toBe('');
    expect(run.exitCode).toBe(0);
    expect(run.stdout).toMatch(/loads into dfget/);
    const inspect = await runCli(['inspect', path.join(armOut(), 'bin/dfget')]);
    expect(inspect.exitCode).toBe(0);
    expect(inspect.stdout).toMatch(/Go executable, linux\/arm64/);
  });

  it('installs the arm64 plugin with install, which runs the arm64 host under qemu too', async () => {
    const target = path.join(work.path, 'node-plugins');
    const run = await runCli(['install', '--host', path.join(armOut(), 'bin/dfget'), '--plugins-dir', target, path.join(armOut(), 'plugins', PLUGIN)]);
    expect(run.exitCode).toBe(0);
    expect(run.stderr).toMatch(/dfget is a linux\/arm64 binary/);
    expect(run.stderr).toMatch(/running the linux\/arm64 binaries under qemu-aarch64-static/);
    expect((await elfHeader(path.join(target, PLUGIN))).machine).toBe(EM_AARCH64);
  });

  it('makes verify refuse an amd64 plugin against the arm64 host, and a file its manifest does not describe', async () => {
    const amdOut = path.join(work.path, 'amd64');
    const amd = await runCli([...fixtureArgs('v2.1.0'), '--out', amdOut, '--plugins-dir', path.join(work.path, 'plugins-amd64'), path.join(examples, 'd7yfs')]);
    expect(amd.exitCode).toBe(0);
    const amdPlugin = path.join(amdOut, 'plugins', PLUGIN);
    expect((await elfHeader(amdPlugin)).machine).toBe(EM_X86_64);

    const refused = await runCli(['verify', '--host', path.join(armOut(), 'bin/dfget'), amdPlugin]);
    expect(refused.exitCode).toBe(11); // will not load: a verdict
    expect(refused.stdout).toMatch(/will NOT load into dfget/);
    expect(refused.stdout).toMatch(/architecture: host is arm64, plugin is amd64/);

    // The amd64 plugin in the arm64 out directory: its manifest records linux/arm64.
    await copyFile(amdPlugin, path.join(armOut(), 'plugins', PLUGIN));
    const replaced = await runCli(['verify', '--host', path.join(armOut(), 'bin/dfget'), path.join(armOut(), 'plugins', PLUGIN)]);
    expect(replaced.exitCode).toBe(12);
    expect(replaced.stderr).toMatch(/is an ELF file for linux\/amd64, but .*manifest\.json records linux\/arm64/);
  });

  it('--image for linux/arm64: an arm64 image of the host, the plugin and the aarch64 libraries, checked under qemu', async () => {
    expect(arm.exitCode).toBe(0);
    expect(arm.stderr).toContain("running the linux/arm64 image's files under qemu-aarch64-static -L <its root>");
    expect(arm.stderr).toMatch(new RegExp(`${IMAGE} \\(sha256:[0-9a-f]{12}\\): \`dfget plugin\` lists d7yfs`));
    expect(await docker('image', 'inspect', '--format', '{{.Os}}/{{.Architecture}}', IMAGE)).toBe('linux/arm64');

    await using files = await tempDir('arm64-image-');
    const container = await docker('create', '--platform', 'linux/arm64', IMAGE);
    try {
      await docker('cp', `${container}:/usr/local/bin/dfget`, path.join(files.path, 'dfget'));
      await docker('cp', `${container}:/lib/ld-linux-aarch64.so.1`, path.join(files.path, 'ld.so'));
    } finally {
      await docker('rm', container);
    }
    // The host as validated, and the target's loader (not the engine's), both aarch64.
    expect(await digest(path.join(files.path, 'dfget'))).toBe(await digest(path.join(armOut(), 'bin/dfget')));
    expect(await elfHeader(path.join(files.path, 'ld.so'))).toMatchObject({ machine: EM_AARCH64 });
  });

  it('--commit v2.1.0,v2.1.1 --platform linux/amd64,linux/arm64 --image …:{ref} --push: an image per cell, and per commit its tag an index of both', async () => {
    const registry = inject('registry');
    const repository = `${registry.address}/d7y/multi-arch`;
    const out = path.join(work.path, 'multi');
    const run = await runCli(
      [
        ...fixtureArgs('v2.1.0,v2.1.1'),
        '--platform',
        'linux/amd64,linux/arm64',
        '--image',
        `${repository}:{ref}`,
        '--push',
        '--out',
        out,
        '--json',
        path.join(examples, 'd7yfs'),
      ],
      { env: { SOURCE_DATE_EPOCH: '1704164645' } },
    );
    expect(run.stderr).not.toMatch(/error:/);
    expect(run.exitCode).toBe(0);
    const outcome = JSON.parse(run.stdout) as {
      cells: Array<{ ref: string; platform: string; out: string; result: { commit: string; image: { ref: string; digest: string } } }>;
      indexes: Array<{ commit: string; ref: string; digest: string; platforms: string[] }>;
    };
    expect(outcome.cells.map((c) => [c.ref, c.platform, c.result.image.ref])).toEqual([
      ['v2.1.0', 'linux/amd64', `${repository}:v2.1.0-linux-amd64`],
      ['v2.1.0', 'linux/arm64', `${repository}:v2.1.0-linux-arm64`],
      ['v2.1.1', 'linux/amd64', `${repository}:v2.1.1-linux-amd64`],
      ['v2.1.1', 'linux/arm64', `${repository}:v2.1.1-linux-arm64`],
    ]);
    expect(outcome.indexes).toEqual([
      { commit: 'v2.1.0', ref: `${repository}:v2.1.0`, digest: expect.stringMatching(/^sha256:[0-9a-f]{64}$/), platforms: ['linux/amd64', 'linux/arm64'] },
      { commit: 'v2.1.1', ref: `${repository}:v2.1.1`, digest: expect.stringMatching(/^sha256:[0-9a-f]{64}$/), platforms: ['linux/amd64', 'linux/arm64'] },
    ]);
    const summary = JSON.parse(await readFile(path.join(out, 'matrix.json'), 'utf8')) as { ok: boolean; indexes: unknown };
    expect(summary).toMatchObject({ ok: true, indexes: outcome.indexes });

    const tags = outcome.cells.map((c) => c.result.image.ref);
    try {
      for (const commit of ['v2.1.0', 'v2.1.1']) {
        const sha = await fixtureSha(commit);
        const index = outcome.indexes.find((i) => i.commit === commit)!;
        const cells = outcome.cells.filter((c) => c.ref === commit);
        tags.push(index.ref);
        // The tag is an index whose entries are the very images this commit's cells pushed.
        const got = await fetch(`http://${registry.address}/v2/d7y/multi-arch/manifests/${commit}`, {
          headers: { Accept: 'application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.index.v1+json' },
        });
        expect(got.headers.get('docker-content-digest')).toBe(index.digest);
        const entries = (await got.json()) as { manifests: Array<{ digest: string; platform: { os: string; architecture: string } }> };
        expect(entries.manifests.map((m) => [`${m.platform.os}/${m.platform.architecture}`, m.digest]).sort()).toEqual(
          cells.map((c) => [c.platform, c.result.image.digest]).sort(),
        );
        await docker('pull', '--platform', 'linux/arm64', index.ref);
        expect(
          await docker(
            'image',
            'inspect',
            '--format',
            '{{.Architecture}} {{index .Config.Labels "io.d7y-build.role"}} {{index .Config.Labels "org.opencontainers.image.revision"}}',
            index.ref,
          ),
        ).toBe(`arm64 runtime ${sha}`);
        // Each cell's provenance, beside its files, names its commit.
        for (const cell of cells) {
          expect(cell.result.commit).toBe(sha);
          const provenance = JSON.parse(await readFile(path.join(cell.out, 'provenance.intoto.json'), 'utf8')) as {
            predicate: {
              buildDefinition: {
                externalParameters: { ref: string; platform: string };
                resolvedDependencies: Array<{ name: string; digest: Record<string, string> }>;
              };
            };
          };
          expect(provenance.predicate.buildDefinition.externalParameters).toMatchObject({ ref: commit, platform: cell.platform });
          expect(provenance.predicate.buildDefinition.resolvedDependencies.find((d) => d.name === 'dragonfly')?.digest).toEqual({ gitCommit: sha });
        }
      }
    } finally {
      for (const tag of tags) await docker('image', 'rm', '-f', tag).catch(() => '');
    }
  });
});

describe('--platform refuses', () => {
  it('an unknown platform, before anything runs, naming the supported ones', async () => {
    const run = await runCli([...fixtureArgs('v2.1.0'), '--platform', 'linux/riscv64', path.join(examples, 'd7yfs')]);
    expect(run.exitCode).toBe(2);
    expect(run.stderr).toMatch(/unknown platform "linux\/riscv64" \(--platform\)/);
    expect(run.stderr).toMatch(/hint: --platform takes one of linux\/amd64, linux\/arm64/);
  });
});
