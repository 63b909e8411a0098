import { describe, expect, it } from 'vitest';
import type { InspectReport, VerifyReport } from '../../src/verify';
import { formatInspect, formatVerify, VERIFY_WILL_NOT_LOAD } from '../../src/verify/report';
import type { Reason } from '../../src/verify/verdict';

type PluginEntry = VerifyReport['plugins'][number];

const HOST: VerifyReport['host'] = {
  path: '/work/out/bin/dfget',
  goVersion: 'go1.23.5',
  arch: 'amd64',
  settings: { CGO_ENABLED: '1' },
  dragonflyCommit: '1a2b3c4',
};

function entry(over: Partial<PluginEntry> = {}): PluginEntry {
  return {
    file: '/work/out/plugins/d7y-resource-plugin-hello.so',
    loads: true,
    reasons: [],
    differences: [],
    goVersion: 'go1.23.5',
    buildCommit: '1a2b3c4',
    orderKnown: true,
    ...over,
  };
}

function report(plugins: PluginEntry[], host: VerifyReport['host'] = HOST): VerifyReport {
  return { loads: plugins.every((p) => p.loads), host, plugins };
}

const UUID: Reason = {
  kind: 'package',
  package: 'github.com/google/uuid',
  against: '/work/out/bin/dfget',
  host: { module: 'github.com/google/uuid', version: 'v1.5.0', hash: 'cc01' },
  plugin: { module: 'github.com/google/uuid', version: 'v1.4.0', hash: 'cc99' },
};
const LOGRUS: Reason = {
  kind: 'package',
  package: 'github.com/sirupsen/logrus',
  against: '/work/out/plugins/a.so',
  host: { module: 'github.com/sirupsen/logrus', version: 'v1.9.3', hash: 'bb01' },
  plugin: { module: 'github.com/sirupsen/logrus', version: 'v1.9.0', hash: 'bb99' },
};
const ORDER_NOTE = " (or another of the packages below: the plugin is stripped, so Go's order is unknown)";

