/**
 * Config files and the one precedence rule, through parseCommandLine over real files: a plugin
 * directory's d7y-plugin.yaml and the user's config.yaml (under XDG_CONFIG_HOME, or --config /
 * D7Y_CONFIG); flag > D7Y_* variable > plugin file > user file > default, option by option; what
 * the files may hold; and `d7y-build config`.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { main, parseCommandLine, type Invocation } from '../../src/cli';
import { MAX_CONFIG_BYTES, parseConfigFile, readPluginConfig } from '../../src/config-files';
import { DEFAULT_PLUGINS_DIR, DEFAULT_REPO, envName, flagName, OPTION_KEYS, resolveSpec } from '../../src/config';
import { UsageError } from '../../src/errors';
import { scaffoldFiles, type PluginApi } from '../../src/scaffold/render';

let root: string;
/** Each test's own: cwd, the user config under xdg/d7y-build/config.yaml, and a plugin directory. */
let cwd: string;
let xdg: string;
let userFile: string;
let plugin: string;
let pluginFile: string;

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'd7y-config-files-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});
let n = 0;
beforeEach(async () => {
  cwd = path.join(root, `case-${n++}`);
  xdg = path.join(cwd, 'xdg');
  userFile = path.join(xdg, 'd7y-build', 'config.yaml');
  plugin = path.join(cwd, 'myfs');
  pluginFile = path.join(plugin, 'd7y-plugin.yaml');
  await mkdir(path.dirname(userFile), { recursive: true });
  await mkdir(plugin, { recursive: true });
});

/** Collects what commander writes instead of printing it. */
function sink(): NodeJS.WritableStream {
  return { write: () => true } as unknown as NodeJS.WritableStream;
}

function parse(argv: string[], env: Record<string, string> = {}): Invocation | undefined {
  return parseCommandLine(argv, { stdout: sink(), stderr: sink(), env: { HOME: '/home/me', XDG_CONFIG_HOME: xdg, ...env }, cwd });
}

function specOf(argv: string[], env: Record<string, string> = {}): Record<string, unknown> {
  const invocation = parse(argv, env);
  return invocation?.spec as unknown as Record<string, unknown>;
}

function usageError(fn: () => unknown): UsageError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    return err as UsageError;
  }
  throw new Error('expected a UsageError, but nothing was thrown');
}

type Layer = 'flag' | 'env' | 'plugin' | 'user' | 'default';

/** One option at every level of the precedence: the argv, variable and file lines that set it, and the spec field each level leaves. */
interface Row {
  option: string;
  flag: string[];
  env: Record<string, string>;
  plugin?: string;
  user?: string;
  /** What the spec holds (a field, and its value) when the given level wins. */
  want: (spec: Record<string, unknown>) => unknown;
  expect: Partial<Record<Layer, unknown>>;
}

