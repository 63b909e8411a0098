/**
 * What the build-step tests share: a small world on disk (a Dragonfly git repository with a few
 * tags, a plugin directory, --out, --plugins-dir and the cache), a build context over the fake
 * engine, and the engine's answers for a build that succeeds.
 */
import { RegistryAuth } from '../../../src/docker/registry-auth';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { CONTAINER } from '../../../src/session/layout';
import type { BuildContext } from '../../../src/commands/build/state';
import { BUILD_STEPS } from '../../../src/commands/build/steps';
import { resolveSpec, type BuildFlags, type BuildSpec } from '../../../src/config';
import { readPluginMeta } from '../../../src/plugin-meta';
import type { Secrets } from '../../../src/secrets';
import { newSession } from '../../../src/session/session';
import { FakeEngine } from '../fake-engine';

const BUILD_SH = CONTAINER.tools.buildSh;
const APICHECK = CONTAINER.tools.apicheck;

export const GO_IMAGE = 'golang:1.23.5-bookworm';
/** SOURCE_DATE_EPOCH of every spec here, and the build time it stamps. */
export const EPOCH = '1700000000';
export const BUILD_TIME = '2023-11-14T22:13:20Z';
export const PLUGIN = { name: 'myfs', file: 'd7y-resource-plugin-myfs.so' };
export const PLUGIN_MAIN = `package main

type client struct{}

func DragonflyPluginInit(option map[string]string) (any, map[string]string, error) {
	return &client{}, map[string]string{"type": "resource", "name": "myfs", "scheme": "myfs"}, nil
}
`;

export interface World {
  root: string;
  /** The Dragonfly repository; tags: v2.1.0 (go 1.21, dfget, its `plugin` command, source.LoadPlugin), v2.4.0 (no dfget), other (another module), no-plugin-cmd. */
  repo: string;
  sha: Record<'v2.1.0' | 'v2.4.0' | 'other' | 'no-plugin-cmd', string>;
  pluginDir: string;
  out: string;
  plugins: string;
  cache: string;
}

const GO_MOD = 'module d7y.io/dragonfly/v2\n\ngo 1.21\n';
const LOADER = `package source

type ResourceClient interface{ Download() error }

func LoadPlugin(dir, scheme string) (ResourceClient, error) { return nil, nil }
`;

function git(repo: string, ...args: string[]): string {
  return execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', '-c', 'commit.gpgsign=false', ...args], {
    cwd: repo,
    encoding: 'utf8',
  }).trim();
}

async function put(dir: string, files: Record<string, string>): Promise<void> {
  for (const [name, content] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, name)), { recursive: true });
    await writeFile(path.join(dir, name), content);
  }
}

/** Commits the tree as it is now and tags it. */
function tag(repo: string, name: string): string {
  git(repo, 'add', '-A');
  git(repo, 'commit', '-q', '--allow-empty', '-m', name);
  git(repo, 'tag', name);
  return git(repo, 'rev-parse', 'HEAD');
}

export async function makeWorld(): Promise<World> {
  const root = await mkdtemp(path.join(os.tmpdir(), 'd7y-steps-'));
  const repo = path.join(root, 'dragonfly');
  await mkdir(repo);
  git(repo, 'init', '-q');
  await put(repo, {
    'go.mod': GO_MOD,
    'cmd/dfget/main.go': 'package main\n\nfunc main() {}\n',
    'cmd/scheduler/main.go': 'package main\n\nfunc main() {}\n',
    'cmd/dependency/plugin_cmd.go': 'package dependency\n',
    'pkg/source/plugin.go': LOADER,
  });
  const v210 = tag(repo, 'v2.1.0');
  await rm(path.join(repo, 'cmd/dfget'), { recursive: true });
  const v240 = tag(repo, 'v2.4.0');
  await put(repo, { 'go.mod': 'module example.com/other\n\ngo 1.21\n' });
  const other = tag(repo, 'other');
  await put(repo, { 'go.mod': GO_MOD, 'cmd/dfget/main.go': 'package main\n\nfunc main() {}\n' });
  await rm(path.join(repo, 'cmd/dependency'), { recursive: true });
  const noPluginCmd = tag(repo, 'no-plugin-cmd');

  const pluginDir = path.join(root, 'myfs');
  await put(pluginDir, { 'main.go': PLUGIN_MAIN, '.gitignore': 'notes.txt\n', 'notes.txt': 'not for the build\n' });
  const world = { root, repo, pluginDir, out: path.join(root, 'out'), plugins: path.join(root, 'plugins'), cache: path.join(root, 'cache') };
  return { ...world, sha: { 'v2.1.0': v210, 'v2.4.0': v240, other, 'no-plugin-cmd': noPluginCmd } };
}

/** The environment of every run here: the world's cache and a fixed build time. */
export function envOf(world: World): Record<string, string> {
  return { D7Y_CACHE_DIR: world.cache, SOURCE_DATE_EPOCH: EPOCH };
}

