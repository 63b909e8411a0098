/**
 * A matrix of Dragonfly commits: argv and matrix files → cells and their specs, the cells' directory
 * names (hostile refs included), the run over the cells (a failed cell, --fail-fast, an
 * interruption, matrix.json), the summary table, and the cells as GitHub's and GitLab's matrices.
 */
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { CommanderError } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { main, parseCommandLine, type Invocation } from '../../src/cli';
import type { BuildSpec } from '../../src/config';
import { runMatrix, type CellOutcome, type MatrixResult } from '../../src/commands/matrix';
import type { BuildResult } from '../../src/commands/build';
import { CompileError, InterruptedError, MatrixPartlyFailedError, SourceError, UsageError } from '../../src/errors';
import { eventLogger, renderEvent, type ProgressEvent } from '../../src/events';
import { nullLogger } from '../../src/log';
import { contentDigest, DOCKER_MANIFEST } from '../../src/docker/image-index';
import { expandCells, refList, safeDirName } from '../../src/matrix/cells';
import { imageForRef, placeholderProblem, platformImageRef, refTag } from '../../src/matrix/image-tag';
import { ciMatrix } from '../../src/matrix/ci';
import { parseMatrixFile } from '../../src/matrix/file';
import type { CiCell, MatrixSpec } from '../../src/matrix/spec';
import { matrixTable } from '../../src/matrix/table';
import { RunFailure } from '../../src/session/runner';

const cwd = '/home/me/work';
const OUT = '/home/me/work/d7y-build-out';

function sink(): NodeJS.WritableStream {
  return { write: () => true } as unknown as NodeJS.WritableStream;
}

