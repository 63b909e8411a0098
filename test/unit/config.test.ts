import { describe, expect, it } from 'vitest';
import {
  buildTimeFor,
  cacheDirFor,
  DEFAULT_PLUGINS_DIR,
  DEFAULT_REPO,
  isImageReference,
  loadTimeoutFor,
  parseDuration,
  parseMemory,
  pingTimeoutFor,
  resolveSpec,
  type BuildFlags,
} from '../../src/config';
import { UsageError } from '../../src/errors';

const cwd = '/home/me/work';
const now = new Date('2026-01-02T03:04:05.678Z');
const spec = (dirs: string[], flags: BuildFlags, env: Record<string, string> = {}) => resolveSpec(dirs, flags, env, cwd, now);

function usageError(fn: () => unknown): UsageError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    return err as UsageError;
  }
  throw new Error('expected a UsageError, but nothing was thrown');
}

describe('resolveSpec', () => {
  it('fills defaults', () => {
    const s = spec(['./myfs'], { commit: 'v2.1.0' });
    expect(s).toMatchObject({
      ref: 'v2.1.0',
      repo: DEFAULT_REPO,
      type: 'resource',
      plugins: [{ dir: '/home/me/work/myfs', name: 'myfs', file: 'd7y-resource-plugin-myfs.so' }],
      pluginsDir: DEFAULT_PLUGINS_DIR,
      outDir: '/home/me/work/d7y-build-out',
      goImage: undefined,
      toolchain: { trimpath: true, tags: [], gcflags: '', race: false },
      buildCommit: undefined,
      // The Dragonfly commit's committer date, once resolve-source knows it (buildTimeFor).
      buildTime: undefined,
      noCache: false,
      keep: false,
      goEnv: {},
      platform: 'linux/amd64',
    });
  });

  it.each([
    ['commit', { commit: 'v2.1.1' }, { D7Y_COMMIT: 'v2.1.0' }, 'ref', 'v2.1.1'],
    ['commit from env', {}, { D7Y_COMMIT: 'v2.1.0' }, 'ref', 'v2.1.0'],
    ['repo', { repo: 'https://example.com/df.git' }, { D7Y_REPO: '/srv/df' }, 'repo', 'https://example.com/df.git'],
    ['repo from env', {}, { D7Y_REPO: '/srv/df' }, 'repo', '/srv/df'],
    ['relative repo path', { repo: '../dragonfly' }, {}, 'repo', '/home/me/dragonfly'],
    ['scp-like repo', { repo: 'git@github.com:dragonflyoss/dragonfly.git' }, {}, 'repo', 'git@github.com:dragonflyoss/dragonfly.git'],
    ['plugins dir', { pluginsDir: 'p' }, { D7Y_PLUGINS_DIR: '/opt/p' }, 'pluginsDir', '/home/me/work/p'],
    ['plugins dir from env', {}, { D7Y_PLUGINS_DIR: '/opt/p' }, 'pluginsDir', '/opt/p'],
  ])('a flag beats its env variable: %s', (_label, flags, env, key, want) => {
    const base: BuildFlags = key === 'ref' ? {} : { commit: 'c' };
    expect(spec(['x'], { ...base, ...flags }, env)[key as 'ref']).toBe(want);
  });

  it('takes the build time from SOURCE_DATE_EPOCH', () => {
    expect(spec(['x'], { commit: 'c' }, { SOURCE_DATE_EPOCH: '1704164645' }).buildTime).toEqual({
      time: '2024-01-02T03:04:05Z',
      reason: 'SOURCE_DATE_EPOCH=1704164645',
    });
  });

  it.each([
    ['an RFC 3339 UTC time', '2024-01-02T03:04:05Z', { time: '2024-01-02T03:04:05Z', reason: '--build-time 2024-01-02T03:04:05Z' }],
    [
      'an RFC 3339 time with an offset, in UTC',
      '2024-01-01T22:04:05-05:00',
      { time: '2024-01-02T03:04:05Z', reason: '--build-time 2024-01-01T22:04:05-05:00' },
    ],
    ['now', 'now', { time: '2026-01-02T03:04:05Z', reason: '--build-time now' }],
    ['commit: the committer date, resolved later', 'commit', undefined],
  ])('takes --build-time as %s, over SOURCE_DATE_EPOCH', (_label, value, want) => {
    expect(spec(['x'], { commit: 'c', buildTime: value }, { SOURCE_DATE_EPOCH: '1' }).buildTime).toEqual(want);
  });

  it.each(['yesterday', '2024-02-30T00:00:00Z', '2024-01-02 03:04:05Z', '2024-01-02T03:04:05', '2024-01-02T24:00:00Z', '1704164645', '1969-12-31T23:59:59Z'])(
    'refuses --build-time %s',
    (value) => {
      const err = usageError(() => spec(['x'], { commit: 'c', buildTime: value }));
      expect(err.message).toBe(`--build-time ${value} is not now, commit or an RFC 3339 time from 1970 to 9999`);
      expect(err.hint).toMatch(/--build-time now/);
    },
  );

  it('builds without caches with --no-cache or D7Y_NO_CACHE', () => {
    expect(spec(['x'], { commit: 'c', cache: false }).noCache).toBe(true);
    for (const value of ['1', 'true', 'TRUE']) expect(spec(['x'], { commit: 'c' }, { D7Y_NO_CACHE: value }).noCache).toBe(true);
    for (const value of ['0', 'false', '', ' ']) expect(spec(['x'], { commit: 'c' }, { D7Y_NO_CACHE: value }).noCache).toBe(false);
    expect(usageError(() => spec(['x'], { commit: 'c' }, { D7Y_NO_CACHE: 'yes' })).message).toBe('D7Y_NO_CACHE="yes" is not 1, true, 0 or false');
  });

  it('stamps the committer date of the Dragonfly commit unless the spec fixes a time', () => {
    const commit = { shortSha: 'a9b2adb', commitTime: 1704164645 };
    expect(buildTimeFor(spec(['x'], { commit: 'c' }), commit)).toEqual({ time: '2024-01-02T03:04:05Z', reason: 'committer date of a9b2adb' });
    expect(buildTimeFor(spec(['x'], { commit: 'c' }, { SOURCE_DATE_EPOCH: '0' }), commit)).toEqual({
      time: '1970-01-01T00:00:00Z',
      reason: 'SOURCE_DATE_EPOCH=0',
    });
  });

  it('passes only the Go module variables through', () => {
    const s = spec(['x'], { commit: 'c' }, { GOPROXY: 'https://proxy.example', GOPRIVATE: 'corp.example', GOFLAGS: '-mod=mod', HOME: '/root' });
    expect(s.goEnv).toEqual({ GOPROXY: 'https://proxy.example', GOPRIVATE: 'corp.example' });
  });

  it('names scheduler and manager plugins as upstream requires', () => {
    expect(spec(['./my-evaluator'], { commit: 'c', type: 'scheduler' }).plugins[0]).toMatchObject({
      name: 'evaluator',
      file: 'd7y-scheduler-plugin-evaluator.so',
    });
    expect(spec(['./x'], { commit: 'c', type: 'manager' }).plugins[0]!.file).toBe('d7y-manager-plugin-searcher.so');
  });

  it('splits tags on commas and spaces', () => {
    expect(spec(['x'], { commit: 'c', tags: 'netgo, osusergo' }).toolchain.tags).toEqual(['netgo', 'osusergo']);
  });

  it.each([
    ['no commit', [['x'], {}], /no Dragonfly commit/, /--commit/],
    ['unknown type', [['x'], { commit: 'c', type: 'storage' }], /unknown plugin type "storage"/, /resource, scheduler, manager/],
    ['bad directory name', [['./My_FS'], { commit: 'c' }], /directory name "My_FS"/, /--name/],
    ['bad --name', [['x'], { commit: 'c', name: 'my-fs' }], /--name "my-fs"/, /\[a-z0-9\]\+/],
    ['scheduler plugin not named evaluator', [['x'], { commit: 'c', type: 'scheduler', name: 'ranker' }], /must be named "evaluator"/, /--name evaluator/],
    ['--name with several dirs', [['a', 'b'], { commit: 'c', name: 'a' }], /several directories/, /drop --name/],
    ['two scheduler plugins', [['a', 'b'], { commit: 'c', type: 'scheduler' }], /both be d7y-scheduler-plugin-evaluator.so/, /exactly one plugin/],
    ['same name twice', [['a/fs', 'b/fs'], { commit: 'c' }], /both be d7y-resource-plugin-fs.so/, /its own name/],
    ['bad tag', [['x'], { commit: 'c', tags: 'a;rm' }], /"a;rm" is not a build tag/, /--tags/],
    ['out inside plugin', [['x'], { commit: 'c', out: 'x/out' }], /inside the plugin directory/, /--out/],
    ['gcflags with both quotes', [['x'], { commit: 'c', gcflags: `all="-N" '-l'` }], /both single and double quotes/, /one kind/],
  ] as const)('refuses %s', (_label, [dirs, flags], message, hint) => {
    const err = usageError(() => spec([...dirs], flags as BuildFlags));
    expect(err.message).toMatch(message);
    expect(err.hint).toMatch(hint);
    expect(err.exitCode).toBe(2);
  });

  it('refuses a SOURCE_DATE_EPOCH that is not seconds', () => {
    expect(usageError(() => spec(['x'], { commit: 'c' }, { SOURCE_DATE_EPOCH: 'yesterday' })).message).toMatch(/SOURCE_DATE_EPOCH/);
  });
});

