import { describe, expect, it } from 'vitest';
import type { GoBinary } from '../../src/verify/binary';
import { moduleOf, type BuildInfo, type Module } from '../../src/verify/buildinfo';
import { decide, describeReason, SETTINGS_THAT_MATTER, type Reason } from '../../src/verify/verdict';

const HOST_SETTINGS = { '-buildmode': 'exe', '-compiler': 'gc', '-trimpath': 'true', '-tags': 'netgo', CGO_ENABLED: '1', GOARCH: 'amd64', GOOS: 'linux' };
const PLUGIN_SETTINGS = { ...HOST_SETTINGS, '-buildmode': 'plugin' };

function buildInfo(over: Partial<BuildInfo> = {}): BuildInfo {
  return {
    goVersion: 'go1.23.5',
    path: 'd7y.io/dragonfly/v2/cmd/dfget',
    main: { path: 'd7y.io/dragonfly/v2', version: '(devel)' },
    deps: [],
    settings: {},
    ...over,
  };
}

interface Factory {
  arch?: string;
  goVersion?: string;
  deps?: Module[];
  settings?: Record<string, string>;
  hashes?: Record<string, string>;
}

function host(f: Factory = {}): GoBinary {
  return {
    path: '/usr/local/bin/dfget',
    size: 50_000_000,
    arch: f.arch ?? 'amd64',
    kind: 'executable',
    buildInfo: buildInfo({
      goVersion: f.goVersion ?? 'go1.23.5',
      deps: f.deps ?? [
        { path: 'github.com/google/uuid', version: 'v1.5.0' },
        { path: 'github.com/sirupsen/logrus', version: 'v1.9.3' },
      ],
      settings: f.settings ?? HOST_SETTINGS,
    }),
    buildInfoRecorded: true,
    hasSymtab: true,
    exportedHashes: new Map(Object.entries(f.hashes ?? {})),
    orderKnown: false,
    stamps: { 'version.GitCommit': 'abc123' },
  };
}

/** A plugin; `checks` is its pkghashes table in the runtime's order, `exports` what its .dynsym exports. */
function plugin(path: string, f: Factory & { checks?: Array<[string, string]>; exports?: Record<string, string> } = {}): GoBinary {
  const checks = f.checks ?? [];
  return {
    path,
    size: 5_000_000,
    arch: f.arch ?? 'amd64',
    kind: 'plugin',
    buildInfo: buildInfo({
      goVersion: f.goVersion ?? 'go1.23.5',
      path: 'command-line-arguments',
      main: { path: 'example.com/plugin', version: '(devel)' },
      deps: f.deps ?? [
        { path: 'd7y.io/dragonfly/v2', version: 'v2.1.1' },
        { path: 'github.com/google/uuid', version: 'v1.4.0', replace: { path: '../uuid-fork', version: '' } },
        { path: 'github.com/sirupsen/logrus', version: 'v1.9.0' },
      ],
      settings: f.settings ?? PLUGIN_SETTINGS,
    }),
    buildInfoRecorded: true,
    hasSymtab: true,
    exportedHashes: new Map(Object.entries(f.exports ?? Object.fromEntries(checks))),
    pluginHashes: checks.map(([pkg, hash]) => ({ pkg, hash })),
    orderKnown: true,
    stamps: {},
  };
}

const HOST_HASHES = {
  runtime: 'aa01',
  fmt: 'aa02',
  'github.com/sirupsen/logrus': 'bb01',
  'github.com/google/uuid': 'cc01',
  'd7y.io/dragonfly/v2/pkg/types': 'dd01',
};

