/**
 * The command line to what it asks for: argv and environment through commander and the real
 * resolve functions of config.ts (parseCommandLine), row by row; and the help of every command.
 */
import { CommanderError } from 'commander';
import { describe, expect, it } from 'vitest';
import { parseCommandLine, type Invocation } from '../../src/cli';
import { DEFAULT_PLUGINS_DIR, DEFAULT_REPO, type DoctorSpec } from '../../src/config';
import { UsageError } from '../../src/errors';

const cwd = '/home/me/work';
const BASE_ENV = { HOME: '/home/me' };

/** Collects what commander writes (help) instead of printing it. */
function sink(): NodeJS.WritableStream & { text: () => string } {
  let text = '';
  return Object.assign({ write: (s: string) => ((text += s), true) } as unknown as NodeJS.WritableStream, { text: () => text });
}

function parse(argv: string[], env: Record<string, string> = {}): Invocation | undefined {
  return parseCommandLine(argv, { stdout: sink(), stderr: sink(), env: { ...BASE_ENV, ...env }, cwd });
}

const MiB = 1024 ** 2;

describe('parseCommandLine: argv and environment → command and spec', () => {
  it.each<[string, string[], Record<string, string>, Invocation['command'], Record<string, unknown>]>([
    // build: every default
    [
      'build with defaults',
      ['--commit', 'v2.1.0', './myfs'],
      {},
      'build',
      {
        ref: 'v2.1.0',
        repo: DEFAULT_REPO,
        type: 'resource',
        plugins: [{ dir: '/home/me/work/myfs', name: 'myfs', file: 'd7y-resource-plugin-myfs.so' }],
        pluginsDir: DEFAULT_PLUGINS_DIR,
        outDir: '/home/me/work/d7y-build-out',
        goImage: undefined,
        toolchain: { trimpath: true, tags: [], gcflags: '', race: false },
        buildCommit: undefined,
        buildTime: undefined,
        noCache: false,
        keep: false,
        cacheDir: '/home/me/.cache/d7y-build',
        cacheDirOrigin: 'HOME',
        goEnv: {},
        limits: {},
        maxContextBytes: 100 * MiB,
        netrcFile: undefined,
        pingTimeoutMs: 15_000,
        loadTimeoutMs: 120_000,
        platform: 'linux/amd64',
        target: 'linux/amd64',
      },
    ],
    // build: --platform is the target; the container stays on the engine's platform
    ['build --platform', ['--commit', 'c', '--platform', 'linux/arm64', './fs'], {}, 'build', { platform: 'linux/amd64', target: 'linux/arm64' }],
    ['build with D7Y_PLATFORM', ['--commit', 'c', './fs'], { D7Y_PLATFORM: 'linux/arm64' }, 'build', { target: 'linux/arm64' }],
    [
      'build: --platform beats D7Y_PLATFORM',
      ['--commit', 'c', '--platform', 'linux/amd64', './fs'],
      { D7Y_PLATFORM: 'linux/arm64' },
      'build',
      { target: 'linux/amd64' },
    ],
    // build: the environment stands in for its flags
    [
      'build from the environment',
      ['./fs'],
      { D7Y_COMMIT: 'v2.1.1', D7Y_REPO: '/srv/df', D7Y_PLUGINS_DIR: '/opt/p', D7Y_NETRC: 'my.netrc' },
      'build',
      { ref: 'v2.1.1', repo: '/srv/df', pluginsDir: '/opt/p', netrcFile: '/home/me/work/my.netrc' },
    ],
    [
      'build: a flag beats its variable',
      ['--commit', 'v2.1.2', '--repo', '../df', '--plugins-dir', 'p', '--netrc', '/etc/netrc', './fs'],
      { D7Y_COMMIT: 'v2.1.1', D7Y_REPO: '/srv/df', D7Y_PLUGINS_DIR: '/opt/p', D7Y_NETRC: 'my.netrc' },
      'build',
      { ref: 'v2.1.2', repo: '/home/me/df', pluginsDir: '/home/me/work/p', netrcFile: '/etc/netrc' },
    ],
    [
      'build: blank variables count as unset',
      ['--commit', 'c', './fs'],
      { D7Y_REPO: ' ', D7Y_PLUGINS_DIR: '', D7Y_NETRC: '' },
      'build',
      { repo: DEFAULT_REPO, pluginsDir: DEFAULT_PLUGINS_DIR, netrcFile: undefined },
    ],
    [
      'build: --flag=value',
      ['--commit=v2.1.0', '--repo=git@github.com:dragonflyoss/dragonfly.git', '--out=o', './fs'],
      {},
      'build',
      { ref: 'v2.1.0', repo: 'git@github.com:dragonflyoss/dragonfly.git', outDir: '/home/me/work/o' },
    ],
    [
      'build: every build flag',
      [
        '--commit',
        'c',
        '--type',
        'scheduler',
        '--out',
        '/o',
        '--go-image',
        'golang:1.23.5-bookworm',
        '--tags',
        'netgo, osusergo',
        '--gcflags',
        'all=-N -l',
        '--no-trimpath',
        '--race',
        '--build-commit',
        'abc1234',
        '--memory',
        '2g',
        '--cpus',
        '1.5',
        '--timeout',
        '30m',
        '--max-context',
        '200m',
        '--keep',
        '--build-time',
        '2024-01-02T05:04:05+02:00',
        '--no-cache',
        './my-evaluator',
      ],
      {},
      'build',
      {
        type: 'scheduler',
        plugins: [{ dir: '/home/me/work/my-evaluator', name: 'evaluator', file: 'd7y-scheduler-plugin-evaluator.so' }],
        outDir: '/o',
        goImage: 'golang:1.23.5-bookworm',
        toolchain: { trimpath: false, tags: ['netgo', 'osusergo'], gcflags: 'all=-N -l', race: true },
        buildCommit: 'abc1234',
        buildTime: { time: '2024-01-02T03:04:05Z', reason: '--build-time 2024-01-02T05:04:05+02:00' },
        noCache: true,
        limits: { memoryBytes: 2 * 1024 * MiB, nanoCpus: 1.5e9, timeoutMs: 1_800_000 },
        maxContextBytes: 200 * MiB,
        keep: true,
      },
    ],
    [
      'build: the last of --no-trimpath and --trimpath wins',
      ['--commit', 'c', '--no-trimpath', '--trimpath', './fs'],
      {},
      'build',
      { toolchain: { trimpath: true, tags: [], gcflags: '', race: false } },
    ],
    [
      'build: --name',
      ['--commit', 'c', '--name', 'abc', './fs'],
      {},
      'build',
      { plugins: [{ dir: '/home/me/work/fs', name: 'abc', file: 'd7y-resource-plugin-abc.so' }] },
    ],
    [
      'build: a manager plugin is the searcher',
      ['--commit', 'c', '--type', 'manager', './x'],
      {},
      'build',
      { plugins: [{ dir: '/home/me/work/x', name: 'searcher', file: 'd7y-manager-plugin-searcher.so' }] },
    ],
    [
      'build: variables that only the environment sets',
      ['--commit', 'c', './fs'],
      {
        SOURCE_DATE_EPOCH: '1704164645',
        D7Y_NO_CACHE: '1',
        D7Y_PING_TIMEOUT: '2s',
        D7Y_LOAD_TIMEOUT: '3s',
        D7Y_CACHE_DIR: '/c',
        GOPROXY: 'https://proxy.example',
        GOFLAGS: '-mod=mod',
      },
      'build',
      {
        buildTime: { time: '2024-01-02T03:04:05Z', reason: 'SOURCE_DATE_EPOCH=1704164645' },
        noCache: true,
        pingTimeoutMs: 2000,
        loadTimeoutMs: 3000,
        cacheDir: '/c',
        cacheDirOrigin: 'D7Y_CACHE_DIR',
        goEnv: { GOPROXY: 'https://proxy.example' },
      },
    ],
    [
      'build: --build-time beats SOURCE_DATE_EPOCH',
      ['--commit', 'c', '--build-time', 'commit', './fs'],
      { SOURCE_DATE_EPOCH: '1704164645' },
      'build',
      { buildTime: undefined, noCache: false },
    ],
    [
      'build: the cache under XDG_CACHE_HOME',
      ['--commit', 'c', './fs'],
      { XDG_CACHE_HOME: '/x' },
      'build',
      { cacheDir: '/x/d7y-build', cacheDirOrigin: 'XDG_CACHE_HOME' },
    ],
    // install
    [
      'install with defaults',
      ['install', '--host', 'out/bin/dfget', 'out/plugins/d7y-resource-plugin-x.so'],
      {},
      'install',
      {
        host: '/home/me/work/out/bin/dfget',
        plugins: [{ path: '/home/me/work/out/plugins/d7y-resource-plugin-x.so', type: 'resource', name: 'x', file: 'd7y-resource-plugin-x.so' }],
        pluginsDir: DEFAULT_PLUGINS_DIR,
        goImage: undefined,
        keep: false,
        limits: {},
        cacheDir: '/home/me/.cache/d7y-build',
        pingTimeoutMs: 15_000,
        loadTimeoutMs: 120_000,
      },
    ],
    [
      'install: --plugins-dir from the environment',
      ['install', '--host', '/h/scheduler', '/p/d7y-scheduler-plugin-evaluator.so'],
      { D7Y_PLUGINS_DIR: '/opt/p' },
      'install',
      {
        pluginsDir: '/opt/p',
        plugins: [{ path: '/p/d7y-scheduler-plugin-evaluator.so', type: 'scheduler', name: 'evaluator', file: 'd7y-scheduler-plugin-evaluator.so' }],
      },
    ],
    [
      'install: flags beat variables',
      ['install', '--host', '/h/manager', '--plugins-dir', 'p', '--go-image', 'golang:1.23', '--keep', '/p/d7y-manager-plugin-searcher.so'],
      { D7Y_PLUGINS_DIR: '/opt/p', D7Y_LOAD_TIMEOUT: '10m' },
      'install',
      { host: '/h/manager', pluginsDir: '/home/me/work/p', goImage: 'golang:1.23', keep: true, loadTimeoutMs: 600_000 },
    ],
    // verify and inspect
    [
      'verify',
      ['verify', '--host', 'bin/scheduler', 'p.so', '/abs/q.so'],
      {},
      'verify',
      { host: '/home/me/work/bin/scheduler', plugins: ['/home/me/work/p.so', '/abs/q.so'] },
    ],
    ['inspect', ['inspect', 'bin/dfget'], {}, 'inspect', { file: '/home/me/work/bin/dfget' }],
    // inspect-api and init
    [
      'inspect-api from the environment',
      ['inspect-api', '--type', 'manager'],
      { D7Y_COMMIT: 'v2.1.0', D7Y_REPO: '/srv/df', D7Y_CACHE_DIR: '/c' },
      'inspect-api',
      { ref: 'v2.1.0', repo: '/srv/df', type: 'manager', goImage: undefined, cacheDir: '/c', limits: {}, keep: false, pingTimeoutMs: 15_000 },
    ],
    [
      'inspect-api: flags beat variables',
      ['inspect-api', '--type', 'resource', '--commit', 'main', '--repo', 'https://example.com/df.git', '--go-image', 'golang:1.20'],
      { D7Y_COMMIT: 'v2.1.0', D7Y_REPO: '/srv/df' },
      'inspect-api',
      { ref: 'main', repo: 'https://example.com/df.git', goImage: 'golang:1.20' },
    ],
    [
      'init',
      ['init', '--type', 'resource', '--commit', 'v2.1.0', './myfs'],
      {},
      'init',
      { type: 'resource', ref: 'v2.1.0', repo: DEFAULT_REPO, dir: '/home/me/work/myfs', name: 'myfs' },
    ],
    ['init: --name', ['init', '--type', 'resource', '--name', 'abc', './x'], { D7Y_COMMIT: 'c' }, 'init', { ref: 'c', dir: '/home/me/work/x', name: 'abc' }],
    [
      'init: a scheduler plugin is the evaluator',
      ['init', '--type', 'scheduler', '--commit', 'c', './x'],
      {},
      'init',
      { dir: '/home/me/work/x', name: 'evaluator' },
    ],
    // prune
    [
      'prune with defaults',
      ['prune'],
      {},
      'prune',
      {
        all: false,
        dirs: [DEFAULT_PLUGINS_DIR, '/home/me/work/d7y-build-out/bin', '/home/me/work/d7y-build-out/plugins', '/home/me/work/d7y-build-out'],
        pingTimeoutMs: 15_000,
      },
    ],
    [
      'prune from the environment',
      ['prune', '--all', '--out', 'o'],
      { D7Y_PLUGINS_DIR: '/opt/p', D7Y_PING_TIMEOUT: '1s' },
      'prune',
      { all: true, dirs: ['/opt/p', '/home/me/work/o/bin', '/home/me/work/o/plugins', '/home/me/work/o'], pingTimeoutMs: 1000 },
    ],
    [
      'prune: a flag beats its variable',
      ['prune', '--plugins-dir', 'p'],
      { D7Y_PLUGINS_DIR: '/opt/p' },
      'prune',
      { dirs: ['/home/me/work/p', '/home/me/work/d7y-build-out/bin', '/home/me/work/d7y-build-out/plugins', '/home/me/work/d7y-build-out'] },
    ],
    // cache
    ['cache ls', ['cache', 'ls'], {}, 'cache', { action: 'ls', cacheDir: '/home/me/.cache/d7y-build', pingTimeoutMs: 15_000 }],
    [
      'cache ls from the environment',
      ['cache', 'ls'],
      { D7Y_CACHE_DIR: '/c', D7Y_PING_TIMEOUT: '1s' },
      'cache',
      { action: 'ls', cacheDir: '/c', pingTimeoutMs: 1000 },
    ],
    ['cache prune', ['cache', 'prune'], {}, 'cache', { action: 'prune', all: false }],
    ['cache prune --all', ['cache', 'prune', '--all'], {}, 'cache', { action: 'prune', all: true }],
    ['cache prune --max-size', ['cache', 'prune', '--max-size', '10g'], {}, 'cache', { action: 'prune', all: false, maxSizeBytes: 10 * 1024 ** 3 }],
    ['cache export to a file', ['cache', 'export', 'ci/cache.tar'], {}, 'cache', { action: 'export', target: '/home/me/work/ci/cache.tar', images: {} }],
    [
      'cache export of one Go image for one platform; the build variables choose nothing',
      ['cache', 'export', '--go-image', 'golang:1.23.5-bookworm', '--platform', 'linux/amd64', 'out'],
      { D7Y_GO_IMAGE: 'golang:1.20.14-bookworm', D7Y_PLATFORM: 'linux/arm64' },
      'cache',
      { action: 'export', target: '/home/me/work/out', images: { goImage: 'golang:1.23.5-bookworm', platforms: ['linux/amd64'] } },
    ],
    [
      'cache export with the build variables set',
      ['cache', 'export', 'out'],
      { D7Y_GO_IMAGE: 'golang:1.20.14-bookworm', D7Y_PLATFORM: 'linux/arm64' },
      'cache',
      { action: 'export', target: '/home/me/work/out', images: {} },
    ],
    ['cache import from a directory', ['cache', 'import', '/var/cache/d7y'], {}, 'cache', { action: 'import', source: '/var/cache/d7y' }],
    // doctor
    [
      'doctor with defaults',
      ['doctor'],
      {},
      'doctor',
      {
        ref: undefined,
        repo: DEFAULT_REPO,
        goImage: undefined,
        cache: { dir: '/home/me/.cache/d7y-build', origin: 'HOME' },
        sourceDateEpoch: undefined,
        pingTimeoutMs: 15_000,
        goEnv: {},
        platform: 'linux/amd64',
      },
    ],
    [
      'doctor from the environment',
      ['doctor'],
      {
        D7Y_COMMIT: 'v2.1.0',
        D7Y_REPO: '/srv/df',
        D7Y_CACHE_DIR: '/c',
        SOURCE_DATE_EPOCH: '1704164645',
        D7Y_PING_TIMEOUT: '2s',
        GOPROXY: 'https://proxy.example',
      },
      'doctor',
      {
        ref: 'v2.1.0',
        repo: '/srv/df',
        cache: { dir: '/c', origin: 'D7Y_CACHE_DIR' },
        sourceDateEpoch: 1704164645,
        pingTimeoutMs: 2000,
        goEnv: { GOPROXY: 'https://proxy.example' },
      },
    ],
    [
      'doctor: flags beat variables',
      ['doctor', '--commit', 'main', '--repo', '../df', '--go-image', 'golang:1.20'],
      { D7Y_COMMIT: 'v2.1.0', D7Y_REPO: '/srv/df' },
      'doctor',
      { ref: 'main', repo: '/home/me/df', goImage: 'golang:1.20' },
    ],
  ])('%s', (_label, argv, env, command, spec) => {
    const invocation = parse(argv, env);
    expect(invocation?.command).toBe(command);
    expect(invocation?.spec).toMatchObject(spec);
  });

  it.each<[string[], { json?: boolean; verbose?: boolean }]>([
    [['--commit', 'c', './fs'], {}],
    [['--commit', 'c', '--json', '--verbose', './fs'], { json: true, verbose: true }],
    [['install', '--host', '/h', '--json', '/p/d7y-resource-plugin-x.so'], { json: true }],
    [['verify', '--json', '--host', '/h', '/p.so'], { json: true }],
    [['inspect-api', '--type', 'manager', '--commit', 'c', '--verbose'], { verbose: true }],
    [['prune', '--json'], { json: true }],
    [['cache', 'ls', '--json'], { json: true }],
    [['cache', 'import', 'x.tar', '--json'], { json: true }],
    [['doctor', '--json'], { json: true }],
  ])('output flags of %j', (argv, output) => {
    const invocation = parse(argv);
    expect({ json: invocation?.output.json, verbose: invocation?.output.verbose }).toEqual({ json: undefined, verbose: undefined, ...output });
  });

  it.each<[string[], boolean]>([
    [['--commit', 'c', './fs'], false],
    [['--commit', 'c', '--watch', './fs'], true],
    [['--watch', '--commit', 'c', '--quiet', './fs'], true],
  ])('--watch in %j: %s', (argv, watch) => {
    const invocation = parse(argv);
    expect(invocation?.command).toBe('build');
    expect(invocation).toMatchObject({ watch });
  });

  it.each<[string[], Record<string, string>, RegExp]>([
    [['--commit', 'c', '--watch', '--json', './fs'], {}, /^--watch and --json do not go together$/],
    [['--commit', 'c', '--watch', '--image', 'reg.example/d7y/dfget:v1', './fs'], {}, /^--watch and --image do not go together$/],
    [['./fs'], {}, /no Dragonfly commit given/],
    [['inspect-api', '--type', 'manager'], {}, /no Dragonfly commit given/],
    [['install', '/p/d7y-resource-plugin-x.so'], {}, /no host binary given/],
    [['install', '--host', '/h', '/p/x.so'], {}, /x\.so is not a plugin file name Dragonfly loads/],
    [['--commit', 'c', './fs'], { D7Y_PING_TIMEOUT: 'soon' }, /D7Y_PING_TIMEOUT="soon"/],
    [['prune'], { D7Y_PING_TIMEOUT: 'soon' }, /D7Y_PING_TIMEOUT="soon"/],
    [['cache'], {}, /^cache needs a subcommand$/],
    [['cache', 'rm'], {}, /^cache has no subcommand "rm"$/],
    [['cache', 'prune', '--all', '--max-size', '1g'], {}, /--all and --max-size do not go together/],
    [['cache', 'prune', '--max-size', 'lots'], {}, /--max-size lots is not a size between 0 and 1024t/],
    [['cache', 'ls'], { D7Y_CACHE_DIR: 'relative' }, /D7Y_CACHE_DIR="relative" is not an absolute path/],
    [['cache', 'export', '--platform', 'linux/s390x', 'out'], {}, /unknown platform "linux\/s390x" \(--platform\)/],
    [['cache', 'export', '--go-image', 'Golang:1.23', 'out'], {}, /--go-image "Golang:1\.23" is not an image reference/],
    [['doctor', '--go-image', 'Golang:1.23'], {}, /--go-image "Golang:1\.23" is not an image reference/],
    [['init', '--commit', 'c', './x'], {}, /no plugin type given/],
  ])('refuses %j (env %j) before anything runs', (argv, env, message) => {
    expect(() => parse(argv, env)).toThrow(UsageError);
    expect(() => parse(argv, env)).toThrow(message);
  });

  it('keeps what the environment gets wrong for doctor to report, as the error a build would stop with', () => {
    const invocation = parse(['doctor'], { D7Y_CACHE_DIR: 'rel', SOURCE_DATE_EPOCH: 'soon', D7Y_PING_TIMEOUT: 'never' });
    expect(invocation?.command).toBe('doctor');
    const spec = invocation?.spec as DoctorSpec;
    const settled = [spec.cache, spec.sourceDateEpoch, spec.pingTimeoutMs];
    for (const value of settled) expect(value).toBeInstanceOf(UsageError);
    expect(settled.map((e) => (e as UsageError).message)).toEqual([
      'D7Y_CACHE_DIR="rel" is not an absolute path',
      expect.stringMatching(/^SOURCE_DATE_EPOCH="soon" is not a number of seconds/),
      expect.stringMatching(/^D7Y_PING_TIMEOUT="never" is not a duration/),
    ]);
  });

  it.each<[string[], RegExp]>([
    [['--commit', 'c', '--type', 'storage', './fs'], /'storage' is invalid/],
    [['verify', '/p.so'], /required option '--host <binary>' not specified/],
    [['prune', '--colour'], /unknown option '--colour'/],
    [['config', '--watch'], /unknown option '--watch'/],
    [['cache', 'export'], /missing required argument 'dir\|file.tar'/],
  ])('commander refuses %j', (argv, message) => {
    expect(() => parse(argv)).toThrow(CommanderError);
    expect(() => parse(argv)).toThrow(message);
  });
});