describe('limits', () => {
  it.each([
    ['512m', 512 * 1024 ** 2],
    ['2g', 2 * 1024 ** 3],
    ['1.5G', 1.5 * 1024 ** 3],
    ['64MB', 64 * 1024 ** 2],
    ['1048576', 1048576],
    ['lots', undefined],
    ['-1g', undefined],
  ])('parseMemory(%s)', (text, want) => {
    expect(parseMemory(text)).toBe(want);
  });

  it.each([
    ['90s', 90_000],
    ['30m', 1_800_000],
    ['1h30m', 5_400_000],
    ['45', 45_000],
    ['250ms', 250],
    ['soon', undefined],
    ['10 minutes', undefined],
  ])('parseDuration(%s)', (text, want) => {
    expect(parseDuration(text)).toBe(want);
  });

  it('turns flags into engine units', () => {
    expect(spec(['x'], { commit: 'c', memory: '2g', cpus: '1.5', timeout: '30m' }).limits).toEqual({
      memoryBytes: 2 * 1024 ** 3,
      nanoCpus: 1.5e9,
      timeoutMs: 1_800_000,
    });
  });

  it.each([
    [{ memory: 'lots' }, /--memory lots is not a memory size/],
    [{ memory: '1m' }, /between 6m and 1024t/],
    [{ memory: '9999999t' }, /--memory 9999999t is not a memory size between 6m and 1024t/],
    [{ memory: `${'9'.repeat(400)}` }, /between 6m and 1024t/],
    [{ cpus: '0' }, /--cpus 0 is not a number of CPUs between 0\.01 and 1024/],
    [{ cpus: '1e-10' }, /--cpus 1e-10 is not a number of CPUs/],
    [{ cpus: '0.001' }, /--cpus 0\.001 is not a number of CPUs/],
    [{ cpus: '-1' }, /--cpus -1 is not/],
    [{ cpus: 'Infinity' }, /--cpus Infinity is not/],
    [{ cpus: '0x10' }, /--cpus 0x10 is not/],
    [{ cpus: '100000' }, /between 0\.01 and 1024/],
    [{ timeout: 'soon' }, /--timeout soon is not a duration/],
    [{ timeout: '600h' }, /--timeout 600h is not between 1s and 168h/],
    [{ timeout: '169h' }, /--timeout 169h is not between 1s and 168h/],
    [{ timeout: '0s' }, /--timeout 0s is not between 1s/],
    [{ timeout: '10ms' }, /--timeout 10ms is not between 1s/],
    [{ timeout: `${'9'.repeat(400)}h` }, /is not between 1s and 168h/],
    [{ maxContext: '0' }, /--max-context 0 is not a size between 1 and 1t/],
    [{ maxContext: '2t' }, /--max-context 2t is not a size/],
    [{ maxContext: 'big' }, /--max-context big is not a size/],
  ])('refuses %o', (flags, message) => {
    const err = usageError(() => spec(['x'], { commit: 'c', ...flags }));
    expect(err.message).toMatch(message);
    expect(err.hint).toBeTruthy();
  });

  it.each([
    [{ memory: '6m' }, { memoryBytes: 6 * 1024 ** 2 }],
    [{ memory: '1024t' }, { memoryBytes: 1024 ** 5 }],
    [{ cpus: '0.01' }, { nanoCpus: 1e7 }],
    [{ cpus: '.5' }, { nanoCpus: 5e8 }],
    [{ cpus: '1024' }, { nanoCpus: 1024e9 }],
    [{ timeout: '1s' }, { timeoutMs: 1000 }],
    [{ timeout: '168h' }, { timeoutMs: 168 * 3_600_000 }],
  ])('accepts the ends of the ranges: %o', (flags, limits) => {
    expect(spec(['x'], { commit: 'c', ...flags }).limits).toEqual(limits);
  });

  it('takes --max-context from 1 byte to 1t', () => {
    expect(spec(['x'], { commit: 'c', maxContext: '1' }).maxContextBytes).toBe(1);
    expect(spec(['x'], { commit: 'c', maxContext: '1t' }).maxContextBytes).toBe(1024 ** 4);
  });

  it.each([
    ['0', '1970-01-01T00:00:00Z'],
    ['253402300799', '9999-12-31T23:59:59Z'],
  ])('takes SOURCE_DATE_EPOCH=%s', (epoch, time) => {
    expect(spec(['x'], { commit: 'c' }, { SOURCE_DATE_EPOCH: epoch }).buildTime?.time).toBe(time);
  });

  it.each(['253402300800', '99999999999999999999', '-1', '1.5', '1e9', 'yesterday'])('refuses SOURCE_DATE_EPOCH=%s', (epoch) => {
    const err = usageError(() => spec(['x'], { commit: 'c' }, { SOURCE_DATE_EPOCH: epoch }));
    expect(err.message).toMatch(/not a number of seconds between 0 and 253402300799/);
  });

  it.each([
    [undefined, 15_000],
    ['2s', 2000],
    ['250ms', 250],
  ])('D7Y_PING_TIMEOUT=%s waits %d ms', (value, ms) => {
    expect(pingTimeoutFor({ D7Y_PING_TIMEOUT: value })).toBe(ms);
  });

  it.each(['0', '10ms', '2h', 'soon'])('refuses D7Y_PING_TIMEOUT=%s', (value) => {
    expect(usageError(() => pingTimeoutFor({ D7Y_PING_TIMEOUT: value })).message).toMatch(/D7Y_PING_TIMEOUT/);
  });

  it.each([
    [undefined, 120_000],
    ['3s', 3000],
    ['10m', 600_000],
  ])('D7Y_LOAD_TIMEOUT=%s bounds loading the plugins to %d ms', (value, ms) => {
    expect(loadTimeoutFor({ D7Y_LOAD_TIMEOUT: value })).toBe(ms);
    expect(spec(['x'], { commit: 'c' }, value === undefined ? {} : { D7Y_LOAD_TIMEOUT: value }).loadTimeoutMs).toBe(ms);
  });

  it.each(['0', '500ms', '2h', 'never'])('refuses D7Y_LOAD_TIMEOUT=%s', (value) => {
    const err = usageError(() => loadTimeoutFor({ D7Y_LOAD_TIMEOUT: value }));
    expect(err.message).toBe(`D7Y_LOAD_TIMEOUT="${value}" is not a duration between 1s and 1h`);
    expect(err.hint).toMatch(/like 2m/);
  });
});

