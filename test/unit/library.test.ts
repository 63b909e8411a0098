/**
 * The library's options → the spec its command runs: the same spec the CLI resolves from the
 * equivalent flags, with variables and config files under them; and the typed errors the library
 * functions throw before any engine is reached. The progress events, and the CLI's renderers fed
 * from them.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCommandLine, type Invocation } from '../../src/cli';
import { D7yError, InterruptedError, UnverifiableError, UsageError } from '../../src/errors';
import { eventLogger, maskEvent, renderEvent, type ProgressEvent } from '../../src/events';
import {
  build,
  inspect,
  install,
  prune,
  resolveBuildOptions,
  resolveInstallOptions,
  resolveMatrixOptions,
  resolvePruneOptions,
  verify,
  type BuildOptions,
  type MatrixOptions,
} from '../../src/library';
import { readPluginMeta } from '../../src/plugin-meta';
import { nullLogger, type Logger } from '../../src/log';

const root = path.resolve(__dirname, '../..');
const d7yfs = path.join(root, 'examples/d7yfs');
const evaluator = path.join(root, 'examples/evaluator');
let home: string;
let cwd: string;

beforeAll(async () => {
  home = await mkdtemp(path.join(os.tmpdir(), 'd7y-library-home-'));
  cwd = await mkdtemp(path.join(os.tmpdir(), 'd7y-library-cwd-'));
});
afterAll(async () => {
  await rm(home, { recursive: true, force: true });
  await rm(cwd, { recursive: true, force: true });
});

/** The spec the CLI resolves from argv, with the same environment and working directory. */
function cliSpec(argv: string[], env: Record<string, string> = {}): Invocation['spec'] {
  const sink = { write: () => true } as unknown as NodeJS.WritableStream;
  const invocation = parseCommandLine(argv, { stdout: sink, stderr: sink, env: { HOME: home, ...env }, cwd });
  if (invocation === undefined) throw new Error(`no invocation for ${argv.join(' ')}`);
  return invocation.spec;
}

const buildSpec = (options: Omit<BuildOptions, 'env' | 'cwd'>, env: Record<string, string> = {}) =>
  resolveBuildOptions({ ...options, env: { HOME: home, ...env }, cwd });