describe('decide: a single plugin', () => {
  it('loads, with no reasons and no error, when every hash matches', () => {
    const [v] = decide(host({ hashes: HOST_HASHES }), [plugin('/p/a.so', { checks: Object.entries(HOST_HASHES) })]);
    expect(v).toStrictEqual({ file: '/p/a.so', loads: true, reasons: [], differences: [] });
  });

  it('loads when the plugin checks packages the host does not export (its own definitions win)', () => {
    const [v] = decide(host({ hashes: { runtime: 'aa01' } }), [
      plugin('/p/a.so', {
        checks: [
          ['runtime', 'aa01'],
          ['example.com/plugin/internal', 'ee01'],
        ],
      }),
    ]);
    expect(v!.loads).toBe(true);
    expect(v!.reasons).toEqual([]);
  });

  it('refuses for the architecture alone, even when hashes and Go version differ too', () => {
    const [v] = decide(host({ hashes: HOST_HASHES }), [plugin('/p/a.so', { arch: 'arm64', goVersion: 'go1.22.0', checks: [['runtime', 'ff00']] })]);
    expect(v!.loads).toBe(false);
    expect(v!.reasons).toStrictEqual([{ kind: 'arch', host: 'amd64', plugin: 'arm64' }]);
    expect(v!.goError).toBeUndefined();
  });

  it.each([
    { what: 'CGO_ENABLED=0', settings: { ...HOST_SETTINGS, CGO_ENABLED: '0' } },
    { what: 'no CGO_ENABLED setting', settings: Object.fromEntries(Object.entries(HOST_SETTINGS).filter(([k]) => k !== 'CGO_ENABLED')) },
  ])('refuses with "plugin: not implemented" when the host has $what', ({ settings }) => {
    const [v] = decide(host({ hashes: HOST_HASHES, settings }), [plugin('/p/a.so', { checks: [['runtime', 'ff00']] })]);
    expect(v!.loads).toBe(false);
    expect(v!.reasons).toStrictEqual([{ kind: 'cgo-disabled' }]);
    expect(v!.goError).toBe('plugin: not implemented');
    // The cgo setting differs between host and plugin: shown, not a separate reason.
    expect(v!.differences).toContainEqual({ kind: 'setting', key: 'CGO_ENABLED', host: settings.CGO_ENABLED ?? '', plugin: '1' });
  });

  describe('packages whose hashes differ', () => {
    // Runtime order: logrus is checked before uuid, although uuid sorts first.
    const checks: Array<[string, string]> = [
      ['runtime', 'aa01'],
      ['github.com/sirupsen/logrus', 'bb99'],
      ['fmt', 'aa02'],
      ['github.com/google/uuid', 'cc99'],
      ['d7y.io/dragonfly/v2/pkg/types', 'dd01'],
    ];
    const h = host({ hashes: HOST_HASHES });
    const p = plugin('/p/a.so', { checks });
    const [v] = decide(h, [p]);

    it('do not load, and Go names the first in the plugin’s order, not alphabetically', () => {
      expect(v!.loads).toBe(false);
      expect(v!.goError).toBe('plugin was built with a different version of package github.com/sirupsen/logrus');
    });

    it('are listed in that order, with module and version from each side', () => {
      expect(v!.reasons).toStrictEqual([
        {
          kind: 'package',
          package: 'github.com/sirupsen/logrus',
          against: '/usr/local/bin/dfget',
          host: { module: 'github.com/sirupsen/logrus', version: 'v1.9.3', hash: 'bb01' },
          plugin: { module: 'github.com/sirupsen/logrus', version: 'v1.9.0', hash: 'bb99' },
        },
        {
          kind: 'package',
          package: 'github.com/google/uuid',
          against: '/usr/local/bin/dfget',
          host: { module: 'github.com/google/uuid', version: 'v1.5.0', hash: 'cc01' },
          plugin: { module: 'github.com/google/uuid', version: 'v1.4.0 => ../uuid-fork', hash: 'cc99' },
        },
      ]);
    });

    it('take module and version from moduleOf on the host and on the plugin', () => {
      for (const r of v!.reasons) {
        if (r.kind !== 'package') throw new Error(`unexpected reason ${r.kind}`);
        expect({ path: r.host.module, version: r.host.version }).toStrictEqual(moduleOf(h.buildInfo, r.package));
        expect({ path: r.plugin.module, version: r.plugin.version }).toStrictEqual(moduleOf(p.buildInfo, r.package));
      }
    });

    it('report a std package as std at each side’s Go version', () => {
      const [w] = decide(host({ hashes: HOST_HASHES, goVersion: 'go1.23.5' }), [
        plugin('/p/b.so', {
          goVersion: 'go1.23.4',
          checks: [
            ['fmt', 'zz'],
            ['runtime', 'aa01'],
          ],
        }),
      ]);
      expect(w!.reasons[1]).toMatchObject({
        kind: 'package',
        package: 'fmt',
        host: { module: 'std', version: 'go1.23.5', hash: 'aa02' },
        plugin: { module: 'std', version: 'go1.23.4', hash: 'zz' },
      });
    });
  });

  it('puts a Go version difference first, before the packages, when the plugin does not load', () => {
    const [v] = decide(host({ hashes: HOST_HASHES }), [
      plugin('/p/a.so', {
        goVersion: 'go1.22.0',
        checks: [
          ['runtime', 'ff00'],
          ['fmt', 'ff01'],
        ],
      }),
    ]);
    expect(v!.loads).toBe(false);
    expect(v!.reasons.map((r) => r.kind)).toEqual(['go-version', 'package', 'package']);
    expect(v!.reasons[0]).toStrictEqual({ kind: 'go-version', host: 'go1.23.5', plugin: 'go1.22.0' });
    expect(v!.goError).toBe('plugin was built with a different version of package runtime');
  });

  it('does not make a Go version difference a reason when every hash matches', () => {
    const [v] = decide(host({ hashes: HOST_HASHES }), [plugin('/p/a.so', { goVersion: 'go1.23.4', checks: [['runtime', 'aa01']] })]);
    expect(v!.loads).toBe(true);
    expect(v!.reasons).toEqual([]);
  });

  it('appends the settings that matter after the packages, in SETTINGS_THAT_MATTER order', () => {
    const settings = { ...PLUGIN_SETTINGS, '-tags': 'netgo,osusergo', '-trimpath': 'false', '-ldflags': '-s -w' };
    const [v] = decide(host({ hashes: HOST_HASHES }), [plugin('/p/a.so', { settings, checks: [['fmt', 'ff01']] })]);
    expect(v!.reasons.map((r) => (r.kind === 'setting' ? r.key : r.kind))).toEqual(['package', '-trimpath', '-tags']);
    expect(v!.reasons.slice(1)).toStrictEqual([
      { kind: 'setting', key: '-trimpath', host: 'true', plugin: 'false' },
      { kind: 'setting', key: '-tags', host: 'netgo', plugin: 'netgo,osusergo' },
    ]);
    expect(SETTINGS_THAT_MATTER.indexOf('-trimpath')).toBeLessThan(SETTINGS_THAT_MATTER.indexOf('-tags'));
    // Only the settings without effect stay in differences.
    expect(v!.differences).toStrictEqual([{ kind: 'setting', key: '-ldflags', host: '', plugin: '-s -w' }]);
  });

  it('keeps settings that differ in differences when the plugin loads', () => {
    const settings = { ...PLUGIN_SETTINGS, '-tags': 'netgo,osusergo', '-ldflags': '-X main.buildCommit=abc', GOAMD64: 'v3' };
    const [v] = decide(host({ hashes: HOST_HASHES }), [plugin('/p/a.so', { settings, checks: Object.entries(HOST_HASHES) })]);
    expect(v!.loads).toBe(true);
    expect(v!.reasons).toEqual([]);
    expect(v!.differences).toStrictEqual([
      { kind: 'setting', key: '-tags', host: 'netgo', plugin: 'netgo,osusergo' },
      { kind: 'setting', key: '-ldflags', host: '', plugin: '-X main.buildCommit=abc' },
      { kind: 'setting', key: 'GOAMD64', host: '', plugin: 'v3' },
    ]);
  });

  it('ignores settings neither listed as mattering nor as shown', () => {
    const [v] = decide(host({ hashes: HOST_HASHES }), [
      plugin('/p/a.so', { settings: { ...PLUGIN_SETTINGS, 'vcs.revision': 'deadbeef' }, checks: [['runtime', 'aa01']] }),
    ]);
    expect(v!.differences).toEqual([]);
  });
});