describe('formatVerify', () => {
  it('says a plugin loads, naming both files by base name with their versions', () => {
    expect(formatVerify(report([entry()]))).toEqual([
      'd7y-resource-plugin-hello.so (go1.23.5, built against 1a2b3c4): loads into dfget (go1.23.5, Dragonfly 1a2b3c4)',
    ]);
  });

  it('leaves out the commits that are not known', () => {
    const { dragonflyCommit: _, ...bare } = HOST;
    expect(formatVerify(report([entry({ buildCommit: undefined })], bare))).toEqual(['d7y-resource-plugin-hello.so (go1.23.5): loads into dfget (go1.23.5)']);
  });

  it('lists the settings that differ without effect under a plugin that loads', () => {
    const lines = formatVerify(
      report([
        entry({
          differences: [
            { kind: 'setting', key: '-ldflags', host: '', plugin: '-s -w' },
            { kind: 'setting', key: 'GOAMD64', host: 'v1', plugin: 'v3' },
          ],
        }),
      ]),
    );
    expect(lines).toEqual([
      'd7y-resource-plugin-hello.so (go1.23.5, built against 1a2b3c4): loads into dfget (go1.23.5, Dragonfly 1a2b3c4)',
      '  differs, without effect: -ldflags: host "", plugin "-s -w"',
      '  differs, without effect: GOAMD64: host "v1", plugin "v3"',
    ]);
  });

  it('says a plugin will NOT load, with the Go error and one bullet per reason', () => {
    const lines = formatVerify(
      report([
        entry({
          loads: false,
          goVersion: 'go1.22.0',
          goError: 'plugin was built with a different version of package github.com/google/uuid',
          reasons: [{ kind: 'go-version', host: 'go1.23.5', plugin: 'go1.22.0' }, UUID, { kind: 'setting', key: '-trimpath', host: 'true', plugin: '' }],
          // Differences without effect are not shown for a plugin that does not load.
          differences: [{ kind: 'setting', key: '-ldflags', host: '', plugin: '-s' }],
        }),
      ]),
    );
    expect(lines).toEqual([
      'd7y-resource-plugin-hello.so (go1.22.0, built against 1a2b3c4): will NOT load into dfget (go1.23.5, Dragonfly 1a2b3c4)',
      '  plugin.Open would fail with: plugin was built with a different version of package github.com/google/uuid',
      '  - Go version: host go1.23.5, plugin go1.22.0',
      '  - package github.com/google/uuid: host has github.com/google/uuid v1.5.0 (hash cc01), plugin has github.com/google/uuid v1.4.0 (hash cc99)',
      '  - -trimpath: host "true", plugin ""',
    ]);
  });

  it('notes that Go’s order is unknown when the plugin is stripped', () => {
    const lines = formatVerify(
      report([
        entry({
          loads: false,
          orderKnown: false,
          goError: 'plugin was built with a different version of package github.com/google/uuid',
          reasons: [UUID, LOGRUS],
        }),
      ]),
    );
    expect(lines[1]).toBe(`  plugin.Open would fail with: plugin was built with a different version of package github.com/google/uuid${ORDER_NOTE}`);
    expect(lines[3]).toContain('(as loaded by /work/out/plugins/a.so)');
    expect(lines).toHaveLength(4);
  });

  it('has no plugin.Open line when there is no Go error to quote (architecture)', () => {
    const lines = formatVerify(report([entry({ loads: false, orderKnown: false, reasons: [{ kind: 'arch', host: 'amd64', plugin: 'arm64' }] })]));
    expect(lines).toEqual([
      'd7y-resource-plugin-hello.so (go1.23.5, built against 1a2b3c4): will NOT load into dfget (go1.23.5, Dragonfly 1a2b3c4)',
      '  - architecture: host is amd64, plugin is arm64',
    ]);
  });

  it('reports every plugin in the order of the report', () => {
    const lines = formatVerify(
      report([entry({ file: '/x/b.so', loads: false, goError: 'plugin: not implemented', reasons: [{ kind: 'cgo-disabled' }] }), entry({ file: '/x/a.so' })]),
    );
    expect(lines).toHaveLength(4);
    expect(lines[0]).toMatch(/^b\.so .*will NOT load/);
    expect(lines[1]).toBe('  plugin.Open would fail with: plugin: not implemented');
    expect(lines[2]).toBe('  - the host was built with CGO_ENABLED=0, so plugin.Open is not implemented in it');
    expect(lines[3]).toMatch(/^a\.so .*: loads into dfget/);
  });

  it('is empty when there is no plugin', () => {
    expect(formatVerify(report([]))).toEqual([]);
  });

  it('exits with a dedicated code for "will not load"', () => {
    expect(VERIFY_WILL_NOT_LOAD).toBe(11);
  });

  // BUG (src/verify/report.ts, formatVerify, line 20): the "order unknown" note is appended to
  // every goError when orderKnown is false, including 'plugin: not implemented' from a host built
  // with CGO_ENABLED=0. For a stripped plugin and such a host it prints
  //   plugin.Open would fail with: plugin: not implemented (or another of the packages below: ...)
  // though no package is listed below and the error is certain. The note belongs only to a
  // package-hash error (and is only meaningful when more than one package differs).
  it('does not add the package-order note to "plugin: not implemented"', () => {
    const lines = formatVerify(report([entry({ loads: false, orderKnown: false, goError: 'plugin: not implemented', reasons: [{ kind: 'cgo-disabled' }] })]));
    expect(lines[1]).toBe('  plugin.Open would fail with: plugin: not implemented');
  });
});

describe('formatVerify: a plugin without build information', () => {
  const notCompared = { what: ['CGO_ENABLED', '-trimpath', '-tags'], why: 'not recorded in a go1.20.14 plugin' };
  it('names the settings it could not compare, after the verdict and its reasons', () => {
    expect(formatVerify(report([entry({ goVersion: 'go1.20.14', notCompared })], { ...HOST, goVersion: 'go1.20.14' }))).toEqual([
      'd7y-resource-plugin-hello.so (go1.20.14, built against 1a2b3c4): loads into dfget (go1.20.14, Dragonfly 1a2b3c4)',
      '  not compared: CGO_ENABLED, -trimpath, -tags: not recorded in a go1.20.14 plugin',
    ]);
    const refused = formatVerify(
      report([entry({ loads: false, goError: 'plugin was built with a different version of package github.com/google/uuid', reasons: [UUID], notCompared })]),
    );
    expect(refused.at(-1)).toBe('  not compared: CGO_ENABLED, -trimpath, -tags: not recorded in a go1.20.14 plugin');
    expect(refused.at(-2)).toMatch(/^ {2}- package github\.com\/google\/uuid/);
  });
});

