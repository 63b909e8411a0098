/**
 * `d7y-build verify` against the truth: a corpus of hosts and plugins built for real in the build
 * container, and for each pair the host's own `plugin` command, which calls plugin.Open. The static
 * verdict must be the one the Go runtime reaches, and name the package the runtime names.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, open, readFile, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { CACHE_VOLUMES } from '../../src/session/cache';
import { ElfFile } from '../../src/elf/elf';
import { parsePluginOutput } from '../../src/validate/plugin-output';
import { docker, examples, fixtureArgs, runCli, runHost, tempDir, writePlugin } from './helpers';

const run = promisify(execFile);
let work: { path: string } & AsyncDisposable;
const corpus: Record<string, string> = {};

/** Builds with d7y-build and returns its out dir. */
async function d7yBuild(name: string, commit: string, extra: string[], goImage = inject('goImage')): Promise<string> {
  const out = path.join(work.path, name);
  const result = await runCli([
    ...fixtureArgs(commit, goImage),
    '--out',
    out,
    '--plugins-dir',
    path.join(work.path, `${name}-plugins`),
    ...extra,
    path.join(examples, 'd7yfs'),
  ]);
  expect(result.exitCode, result.stderr).toBe(0);
  return out;
}

/**
 * Builds what d7y-build refuses to build, with go itself in the builder image: a stripped host, and
 * a plugin whose go.mod moves a module the host links.
 */
async function customBuilds(builderImage: string): Promise<void> {
  const src = path.join(work.path, 'custom-src');
  await mkdir(path.join(src, 'dragonfly'), { recursive: true });
  const archive = path.join(work.path, 'v2.1.1.tar');
  await run('git', ['-C', inject('fixtureRepo'), 'archive', '-o', archive, 'v2.1.1']);
  await run('tar', ['-xf', archive, '-C', path.join(src, 'dragonfly')]);
  await writePlugin(path.join(src, 'uuidfs'), {
    'go.mod': 'module example.com/uuidfs\n\ngo 1.23.0\n\nrequire github.com/google/uuid v1.6.0\n',
    'go.sum':
      'github.com/google/uuid v1.6.0 h1:NIvaJDMOsjHA8n1jAhLSgzrAzy1Hgr+hNrb57e+94F0=\ngithub.com/google/uuid v1.6.0/go.mod h1:TIyPZe4MgqvfeYDBFedMoGGpEw/LqOeaOT+nhxU+yHo=\n',
    'uuidfs.go': (await readFile(path.join(examples, 'd7yfs/d7yfs.go'), 'utf8'))
      .replace('"io"\n', '"io"\n\n\t"github.com/google/uuid"\n')
      .replaceAll('d7yfs', 'uuidfs')
      .replace('"buildTime":   buildTime,', '"buildTime":   buildTime,\n\t\t"id":          uuid.NewString(),'),
  });
  const script = [
    'set -e',
    'cp -R /tmp/in/dragonfly /tmp/in/uuidfs /work/',
    'cd /work/dragonfly',
    'go build -trimpath -ldflags="-s -w -X d7y.io/dragonfly/v2/version.GitCommit=stripped" -o /work/out/dfget-stripped ./cmd/dfget',
    'cd /work && go work init /work/dragonfly /work/uuidfs',
    'cd /work/uuidfs && go build -trimpath -buildmode=plugin -o /work/out/d7y-resource-plugin-uuidfs.so .',
  ].join('\n');
  // With the builds' Go caches: what the stripped host and the plugin share with the builds before
  // is not compiled again.
  const caches = CACHE_VOLUMES.filter((v) => v.role === 'go-mod-cache' || v.role === 'go-build-cache').flatMap((v) => ['-v', `${v.name}:${v.target}`]);
  expect(caches).toHaveLength(4);
  const id = await docker('create', '--label', 'io.d7y-build.test=corpus', ...caches, builderImage, 'bash', '-c', script);
  try {
    await docker('cp', src, `${id}:/tmp/in`);
    await run('docker', ['start', '-a', id]).catch((err: { stdout?: string; stderr?: string }) => {
      throw new Error(`custom corpus build failed: ${err.stdout ?? ''}${err.stderr ?? ''}`);
    });
    await docker('cp', `${id}:/work/out/dfget-stripped`, path.join(work.path, 'dfget-stripped'));
    await docker('cp', `${id}:/work/out/d7y-resource-plugin-uuidfs.so`, path.join(work.path, 'd7y-resource-plugin-uuidfs.so'));
  } finally {
    await docker('rm', '-f', id);
  }
}

