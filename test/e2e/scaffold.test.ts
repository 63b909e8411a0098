/**
 * inspect-api and init through the bundled CLI, against the fixture Dragonfly: the interface as each
 * tag declares it, and a scaffold for every (type, tag) that has a host which builds, validates and
 * passes its own go test with no edits, by the very command its README gives.
 */
import { execFile } from 'node:child_process';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, describe, expect, inject, it } from 'vitest';
import { fixtureArgs, fixtureSha, leftoverContainers, runCli, runContainer, tempDir } from './helpers';

const run = promisify(execFile);

/** No container of d7y-build's left on the engine. */
async function noLeftovers(): Promise<void> {
  expect(await leftoverContainers()).toEqual([]);
}

function oneDocument(stdout: string): Record<string, unknown> {
  const lines = stdout.trim().split('\n');
  expect(lines).toHaveLength(1);
  return JSON.parse(lines[0]!) as Record<string, unknown>;
}

/**
 * `go vet`, `go test` and gofmt on the scaffold, in the Go image, with the fixture tree at tag beside
 * it in a workspace as the build makes one, offline, from the module cache the builds filled.
 */
async function goTest(scaffold: string, tag: string, scratch: string): Promise<{ exitCode: number; output: string }> {
  const tree = path.join(scratch, 'dragonfly');
  await mkdir(tree);
  await run('sh', ['-c', 'git -C "$1" archive "$2" | tar -x -C "$3"', 'sh', inject('fixtureRepo'), tag, tree]);
  // As the build user, with the builds' caches: the module cache read-only, the build cache as builds use it.
  const script = [
    'set -e',
    'cp -R /plugin /tmp/plugin && cd /tmp/plugin',
    'go mod edit -droprequire=d7y.io/dragonfly/v2',
    'go work init /dragonfly .',
    'go vet ./...',
    'go test ./...',
    'test -z "$(gofmt -l .)" || { gofmt -d .; exit 1; }',
  ].join('\n');
  const result = await runContainer(
    [
      '--label',
      'io.d7y-build.test=scaffold',
      '--user',
      '10001:10001',
      '-v',
      'd7y-build-go-mod:/home/d7y/go/pkg/mod:ro',
      '-v',
      'd7y-build-go-build:/home/d7y/.cache/go-build',
      '-e',
      'HOME=/tmp',
      '-e',
      'GOMODCACHE=/home/d7y/go/pkg/mod',
      '-e',
      'GOCACHE=/home/d7y/.cache/go-build',
      '-e',
      'GOPROXY=off',
      imageFor(tag),
      'sh',
      '-c',
      script,
    ],
    [
      [tree, '/dragonfly'],
      [scaffold, '/plugin'],
    ],
  );
  return { exitCode: result.exitCode, output: result.stdout + result.stderr };
}

/** The fixture tags whose go.mod is not the v2.1 line's `go 1.23.0`, and the Go image each builds with. */
const GO_LINES: Record<string, string> = { 'v2.0.9': '1.20', 'v2.5.0': '1.25.5' };
const imageFor = (tag: string) => (tag === 'v2.5.0' ? inject('go125Image') : inject('goImage'));