/** The flags that build the world's plugin against the world's repository. */
export function buildArgs(world: World, commit = 'v2.1.0'): string[] {
  return ['--commit', commit, '--repo', world.repo, '--go-image', GO_IMAGE, '--out', world.out, '--plugins-dir', world.plugins, world.pluginDir];
}

export function specOf(world: World, flags: BuildFlags = {}, env: Record<string, string> = {}): BuildSpec {
  const given = { commit: 'v2.1.0', repo: world.repo, goImage: GO_IMAGE, out: world.out, pluginsDir: world.plugins, ...flags };
  return resolveSpec([world.pluginDir], given, { ...envOf(world), ...env }, world.root, new Date(), readPluginMeta);
}

/** Registry credentials from no file at all: what this machine's ~/.docker holds stays out of the tests. */
const NO_REGISTRY_AUTH = new RegistryAuth({
  userFile: '/nonexistent/.docker/config.json',
  io: { readConfig: async () => undefined, runHelper: async () => ({ kind: 'missing' }) },
  redact: () => {},
});

/** The contexts contextOf made during the current test: useWorld runs their cleanups after it. */
const made = new Set<BuildContext>();

export function contextOf(engine: FakeEngine, spec: BuildSpec, secrets?: Secrets): BuildContext {
  const ctx: BuildContext = {
    ...newSession('run-1', spec, { engine, secrets, registryAuth: NO_REGISTRY_AUTH }, new AbortController().signal),
    spec,
    state: {},
  };
  made.add(ctx);
  return ctx;
}

/**
 * The world of a test file: made before its first test, removed after its last. After each test
 * the cleanups of every context it made run (as the runner would), and with clearTargets --out
 * and the plugins directory are removed. The object is filled in by the first beforeAll, so a
 * test file's own beforeAll, registered after this call, sees it complete.
 */
export function useWorld(options: { clearTargets?: boolean } = {}): World {
  const world = {} as World;
  beforeAll(async () => {
    Object.assign(world, await makeWorld());
  });
  afterAll(async () => {
    await rm(world.root, { recursive: true, force: true });
  });
  afterEach(async () => {
    for (const ctx of made) await cleanUp(ctx);
    made.clear();
    if (options.clearTargets) {
      await rm(world.out, { recursive: true, force: true });
      await rm(world.plugins, { recursive: true, force: true });
    }
  });
  return world;
}

function stepNamed(name: string) {
  const step = BUILD_STEPS.find((s) => s.name === name);
  if (step === undefined) throw new Error(`no build step ${name}`);
  return step;
}

/** Runs the build's steps before the named one, in order. */
export async function runBefore(ctx: BuildContext, name: string): Promise<void> {
  stepNamed(name);
  for (const step of BUILD_STEPS) {
    if (step.name === name) return;
    await step.run(ctx);
  }
}

export function runStep(ctx: BuildContext, name: string): Promise<void | 'skipped'> {
  return stepNamed(name).run(ctx);
}

/** Runs the cleanups the steps registered, last first, as the runner does. */
export async function cleanUp(ctx: BuildContext): Promise<void> {
  while (ctx.cleanups.length > 0) await ctx.cleanups.pop()!();
}

export const LOADED_LINE = `resource plugin: myfs, location: ${PLUGIN.file}, attribute: {"name":"myfs","scheme":"myfs","type":"resource"}\n`;

/** Host, loader check and plugin as the container hands them out. */
export const OUT_FILES = {
  'out/bin/dfget': 'host binary',
  'out/bin/d7y-loadcheck': 'loadcheck binary',
  [`out/plugins/${PLUGIN.file}`]: 'plugin binary',
};

/** build.sh's exit code when the host cache has no entry for the key. */
const HOST_CACHE_MISS = 10;

/** An engine that has the Go image and answers a build of the world's plugin that succeeds, with an empty host cache, on a new source-tree volume. */
export function buildingEngine(goVersion = 'go1.23.5'): FakeEngine {
  const engine = new FakeEngine()
    .onExec(['go', 'version'], { stdout: `go version ${goVersion} linux/amd64\n` })
    .onExec([BUILD_SH, 'host-cache', 'get'], { exitCode: HOST_CACHE_MISS })
    .onExec([APICHECK, 'plugin'], { stdout: '{"valueType":"*main.client"}\n' })
    .onExec([BUILD_SH, 'tree', 'status'], { stdout: 'missing\n' })
    .onExec([BUILD_SH, 'tree', 'publish'], { stdout: 'published\n' })
    .onExec([BUILD_SH, 'validate'], { stdout: LOADED_LINE, stderr: '' })
    .onExec([BUILD_SH, 'loadcheck'], { stdout: '{"ok":true,"interface":"d7y.io/dragonfly/v2/pkg/source.ResourceClient"}\n' });
  engine.images.set(GO_IMAGE, { id: 'sha256:go', env: {}, labels: {}, arch: 'amd64' });
  engine.archives.set(CONTAINER.out, OUT_FILES);
  return engine;
}