/** What plugin.Open does: the host's own `plugin` command, with only this plugin installed. */
async function truth(host: string, plugin: string): Promise<{ loads: boolean; reason?: string }> {
  const dir = path.join(work.path, `truth-${randomBytes(4).toString('hex')}`);
  await mkdir(dir);
  await copyFile(plugin, path.join(dir, path.basename(plugin)));
  const result = await runHost(host, dir, ['plugin']);
  const listing = parsePluginOutput(result.stdout, result.stderr);
  const loaded = listing.loaded.some((p) => p.location === path.basename(plugin));
  return { loads: loaded, reason: listing.rejected.find((r) => r.file === path.basename(plugin))?.reason };
}

interface Verdict {
  loads: boolean;
  plugins: Array<{
    loads: boolean;
    goError?: string;
    reasons: Array<Record<string, unknown>>;
    differences: Array<Record<string, unknown>>;
    notCompared?: { what: string[]; why: string };
  }>;
}

/** What a Go 1.20 plugin does not record, so verify cannot compare. */
const NOT_IN_GO120_PLUGIN = {
  what: ['CGO_ENABLED', '-trimpath', '-tags', '-gcflags', '-race', '-asan', '-msan'],
  why: 'not recorded in a go1.20.14 plugin',
};

async function verify(host: string, plugin: string): Promise<{ exitCode: number | null; report: Verdict }> {
  const result = await runCli(['verify', '--json', '--host', host, plugin]);
  expect(result.stderr).toBe('');
  return { exitCode: result.exitCode, report: JSON.parse(result.stdout) as Verdict };
}

beforeAll(async () => {
  work = await tempDir('verify-');
  const plugin = (out: string) => path.join(out, 'plugins/d7y-resource-plugin-d7yfs.so');
  // Builds run side by side, as d7y-build allows: first those that compile what no other does (the
  // base, another Go, no -trimpath, the Go 1.20 line), then those that take most from their caches.
  const [base, otherGo, noTrimpath, go120] = await Promise.all([
    d7yBuild('base', 'v2.1.1', []),
    d7yBuild('other-go', 'v2.1.1', [], inject('otherGoImage')),
    d7yBuild('no-trimpath', 'v2.1.1', ['--no-trimpath']),
    // The Go 1.20 line: plugins with no build information.
    d7yBuild('go120', 'v2.0.9', [], inject('go120Image')),
  ]);
  const manifest = JSON.parse(await readFile(path.join(base, 'manifest.json'), 'utf8'));
  const [sharedTag, otherTag, otherCommit, sharedTag120] = await Promise.all([
    d7yBuild('shared-tag', 'v2.1.1', ['--tags', 'd7ydebug']),
    d7yBuild('unrelated-tag', 'v2.1.1', ['--tags', 'unrelated']),
    d7yBuild('other-commit', 'v2.1.0', []),
    d7yBuild('go120-shared-tag', 'v2.0.9', ['--tags', 'd7ydebug'], inject('go120Image')),
    customBuilds(manifest.builderImage.tag),
  ]);
  corpus.host = path.join(base, 'bin/dfget');
  corpus.matching = plugin(base);
  corpus.otherGo = plugin(otherGo);
  corpus.noTrimpath = plugin(noTrimpath);
  corpus.sharedTag = plugin(sharedTag);
  corpus.otherTag = plugin(otherTag);
  corpus.otherCommit = plugin(otherCommit);
  corpus.strippedHost = path.join(work.path, 'dfget-stripped');
  corpus.newerModule = path.join(work.path, 'd7y-resource-plugin-uuidfs.so');
  corpus.host120 = path.join(go120, 'bin/dfget');
  corpus.matching120 = plugin(go120);
  corpus.manifest120 = path.join(go120, 'manifest.json');
  corpus.sharedTag120 = plugin(sharedTag120);
});

