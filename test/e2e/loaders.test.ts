/**
 * A plugin must work the way Dragonfly really uses it: through the loader of its type at the pinned
 * commit (source.LoadPlugin, evaluator.LoadPlugin, searcher.LoadPlugin), which asserts the type's
 * interface. The `plugin` command lists plugins that the loader then refuses, and the scheduler and
 * manager fall back to their defaults without a word: these builds must fail, before the compile
 * when the sources tell, else at validation, with nothing installed.
 */
import { execFile } from 'node:child_process';
import { cp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import path from 'node:path';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { examples, exists, fixtureArgs, leftoverContainers, runCli, runHost, tempDir, writePlugin } from './helpers';

const git = (args: string[]) => promisify(execFile)('git', args);

afterEach(async () => {
  expect(await leftoverContainers()).toEqual([]);
});

/** An evaluator with the given methods; `value` is what DragonflyPluginInit returns. */
const evaluator = (methods: string, value = '&evaluator{}', extra = '') => ({
  'evaluator.go': `package main

import resource "d7y.io/dragonfly/v2/scheduler/resource/standard"

type evaluator struct{}

${methods}
${extra}
func DragonflyPluginInit(option map[string]string) (any, map[string]string, error) {
	return ${value}, map[string]string{"type": "scheduler", "name": "evaluator"}, nil
}
`,
});

/** Upstream's evaluator before v2.1.66 (the fixture's v2.0.9): Evaluate + IsBadNode. */
const OLD_METHODS = `func (e *evaluator) Evaluate(parent, child *resource.Peer, taskPieceCount int32) float64 { return 1 }
func (e *evaluator) IsBadNode(peer *resource.Peer) bool { return false }`;

async function build(dir: string, commit: string, type: string, plugin: string, extra: string[] = []) {
  const out = path.join(dir, 'out');
  const plugins = path.join(dir, 'plugins');
  // The fixture's v2.5.0 is the Go 1.25 line.
  const goImage = commit === 'v2.5.0' ? inject('go125Image') : inject('goImage');
  const run = await runCli([...fixtureArgs(commit, goImage), '--type', type, '--out', out, '--plugins-dir', plugins, '--json', ...extra, plugin]);
  return { run, out, plugins, outcome: JSON.parse(run.stdout) };
}

/** A refused build: exit 8 from `step`, one error line, nothing in --out or --plugins-dir. */
async function expectRefused(result: Awaited<ReturnType<typeof build>>, step: string, message: RegExp) {
  const { run, outcome, out, plugins } = result;
  expect(run.exitCode).toBe(8);
  expect(outcome.error).toMatchObject({ code: 'validation', step });
  expect(outcome.error.message).toMatch(message);
  expect(run.stderr.split('\n').filter((l) => l.startsWith('error:'))).toHaveLength(1);
  expect(run.stderr).toMatch(/^hint: /m);
  expect(await exists(out)).toBe(false);
  expect(await exists(plugins)).toBe(false);
}

describe('the loader check', () => {
  it('a manager searcher: built, listed, loaded by searcher.LoadPlugin, and used by the manager', async () => {
    await using work = await tempDir();
    const { run, out, plugins, outcome } = await build(work.path, 'v2.1.0', 'manager', path.join(examples, 'searcher'));
    expect(run.stderr).not.toMatch(/^error:/m);
    expect(run.exitCode).toBe(0);
    expect(outcome.validation.loader).toEqual([
      { file: 'd7y-manager-plugin-searcher.so', interface: 'd7y.io/dragonfly/v2/manager/searcher.Searcher', ok: true },
    ]);
    expect(outcome.artifacts.map((a: { kind: string }) => a.kind)).toEqual(['host', 'loader-check', 'plugin', 'manifest']);
    expect(run.stderr).toMatch(/plugin searcher: \*searcher implements d7y\.io\/dragonfly\/v2\/manager\/searcher\.Searcher/);
    const manifest = JSON.parse(await readFile(path.join(out, 'manifest.json'), 'utf8'));
    expect(manifest.validation.loader).toEqual(outcome.validation.loader);
    const used = await runHost(path.join(out, 'bin/manager'), plugins, []);
    expect(used).toMatchObject({ exitCode: 0, stdout: 'scheduler cluster: cluster-2\n' });
  });

  it('a plugin for an older evaluator interface: refused before compiling, naming the missing method', async () => {
    await using work = await tempDir();
    // examples/evaluator implements the v2.1 interface (EvaluateParents); v2.0.9 wants Evaluate.
    const result = await build(work.path, 'v2.0.9', 'scheduler', path.join(examples, 'evaluator'));
    await expectRefused(
      result,
      'check-api',
      /\*evaluator does not implement d7y\.io\/dragonfly\/v2\/scheduler\/scheduling\/evaluator\.Evaluator at v2\.0\.9 .*missing method Evaluate\(parent \*resource\.Peer, child \*resource\.Peer, taskPieceCount int32\) float64/,
    );
    expect(result.run.stderr).not.toContain('compile-plugins');
  });

  it('the same plugin, where the sources do not tell its type: compiled, listed by `scheduler plugin`, refused by the loader', async () => {
    await using work = await tempDir();
    const dir = await writePlugin(
      path.join(work.path, 'evaluator'),
      evaluator(OLD_METHODS, 'newEvaluator()', 'func newEvaluator() any { return &evaluator{} }\n'),
    );
    const result = await build(path.join(work.path, 'run'), 'v2.1.0', 'scheduler', dir);
    await expectRefused(
      result,
      'validate',
      /LoadPlugin at v2\.1\.0 \(\w+\) refuses d7y-scheduler-plugin-evaluator\.so: \*main\.evaluator does not implement d7y\.io\/dragonfly\/v2\/scheduler\/scheduling\/evaluator\.Evaluator \(missing method EvaluateParents\(\[\]\*standard\.Peer, \*standard\.Peer, int32\) \[\]\*standard\.Peer\)/,
    );
    expect(result.run.stderr).toMatch(/whose type d7y-apicheck can't tell from the syntax; the loader check after the build decides/);
    // dfplugin.Load, all the `plugin` command checks, accepted it.
    expect(result.run.stderr).toMatch(/scheduler plugin: scheduler plugin evaluator loads/);
    expect(result.outcome.error.detail).toContain('loader error: invalid evaluator plugin');
  });

  it('a method with another signature: refused before compiling, with both signatures', async () => {
    await using work = await tempDir();
    const methods = `func (e *evaluator) EvaluateParents(parents []*resource.Peer, child *resource.Peer, n uint32) []*resource.Peer { return parents }
func (e *evaluator) IsBadNode(peer *resource.Peer) bool { return false }`;
    const dir = await writePlugin(path.join(work.path, 'evaluator'), evaluator(methods));
    const result = await build(path.join(work.path, 'run'), 'v2.1.0', 'scheduler', dir);
    await expectRefused(
      result,
      'check-api',
      /method EvaluateParents has the wrong signature: want EvaluateParents\(parents \[\]\*resource\.Peer, child \*resource\.Peer, taskPieceCount int32\) \[\]\*resource\.Peer, have EvaluateParents\(parents \[\]\*resource\.Peer, child \*resource\.Peer, n uint32\) \[\]\*resource\.Peer/,
    );
  });

  it("the older interface's plugin builds and loads at v2.0.9, the Go 1.20 line", async () => {
    await using work = await tempDir();
    const dir = await writePlugin(path.join(work.path, 'evaluator'), evaluator(OLD_METHODS));
    const { run, out, plugins, outcome } = await build(path.join(work.path, 'run'), 'v2.0.9', 'scheduler', dir);
    expect(run.stderr).not.toMatch(/^error:/m);
    expect(run.exitCode).toBe(0);
    expect(outcome.validation.loader[0]).toMatchObject({ ok: true, interface: 'd7y.io/dragonfly/v2/scheduler/scheduling/evaluator.Evaluator' });
    const used = await runHost(path.join(out, 'bin/scheduler'), plugins, ['--algorithm', 'plugin']);
    expect(used.stdout).toBe('parent: parent-1, score: 1, bad node: false\nparent: parent-2, score: 1, bad node: false\n');
  });

  it('the v2.5 line (Go 1.25): its evaluator interface builds and is used; the v2.1 one is refused before compiling', async () => {
    await using work = await tempDir();
    const methods = `func (e *evaluator) EvaluateParents(parents []*resource.Peer, child *resource.Peer) []*resource.Peer {
	return []*resource.Peer{parents[len(parents)-1]}
}
func (e *evaluator) IsBadParent(peer *resource.Peer) bool { return true }`;
    const dir = await writePlugin(path.join(work.path, 'evaluator'), evaluator(methods));
    const ok = await build(path.join(work.path, 'ok'), 'v2.5.0', 'scheduler', dir);
    expect(ok.run.stderr).not.toMatch(/^error:/m);
    expect(ok.run.exitCode).toBe(0);
    expect(ok.outcome.goVersion).toBe('go1.25.5');
    const used = await runHost(path.join(ok.out, 'bin/scheduler'), ok.plugins, ['--algorithm', 'plugin']);
    expect(used.stdout).toBe('parent: parent-2, bad parent: true\n');

    const old = await build(path.join(work.path, 'old'), 'v2.5.0', 'scheduler', path.join(examples, 'evaluator'));
    await expectRefused(
      old,
      'check-api',
      /missing method IsBadParent\(peer \*resource\.Peer\) bool; method EvaluateParents has the wrong signature: want EvaluateParents\(parents \[\]\*resource\.Peer, child \*resource\.Peer\) \[\]\*resource\.Peer, have EvaluateParents\(parents \[\]\*resource\.Peer, child \*resource\.Peer, taskPieceCount int32\) \[\]\*resource\.Peer/,
    );

    const resource = await build(path.join(work.path, 'resource'), 'v2.5.0', 'resource', path.join(examples, 'd7yfs'));
    expect(resource.run.exitCode).toBe(10);
    expect(resource.outcome.error.message).toMatch(/has no cmd\/dfget/);
  });

  it('a resource plugin whose scheme is not its name: listed by `dfget plugin`, refused by source.LoadPlugin', async () => {
    await using work = await tempDir();
    const source = (await readFile(path.join(examples, 'd7yfs/d7yfs.go'), 'utf8')).replace(/"scheme":\s*"d7yfs"/, '"scheme": strings.ToUpper("d7yfs")');
    expect(source).toContain('strings.ToUpper');
    const withImport = source.replace(/^import \(/m, 'import (\n\t"strings"');
    const dir = await writePlugin(path.join(work.path, 'd7yfs'), { 'd7yfs.go': withImport });
    const result = await build(path.join(work.path, 'run'), 'v2.1.0', 'resource', dir);
    await expectRefused(result, 'validate', /source\.LoadPlugin at v2\.1\.0 \(\w+\) refuses d7y-resource-plugin-d7yfs\.so: support schema not match/);
    expect(result.outcome.error.hint).toMatch(/"scheme" must equal its name, "d7yfs"/);
    expect(result.run.stderr).toMatch(/dfget plugin: resource plugin d7yfs loads/);
  });

  it('a commit whose hosts have no `plugin` command (v2.0.0): the loader check alone validates', async () => {
    await using work = await tempDir();
    const repo = path.join(work.path, 'dragonfly');
    await git(['clone', '-q', '--branch', 'v2.1.0', inject('fixtureRepo'), repo]);
    await rm(path.join(repo, 'cmd/dependency/plugin_cmd.go'));
    const dependency = path.join(repo, 'cmd/dependency/dependency.go');
    await writeFile(dependency, (await readFile(dependency, 'utf8')).replace(/\t\tcase "plugin":\n\t\t\tRunPlugin\(\)\n\t\t\treturn\n/, ''));
    await git(['-C', repo, '-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '-qam', 'no plugin command']);
    await git(['-C', repo, 'tag', 'v2.0.0']);

    const out = path.join(work.path, 'out');
    const plugins = path.join(work.path, 'plugins');
    const run = await runCli([
      '--commit',
      'v2.0.0',
      '--repo',
      repo,
      '--go-image',
      inject('goImage'),
      '--type',
      'manager',
      '--out',
      out,
      '--plugins-dir',
      plugins,
      '--json',
      path.join(examples, 'searcher'),
    ]);
    expect(run.stderr).not.toMatch(/^error:/m);
    expect(run.exitCode).toBe(0);
    expect(run.stderr).toMatch(/manager at \w+ has no `plugin` command: the loader check alone validates the plugins/);
    const manifest = JSON.parse(await readFile(path.join(out, 'manifest.json'), 'utf8'));
    expect(manifest.validation).toMatchObject({ command: 'd7y-loadcheck (manager has no plugin command)', plugins: [] });
    expect(manifest.validation.loader).toEqual([
      { file: 'd7y-manager-plugin-searcher.so', interface: 'd7y.io/dragonfly/v2/manager/searcher.Searcher', ok: true },
    ]);
    const used = await runHost(path.join(out, 'bin/manager'), plugins, []);
    expect(used.stdout).toBe('scheduler cluster: cluster-2\n');
  });

  it('a plugin whose DragonflyPluginInit never returns: the load is stopped after D7Y_LOAD_TIMEOUT, nothing installed', async () => {
    await using work = await tempDir();
    const methods = `func (e *evaluator) EvaluateParents(parents []*resource.Peer, child *resource.Peer, taskPieceCount int32) []*resource.Peer { return parents }
func (e *evaluator) IsBadNode(peer *resource.Peer) bool { return false }`;
    const files = evaluator(methods);
    files['evaluator.go'] = files['evaluator.go'].replace(
      'func DragonflyPluginInit(option map[string]string) (any, map[string]string, error) {\n',
      '$&\tselect {}\n',
    );
    expect(files['evaluator.go']).toContain('\tselect {}');
    const dir = await writePlugin(path.join(work.path, 'evaluator'), files);
    const out = path.join(work.path, 'out');
    const plugins = path.join(work.path, 'plugins');
    const run = await runCli([...fixtureArgs('v2.1.0'), '--type', 'scheduler', '--out', out, '--plugins-dir', plugins, '--json', dir], {
      env: { D7Y_LOAD_TIMEOUT: '3s' },
    });
    await expectRefused(
      { run, out, plugins, outcome: JSON.parse(run.stdout) },
      'validate',
      /^`scheduler plugin` did not finish loading the plugins within 3 s: a plugin's init functions or DragonflyPluginInit do not return$/,
    );
  });

  it('install runs the loader check a build left beside the host, and says when there is none', async () => {
    await using work = await tempDir();
    const first = await build(path.join(work.path, 'build'), 'v2.1.0', 'manager', path.join(examples, 'searcher'));
    expect(first.run.exitCode).toBe(0);
    const so = path.join(first.out, 'plugins/d7y-manager-plugin-searcher.so');
    const target = path.join(work.path, 'target');
    const installed = await runCli(['install', '--host', path.join(first.out, 'bin/manager'), '--plugins-dir', target, '--json', so]);
    expect(installed.exitCode).toBe(0);
    expect(JSON.parse(installed.stdout).validation.loader).toEqual([
      { file: 'd7y-manager-plugin-searcher.so', interface: 'd7y.io/dragonfly/v2/manager/searcher.Searcher', ok: true },
    ]);

    // The host alone, without its d7y-loadcheck: the `plugin` command still decides, and the log says so.
    const bare = path.join(work.path, 'bare');
    await mkdir(path.join(bare, 'bin'), { recursive: true });
    await cp(path.join(first.out, 'bin/manager'), path.join(bare, 'bin/manager'));
    await cp(path.join(first.out, 'manifest.json'), path.join(bare, 'manifest.json'));
    const unchecked = await runCli(['install', '--host', path.join(bare, 'bin/manager'), '--plugins-dir', path.join(work.path, 'target2'), '--json', so]);
    expect(unchecked.exitCode).toBe(0);
    expect(unchecked.stderr).toMatch(/the loader check did not run: no d7y-loadcheck beside/);
    expect(JSON.parse(unchecked.stdout).validation.loader).toBeUndefined();
  });
});