const ROWS: Row[] = [
  {
    option: 'repo',
    flag: ['--repo', '/flag/df'],
    env: { D7Y_REPO: '/env/df' },
    plugin: 'repo: ../plugin-df',
    user: 'repo: https://example.com/user/df.git',
    want: (s) => s.repo,
    expect: { flag: '/flag/df', env: '/env/df', plugin: 'CWD/plugin-df', user: 'https://example.com/user/df.git', default: DEFAULT_REPO },
  },
  {
    option: 'goImage',
    flag: ['--go-image', 'golang:1.23.5-bookworm'],
    env: { D7Y_GO_IMAGE: 'golang:1.23.4-bookworm' },
    plugin: 'goImage: golang:1.22.4-bookworm',
    user: 'goImage: d7y-build/golang:1.20.14-bookworm',
    want: (s) => s.goImage,
    expect: {
      flag: 'golang:1.23.5-bookworm',
      env: 'golang:1.23.4-bookworm',
      plugin: 'golang:1.22.4-bookworm',
      user: 'd7y-build/golang:1.20.14-bookworm',
      default: undefined,
    },
  },
  {
    option: 'type',
    flag: ['--type', 'manager'],
    env: { D7Y_TYPE: 'scheduler' },
    plugin: 'type: resource',
    want: (s) => s.type,
    expect: { flag: 'manager', env: 'scheduler', plugin: 'resource', default: 'resource' },
  },
  {
    option: 'tags',
    flag: ['--tags', 'a,b'],
    env: { D7Y_TAGS: 'c' },
    plugin: 'tags: [d, e]',
    want: (s) => (s.toolchain as { tags: string[] }).tags,
    expect: { flag: ['a', 'b'], env: ['c'], plugin: ['d', 'e'], default: [] },
  },
  {
    option: 'memory',
    flag: ['--memory', '1g'],
    env: { D7Y_MEMORY: '2g' },
    user: 'memory: 3g',
    want: (s) => (s.limits as { memoryBytes?: number }).memoryBytes,
    expect: { flag: 1024 ** 3, env: 2 * 1024 ** 3, user: 3 * 1024 ** 3, default: undefined },
  },
  {
    option: 'maxContext',
    flag: ['--max-context', '1m'],
    env: { D7Y_MAX_CONTEXT: '2m' },
    user: 'maxContext: 3000',
    want: (s) => s.maxContextBytes,
    expect: { flag: 1024 ** 2, env: 2 * 1024 ** 2, user: 3000, default: 100 * 1024 ** 2 },
  },
  {
    option: 'pluginsDir',
    flag: ['--plugins-dir', 'p-flag'],
    env: { D7Y_PLUGINS_DIR: '/p-env' },
    user: 'pluginsDir: p-user',
    want: (s) => s.pluginsDir,
    // A relative path in a config file is taken from the file's directory.
    expect: { flag: 'CWD/p-flag', env: '/p-env', user: 'CWD/xdg/d7y-build/p-user', default: DEFAULT_PLUGINS_DIR },
  },
  {
    option: 'trimpath',
    flag: ['--no-trimpath'],
    env: { D7Y_TRIMPATH: 'true' },
    user: 'trimpath: false',
    want: (s) => (s.toolchain as { trimpath: boolean }).trimpath,
    expect: { flag: false, env: true, user: false, default: true },
  },
  {
    option: 'loadTimeout',
    flag: [],
    env: { D7Y_LOAD_TIMEOUT: '3s' },
    user: 'loadTimeout: 90s',
    want: (s) => s.loadTimeoutMs,
    expect: { env: 3000, user: 90_000, default: 120_000 },
  },
];