afterAll(async () => {
  await work[Symbol.asyncDispose]();
});

describe('verify agrees with plugin.Open', () => {
  const pairs: Array<{ name: string; host: string; plugin: string; loads: boolean; reason?: (r: Verdict['plugins'][0]) => void }> = [
    { name: 'matching pair', host: 'host', plugin: 'matching', loads: true },
    {
      name: 'Go patch version differs',
      host: 'host',
      plugin: 'otherGo',
      loads: false,
      reason: (v) => expect(v.reasons[0]).toEqual({ kind: 'go-version', host: 'go1.23.5', plugin: 'go1.23.4' }),
    },
    {
      name: '-trimpath on the host only',
      host: 'host',
      plugin: 'noTrimpath',
      loads: false,
      reason: (v) => expect(v.reasons).toContainEqual({ kind: 'setting', key: '-trimpath', host: 'true', plugin: '' }),
    },
    {
      name: 'build tag that changes a shared package',
      host: 'host',
      plugin: 'sharedTag',
      loads: false,
      reason: (v) => {
        expect(v.reasons[0]).toMatchObject({ kind: 'package', package: 'd7y.io/dragonfly/v2/pkg/source' });
        expect(v.reasons).toContainEqual({ kind: 'setting', key: '-tags', host: '', plugin: 'd7ydebug' });
      },
    },
    {
      name: 'build tag that changes no shared package',
      host: 'host',
      plugin: 'otherTag',
      loads: true,
      reason: (v) => expect(v.differences).toContainEqual({ kind: 'setting', key: '-tags', host: '', plugin: 'unrelated' }),
    },
    {
      name: 'plugin built against the other fixture tag',
      host: 'host',
      plugin: 'otherCommit',
      loads: false,
      reason: (v) => expect(v.reasons[0]).toMatchObject({ kind: 'package', package: 'd7y.io/dragonfly/v2/pkg/source' }),
    },
    {
      name: 'plugin with a newer version of a shared third-party module',
      host: 'host',
      plugin: 'newerModule',
      loads: false,
      reason: (v) =>
        expect(v.reasons).toContainEqual(
          expect.objectContaining({
            kind: 'package',
            package: 'github.com/google/uuid',
            host: expect.objectContaining({ module: 'github.com/google/uuid', version: 'v1.5.0' }),
            plugin: expect.objectContaining({ module: 'github.com/google/uuid', version: 'v1.6.0' }),
          }),
        ),
    },
    {
      name: 'Go 1.20 (no build information in the plugin): matching pair',
      host: 'host120',
      plugin: 'matching120',
      loads: true,
      reason: (v) => expect(v.notCompared).toEqual(NOT_IN_GO120_PLUGIN),
    },
    {
      name: 'Go 1.20: build tag that changes a shared package',
      host: 'host120',
      plugin: 'sharedTag120',
      loads: false,
      reason: (v) => {
        expect(v.reasons).toEqual([expect.objectContaining({ kind: 'package', package: 'd7y.io/dragonfly/v2/pkg/source' })]);
        expect(v.notCompared).toEqual(NOT_IN_GO120_PLUGIN);
      },
    },
    { name: 'stripped host, matching plugin', host: 'strippedHost', plugin: 'matching', loads: true },
    { name: 'stripped host, plugin of the other tag', host: 'strippedHost', plugin: 'otherCommit', loads: false },
  ];

  it.each(pairs)('$name', async (pair) => {
    const host = corpus[pair.host]!;
    const plugin = corpus[pair.plugin]!;
    const real = await truth(host, plugin);
    expect(real.loads).toBe(pair.loads); // the corpus is what it claims to be

    const { exitCode, report } = await verify(host, plugin);
    expect(report.loads).toBe(real.loads);
    expect(exitCode).toBe(real.loads ? 0 : 11);
    const verdict = report.plugins[0]!;
    if (!real.loads) {
      // The package Go names is the first one verify names.
      expect(real.reason).toMatch(/plugin was built with a different version of package /);
      expect(real.reason!.endsWith(verdict.goError!)).toBe(true);
    }
    pair.reason?.(verdict);
  });

  it('inspect shows the stamps and the Dragonfly commit', async () => {
    const result = await runCli(['inspect', '--json', corpus.matching!]);
    expect(result.exitCode).toBe(0);
    const report = JSON.parse(result.stdout);
    const sha = (await run('git', ['-C', inject('fixtureRepo'), 'rev-parse', '--short=7', 'v2.1.1^{commit}'])).stdout.trim();
    expect(report).toMatchObject({
      kind: 'plugin',
      arch: 'amd64',
      goVersion: 'go1.23.5',
      dragonflyCommit: sha,
      stamps: { 'main.buildCommit': sha, 'main.buildTime': expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/) },
      settings: { '-buildmode': 'plugin', '-trimpath': 'true', CGO_ENABLED: '1' },
    });
    const host = JSON.parse((await runCli(['inspect', '--json', corpus.host!])).stdout);
    expect(host).toMatchObject({
      kind: 'executable',
      mainPackage: 'd7y.io/dragonfly/v2/cmd/dfget',
      stamps: { 'version.GitCommit': sha, 'version.GitVersion': 'v2.1.1' },
    });
  });
});