function parse(argv: string[], env: Record<string, string> = {}): Invocation | undefined {
  return parseCommandLine(argv, { stdout: sink(), stderr: sink(), env: { HOME: '/home/me', ...env }, cwd });
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'd7y-matrix-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

async function matrixFile(name: string, text: string): Promise<string> {
  const file = path.join(dir, name);
  await writeFile(file, text);
  return file;
}

const cellsOf = (invocation: Invocation | undefined) => {
  expect(invocation?.command).toBe('build-matrix');
  return (invocation?.spec as MatrixSpec).cells;
};

describe('argv → a build or a matrix', () => {
  it('one commit is a build as always, --fail-fast or not', () => {
    for (const argv of [
      ['--commit', 'v2.1.66', './fs'],
      ['--commit', 'v2.1.66', '--fail-fast', './fs'],
    ]) {
      const invocation = parse(argv);
      expect(invocation?.command).toBe('build');
      expect(invocation?.spec).toMatchObject({ ref: 'v2.1.66', outDir: OUT, pluginsDir: '/usr/local/dragonfly/plugins' });
    }
  });

  it.each<[string, string[], Record<string, string>, Array<{ ref: string; outDir: string; goImage?: string }>, boolean]>([
    [
      'a comma list',
      ['--commit', 'v2.1.66,v2.3.4', './fs'],
      {},
      [
        { ref: 'v2.1.66', outDir: `${OUT}/v2.1.66/linux-amd64` },
        { ref: 'v2.3.4', outDir: `${OUT}/v2.3.4/linux-amd64` },
      ],
      false,
    ],
    [
      'blanks around the items, --out and --fail-fast',
      ['--commit', ' main , v2.1.0 ', '--out', 'o', '--fail-fast', './fs'],
      {},
      [
        { ref: 'main', outDir: '/home/me/work/o/main/linux-amd64' },
        { ref: 'v2.1.0', outDir: '/home/me/work/o/v2.1.0/linux-amd64' },
      ],
      true,
    ],
    [
      'a list in D7Y_COMMIT, and --go-image for every cell',
      ['--go-image', 'golang:1.23.5-bookworm', './fs'],
      { D7Y_COMMIT: 'a,b' },
      [
        { ref: 'a', outDir: `${OUT}/a/linux-amd64`, goImage: 'golang:1.23.5-bookworm' },
        { ref: 'b', outDir: `${OUT}/b/linux-amd64`, goImage: 'golang:1.23.5-bookworm' },
      ],
      false,
    ],
  ])('%s', (_label, argv, env, expected, failFast) => {
    const invocation = parse(argv, env);
    const cells = cellsOf(invocation);
    expect(cells.map((c) => c.spec)).toMatchObject(expected.map((e) => ({ ...e, pluginsDir: undefined, platform: 'linux/amd64' })));
    expect(cells.map((c) => c.cell.dir)).toEqual(expected.map((e) => `${e.ref}/linux-amd64`));
    expect(invocation?.spec).toMatchObject({ outDir: expected[0]!.outDir.split(`/${expected[0]!.ref}/`)[0], failFast });
  });

  it('a comma list of platforms builds each commit on each, every cell with one target, commit by commit', () => {
    const cells = cellsOf(parse(['--commit', 'v2.1.66,v2.3.4', '--platform', 'linux/amd64, linux/arm64', './fs']));
    expect(cells.map((c) => [c.cell.dir, c.spec.ref, c.spec.target, c.spec.outDir])).toEqual([
      ['v2.1.66/linux-amd64', 'v2.1.66', 'linux/amd64', `${OUT}/v2.1.66/linux-amd64`],
      ['v2.1.66/linux-arm64', 'v2.1.66', 'linux/arm64', `${OUT}/v2.1.66/linux-arm64`],
      ['v2.3.4/linux-amd64', 'v2.3.4', 'linux/amd64', `${OUT}/v2.3.4/linux-amd64`],
      ['v2.3.4/linux-arm64', 'v2.3.4', 'linux/arm64', `${OUT}/v2.3.4/linux-arm64`],
    ]);
    // One commit on two platforms is a matrix too; a platform named twice is built once.
    const one = cellsOf(parse(['--commit', 'v2.1.66', './fs'], { D7Y_PLATFORM: 'linux/arm64,linux/amd64,linux/arm64' }));
    expect(one.map((c) => c.spec.target)).toEqual(['linux/arm64', 'linux/amd64']);
    expect(parse(['--commit', 'v2.1.66', '--platform', 'linux/arm64', './fs'])).toMatchObject({ command: 'build', spec: { target: 'linux/arm64' } });
  });

  it('an unknown platform in the list is refused by name, with the ones there are', () => {
    expect(() => parse(['--commit', 'v2.1.66', '--platform', 'linux/amd64,linux/s390x', './fs'])).toThrow(
      expect.objectContaining({
        message: 'unknown platform "linux/s390x" (--platform)',
        hint: '--platform takes one of linux/amd64, linux/arm64, or a comma list of them',
      }),
    );
  });

  it('matrix --platform: every commit on every platform, each cell naming its own', () => {
    const invocation = parse(['matrix', '--format', 'github', '--commit', 'v1,v2', '--platform', 'linux/amd64,linux/arm64']);
    expect((invocation?.spec as { cells: CiCell[] }).cells.map((c) => [c.commit, c.platform, c.out])).toEqual([
      ['v1', 'linux/amd64', 'd7y-build-out/v1/linux-amd64'],
      ['v1', 'linux/arm64', 'd7y-build-out/v1/linux-arm64'],
      ['v2', 'linux/amd64', 'd7y-build-out/v2/linux-amd64'],
      ['v2', 'linux/arm64', 'd7y-build-out/v2/linux-arm64'],
    ]);
  });

  it('--image over one commit on several platforms: an image per platform beside the tag, which --push makes an index', () => {
    const invocation = parse(['--commit', 'v2.1.0', '--platform', 'linux/amd64,linux/arm64', '--image', 'reg.example:5000/d7y/x:v1', '--push', './fs']);
    const spec = invocation?.spec as MatrixSpec;
    expect(spec.cells.map((c) => [c.cell.platform, c.spec.image, c.spec.push])).toEqual([
      ['linux/amd64', 'reg.example:5000/d7y/x:v1-linux-amd64', true],
      ['linux/arm64', 'reg.example:5000/d7y/x:v1-linux-arm64', true],
    ]);
    expect(spec.image).toEqual({
      push: true,
      registryAuthFile: undefined,
      indexes: [{ commit: 'v2.1.0', ref: 'reg.example:5000/d7y/x:v1', repository: 'reg.example:5000/d7y/x', tag: 'v1' }],
    });
  });

  it('--image …:{ref} over commits × platforms: per commit an image per platform beside its tag, and an index there', () => {
    const argv = ['--commit', 'v2.1.0,feature/x', '--platform', 'linux/amd64,linux/arm64', '--image', 'reg.example:5000/d7y/x:{ref}', '--push', './fs'];
    const spec = parse([...argv, '--registry-auth', 'auth.json'])?.spec as MatrixSpec;
    expect(spec.cells.map((c) => [c.spec.ref, c.spec.target, c.spec.image])).toEqual([
      ['v2.1.0', 'linux/amd64', 'reg.example:5000/d7y/x:v2.1.0-linux-amd64'],
      ['v2.1.0', 'linux/arm64', 'reg.example:5000/d7y/x:v2.1.0-linux-arm64'],
      ['feature/x', 'linux/amd64', 'reg.example:5000/d7y/x:feature-x-linux-amd64'],
      ['feature/x', 'linux/arm64', 'reg.example:5000/d7y/x:feature-x-linux-arm64'],
    ]);
    expect(spec.image).toEqual({
      push: true,
      registryAuthFile: `${cwd}/auth.json`,
      indexes: [
        { commit: 'v2.1.0', ref: 'reg.example:5000/d7y/x:v2.1.0', repository: 'reg.example:5000/d7y/x', tag: 'v2.1.0' },
        { commit: 'feature/x', ref: 'reg.example:5000/d7y/x:feature-x', repository: 'reg.example:5000/d7y/x', tag: 'feature-x' },
      ],
    });
    // D7Y_IMAGE takes {ref} as the flag does, and a matrix file's commits as a comma list's.
    expect((parse(argv.slice(0, 4).concat('--push', './fs'), { D7Y_IMAGE: 'reg.example:5000/d7y/x:{ref}' })?.spec as MatrixSpec).image).toEqual(
      (parse(argv)?.spec as MatrixSpec).image,
    );
  });

  it('--image …:{ref} over commits on one platform: each cell tagged with its commit, no index', () => {
    const spec = parse(['--commit', 'v2.1.0,v2.1.1', '--image', 'reg.example/d7y/x:plugins-{ref}', '--push', './fs'])?.spec as MatrixSpec;
    expect(spec.cells.map((c) => [c.spec.ref, c.spec.image, c.spec.push])).toEqual([
      ['v2.1.0', 'reg.example/d7y/x:plugins-v2.1.0', true],
      ['v2.1.1', 'reg.example/d7y/x:plugins-v2.1.1', true],
    ]);
    expect(spec.image).toBeUndefined();
  });

  it('--image …:{ref} for one commit is the build of that commit, tagged with it', () => {
    expect(parse(['--commit', 'release/2.1', '--image', 'reg.example/d7y/x:{ref}', './fs'])).toMatchObject({
      command: 'build',
      spec: { ref: 'release/2.1', image: 'reg.example/d7y/x:release-2.1' },
    });
    expect(parse(['--image', 'reg.example/d7y/x:{ref}-{ref}', './fs'], { D7Y_COMMIT: 'v1' })).toMatchObject({ spec: { image: 'reg.example/d7y/x:v1-v1' } });
  });

  it('a matrix file gives each commit its own Go image and plugin directories, taken from the file', async () => {
    const file = await matrixFile('m.yaml', 'commits:\n  - v2.1.0\n  - ref: v2.1.1\n    goImage: golang:1.23.4-bookworm\n    plugins: [./other, /abs/third]\n');
    const cells = cellsOf(parse(['--matrix', file, '--go-image', 'golang:1.23.5-bookworm', './fs']));
    expect(cells.map((c) => [c.spec.ref, c.spec.goImage, c.spec.plugins.map((p) => p.dir)])).toEqual([
      ['v2.1.0', 'golang:1.23.5-bookworm', ['/home/me/work/fs']],
      ['v2.1.1', 'golang:1.23.4-bookworm', [path.join(dir, 'other'), '/abs/third']],
    ]);
  });

  it('a matrix file of one commit is a build as always, with what the file says of it', async () => {
    const file = await matrixFile('one.json', JSON.stringify({ commits: [{ ref: 'v2.1.0', goImage: 'golang:1.20.14-bookworm' }] }));
    const invocation = parse(['--matrix', file, './fs']);
    expect(invocation?.command).toBe('build');
    expect(invocation?.spec).toMatchObject({ ref: 'v2.1.0', goImage: 'golang:1.20.14-bookworm', outDir: OUT });
  });

  it.each<[string[], Record<string, string>, RegExp]>([
    [['--commit', 'a,b', '--plugins-dir', 'p', './fs'], {}, /^--plugins-dir installs one build, but the matrix has 2 cells$/],
    [['--commit', 'a,b', './fs'], { D7Y_PLUGINS_DIR: '/p' }, /^D7Y_PLUGINS_DIR installs one build, but the matrix has 2 cells$/],
    [['--commit', 'a,,b', './fs'], {}, /^--commit "a,,b" has an empty item$/],
    [['--commit', 'a,', './fs'], {}, /has an empty item/],
    [['--commit', 'a,b,a', './fs'], {}, /^--commit lists a twice$/],
    [['--commit', 'a,b', '--watch', './fs'], {}, /^--watch watches one build, but the matrix has 2 cells$/],
    [['--commit', 'a,b', '--image', 'reg.example/d7y/x:v1', './fs'], {}, /^--image names one image, but the matrix has 2 commits$/],
    [['--matrix', '/nowhere.yaml', '--commit', 'a,b', '--image', 'reg.example/d7y/x:v1', './fs'], {}, /^--commit and --matrix both name the commits$/],
    [
      ['--commit', 'a', '--platform', 'linux/amd64,linux/arm64', '--image', `reg.example/d7y/x:${'t'.repeat(120)}`, './fs'],
      {},
      /^--image reg\.example\/d7y\/x:t+: the tag of a platform's image, t+-linux-amd64, is longer than a registry takes \(128\)$/,
    ],
    // Every cell's tag is checked, not the first commit's alone.
    [
      ['--commit', `a,${'b'.repeat(120)}`, '--platform', 'linux/amd64,linux/arm64', '--image', 'reg.example/d7y/x:{ref}', './fs'],
      {},
      /^--image reg\.example\/d7y\/x:\{ref\}: the tag of a platform's image, b{120}-linux-amd64, is longer than a registry takes \(128\)$/,
    ],
    [
      ['--commit', 'a'.repeat(129), '--image', 'reg.example/d7y/x:{ref}', './fs'],
      {},
      /^--image reg\.example\/d7y\/x:\{ref\}: the tag for a{129}, a{129}, is longer/,
    ],
    [
      ['--commit', 'v1,a/b,a-b', '--image', 'reg.example/d7y/x:{ref}', './fs'],
      {},
      /^--image reg\.example\/d7y\/x:\{ref\}: the commits a\/b and a-b would both be reg\.example\/d7y\/x:a-b$/,
    ],
    [
      ['--commit', 'a', '--image', 'reg.example/d7y/x:{sha}', './fs'],
      {},
      /^--image "reg\.example\/d7y\/x:\{sha\}" has the unknown placeholder \{sha\}; the tag takes \{ref\}/,
    ],
    [
      ['--commit', 'a', '--image', 'reg.example/d7y/{ref}:v1', './fs'],
      {},
      /^--image "reg\.example\/d7y\/\{ref\}:v1" has \{ref\} outside its tag; only the tag takes it$/,
    ],
    [['--commit', 'a', './fs'], { D7Y_IMAGE: 'reg.example/{ref}' }, /^D7Y_IMAGE="reg\.example\/\{ref\}" has \{ref\} outside its tag/],
    [['--commit', 'a,b', '--matrix', '/nowhere.yaml', './fs'], {}, /^--commit and --matrix both name the commits$/],
    [['--matrix', '/nowhere/m.yaml', './fs'], {}, /^the matrix file \/nowhere\/m\.yaml does not exist$/],
  ])('refuses %j (env %j) with a usage error, exit 2', (argv, env, message) => {
    let error: unknown;
    try {
      parse(argv, env);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(UsageError);
    expect((error as UsageError).exitCode).toBe(2);
    expect((error as UsageError).message).toMatch(message);
    expect((error as UsageError).hint).toBeTruthy();
  });

  it('the refusal of several commits under one --image tag says to put {ref} in it', () => {
    expect(() => parse(['--commit', 'a,b', '--image', 'reg.example/d7y/x:v1', './fs'])).toThrow(
      expect.objectContaining({
        hint: expect.stringMatching(/^put \{ref\} in its tag for an image per commit, e\.g\. --image registry\.example:5000\/d7y\/dfget-plugins:\{ref\}/),
      }),
    );
  });

  it('the --plugins-dir refusal names the fix', () => {
    expect(() => parse(['--commit', 'a,b', '--plugins-dir', 'p', './fs'])).toThrow(
      expect.objectContaining({
        hint: expect.stringMatching(/^drop --plugins-dir: each cell's plugins are written to <out>\/<commit>\/<platform>\/plugins\//),
      }),
    );
  });

  it.each<[string, string[], Record<string, string>, CiCell[]]>([
    [
      'a comma list and a plugin directory',
      ['matrix', '--format', 'github', '--commit', 'v2.1.66,v2.3.4', './fs'],
      {},
      [
        { commit: 'v2.1.66', platform: 'linux/amd64', out: 'd7y-build-out/v2.1.66/linux-amd64', plugins: ['fs'] },
        { commit: 'v2.3.4', platform: 'linux/amd64', out: 'd7y-build-out/v2.3.4/linux-amd64', plugins: ['fs'] },
      ],
    ],
    [
      'one commit: the layout of a build',
      ['matrix', '--format', 'gitlab', '--out', '/abs/out'],
      { D7Y_COMMIT: 'main' },
      [{ commit: 'main', platform: 'linux/amd64', out: '/abs/out' }],
    ],
  ])('matrix: %s', (_label, argv, env, cells) => {
    const invocation = parse(argv, env);
    expect(invocation?.command).toBe('matrix');
    expect(invocation?.spec).toEqual({ format: argv[2], cells });
  });

  it('matrix: cells from a matrix file, with its Go images and plugin directories', async () => {
    const file = await matrixFile('ci.yaml', 'commits: [v1, {ref: v2, goImage: "golang:1.23.5-bookworm", plugins: [./p]}]\n');
    const cells = parseCommandLine(['matrix', '--format', 'github', '--matrix', file, 'fs'], { stdout: sink(), stderr: sink(), env: {}, cwd: dir });
    expect(cells?.spec).toEqual({
      format: 'github',
      cells: [
        { commit: 'v1', platform: 'linux/amd64', out: 'd7y-build-out/v1/linux-amd64', plugins: ['fs'] },
        { commit: 'v2', platform: 'linux/amd64', out: 'd7y-build-out/v2/linux-amd64', goImage: 'golang:1.23.5-bookworm', plugins: ['p'] },
      ],
    });
  });

  it.each<[string[], RegExp]>([
    [['matrix', '--commit', 'a,b'], /required option '--format <format>' not specified/],
    [['matrix', '--format', 'jenkins', '--commit', 'a'], /'jenkins' is invalid/],
    [['config', '--fail-fast'], /unknown option '--fail-fast'/],
  ])('commander refuses %j', (argv, message) => {
    expect(() => parse(argv)).toThrow(CommanderError);
    expect(() => parse(argv)).toThrow(message);
  });

  it('matrix: no commit at all is a usage error', () => {
    expect(() => parse(['matrix', '--format', 'github'])).toThrow(/^no Dragonfly commit given$/);
  });
});

describe('the tags of --image per commit', () => {
  it.each<[string, string]>([
    ['v2.1.0', 'v2.1.0'],
    ['main', 'main'],
    ['a'.repeat(40), 'a'.repeat(40)],
    ['v2.1.0_rc-1', 'v2.1.0_rc-1'],
    ['feature/x', 'feature-x'],
    ['a b', 'a-b'],
    ['v2.1.0+meta', 'v2.1.0-meta'],
    ['héllo', 'h-llo'],
    ['-rc', '_-rc'],
    ['.hidden', '_.hidden'],
    ['/x', '_-x'],
    ['_x', '_x'],
  ])('{ref} of %j is the tag text %j', (ref, tag) => {
    expect(refTag(ref)).toBe(tag);
    expect(`x${tag}`).toMatch(/^x[\w][\w.-]*$/);
  });

  it.each<[string, string | undefined]>([
    ['reg.example/d7y/x:{ref}', undefined],
    ['reg.example:5000/d7y/x:{ref}', undefined],
    ['d7y/x:plugins-{ref}-{ref}', undefined],
    ['d7y/x:v1', undefined],
    ['reg.example/d7y/x:{sha}', 'has the unknown placeholder {sha}; the tag takes {ref}, the commit'],
    ['reg.example/d7y/x:{REF}', 'has the unknown placeholder {REF}; the tag takes {ref}, the commit'],
    ['reg.example/d7y/x:{}', 'has the unknown placeholder {}; the tag takes {ref}, the commit'],
    ['reg.example/d7y/{ref}:v1', 'has {ref} outside its tag; only the tag takes it'],
    ['reg.example:{ref}/d7y/x:v1', 'has {ref} outside its tag; only the tag takes it'],
    ['reg.example/d7y/x{ref}', 'has {ref} outside its tag; only the tag takes it'],
  ])('the placeholders of %j: %j', (template, problem) => {
    expect(placeholderProblem(template)).toBe(problem);
  });

  it('fills each {ref} of the tag in, and leaves a tag without one as it is', () => {
    expect(imageForRef('reg.example:5000/d7y/x:{ref}', 'release/2.1')).toBe('reg.example:5000/d7y/x:release-2.1');
    expect(imageForRef('d7y/x:{ref}-{ref}', 'v1')).toBe('d7y/x:v1-v1');
    expect(imageForRef('d7y/x:v1', 'v2')).toBe('d7y/x:v1');
    expect(platformImageRef('d7y/x', 'v1', 'linux/arm64')).toBe('d7y/x:v1-linux-arm64');
  });
});

describe('matrix files', () => {
  it('reads YAML and JSON alike', () => {
    const yaml = parseMatrixFile('commits:\n  - v1\n  - ref: v2\n    plugins: [a]\n', '/m/x.yaml');
    const json = parseMatrixFile('{"commits": ["v1", {"ref": "v2", "plugins": ["a"]}]}', '/m/x.json');
    expect(yaml).toEqual([{ ref: 'v1' }, { ref: 'v2', plugins: ['/m/a'] }]);
    expect(json).toEqual(yaml);
  });

  it.each<[string, RegExp]>([
    ['', /is not a matrix: it must hold a non-empty "commits" list/],
    ['commits: []', /is not a matrix/],
    ['commits: [v1]\nextra: 1', /is not a matrix/],
    ['- v1', /is not a matrix/],
    ['commits: [v1, v1]', /lists v1 twice/],
    ['commits: [{goImage: "golang:1"}]', /commits\[0\] has no ref/],
    ['commits: [{ref: v1, image: x}]', /commits\[0\]: unknown key "image"/],
    ['commits: [{ref: v1, goImage: "Bad Image"}]', /goImage "Bad Image" is not an image reference/],
    ['commits: [{ref: v1, plugins: "./a"}]', /plugins is not a list of directories/],
    ['commits: [7]', /commits\[0\] is neither a ref nor a ref with settings/],
    ['commits: [v1', /is not valid YAML: line 1/],
  ])('refuses %j', (text, message) => {
    expect(() => parseMatrixFile(text, '/m/x.yaml')).toThrow(UsageError);
    expect(() => parseMatrixFile(text, '/m/x.yaml')).toThrow(message);
  });
});

describe('cells and their directories', () => {
  it('keeps plain refs as they are, commit by commit on every platform', () => {
    expect(refList('v2.1.66,v2.3.4')).toEqual(['v2.1.66', 'v2.3.4']);
    expect(expandCells([{ ref: 'v2.1.66' }, { ref: 'release-2.1_x' }], ['linux/amd64', 'linux/arm64'])).toEqual([
      { ref: 'v2.1.66', platform: 'linux/amd64', dir: 'v2.1.66/linux-amd64' },
      { ref: 'v2.1.66', platform: 'linux/arm64', dir: 'v2.1.66/linux-arm64' },
      { ref: 'release-2.1_x', platform: 'linux/amd64', dir: 'release-2.1_x/linux-amd64' },
      { ref: 'release-2.1_x', platform: 'linux/arm64', dir: 'release-2.1_x/linux-arm64' },
    ]);
  });

  const HOSTILE = [
    '../x',
    '..',
    '.',
    '.hidden',
    'a/../../etc',
    'a b',
    'a_b',
    'a?b',
    'räty',
    'r_ty',
    '日本',
    'feature/x',
    'feature_x',
    'V2',
    'v2',
    '-rf',
    'x'.repeat(300),
    `${'x'.repeat(300)}y`,
    'tab\there',
    'nul\u0000x',
    'e\u0301',
    '\u00e9',
  ];

  it('makes each hostile ref a safe name, and no two the same (case ignored)', () => {
    const cells = expandCells(
      HOSTILE.map((ref) => ({ ref })),
      ['linux/amd64'],
    );
    const refDirs = cells.map((c) => c.dir.split('/')[0]!);
    for (const name of refDirs) {
      expect(name).toMatch(/^[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}$/);
      expect(path.join('/out', name, 'linux-amd64').startsWith('/out/')).toBe(true);
    }
    expect(new Set(refDirs.map((n) => n.toLowerCase())).size).toBe(HOSTILE.length);
    expect(cells.every((c) => c.dir.endsWith('/linux-amd64'))).toBe(true);
  });

  it('changes only what it must, and says so with a hash of the ref', () => {
    expect(safeDirName('v2.1.66')).toBe('v2.1.66');
    expect(safeDirName('a5f1c2e3b4d5a6f7a8b9c0d1e2f3a4b5c6d7e8f9')).toBe('a5f1c2e3b4d5a6f7a8b9c0d1e2f3a4b5c6d7e8f9');
    expect(safeDirName('feature/x')).toMatch(/^feature_x-[0-9a-f]{8}$/);
    expect(safeDirName('../x')).toMatch(/^_._x-[0-9a-f]{8}$/);
    expect(safeDirName('x'.repeat(300))).toHaveLength(64);
    expect(safeDirName('a b')).not.toBe(safeDirName('a_b'));
  });

  it('names a repeated directory apart, in order', () => {
    // "-2" is how a later cell is told apart from an earlier one of the same name.
    expect(expandCells([{ ref: 'V2' }, { ref: 'v2' }, { ref: 'v2-2' }], ['linux/amd64']).map((c) => c.dir)).toEqual([
      'V2/linux-amd64',
      'v2-2/linux-amd64',
      'v2-2-2/linux-amd64',
    ]);
  });
});

/** A cell's spec: what the run reads of it. */
const specOf = (ref: string, outDir: string): BuildSpec =>
  ({ ref, outDir, plugins: [{ dir: '/p/fs', name: 'fs', file: 'd7y-resource-plugin-fs.so' }] }) as BuildSpec;

describe('runMatrix', () => {
  const matrixOf = (out: string, refs: string[], failFast = false): MatrixSpec => ({
    outDir: out,
    failFast,
    cells: expandCells(
      refs.map((ref) => ({ ref })),
      ['linux/amd64'],
    ).map((cell) => ({ cell, spec: specOf(cell.ref, path.join(out, cell.dir)) })),
  });

  /** Builds a cell as its ref says: "bad" fails before compiling, "late" after, "stop" is interrupted. */
  const runCell = async (spec: BuildSpec, io: { log: { info: (m: string, f?: never) => void } }): Promise<BuildResult> => {
    if (spec.ref === 'bad') throw new RunFailure(new SourceError('the repository has no ref bad', { hint: 'check the ref' }), 'run1', []);
    io.log.info('compiled fs', { type: 'plugin-compiled', plugin: 'fs', file: 'x.so' } as never);
    if (spec.ref === 'late') throw new CompileError('the host did not link');
    if (spec.ref === 'stop') throw new RunFailure(new InterruptedError('SIGINT'), 'run2', []);
    return { ref: spec.ref, installed: [] } as unknown as BuildResult;
  };

  async function run(refs: string[], failFast = false) {
    const out = await mkdtemp(path.join(dir, 'out-'));
    const events: ProgressEvent[] = [];
    const io = { log: eventLogger((e) => events.push(e)), signal: new AbortController().signal, env: {}, redact: () => {} };
    const outcome = await runMatrix(matrixOf(out, refs, failFast), io, runCell as never).catch((err: unknown) => err);
    const summary = await readFile(path.join(out, 'matrix.json'), 'utf8').catch(() => undefined);
    return { out, events, outcome, summary: summary === undefined ? undefined : (JSON.parse(summary) as { ok: boolean; cells: CellOutcome[] }) };
  }

  it('runs every cell in order, writes matrix.json, and returns when all passed', async () => {
    const { out, events, outcome, summary } = await run(['v1', 'v2']);
    expect((outcome as MatrixResult).cells.map((c) => [c.ref, c.status, c.out, c.compiled])).toEqual([
      ['v1', 'passed', path.join(out, 'v1/linux-amd64'), ['fs']],
      ['v2', 'passed', path.join(out, 'v2/linux-amd64'), ['fs']],
    ]);
    expect(summary?.ok).toBe(true);
    expect(summary?.cells).toHaveLength(2);
    expect(await readdir(out)).toEqual(['matrix.json']);
    expect(events.filter((e) => e.type === 'cell-started' || e.type === 'cell-finished').map((e) => [e.type, (e as { index: number }).index])).toEqual([
      ['cell-started', 1],
      ['cell-finished', 1],
      ['cell-started', 2],
      ['cell-finished', 2],
    ]);
  });

  it('goes on past a failed cell, then throws the partial failure with every cell', async () => {
    const { outcome, summary } = await run(['bad', 'v2', 'late']);
    expect(outcome).toBeInstanceOf(MatrixPartlyFailedError);
    const error = outcome as MatrixPartlyFailedError;
    expect(error.exitCode).toBe(18);
    expect(error.message).toBe('2 of 3 matrix cells failed: bad (source, exit 4), late (compile, exit 6)');
    expect(error.result.cells.map((c) => [c.ref, c.status, c.error?.code, c.error?.hint])).toEqual([
      ['bad', 'failed', 'source', 'check the ref'],
      ['v2', 'passed', undefined, undefined],
      ['late', 'failed', 'compile', undefined],
    ]);
    expect(summary?.ok).toBe(false);
    expect(summary?.cells.map((c) => c.status)).toEqual(['failed', 'passed', 'failed']);
  });

  it('with --fail-fast, skips the cells after the first failure', async () => {
    const { outcome } = await run(['v1', 'bad', 'v3'], true);
    expect((outcome as MatrixPartlyFailedError).result.cells.map((c) => c.status)).toEqual(['passed', 'failed', 'skipped']);
    expect((outcome as MatrixPartlyFailedError).message).toMatch(/; --fail-fast skipped 1$/);
  });

  /** A matrix of refs × platforms with --image <repository>:{ref}, as resolveBuildPlan makes it. */
  const imageMatrix = (out: string, repository: string, refs: string[], push: boolean): MatrixSpec => {
    const cells = expandCells(
      refs.map((ref) => ({ ref })),
      ['linux/amd64', 'linux/arm64'],
    );
    return {
      outDir: out,
      failFast: false,
      cells: cells.map((cell) => ({
        cell,
        spec: {
          ...specOf(cell.ref, path.join(out, cell.dir)),
          target: cell.platform,
          image: `${repository}:${cell.ref}-${cell.platform.replace('/', '-')}`,
        } as BuildSpec,
      })),
      image: { push, registryAuthFile: undefined, indexes: refs.map((ref) => ({ commit: ref, ref: `${repository}:${ref}`, repository, tag: ref })) },
    };
  };

  /** Builds a cell into the image its spec names, whose manifest the registry holds; "bad" on arm64 fails. */
  const imageCell =
    (manifests: Map<string, string>) =>
    async (cellSpec: BuildSpec): Promise<BuildResult> => {
      if (cellSpec.ref === 'bad' && cellSpec.target === 'linux/arm64') throw new CompileError('the host did not link');
      const manifest = JSON.stringify({ schemaVersion: 2, mediaType: DOCKER_MANIFEST, config: { digest: cellSpec.image } });
      const digest = contentDigest(Buffer.from(manifest));
      manifests.set(digest, manifest);
      return { ref: cellSpec.ref, installed: [], image: { ref: cellSpec.image!, id: 'sha256:x', digest } } as unknown as BuildResult;
    };

  /** A registry's manifest API on loopback: each manifest by digest, and the indexes put at tags. */
  async function fakeRegistry(): Promise<{ address: string; manifests: Map<string, string>; tags: Map<string, string> } & AsyncDisposable> {
    const manifests = new Map<string, string>();
    const tags = new Map<string, string>();
    const server = http.createServer((req, res) => {
      const [, name, reference] = /^\/v2\/(.+)\/manifests\/([^/]+)$/.exec(req.url ?? '') ?? [];
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = manifests.get(reference ?? '');
        if (req.method === 'GET' && body !== undefined) {
          res.writeHead(200, { 'Content-Type': DOCKER_MANIFEST }).end(body);
        } else if (req.method === 'PUT' && name !== undefined) {
          tags.set(`${name}:${reference}`, Buffer.concat(chunks).toString('utf8'));
          res.writeHead(201).end();
        } else {
          res.writeHead(404).end();
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    return { address: `127.0.0.1:${port}`, manifests, tags, [Symbol.asyncDispose]: () => new Promise((resolve) => server.close(() => resolve())) };
  }

  async function runImages(refs: string[], push: boolean) {
    await using registry = await fakeRegistry();
    const out = await mkdtemp(path.join(dir, 'out-'));
    const events: ProgressEvent[] = [];
    // No user config.json: the loopback registry takes the index without credentials.
    const io = { log: eventLogger((e) => events.push(e)), signal: new AbortController().signal, env: { DOCKER_CONFIG: out }, redact: () => {} };
    const repository = `${registry.address}/d7y/x`;
    const outcome = await runMatrix(imageMatrix(out, repository, refs, push), io, imageCell(registry.manifests) as never).catch((err: unknown) => err);
    const summary = JSON.parse(await readFile(path.join(out, 'matrix.json'), 'utf8')) as { ok: boolean; indexes?: unknown };
    const messages = events.map((e) => ('message' in e ? e.message : ''));
    return { repository, outcome, summary, messages, tags: new Map(registry.tags) };
  }

  /** The digests an index put at a tag lists, by platform. */
  const entriesOf = (index: string | undefined) =>
    (JSON.parse(index ?? '{"manifests":[]}') as { manifests: Array<{ digest: string; platform: { os: string; architecture: string } }> }).manifests.map((m) => [
      `${m.platform.os}/${m.platform.architecture}`,
      m.digest,
    ]);
  const digestsOf = (cells: CellOutcome[], ref: string) => cells.filter((c) => c.ref === ref).map((c) => [c.platform, c.result!.image!.digest]);

  it('--image --push over commits × platforms: per commit, an index of the digests its cells pushed', async () => {
    const { repository, outcome, summary, tags } = await runImages(['v1', 'feature-x'], true);
    const result = outcome as MatrixResult;
    expect(result.indexes).toEqual([
      { commit: 'v1', ref: `${repository}:v1`, digest: contentDigest(Buffer.from(tags.get('d7y/x:v1')!)), platforms: ['linux/amd64', 'linux/arm64'] },
      {
        commit: 'feature-x',
        ref: `${repository}:feature-x`,
        digest: contentDigest(Buffer.from(tags.get('d7y/x:feature-x')!)),
        platforms: ['linux/amd64', 'linux/arm64'],
      },
    ]);
    expect(entriesOf(tags.get('d7y/x:v1'))).toEqual(digestsOf(result.cells, 'v1'));
    expect(entriesOf(tags.get('d7y/x:feature-x'))).toEqual(digestsOf(result.cells, 'feature-x'));
    expect(summary).toEqual(expect.objectContaining({ ok: true, indexes: result.indexes }));
  });

  it('a commit with a failed cell gets no index, the others theirs, and the run exits 18', async () => {
    const { repository, outcome, summary, messages, tags } = await runImages(['bad', 'v2'], true);
    expect(outcome).toBeInstanceOf(MatrixPartlyFailedError);
    const error = outcome as MatrixPartlyFailedError;
    expect(error.exitCode).toBe(18);
    expect(error.message).toBe('1 of 4 matrix cells failed: bad (compile, exit 6)');
    expect(error.result.indexes?.map((i) => [i.commit, i.ref])).toEqual([['v2', `${repository}:v2`]]);
    expect([...tags.keys()]).toEqual(['d7y/x:v2']);
    expect(entriesOf(tags.get('d7y/x:v2'))).toEqual(digestsOf(error.result.cells, 'v2'));
    expect(messages).toContain(`no index at ${repository}:bad: not every platform of bad passed`);
    expect(summary).toEqual(expect.objectContaining({ ok: false, indexes: error.result.indexes }));
  });

  it('--image without --push: no index, the log names the platform images', async () => {
    const { repository, outcome, summary, messages, tags } = await runImages(['v1'], false);
    expect((outcome as MatrixResult).indexes).toBeUndefined();
    expect(summary.indexes).toBeUndefined();
    expect(tags.size).toBe(0);
    expect(messages).toContain(
      `the platforms' images are ${repository}:v1-linux-amd64, ${repository}:v1-linux-arm64; with --push, ${repository}:v1 becomes an index of them`,
    );
  });

  it('stops at an interruption, with the interruption, and writes no matrix.json', async () => {
    const { outcome, summary } = await run(['v1', 'stop', 'v3']);
    expect(outcome).toBeInstanceOf(RunFailure);
    expect((outcome as RunFailure).error).toBeInstanceOf(InterruptedError);
    expect(summary).toBeUndefined();
  });
});

describe('the cell events', () => {
  it('are drawn as a header line per cell, and a failed cell as a warning', () => {
    const drawn: string[] = [];
    const render = {
      ...nullLogger,
      headline: (m: string) => drawn.push(`headline ${m}`),
      info: (m: string) => drawn.push(`info ${m}`),
      warn: (m: string) => drawn.push(`warn ${m}`),
    };
    const where = { index: 1, total: 2, ref: 'v1', platform: 'linux/amd64' };
    renderEvent(render, { type: 'cell-started', ...where, out: '/o/v1/linux-amd64', message: 'cell 1/2: v1' });
    renderEvent(render, { type: 'cell-finished', ...where, status: 'passed', exitCode: 0, message: 'cell 1/2 passed' });
    renderEvent(render, { type: 'cell-finished', ...where, status: 'failed', exitCode: 4, message: 'cell 1/2 failed' });
    expect(drawn).toEqual(['headline cell 1/2: v1', 'info cell 1/2 passed', 'warn cell 1/2 failed']);
  });
});

describe('the summary table', () => {
  it('says per commit, plugin and platform what became of it, with the reason and exit code of a failure', () => {
    const cell = (ref: string, status: CellOutcome['status'], compiled: string[], error?: Record<string, unknown>): CellOutcome => ({
      ref,
      platform: 'linux/amd64',
      out: `/o/${ref}/linux-amd64`,
      status,
      plugins: ['fs', 'other'],
      compiled,
      error,
    });
    const long = `the host does not load other: ${'x'.repeat(100)}`;
    expect(
      matrixTable({
        summary: '/o/matrix.json',
        cells: [
          cell('v2.1.66', 'passed', ['fs', 'other']),
          cell('v2.3.4', 'failed', ['fs'], { code: 'validation', exitCode: 8, message: long }),
          cell('nope', 'failed', [], { code: 'source', exitCode: 4, message: 'no ref nope' }),
          cell('v9', 'skipped', []),
        ],
      }),
    ).toEqual([
      "matrix: 1 of 4 cells passed; each cell's result in /o/matrix.json",
      '  COMMIT   PLUGIN  PLATFORM     RESULT',
      '  v2.1.66  fs      linux/amd64  loaded',
      '  v2.1.66  other   linux/amd64  loaded',
      `  v2.3.4   fs      linux/amd64  built, then failed: ${long.slice(0, 71)}… (exit 8)`,
      `  v2.3.4   other   linux/amd64  failed: ${long.slice(0, 71)}… (exit 8)`,
      '  nope     fs      linux/amd64  failed: no ref nope (exit 4)',
      '  nope     other   linux/amd64  failed: no ref nope (exit 4)',
      '  v9       fs      linux/amd64  skipped (--fail-fast)',
      '  v9       other   linux/amd64  skipped (--fail-fast)',
    ]);
  });
});

describe('the cells for a CI system', () => {
  const cells: CiCell[] = [
    { commit: 'v2.1.66', platform: 'linux/amd64', out: 'out/v2.1.66/linux-amd64', plugins: ['plugins/fs', 'plugins/b'] },
    { commit: 'a"b: c #d', platform: 'linux/amd64', out: 'out/a_b_c_d-12345678/linux-amd64', goImage: 'golang:1.23.5-bookworm' },
  ];

  it("github: one line of JSON, the strategy.matrix's include", () => {
    const text = ciMatrix('github', cells);
    expect(text).not.toContain('\n');
    expect(JSON.parse(text)).toEqual({
      include: [
        { commit: 'v2.1.66', platform: 'linux/amd64', out: 'out/v2.1.66/linux-amd64', plugins: 'plugins/fs plugins/b' },
        { commit: 'a"b: c #d', platform: 'linux/amd64', out: 'out/a_b_c_d-12345678/linux-amd64', goImage: 'golang:1.23.5-bookworm' },
      ],
    });
  });

  it('d7y-build matrix prints them on stdout as they are, for the CI to read', async () => {
    const printed = async (format: string) => {
      let stdout = '';
      const stream = { write: (text: string, done?: () => void) => ((stdout += text), done?.(), true) } as unknown as NodeJS.WritableStream;
      const code = await main(['matrix', '--format', format, '--commit', 'v1,feature/x', 'fs'], {
        stdout: stream,
        stderr: sink(),
        env: {},
        cwd: '/w',
        signal: new AbortController().signal,
      });
      expect(code).toBe(0);
      return stdout;
    };
    const github = await printed('github');
    expect(github.endsWith('\n')).toBe(true);
    expect(JSON.parse(github)).toMatchObject({
      include: [{ commit: 'v1' }, { commit: 'feature/x', out: expect.stringMatching(/^d7y-build-out\/feature_x-[0-9a-f]{8}\/linux-amd64$/) }],
    });
    expect(parseYaml(await printed('gitlab'))).toMatchObject({
      parallel: { matrix: [{ D7Y_COMMIT: 'v1', D7Y_OUT: 'd7y-build-out/v1/linux-amd64' }, { D7Y_COMMIT: 'feature/x' }] },
    });
  });

  it("gitlab: a parallel:matrix fragment of d7y-build's own variables", () => {
    expect(parseYaml(ciMatrix('gitlab', cells))).toEqual({
      parallel: {
        matrix: [
          { D7Y_COMMIT: 'v2.1.66', D7Y_PLATFORM: 'linux/amd64', D7Y_OUT: 'out/v2.1.66/linux-amd64', PLUGIN_DIRS: 'plugins/fs plugins/b' },
          { D7Y_COMMIT: 'a"b: c #d', D7Y_PLATFORM: 'linux/amd64', D7Y_OUT: 'out/a_b_c_d-12345678/linux-amd64', D7Y_GO_IMAGE: 'golang:1.23.5-bookworm' },
        ],
      },
    });
  });
});