describe('precedence: flag > D7Y_* variable > d7y-plugin.yaml > config.yaml > default', () => {
  const cells = ROWS.flatMap((row) =>
    (['flag', 'env', 'plugin', 'user', 'default'] as const).filter((layer) => layer in row.expect).map((layer) => [row.option, layer, row] as const),
  );

  it.each(cells)('%s from the %s', async (_option, layer, row) => {
    // Every level below the one that wins is set too: it must lose.
    const levels: Layer[] = ['flag', 'env', 'plugin', 'user'];
    const below = layer === 'default' ? [] : levels.slice(levels.indexOf(layer));
    await writeFile(pluginFile, `commit: v2.1.0\n${below.includes('plugin') && row.plugin ? `${row.plugin}\n` : ''}`);
    if (below.includes('user') && row.user) await writeFile(userFile, `${row.user}\n`);
    const argv = [...(below.includes('flag') ? row.flag : []), plugin];
    const env = below.includes('env') ? row.env : {};
    const want = row.expect[layer];
    expect(row.want(specOf(argv, env))).toEqual(typeof want === 'string' ? want.replace(/^CWD/, cwd) : want);
  });

  it('takes the commit and type from d7y-plugin.yaml: a build needs no flags', async () => {
    await writeFile(pluginFile, 'type: scheduler\ncommit: v2.1.1\n');
    expect(specOf([plugin])).toMatchObject({ ref: 'v2.1.1', type: 'scheduler', plugins: [{ dir: plugin, name: 'evaluator' }] });
    expect(specOf(['--commit', 'v2.1.0', plugin], { D7Y_TYPE: 'manager' })).toMatchObject({ ref: 'v2.1.0', type: 'manager' });
  });

  it("takes each plugin directory's name from its own file", async () => {
    const other = path.join(cwd, 'other');
    await mkdir(other);
    await writeFile(pluginFile, 'name: alpha\ncommit: v2.1.0\n');
    await writeFile(path.join(other, 'd7y-plugin.json'), '{"name": "beta", "commit": "v2.1.0"}');
    expect(specOf([plugin, other]).plugins).toEqual([
      { dir: plugin, name: 'alpha', file: 'd7y-resource-plugin-alpha.so' },
      { dir: other, name: 'beta', file: 'd7y-resource-plugin-beta.so' },
    ]);
    // D7Y_NAME, like --name, names one plugin.
    expect(usageError(() => specOf([plugin, other], { D7Y_NAME: 'gamma' })).message).toBe('D7Y_NAME applies to one plugin, but several directories were given');
  });

  it('refuses plugin files that disagree on a shared key, naming both; a flag settles it', async () => {
    const other = path.join(cwd, 'other');
    await mkdir(other);
    await writeFile(pluginFile, 'commit: v2.1.0\ntype: resource\n');
    await writeFile(path.join(other, 'd7y-plugin.yaml'), 'commit: v2.1.1\n');
    const err = usageError(() => specOf([plugin, other]));
    expect(err.message).toBe(`${pluginFile} and ${path.join(other, 'd7y-plugin.yaml')} disagree on commit: "v2.1.0" and "v2.1.1"`);
    expect(err.hint).toMatch(/--commit/);
    expect(specOf(['--commit', 'v2.1.1', plugin, other]).ref).toBe('v2.1.1');

    await writeFile(path.join(other, 'd7y-plugin.yaml'), 'commit: v2.1.0\ntype: manager\n');
    expect(usageError(() => specOf([plugin, other])).message).toMatch(/disagree on type: "resource" and "manager"$/);
  });

  it('names the file and key of a value that the file holds but the option refuses', async () => {
    await writeFile(userFile, 'memory: 1m\n');
    const err = usageError(() => specOf(['--commit', 'c', plugin]));
    expect(err.message).toBe(`${userFile}: memory: "1m" is not a memory size between 6m and 1024t`);
    expect(err.hint).toBe(`set memory in ${userFile} to a memory size like 2g or 512m, or remove it`);
    // A flag hides it: only the value that wins is read.
    expect(specOf(['--commit', 'c', '--memory', '2g', plugin]).limits).toEqual({ memoryBytes: 2 * 1024 ** 3 });
  });

  it('names the variable of a bad value', () => {
    const err = usageError(() => specOf(['--commit', 'c', plugin], { D7Y_CPUS: 'many' }));
    expect(err.message).toBe('D7Y_CPUS="many" is not a number of CPUs between 0.01 and 1024');
    expect(err.hint).toBe('set D7Y_CPUS to a number of CPUs like 2 or 0.5, or unset it');
    expect(usageError(() => specOf(['--commit', 'c', plugin], { D7Y_RACE: 'maybe' })).message).toBe('D7Y_RACE="maybe" is not true or false');
    expect(usageError(() => specOf(['--commit', 'c', plugin], { D7Y_TYPE: 'storage' })).message).toBe('unknown plugin type "storage" (D7Y_TYPE)');
  });

  it('reads --config, else D7Y_CONFIG, instead of the XDG file; named, it must exist', async () => {
    const ci = path.join(cwd, 'ci.yaml');
    await writeFile(ci, 'out: build-out\n');
    await writeFile(userFile, 'out: xdg-out\n');
    expect(specOf(['--commit', 'c', '--config', 'ci.yaml', plugin]).outDir).toBe(path.join(cwd, 'build-out'));
    expect(specOf(['--commit', 'c', plugin], { D7Y_CONFIG: ci }).outDir).toBe(path.join(cwd, 'build-out'));
    // A relative path in a config file is taken from the file's directory.
    expect(specOf(['--commit', 'c', plugin]).outDir).toBe(path.join(xdg, 'd7y-build', 'xdg-out'));
    // No XDG_CONFIG_HOME: ~/.config/d7y-build/config.yaml.
    expect(specOf(['--commit', 'c', plugin], { XDG_CONFIG_HOME: '', HOME: cwd }).outDir).toBe(path.join(cwd, 'd7y-build-out'));
    const home = path.join(cwd, '.config', 'd7y-build');
    await mkdir(home, { recursive: true });
    await writeFile(path.join(home, 'config.yaml'), 'out: /home-out\n');
    // A relative XDG_CONFIG_HOME counts as unset.
    expect(specOf(['--commit', 'c', plugin], { XDG_CONFIG_HOME: 'relative', HOME: cwd }).outDir).toBe('/home-out');
    expect(usageError(() => specOf(['--commit', 'c', '--config', 'missing.yaml', plugin])).message).toBe(
      `the config file ${path.join(cwd, 'missing.yaml')} does not exist`,
    );
  });

  it('applies to install, inspect-api, init and prune as far as they take the options', async () => {
    await writeFile(userFile, 'pluginsDir: /opt/user-plugins\nrepo: /srv/user-df\ngoImage: golang:1.23\nout: /o\n');
    expect(specOf(['install', '--host', '/h/dfget', '/p/d7y-resource-plugin-x.so'])).toMatchObject({ pluginsDir: '/opt/user-plugins', goImage: 'golang:1.23' });
    expect(specOf(['inspect-api', '--type', 'manager'], { D7Y_COMMIT: 'v2.1.0' })).toMatchObject({
      ref: 'v2.1.0',
      repo: '/srv/user-df',
      goImage: 'golang:1.23',
    });
    expect(specOf(['init', './x'], { D7Y_TYPE: 'resource', D7Y_COMMIT: 'v2.1.0', D7Y_NAME: 'abc' })).toMatchObject({
      type: 'resource',
      repo: '/srv/user-df',
      name: 'abc',
    });
    expect(specOf(['prune'])).toMatchObject({ dirs: ['/opt/user-plugins', '/o/bin', '/o/plugins', '/o'] });
  });
});