describe('image references', () => {
  it.each([
    'golang',
    'golang:1.23.5-bookworm',
    'd7y-build/golang:1.23.5-bookworm',
    'library/golang:latest',
    'registry.example:5000/go/golang:1.23',
    'localhost:5000/golang',
    '[::1]:5000/golang:1.23',
    'Registry.Example/golang',
    'a__b/c--d/e.f_g:TAG_1.x-y',
    `golang@sha256:${'a'.repeat(64)}`,
    `golang:1.23@sha256:${'0123456789abcdef'.repeat(4)}`,
  ])('accepts %s', (ref) => {
    expect(isImageReference(ref)).toBe(true);
  });

  it.each([
    'Bad Image!',
    'golang:../../etc',
    'Golang:1.23',
    'golang:',
    ':1.23',
    'golang:-x',
    `golang:${'x'.repeat(129)}`,
    'golang/',
    '/golang',
    'gol--_ang',
    'golang@sha256:abc',
    'golang:1.23:1.24',
    'registry.example:port/golang',
    '-golang',
    `${'a'.repeat(256)}`,
    'golang\n:1.23',
  ])('refuses %s', (ref) => {
    expect(isImageReference(ref)).toBe(false);
  });

  it('refuses --go-image that is no reference', () => {
    const err = usageError(() => spec(['x'], { commit: 'c', goImage: 'golang:../../etc' }));
    expect(err.message).toMatch(/--go-image "golang:\.\.\/\.\.\/etc" is not an image reference/);
    expect(err.hint).toMatch(/golang:1\.23\.5-bookworm/);
  });
});