describe('decide: a plugin without build information (Go 1.20 and older)', () => {
  const legacy = (goVersion: string, checks: Array<[string, string]>): GoBinary => ({
    ...plugin('/p/old.so', { checks, goVersion, settings: {}, deps: [] }),
    buildInfoRecorded: false,
  });
  const SETTINGS = ['CGO_ENABLED', '-trimpath', '-tags', '-gcflags', '-race', '-asan', '-msan'];

  it('loads on matching hashes, compares no setting and names what it could not compare', () => {
    const [v] = decide(host({ hashes: HOST_HASHES, goVersion: 'go1.20.14' }), [legacy('go1.20.14', Object.entries(HOST_HASHES))]);
    expect(v).toStrictEqual({
      file: '/p/old.so',
      loads: true,
      reasons: [],
      differences: [],
      notCompared: { what: SETTINGS, why: 'not recorded in a go1.20.14 plugin' },
    });
  });

  it('refuses on a hash, with the Go version from the DWARF as the first reason and no setting reasons', () => {
    const [v] = decide(host({ hashes: HOST_HASHES, goVersion: 'go1.20.14' }), [legacy('go1.20.13', [['runtime', 'ff01']])]);
    expect(v!.loads).toBe(false);
    expect(v!.reasons.map((r) => r.kind)).toEqual(['go-version', 'package']);
    expect(v!.goError).toBe('plugin was built with a different version of package runtime');
  });

  it('does not make an unknown Go version a reason, and lists it as not compared', () => {
    const [v] = decide(host({ hashes: HOST_HASHES }), [legacy('unknown', [['runtime', 'ff01']])]);
    expect(v!.reasons.map((r) => r.kind)).toEqual(['package']);
    expect(v!.notCompared!.what).toEqual(['Go version', ...SETTINGS]);
  });
});