describe('help', () => {
  const COMMANDS = ['install', 'verify', 'inspect', 'inspect-api', 'init', 'prune', 'doctor', 'config'];

  /** The help of a command (root: undefined), as commander prints it. */
  function help(command: string | undefined): string {
    const stdout = sink();
    expect(() => parseCommandLine(command === undefined ? ['--help'] : ['help', command], { stdout, stderr: sink(), env: {}, cwd })).toThrow(
      expect.objectContaining({ exitCode: 0 }),
    );
    return stdout.text();
  }

  /** Flags → description in a help text, wrapped lines joined, commander's own "(choices: …)" left out. */
  function options(text: string): Map<string, string> {
    const found = new Map<string, string>();
    const section = text.split('\nOptions:\n')[1]!.split('\n\n')[0]!;
    let last: string | undefined;
    for (const line of section.split('\n').filter((l) => l.trim() !== '')) {
      const m = /^ {2}(-\S.*?) {2,}(.*)$/.exec(line);
      if (m) found.set((last = m[1]!.trim()), m[2]!);
      else if (last !== undefined) found.set(last, `${found.get(last)!} ${line.trim()}`);
    }
    for (const [flags, text] of found) found.set(flags, text.replace(/ \(choices: [^)]*\)$/, ''));
    return found;
  }

  it('describes an option that several commands take in the same words on each', () => {
    const seen = new Map<string, { command: string; text: string }>();
    let shared = 0;
    for (const command of [undefined, ...COMMANDS]) {
      for (const [flags, text] of options(help(command))) {
        const first = seen.get(flags);
        if (first === undefined) seen.set(flags, { command: command ?? 'd7y-build', text });
        else {
          shared++;
          expect(`${command}: ${flags}: ${text}`).toBe(`${command}: ${flags}: ${first.text}`);
        }
      }
    }
    // --json on every command, --help on every command, and the others several take.
    expect(shared).toBeGreaterThan(2 * COMMANDS.length);
  });

  it('the build help describes --watch', () => {
    expect(options(help(undefined)).get('--watch')).toBe(
      'after the build, rebuild the plugins in the same container whenever their files change, until Ctrl-C',
    );
  });

  it('help cache names its subcommands', () => {
    const text = help('cache');
    expect(text).toMatch(/^Usage: d7y-build cache ls\|prune\|export\|import \[options\]/);
    for (const sub of ['ls', 'prune', 'export', 'import']) expect(text).toMatch(new RegExp(`^  ${sub} `, 'm'));
  });

  it.each(COMMANDS)('help %s prints the usage of the command', (command) => {
    expect(help(command)).toMatch(new RegExp(`^Usage: d7y-build ${command} \\[options\\]`));
  });
});