describe('build options → the spec of `d7y-build` with the same flags', () => {
  it.each<[string, Omit<BuildOptions, 'env' | 'cwd'>, string[]]>([
    ['defaults', { plugins: [d7yfs], commit: 'v2.1.0' }, ['--commit', 'v2.1.0', d7yfs]],
    [
      'every value option',
      {
        plugins: ['d7yfs-dir'],
        commit: 'main',
        repo: './dragonfly',
        name: 'myfs',
        pluginsDir: 'plugins',
        out: 'out',
        goImage: 'golang:1.23.5-bookworm',
        tags: ['netgo', 'osusergo'],
        gcflags: 'all=-N -l',
        buildCommit: 'abc1234',
        buildTime: '2024-01-02T03:04:05Z',
        memory: '2g',
        cpus: '1.5',
        timeout: '30m',
        maxContext: '200m',
        netrc: 'netrc',
      },
      [
        '--commit',
        'main',
        '--repo',
        './dragonfly',
        '--name',
        'myfs',
        '--plugins-dir',
        'plugins',
        '--out',
        'out',
        '--go-image',
        'golang:1.23.5-bookworm',
        '--tags',
        'netgo,osusergo',
        '--gcflags',
        'all=-N -l',
        '--build-commit',
        'abc1234',
        '--build-time',
        '2024-01-02T03:04:05Z',
        '--memory',
        '2g',
        '--cpus',
        '1.5',
        '--timeout',
        '30m',
        '--max-context',
        '200m',
        '--netrc',
        'netrc',
        'd7yfs-dir',
      ],
    ],
    [
      'booleans',
      { plugins: [d7yfs], commit: 'v2.1.0', trimpath: false, race: true, noCache: true, keep: true },
      ['--commit', 'v2.1.0', '--no-trimpath', '--race', '--no-cache', '--keep', d7yfs],
    ],
    ['a scheduler plugin', { plugins: [evaluator], commit: 'v2.1.0', type: 'scheduler' }, ['--commit', 'v2.1.0', '--type', 'scheduler', evaluator]],
    [
      'a runtime image, pushed with the credentials of a file',
      { plugins: [d7yfs], commit: 'v2.1.0', image: 'reg.example:5000/d7y/x:v2.1.0', push: true, registryAuth: 'auth.json' },
      ['--commit', 'v2.1.0', '--image', 'reg.example:5000/d7y/x:v2.1.0', '--push', '--registry-auth', 'auth.json', d7yfs],
    ],
    [
      'a runtime image tagged with the commit',
      { plugins: [d7yfs], commit: 'release/2.1', image: 'reg.example/d7y/x:{ref}' },
      ['--commit', 'release/2.1', '--image', 'reg.example/d7y/x:{ref}', d7yfs],
    ],
    ['several plugins', { plugins: [d7yfs, 'other'], commit: 'v2.1.0' }, ['--commit', 'v2.1.0', d7yfs, 'other']],
  ])('%s', (_name, options, argv) => {
    expect(buildSpec(options)).toEqual(cliSpec(argv));
  });

  it('reads the plugin name from DragonflyPluginInit, as the CLI does', () => {
    expect(readPluginMeta(d7yfs).name).toBe('d7yfs');
    expect(buildSpec({ plugins: [d7yfs], commit: 'v2.1.0' }).plugins).toEqual([{ dir: d7yfs, name: 'd7yfs', file: 'd7y-resource-plugin-d7yfs.so' }]);
  });

  it('takes sizes and durations as numbers, as a config file does: bytes and seconds', () => {
    const spec = buildSpec({ plugins: [d7yfs], commit: 'v2.1.0', memory: 2 * 1024 ** 3, cpus: 1.5, timeout: 90, maxContext: 1024 });
    expect(spec.limits).toEqual({ memoryBytes: 2 * 1024 ** 3, nanoCpus: 1.5e9, timeoutMs: 90_000 });
    expect(spec.maxContextBytes).toBe(1024);
  });

  it('takes tags as a list or as the flag writes them', () => {
    expect(buildSpec({ plugins: [d7yfs], commit: 'v2.1.0', tags: 'a,b c' }).toolchain.tags).toEqual(['a', 'b', 'c']);
    expect(buildSpec({ plugins: [d7yfs], commit: 'v2.1.0', tags: ['a', 'b'] }).toolchain.tags).toEqual(['a', 'b']);
  });

  it('resolves relative paths from cwd', () => {
    const spec = buildSpec({ plugins: ['p'], commit: 'v2.1.0', out: 'o', pluginsDir: 'pd', repo: 'r' });
    expect(spec).toMatchObject({
      outDir: path.join(cwd, 'o'),
      pluginsDir: path.join(cwd, 'pd'),
      repo: path.join(cwd, 'r'),
      plugins: [{ dir: path.join(cwd, 'p') }],
    });
  });

  it('takes what an option leaves out from the variables, then the config file, then the default; an option wins over both', async () => {
    const config = path.join(cwd, 'config.yaml');
    await writeFile(config, 'goImage: registry.example/go:1\nmemory: 1g\nout: /ci/out\n');
    const env = { D7Y_MEMORY: '3g', D7Y_COMMIT: 'v2.1.1', SOURCE_DATE_EPOCH: '1704164645', GOPROXY: 'https://proxy.example' };
    const spec = buildSpec({ plugins: [d7yfs], config }, env);
    expect(spec).toMatchObject({
      ref: 'v2.1.1',
      goImage: 'registry.example/go:1',
      outDir: '/ci/out',
      limits: { memoryBytes: 3 * 1024 ** 3 },
      buildTime: { time: '2024-01-02T03:04:05Z', reason: 'SOURCE_DATE_EPOCH=1704164645' },
      goEnv: { GOPROXY: 'https://proxy.example' },
    });
    expect(spec).toEqual(cliSpec(['--config', config, d7yfs], env));
    expect(buildSpec({ plugins: [d7yfs], config, goImage: 'golang:1.23.5-bookworm', memory: '4g' }, env)).toMatchObject({
      goImage: 'golang:1.23.5-bookworm',
      limits: { memoryBytes: 4 * 1024 ** 3 },
    });
  });

  it('refuses what the CLI refuses, with the same typed error', () => {
    const refusal = (run: () => unknown) => {
      try {
        run();
      } catch (err) {
        return err;
      }
      throw new Error('not refused');
    };
    for (const [options, argv] of [
      [{ plugins: [d7yfs] }, [d7yfs]],
      [{ plugins: [d7yfs], commit: 'v2.1.0', memory: '3x' }, ['--commit', 'v2.1.0', '--memory', '3x', d7yfs]],
      [{ plugins: [d7yfs, evaluator], commit: 'v2.1.0', name: 'x' }, ['--commit', 'v2.1.0', '--name', 'x', d7yfs, evaluator]],
    ] as Array<[BuildOptions, string[]]>) {
      const fromOptions = refusal(() => buildSpec(options)) as UsageError;
      expect(fromOptions).toBeInstanceOf(UsageError);
      expect(fromOptions.exitCode).toBe(2);
      expect(fromOptions).toEqual(refusal(() => cliSpec(argv)));
    }
    // commander refuses a --type outside its choices itself; config.ts refuses it for the library.
    expect(refusal(() => buildSpec({ plugins: [d7yfs], commit: 'v2.1.0', type: 'nope' as 'resource' }))).toMatchObject({
      exitCode: 2,
      message: expect.stringContaining('unknown plugin type "nope"'),
    });
  });
});