describe('decide: plugins loaded one after another', () => {
  const SHARED = 'github.com/shared/lib';
  const sharedDeps = (version: string): Module[] => [{ path: SHARED, version }];

  it('compares a package the host does not export with the earlier plugin that exports it', () => {
    const first = plugin('/p/a.so', {
      deps: sharedDeps('v1.0.0'),
      checks: [
        ['runtime', 'aa01'],
        [SHARED, 's1'],
      ],
    });
    const second = plugin('/p/b.so', {
      deps: sharedDeps('v1.1.0'),
      checks: [
        ['runtime', 'aa01'],
        [SHARED, 's2'],
      ],
    });
    const [a, b] = decide(host({ hashes: HOST_HASHES }), [first, second]);
    expect(a!.loads).toBe(true);
    expect(b!.loads).toBe(false);
    expect(b!.goError).toBe(`plugin was built with a different version of package ${SHARED}`);
    expect(b!.reasons).toStrictEqual([
      {
        kind: 'package',
        package: SHARED,
        against: '/p/a.so',
        host: { module: SHARED, version: 'v1.0.0', hash: 's1' },
        plugin: { module: SHARED, version: 'v1.1.0', hash: 's2' },
      },
    ]);
  });

  it('prefers the host’s definition to an earlier plugin’s', () => {
    const first = plugin('/p/a.so', { checks: [['runtime', 'aa01']], exports: { runtime: 'aa01', fmt: 'other' } });
    const second = plugin('/p/b.so', { checks: [['fmt', 'aa02']] });
    const [, b] = decide(host({ hashes: HOST_HASHES }), [first, second]);
    expect(b!.loads).toBe(true);
  });

  it('uses the first of several earlier plugins that export the package', () => {
    const p1 = plugin('/p/1.so', { checks: [[SHARED, 's1']] });
    const p2 = plugin('/p/2.so', { checks: [[SHARED, 's1']] });
    const p3 = plugin('/p/3.so', { checks: [[SHARED, 's3']] });
    const verdicts = decide(host({ hashes: HOST_HASHES }), [p1, p2, p3]);
    expect(verdicts.map((v) => v.loads)).toEqual([true, true, false]);
    expect(verdicts[2]!.reasons[0]).toMatchObject({ against: '/p/1.so', host: { hash: 's1' } });
  });

  it('still counts an earlier plugin refused on a package hash: dlopen kept it', () => {
    const first = plugin('/p/a.so', {
      checks: [
        ['fmt', 'ff01'],
        [SHARED, 's1'],
      ],
    });
    const second = plugin('/p/b.so', { checks: [[SHARED, 's2']] });
    const [a, b] = decide(host({ hashes: HOST_HASHES }), [first, second]);
    expect(a!.loads).toBe(false);
    expect(b!.loads).toBe(false);
    expect(b!.reasons[0]).toMatchObject({ kind: 'package', package: SHARED, against: '/p/a.so' });
  });

  it.each([
    { refusal: 'its architecture', first: { arch: 'arm64' }, hostSettings: HOST_SETTINGS, secondLoads: true },
    { refusal: 'a host without cgo', first: {}, hostSettings: { ...HOST_SETTINGS, CGO_ENABLED: '0' }, secondLoads: false },
  ])('does not count an earlier plugin refused for $refusal', ({ first, hostSettings, secondLoads }) => {
    const a = plugin('/p/a.so', { ...first, checks: [[SHARED, 's1']] });
    const b = plugin('/p/b.so', { checks: [[SHARED, 's2']] });
    const [va, vb] = decide(host({ hashes: HOST_HASHES, settings: hostSettings }), [a, b]);
    expect(va!.loads).toBe(false);
    expect(vb!.loads).toBe(secondLoads);
    // Never compared with a.so: with cgo disabled, b.so is refused before any package.
    expect(vb!.reasons.some((r) => r.kind === 'package')).toBe(false);
  });

  it('returns one verdict per plugin, in the order given', () => {
    const verdicts = decide(host({ hashes: HOST_HASHES }), [plugin('/p/z.so'), plugin('/p/a.so'), plugin('/p/m.so')]);
    expect(verdicts.map((v) => v.file)).toEqual(['/p/z.so', '/p/a.so', '/p/m.so']);
  });
});