describe('inspect-api', () => {
  afterEach(noLeftovers);

  it('prints the evaluator interface as each tag declares it: Evaluate at v2.0.9, EvaluateParents at v2.1.0', async () => {
    const old = await runCli(['inspect-api', '--type', 'scheduler', ...fixtureArgs('v2.0.9')]);
    expect(old.exitCode).toBe(0);
    expect(old.stdout).toContain('Evaluate(parent *resource.Peer, child *resource.Peer, taskPieceCount int32) float64');
    expect(old.stdout).toContain('// Evaluate todo Normalization.');
    expect(old.stdout).toContain('IsBadNode(peer *resource.Peer) bool');
    expect(old.stdout).not.toContain('EvaluateParents');
    expect(old.stdout).toContain('loader:    evaluator.LoadPlugin(dir) in d7y.io/dragonfly/v2/scheduler/scheduling/evaluator');
    expect(old.stdout).toContain('metadata:  type=scheduler name=evaluator');

    const now = await runCli(['inspect-api', '--type', 'scheduler', ...fixtureArgs('v2.1.0')]);
    expect(now.exitCode).toBe(0);
    expect(now.stdout).toContain('EvaluateParents(parents []*resource.Peer, child *resource.Peer, taskPieceCount int32) []*resource.Peer');
    expect(now.stdout).not.toMatch(/^ {2}Evaluate\(/m);
  });

  it('--json: one document with the loader, the interface, each method with its doc, the imports and the metadata', async () => {
    const res = await runCli(['inspect-api', '--type', 'resource', ...fixtureArgs('v2.1.0'), '--json']);
    expect(res.exitCode).toBe(0);
    const doc = oneDocument(res.stdout);
    expect(doc).toMatchObject({
      schemaVersion: 1,
      ok: true,
      type: 'resource',
      ref: 'v2.1.0',
      commit: await fixtureSha('v2.1.0'),
      commitTime: '2024-01-02T03:04:05Z',
      goModGo: '1.23.0',
      loader: { importPath: 'd7y.io/dragonfly/v2/pkg/source', function: 'LoadPlugin', params: ['dir', 'name'] },
      interface: { importPath: 'd7y.io/dragonfly/v2/pkg/source', package: 'source', name: 'ResourceClient' },
      imports: {},
      plugin: { file: 'd7y-resource-plugin-<name>.so', namePattern: '^[a-z0-9]+$' },
      metadata: { type: 'resource', name: '<name>', scheme: '<name>' },
    });
    const methods = doc.methods as Array<{ name: string; source: string; doc: string; qualified: string }>;
    expect(methods.map((m) => m.name)).toEqual(['Download', 'GetContentLength', 'GetLastModified', 'IsExpired', 'IsSupportRange']);
    expect(methods[0]).toEqual({
      name: 'Download',
      source: 'Download(request *Request) (*Response, error)',
      doc: 'Download downloads from source',
      qualified: 'Download(request *source.Request) (*source.Response, error)',
    });
    expect((doc.steps as Array<{ name: string }>).map((s) => s.name)).toEqual(['resolve-source', 'prepare-image', 'start-container', 'read-interface']);

    const manager = oneDocument((await runCli(['inspect-api', '--type', 'manager', ...fixtureArgs('v2.4.0'), '--json'])).stdout);
    expect(manager).toMatchObject({
      imports: { context: 'context', models: 'd7y.io/dragonfly/v2/manager/models' },
      metadata: { type: 'manager', name: 'searcher' },
    });
  });

  it('refuses a type the commit has no host for (resource at v2.4.0): exit 10, no container', async () => {
    const res = await runCli(['inspect-api', '--type', 'resource', ...fixtureArgs('v2.4.0'), '--json']);
    expect(res.exitCode).toBe(10);
    expect(oneDocument(res.stdout)).toMatchObject({ ok: false, error: { code: 'unsupported-host', step: 'resolve-source' } });
  });
});

describe('init', () => {
  const NAMES = { resource: 'myfs', scheduler: 'evaluator', manager: 'searcher' } as const;
  const CELLS = [
    ...['v2.0.9', 'v2.1.0', 'v2.1.1'].map((tag) => ['resource', tag] as const),
    ...['v2.0.9', 'v2.1.0', 'v2.1.1', 'v2.4.0', 'v2.5.0'].flatMap((tag) => [['scheduler', tag] as const, ['manager', tag] as const]),
  ];

  describe('every (type, tag) that has a host', () => {
    // The cells run side by side (maxConcurrency in vitest.config.ts), so a container of one is no
    // leftover of another while they run: none may be left once all are done.
    afterAll(noLeftovers);

    it.concurrent.for(CELLS)('a %s scaffold at %s builds and loads with no edits, by the command its README gives', async ([type, tag], { expect }) => {
      await using work = await tempDir();
      // Not a valid plugin name for a resource: --name gives it, and the README's command must say so.
      const dir = path.join(work.path, `my-${type}`);
      const name = NAMES[type];
      const init = await runCli(['init', '--type', type, ...fixtureArgs(tag, imageFor(tag)), ...(type === 'resource' ? ['--name', name] : []), dir]);
      expect(init.stderr).not.toMatch(/error:/);
      expect(init.exitCode).toBe(0);
      const files = [`${name}.go`, `${name}_test.go`, 'go.mod', 'd7y-plugin.yaml', 'README.md'];
      expect(init.stdout.trim().split('\n')).toEqual(files.map((f) => path.join(dir, f)));
      expect((await readdir(dir)).sort()).toEqual([...files].sort());
      expect(await readdir(work.path)).toEqual([`my-${type}`]); // no temp directory left beside it

      expect(await readFile(path.join(dir, 'go.mod'), 'utf8')).toBe(
        `module example.com/${name}\n\ngo ${GO_LINES[tag] ?? '1.23.0'}\n\nrequire d7y.io/dragonfly/v2 ${tag}\n`,
      );
      const readme = await readFile(path.join(dir, 'README.md'), 'utf8');
      const command = /^d7y-build (.*)$/m.exec(readme)?.[1];
      expect(command).toBe(`--type ${type} --commit ${tag} --repo ${inject('fixtureRepo')}${type === 'resource' ? ` --name ${name}` : ''} ./my-${type}`);

      const build = await runCli([...command!.split(' '), '--go-image', imageFor(tag), '--out', 'out', '--plugins-dir', 'plugins', '--json'], {
        cwd: work.path,
      });
      expect(build.stderr).not.toMatch(/error:/);
      expect(build.exitCode).toBe(0);
      const outcome = oneDocument(build.stdout) as { validation: { plugins: Array<{ attribute: Record<string, string> }>; loader: Array<{ ok: boolean }> } };
      const metadata = { type, name, ...(type === 'resource' ? { scheme: name } : {}) };
      expect(outcome.validation.loader).toEqual([expect.objectContaining({ ok: true })]);
      expect(outcome.validation.plugins).toEqual([expect.objectContaining({ type, name, attribute: expect.objectContaining(metadata) })]);

      const test = await goTest(dir, tag, work.path);
      expect(test.output).toMatch(/^ok\s+example\.com\//m);
      expect(test.exitCode).toBe(0);
    });
  });

  it('refuses a directory that holds files, and a missing commit: exit 2, nothing written, no container', async () => {
    await using work = await tempDir();
    const dir = path.join(work.path, 'taken');
    await mkdir(dir);
    await writeFile(path.join(dir, 'keep.go'), 'package main\n');
    const taken = await runCli(['init', '--type', 'scheduler', ...fixtureArgs('v2.1.0'), '--json', dir]);
    expect(taken.exitCode).toBe(2);
    expect(oneDocument(taken.stdout)).toMatchObject({ ok: false, error: { code: 'usage', step: 'check-target', message: `${dir} is not empty` } });
    expect(taken.stderr).toMatch(/hint: pass a new or empty directory/);
    expect(await readdir(dir)).toEqual(['keep.go']);
    expect(await readdir(work.path)).toEqual(['taken']);

    const fresh = path.join(work.path, 'fresh');
    const noCommit = await runCli(['init', '--type', 'manager', '--repo', inject('fixtureRepo'), fresh], { env: { D7Y_COMMIT: undefined } });
    expect(noCommit.exitCode).toBe(2);
    expect(noCommit.stderr).toMatch(/error: no Dragonfly commit given\nhint: pass --commit/);
    expect(await readdir(work.path)).toEqual(['taken']);

    // A parent that passes access(2) but takes no new entries.
    const proc = await runCli(['init', '--type', 'manager', ...fixtureArgs('v2.1.0'), '--json', '/proc/d7y-scaffold']);
    expect(proc.exitCode).toBe(9);
    expect(oneDocument(proc.stdout)).toMatchObject({ ok: false, error: { code: 'install', step: 'write-scaffold' } });
    expect(proc.stderr).toMatch(/error: cannot write beside \/proc\/d7y-scaffold: .*\nhint: /);
    await noLeftovers();
  });
});