describe('what config files may hold', () => {
  it.each<[string, string, 'plugin' | 'user', RegExp, RegExp]>([
    [
      'an unknown key',
      'commit: v2.1.0\ncomit: v2.1.1\n',
      'plugin',
      /: unknown key "comit"$/,
      /takes commit, repo, type, name, goImage, tags, gcflags, platform$/,
    ],
    ['a key of the other kind of file', 'memory: 2g\n', 'plugin', /: unknown key "memory"$/, /d7y-plugin\.yaml takes /],
    [
      'a plugin key in the user file',
      'commit: v2.1.0\n',
      'user',
      /: unknown key "commit"$/,
      /config\.yaml takes repo, pluginsDir, out, goImage, trimpath, race, buildCommit, keep, memory, cpus, timeout, maxContext, netrc, platform, cacheDir, pingTimeout, loadTimeout$/,
    ],
    ['a wrong type', 'commit: 2.1\n', 'plugin', /: commit: 2\.1 is not a string$/, /^commit takes a branch, tag or SHA, e\.g\. commit: v2\.1\.0$/],
    ['a bad enum value', 'type: storage\n', 'plugin', /: type: "storage" is not one of resource, scheduler, manager$/, /^type takes a plugin type/],
    ['a list where a scalar goes', 'memory: [2g]\n', 'user', /: memory: \["2g"\] is not a string or a number$/, /memory: 2g/],
    ['a tag list holding a number', 'tags: [a, 1]\n', 'plugin', /: tags: \["a",1\] is not a string or a list of strings$/, /tags: netgo,osusergo/],
    ['a boolean as a string', 'race: "yes"\n', 'user', /: race: "yes" is not true or false$/, /race: true/],
    ['a list for the whole file', '- commit\n', 'plugin', /holds a list, not keys and values$/, /takes commit, repo, type, name/],
    ['bad YAML', 'commit: [v2.1.0\n', 'plugin', /is not valid YAML: line \d+, column \d+: /, /fix the YAML syntax/],
    ['a key twice', 'commit: a\ncommit: b\n', 'plugin', /is not valid YAML: .*Map keys must be unique/, /fix the YAML syntax/],
  ])('refuses %s, naming the file, the key and what it takes', (_label, text, scope, message, hint) => {
    const file = `/p/${scope === 'plugin' ? 'd7y-plugin.yaml' : 'config.yaml'}`;
    const err = usageError(() => parseConfigFile(text, file, scope));
    expect(err.message.startsWith(file)).toBe(true);
    expect(err.message).toMatch(message);
    expect(err.hint).toMatch(hint);
    expect(err.exitCode).toBe(2);
  });

  it('lists every problem of a file in the detail', () => {
    const err = usageError(() => parseConfigFile('type: storage\nfoo: 1\n', '/p/d7y-plugin.yaml', 'plugin'));
    expect(err.detail?.split('\n')).toEqual(expect.arrayContaining(['unknown key "foo"', 'type: "storage" is not one of resource, scheduler, manager']));
  });

  it('reads JSON as JSON, and an empty file as no settings', () => {
    expect(parseConfigFile('{"type": "manager", "tags": ["a"]}', '/p/d7y-plugin.json', 'plugin').values).toEqual({ type: 'manager', tags: ['a'] });
    expect(usageError(() => parseConfigFile('type: manager', '/p/d7y-plugin.json', 'plugin')).message).toMatch(/^\/p\/d7y-plugin\.json is not valid JSON: /);
    expect(parseConfigFile('# nothing yet\n', '/p/config.yaml', 'user').values).toEqual({});
  });

  it('refuses a config file that is a FIFO, a directory or too large, like any other input', async () => {
    execFileSync('mkfifo', [pluginFile]);
    expect(usageError(() => readPluginConfig(plugin)).message).toBe(`the plugin config file ${pluginFile} is a FIFO (named pipe), not a regular file`);
    await rm(pluginFile);
    await mkdir(pluginFile);
    expect(usageError(() => readPluginConfig(plugin)).message).toBe(`the plugin config file ${pluginFile} is a directory, not a regular file`);
    await rm(pluginFile, { recursive: true });
    await writeFile(userFile, `# ${'x'.repeat(MAX_CONFIG_BYTES)}\n`);
    expect(usageError(() => specOf(['--commit', 'c', plugin])).message).toBe(`the config file ${userFile} is larger than 64 KiB`);
  });

  it('refuses a plugin directory with both d7y-plugin.yaml and d7y-plugin.json', async () => {
    await writeFile(pluginFile, 'commit: a\n');
    await writeFile(path.join(plugin, 'd7y-plugin.json'), '{"commit": "a"}');
    expect(usageError(() => readPluginConfig(plugin)).message).toBe(`${plugin} has both d7y-plugin.yaml and d7y-plugin.json`);
  });

  it('derives one variable and one flag per option from its name', () => {
    expect(OPTION_KEYS.map((k) => [envName(k), flagName(k)])).toEqual(
      expect.arrayContaining([
        ['D7Y_COMMIT', '--commit'],
        ['D7Y_REPO', '--repo'],
        ['D7Y_PLUGINS_DIR', '--plugins-dir'],
        ['D7Y_NETRC', '--netrc'],
        ['D7Y_GO_IMAGE', '--go-image'],
        ['D7Y_MAX_CONTEXT', '--max-context'],
        ['D7Y_BUILD_COMMIT', '--build-commit'],
        ['D7Y_CACHE_DIR', undefined],
        ['D7Y_PING_TIMEOUT', undefined],
        ['D7Y_LOAD_TIMEOUT', undefined],
      ]),
    );
  });
});