describe('matrix options → the spec of `d7y-build` with the same flags', () => {
  const matrixSpec = (options: Omit<MatrixOptions, 'env' | 'cwd'>) => resolveMatrixOptions({ ...options, env: { HOME: home }, cwd });

  it('commits × platforms with an image per commit, pushed: the same cells, tags and indexes', () => {
    const spec = matrixSpec({
      plugins: [d7yfs],
      commits: ['v2.1.0', 'v2.1.1'],
      platforms: ['linux/amd64', 'linux/arm64'],
      image: 'reg.example:5000/d7y/x:{ref}',
      push: true,
      registryAuth: 'auth.json',
    });
    const argv = ['--commit', 'v2.1.0,v2.1.1', '--platform', 'linux/amd64,linux/arm64', '--image', 'reg.example:5000/d7y/x:{ref}', '--push'];
    expect(spec).toEqual(cliSpec([...argv, '--registry-auth', 'auth.json', d7yfs]));
    expect(spec.cells.map((c) => c.spec.image)).toEqual([
      'reg.example:5000/d7y/x:v2.1.0-linux-amd64',
      'reg.example:5000/d7y/x:v2.1.0-linux-arm64',
      'reg.example:5000/d7y/x:v2.1.1-linux-amd64',
      'reg.example:5000/d7y/x:v2.1.1-linux-arm64',
    ]);
    expect(spec.image).toMatchObject({ push: true, registryAuthFile: path.join(cwd, 'auth.json') });
    expect(spec.image?.indexes.map((i) => i.ref)).toEqual(['reg.example:5000/d7y/x:v2.1.0', 'reg.example:5000/d7y/x:v2.1.1']);
  });

  it('one commit with {ref}: the one cell is the build, tagged with it', () => {
    expect(
      matrixSpec({ plugins: [d7yfs], commits: 'v2.1.0', image: 'reg.example/d7y/x:{ref}', push: true }).cells.map((c) => [c.spec.image, c.spec.push]),
    ).toEqual([['reg.example/d7y/x:v2.1.0', true]]);
  });

  it('refuses several commits under one tag, with a hint that names the image option', () => {
    let error: unknown;
    try {
      matrixSpec({ plugins: [d7yfs], commits: ['v2.1.0', 'v2.1.1'], image: 'reg.example/d7y/x:v1' });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(UsageError);
    expect((error as UsageError).forLibrary().hint).toMatch(
      /^put \{ref\} in its tag for an image per commit, e\.g\. image: "registry\.example:5000\/d7y\/dfget-plugins:\{ref\}"/,
    );
  });
});

describe('install and prune options → the spec of the CLI command', () => {
  it('install', () => {
    const options = {
      host: 'out/bin/dfget',
      plugins: ['d7y-resource-plugin-a.so', 'x/d7y-scheduler-plugin-evaluator.so'],
      pluginsDir: 'p',
      goImage: 'g:1',
      keep: true,
    };
    expect(resolveInstallOptions({ ...options, env: { HOME: home }, cwd })).toEqual(
      cliSpec(['install', '--host', options.host, '--plugins-dir', 'p', '--go-image', 'g:1', '--keep', ...options.plugins]),
    );
  });

  it('prune', () => {
    expect(resolvePruneOptions({ all: true, out: 'o', env: { HOME: home }, cwd })).toEqual(cliSpec(['prune', '--all', '--out', 'o']));
    expect(resolvePruneOptions({ env: { HOME: home, D7Y_PLUGINS_DIR: '/pd' }, cwd })).toEqual(cliSpec(['prune'], { D7Y_PLUGINS_DIR: '/pd' }));
  });
});

describe('the library functions throw the typed errors', () => {
  const env = { HOME: '/nonexistent-home' };

  it('build: a missing commit, before anything runs', async () => {
    const events: ProgressEvent[] = [];
    const err = await build({ plugins: [d7yfs], env, cwd, onEvent: (e) => events.push(e) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    // The hint names the option of the call, not the CLI's flag.
    expect(err).toMatchObject({ exitCode: 2, message: 'no Dragonfly commit given' });
    expect((err as UsageError).hint).toBe(
      `pass commit: "<branch|tag|sha>" (or set D7Y_COMMIT, or commit in the plugin's d7y-plugin.yaml), e.g. commit: "v2.1.0"`,
    );
    expect(events).toEqual([]);
  });

  it('install: a plugin file name Dragonfly does not load', async () => {
    const err = await install({ host: 'dfget', plugins: ['plugin.so'], env, cwd }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).exitCode).toBe(2);
  });

  it('verify and inspect: a file that is no Go binary cannot tell (12); a missing one is a usage error (2)', async () => {
    const notElf = path.join(cwd, 'not-elf');
    await writeFile(notElf, 'text');
    await expect(inspect({ file: 'not-elf', cwd })).rejects.toSatisfy((e) => e instanceof UnverifiableError && e.exitCode === 12);
    await expect(verify({ host: notElf, plugins: [] })).rejects.toBeInstanceOf(UnverifiableError);
    await expect(inspect({ file: 'missing', cwd })).rejects.toSatisfy((e) => e instanceof UsageError && e.message.includes(path.join(cwd, 'missing')));
  });

  it('prune: a bad variable, before the engine is asked', async () => {
    await expect(prune({ env: { HOME: home, D7Y_PING_TIMEOUT: 'soon' }, cwd })).rejects.toSatisfy(
      (e) => e instanceof UsageError && /D7Y_PING_TIMEOUT/.test(e.message),
    );
  });

  it('an abort without a D7yError reason is an InterruptedError without a signal (exit 130)', () => {
    const err = new InterruptedError();
    expect(err).toBeInstanceOf(D7yError);
    expect(err).toMatchObject({ exitCode: 130, signal: undefined, message: 'aborted by the AbortSignal given' });
  });
});

describe('progress events', () => {
  /** Every call a renderer gets, in order. */
  function recorder(): { log: Logger; calls: unknown[][] } {
    const calls: unknown[][] = [];
    const log = Object.fromEntries(
      Object.keys(nullLogger).map((method) => [method, (...args: unknown[]) => calls.push([method, ...args])]),
    ) as unknown as Logger;
    return { log, calls };
  }

  it('each Logger call is one event, and a renderer fed the events gets the calls the steps made', () => {
    const events: ProgressEvent[] = [];
    const direct = recorder();
    const drawn = recorder();
    const both: Logger[] = [eventLogger((e) => (events.push(e), renderEvent(drawn.log, e))), direct.log];
    for (const log of both) {
      log.headline('d7y-build: go');
      log.stepStart(1, 2, 'compile-plugins');
      log.output('myfs', 'go: downloading');
      log.info('built d7y-resource-plugin-myfs.so', { type: 'plugin-compiled', plugin: 'myfs', file: 'd7y-resource-plugin-myfs.so' });
      log.warn('careful');
      log.stepDone(1, 2, 'compile-plugins', 1500, 'done');
      log.stepStart(2, 2, 'install');
      log.stepFailed(2, 2, 'install', 20);
    }
    expect(events).toEqual([
      { type: 'headline', message: 'd7y-build: go' },
      { type: 'step-started', index: 1, total: 2, name: 'compile-plugins' },
      { type: 'output', source: 'myfs', line: 'go: downloading' },
      { type: 'plugin-compiled', plugin: 'myfs', file: 'd7y-resource-plugin-myfs.so', message: 'built d7y-resource-plugin-myfs.so' },
      { type: 'warning', message: 'careful' },
      { type: 'step-finished', index: 1, total: 2, name: 'compile-plugins', status: 'done', durationMs: 1500 },
      { type: 'step-started', index: 2, total: 2, name: 'install' },
      { type: 'step-finished', index: 2, total: 2, name: 'install', status: 'failed', durationMs: 20 },
    ]);
    // The fact is drawn as its info line; everything else as it was called.
    expect(drawn.calls).toEqual(direct.calls.map((call) => (call[0] === 'info' ? call.slice(0, 2) : call)));
  });

  it('maskEvent masks every string but the type', () => {
    const mask = (t: string) => t.split('tok-1234').join('***');
    expect(maskEvent({ type: 'output', source: 'tok-1234', line: 'https://tok-1234@h/x' }, mask)).toEqual({
      type: 'output',
      source: '***',
      line: 'https://***@h/x',
    });
    expect(maskEvent({ type: 'installed', path: '/p/tok-1234.so', message: 'installed /p/tok-1234.so' }, mask)).toEqual({
      type: 'installed',
      path: '/p/***.so',
      message: 'installed /p/***.so',
    });
  });
});
