import { describe, expect, it } from 'vitest';
import { DEFAULT_PLUGINS_DIR, DEFAULT_REPO, parseDuration, parseMemory, resolveSpec, type BuildFlags } from '../../src/config';
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
      buildTime: '2026-01-02T03:04:05Z',
      keep: false,
      goEnv: {},
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
    expect(spec(['x'], { commit: 'c' }, { SOURCE_DATE_EPOCH: '1704164645' }).buildTime).toBe('2024-01-02T03:04:05Z');
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
    [{ memory: 'lots' }, /--memory lots/],
    [{ memory: '1m' }, /at least 6m/],
    [{ cpus: '0' }, /--cpus 0 is not a positive number/],
    [{ timeout: 'soon' }, /--timeout soon is not a duration/],
  ])('refuses %o', (flags, message) => {
    expect(() => spec(['x'], { commit: 'c', ...flags })).toThrow(message);
  });
});