class Sink extends Writable {
  text = '';
  override _write(chunk: Buffer, _encoding: string, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

async function cli(argv: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = new Sink();
  const stderr = new Sink();
  const code = await main(argv, { stdout, stderr, env: { HOME: '/home/me', XDG_CONFIG_HOME: xdg, ...env }, cwd, signal: new AbortController().signal });
  return { code, stdout: stdout.text, stderr: stderr.text };
}

describe('d7y-build config', () => {
  it('--json: every option with its value and where it came from, without a commit', async () => {
    await writeFile(pluginFile, 'type: scheduler\ngoImage: golang:1.23.5-bookworm\n');
    await writeFile(userFile, 'memory: 2g\nrepo: https://user:s3cret-token@git.example/df.git\n');
    const { code, stdout, stderr } = await cli(['config', '--json', '--cpus', '2', plugin], { D7Y_MAX_CONTEXT: '5m' });
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const doc = JSON.parse(stdout);
    expect(doc).toMatchObject({
      schemaVersion: 1,
      ok: true,
      userConfig: { path: userFile, found: true },
      plugins: [{ dir: plugin, config: pluginFile, name: 'evaluator', nameFrom: 'fixed for scheduler plugins' }],
    });
    expect(doc.options).toMatchObject({
      commit: { value: null, source: 'default', flag: '--commit', env: 'D7Y_COMMIT' },
      type: { value: 'scheduler', source: pluginFile, origin: { kind: 'file', path: pluginFile, key: 'type', scope: 'plugin' } },
      goImage: { value: 'golang:1.23.5-bookworm', source: pluginFile },
      memory: { value: '2g', source: userFile },
      cpus: { value: '2', source: 'flag --cpus', origin: { kind: 'flag', name: '--cpus' } },
      maxContext: { value: '5m', source: 'env D7Y_MAX_CONTEXT' },
      pluginsDir: { value: DEFAULT_PLUGINS_DIR, source: 'default' },
      cacheDir: { value: '/home/me/.cache/d7y-build', source: 'default (HOME)', flag: null, env: 'D7Y_CACHE_DIR' },
      tags: { value: [], source: 'default' },
      trimpath: { value: true, source: 'default' },
    });
    expect(Object.keys(doc.options)).toEqual(OPTION_KEYS);
    // A credential in a config file's URL is masked like one in a flag.
    expect(stdout).not.toContain('s3cret-token');
    expect(doc.options.repo.value).toBe('https://git.example/df.git');
  });

  it('prints a table of option, value and source', async () => {
    await writeFile(pluginFile, 'commit: v2.1.0\n');
    const { code, stdout } = await cli(['config', plugin], { D7Y_RACE: '1' });
    expect(code).toBe(0);
    const lines = stdout.split('\n');
    expect(lines[0]).toBe(`config file: ${userFile} (not found)`);
    expect(lines[1]).toBe(`plugin ${plugin}: ${pluginFile}`);
    expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^commit +v2\\.1\\.0 +${pluginFile}$`)));
    expect(lines).toContainEqual(expect.stringMatching(/^race +true +env D7Y_RACE$/));
    expect(lines).toContainEqual(expect.stringMatching(/^goImage +\(unset\) +default$/));
    expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^${plugin} +myfs +the directory name$`)));
  });