describe('formatInspect', () => {
  const host: InspectReport = {
    path: '/work/out/bin/dfget',
    kind: 'executable',
    arch: 'amd64',
    size: 51_234_567,
    goVersion: 'go1.23.5',
    mainPackage: 'd7y.io/dragonfly/v2/cmd/dfget',
    main: { path: 'd7y.io/dragonfly/v2', version: '(devel)' },
    deps: [
      { path: 'github.com/google/uuid', version: 'v1.5.0', replace: { path: 'github.com/fork/uuid', version: 'v1.6.0' } },
      { path: 'github.com/sirupsen/logrus', version: 'v1.9.3' },
    ],
    settings: { '-buildmode': 'exe', '-ldflags': '-X main.a=b c', CGO_ENABLED: '1', GOARCH: 'amd64' },
    stamps: { 'version.GitVersion': 'v2.1.1', 'version.BuildTime': '2025-01-01T00:00:00Z', 'version.GitCommit': '1a2b3c4' },
    dragonflyCommit: '1a2b3c4',
    buildInfoRecorded: true,
    hasSymtab: false,
    exportedPackageHashes: 412,
  };

  it('lists an executable: kind, go, main, stamps sorted, settings in order, deps, and the stripped note', () => {
    expect(formatInspect(host)).toEqual([
      'file:          /work/out/bin/dfget',
      'kind:          Go executable, linux/amd64, 51234567 bytes',
      'go:            go1.23.5',
      'main package:  d7y.io/dragonfly/v2/cmd/dfget',
      'main module:   d7y.io/dragonfly/v2 (devel)',
      'dragonfly:     1a2b3c4',
      'stamp:         version.BuildTime=2025-01-01T00:00:00Z',
      'stamp:         version.GitCommit=1a2b3c4',
      'stamp:         version.GitVersion=v2.1.1',
      'build:         -buildmode=exe',
      'build:         -ldflags=-X main.a=b c',
      'build:         CGO_ENABLED=1',
      'build:         GOARCH=amd64',
      'dep:           github.com/google/uuid v1.5.0 => github.com/fork/uuid v1.6.0',
      'dep:           github.com/sirupsen/logrus v1.9.3',
      'symbols:       stripped (.symtab removed); 412 package hashes exported',
    ]);
  });

  it('shows a replacement by a local directory', () => {
    const lines = formatInspect({ ...host, deps: [{ path: 'github.com/google/uuid', version: 'v1.5.0', replace: { path: '../fork', version: '' } }] });
    // trimEnd: a directory replacement has no version (the line ends in a space).
    expect(lines.filter((l) => l.startsWith('dep:')).map((l) => l.trimEnd())).toEqual(['dep:           github.com/google/uuid v1.5.0 => ../fork']);
  });

  it('lists a plugin: its kind, the .symtab note and how many packages it checks', () => {
    const lines = formatInspect({
      path: 'hello.so',
      kind: 'plugin',
      arch: 'arm64',
      size: 1024,
      goVersion: 'go1.22.3',
      mainPackage: 'command-line-arguments',
      deps: [],
      settings: { '-buildmode': 'plugin' },
      stamps: { 'main.buildTime': 't', 'main.buildCommit': 'c' },
      buildInfoRecorded: true,
      hasSymtab: true,
      exportedPackageHashes: 3,
      packageHashes: [
        { pkg: 'runtime', hash: 'aa' },
        { pkg: 'fmt', hash: 'bb' },
      ],
    });
    expect(lines).toEqual([
      'file:          hello.so',
      'kind:          Go plugin (-buildmode=plugin), linux/arm64, 1024 bytes',
      'go:            go1.22.3',
      'main package:  command-line-arguments',
      'stamp:         main.buildCommit=c',
      'stamp:         main.buildTime=t',
      'build:         -buildmode=plugin',
      'symbols:       .symtab present; 3 package hashes exported',
      'plugin checks: 2 package hashes at load time',
    ]);
  });

  it.each([
    { hasSymtab: true, note: '.symtab present' },
    { hasSymtab: false, note: 'stripped (.symtab removed)' },
  ])('symbols line with hasSymtab=$hasSymtab', ({ hasSymtab, note }) => {
    const lines = formatInspect({ ...host, hasSymtab, exportedPackageHashes: 0 });
    expect(lines.filter((l) => l.startsWith('symbols:'))).toEqual([`symbols:       ${note}; 0 package hashes exported`]);
  });

  it.each([
    { goVersion: 'go1.20.14', go: 'go:            go1.20.14 (from its DWARF)' },
    { goVersion: 'unknown', go: 'go:            unknown (no build information, no DWARF)' },
  ])('a plugin without build information ($goVersion): where the version came from, and no settings', ({ goVersion, go }) => {
    const lines = formatInspect({
      ...host,
      kind: 'plugin',
      goVersion,
      mainPackage: '',
      main: undefined,
      deps: [],
      settings: {},
      stamps: {},
      dragonflyCommit: undefined,
      buildInfoRecorded: false,
    });
    expect(lines).toContain(go);
    expect(lines).toContain('main package:  (not recorded)');
    expect(lines.filter((l) => l.startsWith('build:'))).toEqual(['build:         not recorded (Go 1.20 and older write no build information into plugins)']);
  });
});