describe('cache directory', () => {
  it.each([
    [{ D7Y_CACHE_DIR: '/c', XDG_CACHE_HOME: '/x', HOME: '/h' }, '/c', 'D7Y_CACHE_DIR'],
    [{ D7Y_CACHE_DIR: ' ', XDG_CACHE_HOME: '/x', HOME: '/h' }, '/x/d7y-build', 'XDG_CACHE_HOME'],
    [{ XDG_CACHE_HOME: 'relative', HOME: '/h' }, '/h/.cache/d7y-build', 'HOME'],
    [{ XDG_CACHE_HOME: '', HOME: '/h' }, '/h/.cache/d7y-build', 'HOME'],
  ])('%o → %s', (env, dir, origin) => {
    expect(cacheDirFor(env)).toEqual({ dir, origin });
  });

  it.each([
    [{ D7Y_CACHE_DIR: 'cache' }, /D7Y_CACHE_DIR="cache" is not an absolute path/],
    [{ HOME: '' }, /HOME="" is not an absolute path/],
    [{ XDG_CACHE_HOME: 'rel', HOME: 'home' }, /HOME="home" is not an absolute path/],
  ])('refuses %o', (env, message) => {
    expect(usageError(() => cacheDirFor(env)).message).toMatch(message);
  });
});

describe('directories apart', () => {
  it.each([
    [{ out: '/p', pluginsDir: '/p' }, /--out and --plugins-dir are the same directory/],
    [{ out: '/p/out', pluginsDir: '/p' }, /--out \/p\/out is inside --plugins-dir \/p/],
    [{ out: '/o', pluginsDir: '/o/plugins' }, /--plugins-dir \/o\/plugins is inside --out \/o/],
  ])('refuses %o', (flags, message) => {
    const err = usageError(() => spec(['x'], { commit: 'c', ...flags }));
    expect(err.message).toMatch(message);
    expect(err.hint).toMatch(/keep --out and --plugins-dir apart/);
  });

  it('takes them side by side', () => {
    expect(spec(['x'], { commit: 'c', out: '/o', pluginsDir: '/op' }).pluginsDir).toBe('/op');
  });
});