  it('fails like a build on a bad config file: exit 2, naming file and key', async () => {
    await writeFile(userFile, 'memroy: 2g\n');
    const { code, stderr } = await cli(['config']);
    expect(code).toBe(2);
    expect(stderr).toBe(
      `error: ${userFile}: unknown key "memroy"\nhint: the user's config.yaml takes ${['repo', 'pluginsDir', 'out', 'goImage', 'trimpath', 'race', 'buildCommit', 'keep', 'memory', 'cpus', 'timeout', 'maxContext', 'netrc', 'platform', 'cacheDir', 'pingTimeout', 'loadTimeout'].join(', ')}\n`,
    );
  });
});

describe('init writes d7y-plugin.yaml', () => {
  const SHA = '0123456789abcdef0123456789abcdef01234567';
  const api = (type: PluginApi['type'], ref: string): PluginApi => ({
    type,
    ref,
    repo: '/srv/df',
    commit: SHA,
    commitTime: '2024-01-02T03:04:05Z',
    goModGo: '1.23.0',
    loader: { importPath: 'd7y.io/dragonfly/v2/pkg/source', function: 'LoadPlugin', params: ['dir', 'name'] },
    interface: { importPath: 'd7y.io/dragonfly/v2/pkg/source', package: 'source', name: 'ResourceClient' },
    methods: [],
    imports: {},
    plugin: { file: 'd7y-resource-plugin-myfs.so', namePattern: '[a-z0-9]+' },
    metadata: {},
  });

  it.each([
    ['a tag', 'v2.1.0', undefined, { type: 'resource', name: 'myfs', commit: 'v2.1.0' }],
    ['a branch, pinned to its SHA, and a repository', 'main', '/srv/dragon fly', { type: 'resource', name: 'myfs', commit: SHA, repo: '/srv/dragon fly' }],
  ])('at %s: type, name and commit, so that a build of the directory needs no flags', async (_label, ref, repo, values) => {
    const files = scaffoldFiles(api('resource', ref), { name: 'myfs', dirName: 'my-fs', repo });
    expect(parseConfigFile(files['d7y-plugin.yaml']!, pluginFile, 'plugin').values).toEqual(values);
    for (const [name, content] of Object.entries(files)) await writeFile(path.join(plugin, name), content);
    const spec = resolveSpec([plugin], {}, { HOME: '/home/me' }, cwd, new Date(), () => ({}), { readPluginConfig });
    expect(spec).toMatchObject({ ref: values.commit, type: 'resource', repo: repo ?? DEFAULT_REPO, plugins: [{ dir: plugin, name: 'myfs' }] });
  });
});