describe('the Go 1.20 line', () => {
  it("the build records verify's verdict in manifest.json, naming the artifacts", async () => {
    const manifest = JSON.parse(await readFile(corpus.manifest120!, 'utf8'));
    expect(manifest.verify).toMatchObject({
      loads: true,
      host: { path: 'bin/dfget', goVersion: 'go1.20.14' },
      plugins: [{ file: 'plugins/d7y-resource-plugin-d7yfs.so', loads: true, goVersion: 'go1.20.14', notCompared: NOT_IN_GO120_PLUGIN }],
    });
  });

  it('inspect reads the Go version from the DWARF and says the settings are not recorded', async () => {
    const result = await runCli(['inspect', corpus.matching120!]);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toMatch(/^go: +go1\.20\.14 \(from its DWARF\)$/m);
    expect(result.stdout).toMatch(/^build: +not recorded/m);
    expect(result.stdout).toMatch(/^plugin checks: +\d+ package hashes at load time$/m);
  });
});

/** The file's bytes with the size of a .symtab symbol replaced. */
async function withSymbolSize(file: string, bytes: Buffer, name: string, size: bigint): Promise<Buffer> {
  const elf = await ElfFile.open(file);
  try {
    const symtab = elf.section('.symtab')!;
    const [symbol] = await elf.symbols('.symtab', [name]);
    const table = await elf.readSection(symtab);
    for (let at = 0; at < table.length; at += 24) {
      if (table.readBigUInt64LE(at + 8) === symbol!.value && table.readBigUInt64LE(at + 16) === BigInt(symbol!.size)) {
        const out = Buffer.from(bytes);
        out.writeBigUInt64LE(size, symtab.offset + at + 16);
        return out;
      }
    }
    throw new Error(`no symbol ${name} in ${file}`);
  } finally {
    await elf.close();
  }
}