describe('describeReason', () => {
  const pkg = (against: string): Reason => ({
    kind: 'package',
    package: 'github.com/google/uuid',
    against,
    host: { module: 'github.com/google/uuid', version: 'v1.5.0', hash: 'cc01' },
    plugin: { module: 'github.com/google/uuid', version: 'v1.4.0 => ../fork', hash: 'cc99' },
  });

  it.each<{ reason: Reason; line: string }>([
    { reason: { kind: 'arch', host: 'amd64', plugin: 'arm64' }, line: 'architecture: host is amd64, plugin is arm64' },
    { reason: { kind: 'cgo-disabled' }, line: 'the host was built with CGO_ENABLED=0, so plugin.Open is not implemented in it' },
    { reason: { kind: 'go-version', host: 'go1.23.5', plugin: 'go1.22.0' }, line: 'Go version: host go1.23.5, plugin go1.22.0' },
    {
      reason: pkg('/usr/local/bin/dfget'),
      line: 'package github.com/google/uuid: host has github.com/google/uuid v1.5.0 (hash cc01), plugin has github.com/google/uuid v1.4.0 => ../fork (hash cc99)',
    },
    {
      reason: pkg('/plugins/d7y-resource-plugin-a.so'),
      line: 'package github.com/google/uuid: host has github.com/google/uuid v1.5.0 (hash cc01) (as loaded by /plugins/d7y-resource-plugin-a.so), plugin has github.com/google/uuid v1.4.0 => ../fork (hash cc99)',
    },
    { reason: { kind: 'setting', key: '-tags', host: 'netgo', plugin: '' }, line: '-tags: host "netgo", plugin ""' },
    { reason: { kind: 'setting', key: '-ldflags', host: '-X "a=b c"', plugin: '-s' }, line: '-ldflags: host "-X \\"a=b c\\"", plugin "-s"' },
  ])('$reason.kind → $line', ({ reason, line }) => {
    const text = describeReason(reason);
    expect(text).toBe(line);
    expect(text).not.toContain('\n');
  });
});