describe('verify and inspect on bad input', () => {
  /** `make` creates the bad input at the path it is given, or returns another path to use. */
  const bad: Array<{ name: string; make: (file: string) => Promise<string | void>; exitCode: number; message: RegExp }> = [
    { name: 'an empty file', make: (f) => writeFile(f, ''), exitCode: 12, message: /not an ELF file/ },
    { name: 'random bytes', make: (f) => writeFile(f, randomBytes(256 * 1024)), exitCode: 12, message: /not an ELF file/ },
    {
      name: 'a truncated ELF',
      make: async (f) => writeFile(f, (await readFile(corpus.matching!)).subarray(0, 4096)),
      exitCode: 12,
      message: /truncated/,
    },
    {
      name: 'a 32-bit ELF',
      make: async (f) => {
        const header = Buffer.alloc(52);
        Buffer.from([0x7f, 0x45, 0x4c, 0x46, 1, 1, 1]).copy(header);
        await writeFile(f, header);
      },
      exitCode: 12,
      message: /32-bit ELF/,
    },
    {
      name: 'a huge file that is not ELF',
      make: async (f) => {
        const handle = await open(f, 'w');
        await handle.truncate(8 * 1024 ** 3); // sparse: 8 GiB that must not be read
        await handle.close();
      },
      exitCode: 12,
      message: /not an ELF file/,
    },
    {
      name: 'a huge ELF whose section table lies past its end',
      make: async (f) => {
        const header = (await readFile(corpus.matching!)).subarray(0, 64);
        const handle = await open(f, 'w');
        await handle.write(header, 0, 64, 0);
        await handle.truncate(4 * 1024 ** 3);
        await handle.close();
      },
      exitCode: 12,
      message: /not a Go binary|truncated/,
    },
    {
      name: 'a plugin whose package hash table claims 2^40 bytes',
      make: async (f) => {
        const bytes = await readFile(corpus.matching!);
        await writeFile(f, await withSymbolSize(corpus.matching!, bytes, 'go:link.pkghashes', 2n ** 40n));
      },
      exitCode: 12,
      message: /cannot tell from .*is in no section/,
    },
    {
      name: 'a plugin whose .strtab claims 2^60 bytes',
      make: async (f) => {
        const bytes = await readFile(corpus.matching!);
        const elf = await ElfFile.open(corpus.matching!);
        const index = elf.sections.findIndex((s) => s.name === '.strtab');
        await elf.close();
        bytes.writeBigUInt64LE(2n ** 60n, Number(bytes.readBigUInt64LE(40)) + index * 64 + 32);
        await writeFile(f, bytes);
      },
      exitCode: 12,
      message: /cannot tell from .*truncated: section \.strtab lies past the end of the file/,
    },
    { name: 'a directory', make: (f) => mkdir(f), exitCode: 2, message: /is a directory, not a file/ },
    { name: 'a missing file', make: async () => {}, exitCode: 2, message: /does not exist/ },
    { name: 'a FIFO', make: async (f) => void (await run('mkfifo', [f])), exitCode: 2, message: /is a FIFO \(named pipe\), not a file/ },
    {
      name: 'a symbolic link to /dev/zero',
      make: (f) => symlink('/dev/zero', f),
      exitCode: 2,
      message: /\(a symbolic link to \/dev\/zero\) is a character device, not a file/,
    },
    { name: '/dev/zero itself', make: async () => '/dev/zero', exitCode: 2, message: /\/dev\/zero is a character device, not a file/ },
  ];

  it.each(bad)('$name', async ({ make, exitCode, message }) => {
    const fresh = path.join(work.path, `bad-${randomBytes(4).toString('hex')}`);
    const file = (await make(fresh)) ?? fresh;
    for (const args of [
      ['inspect', file],
      ['verify', '--host', corpus.host!, file],
      ['verify', '--host', file, corpus.matching!],
    ]) {
      const result = await runCli(args);
      expect(result.exitCode).toBe(exitCode);
      expect(result.stderr).toMatch(message);
      expect(result.stderr.match(/^error: /gm)).toHaveLength(1);
      expect(result.stderr).toMatch(/^hint: /m);
      expect(result.stderr).not.toMatch(/^\s+at /m);
    }
  });

  it('refuses an executable given as the plugin and a plugin given as the host', async () => {
    const asPlugin = await runCli(['verify', '--host', corpus.host!, corpus.host!]);
    expect(asPlugin.exitCode).toBe(12);
    expect(asPlugin.stderr).toMatch(/is not a Go plugin \(built with -buildmode=exe\)/);
    const asHost = await runCli(['verify', '--host', corpus.matching!, corpus.matching!]);
    expect(asHost.exitCode).toBe(12);
    expect(asHost.stderr).toMatch(/is a Go plugin, not a host executable/);
  });
});
