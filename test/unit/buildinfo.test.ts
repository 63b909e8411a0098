import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ElfFile, UnreadableFileError } from '../../src/elf/elf';
import { findBuildInfo, moduleOf, parseModinfo, stripModinfo, type BuildInfo } from '../../src/verify/buildinfo';
import { buildElf, framedModinfo, goBuildinfo, INFO_END, INFO_START, tempDir, uvarint, type SectionSpec } from './elf-builder';

const MODINFO = [
  'path\tcommand-line-arguments',
  'mod\td7y.io/dragonfly/v2\t(devel)\t',
  'dep\tgithub.com/google/uuid\tv1.5.0\th1:abc=',
  '=>\t../fork\t\t',
  'dep\tgithub.com/sirupsen/logrus\tv1.9.3\th1:def=',
  'dep\tgolang.org/x/net\tv0.20.0\th1:net=',
  '=>\tgithub.com/fork/net\tv0.21.0\th1:fork=',
  'build\t-buildmode=plugin',
  'build\t-compiler=gc',
  'build\t-ldflags=-X main.a=b c',
  'build\t-trimpath=true',
  'build\tCGO_ENABLED=1',
  'build\tGOARCH=amd64',
  'build\tGOOS=linux',
  '',
].join('\n');

describe('parseModinfo', () => {
  it('unquotes a setting Go wrote quoted, as runtime/debug.ParseBuildInfo does', () => {
    const info = parseModinfo('go1.23.5', 'build\t-ldflags="-s -X \\"main.a=b c\\""\nbuild\t-tags=netgo\n');
    expect(info.settings['-ldflags']).toBe('-s -X "main.a=b c"');
    expect(info.settings['-tags']).toBe('netgo');
  });

  const info = parseModinfo('go1.23.5', MODINFO);

  it('keeps the Go version it is given and reads the main package path', () => {
    expect(info.goVersion).toBe('go1.23.5');
    expect(info.path).toBe('command-line-arguments');
  });

  it('reads the main module, without a sum when the sum field is empty', () => {
    expect(info.main).toStrictEqual({ path: 'd7y.io/dragonfly/v2', version: '(devel)' });
  });

  it('reads the dependencies in order, each with its sum', () => {
    expect(info.deps.map((d) => [d.path, d.version, d.sum])).toEqual([
      ['github.com/google/uuid', 'v1.5.0', 'h1:abc='],
      ['github.com/sirupsen/logrus', 'v1.9.3', 'h1:def='],
      ['golang.org/x/net', 'v0.20.0', 'h1:net='],
    ]);
  });

  it('attaches a "=>" line to the dependency just before it', () => {
    expect(info.deps[0]!.replace).toStrictEqual({ path: '../fork', version: '' });
    expect(info.deps[1]!.replace).toBeUndefined();
    expect(info.deps[2]!.replace).toStrictEqual({ path: 'github.com/fork/net', version: 'v0.21.0', sum: 'h1:fork=' });
    expect(info.main!.replace).toBeUndefined();
  });

  it('reads every build setting, splitting at the first "=" only', () => {
    expect(info.settings).toStrictEqual({
      '-buildmode': 'plugin',
      '-compiler': 'gc',
      '-ldflags': '-X main.a=b c',
      '-trimpath': 'true',
      CGO_ENABLED: '1',
      GOARCH: 'amd64',
      GOOS: 'linux',
    });
  });

  it.each([
    { line: 'build\t-ldflags=-X main.a=b c', key: '-ldflags', value: '-X main.a=b c' },
    { line: 'build\tDefaultGODEBUG=asynctimerchan=1,panicnil=1', key: 'DefaultGODEBUG', value: 'asynctimerchan=1,panicnil=1' },
    { line: 'build\t-tags=', key: '-tags', value: '' },
    { line: 'build\t-gcflags=all=-N\t-l', key: '-gcflags', value: 'all=-N\t-l' },
  ])('build line $line gives $key', ({ line, key, value }) => {
    expect(parseModinfo('go1.23.5', `${line}\n`).settings).toStrictEqual({ [key]: value });
  });

  it.each([
    { what: 'a setting without "="', line: 'build\tnoequals' },
    { what: 'a setting with an empty key', line: 'build\t=value' },
    { what: 'an unknown line kind', line: 'zzz\tsomething\tv1' },
    { what: 'a replacement before any module', line: '=>\t../fork\t\t' },
  ])('ignores $what', ({ line }) => {
    const parsed = parseModinfo('go1.22.0', `${line}\n`);
    expect(parsed).toStrictEqual({ goVersion: 'go1.22.0', path: '', deps: [], settings: {} });
  });
});

describe('stripModinfo', () => {
  const frame = (c: string) => c.repeat(16);
  const body = 'path\tcommand-line-arguments\nbuild\t-trimpath=true\n';

  it.each([
    { what: 'a framed text ending in \\n', input: `${frame('<')}${body}${frame('>')}`, expected: body },
    { what: 'the shortest framed text (33 chars)', input: `${frame('<')}\n${frame('>')}`, expected: '\n' },
    { what: 'a text without the \\n before the end frame', input: `${frame('<')}path\tx${frame('>')}`, expected: `${frame('<')}path\tx${frame('>')}` },
    { what: 'a \\n one char too far right', input: `${frame('<')}path\tx\n${'>'.repeat(15)}`, expected: `${frame('<')}path\tx\n${'>'.repeat(15)}` },
    { what: 'a \\n one char too far left', input: `${frame('<')}path\tx\n${'>'.repeat(17)}`, expected: `${frame('<')}path\tx\n${'>'.repeat(17)}` },
    { what: '32 chars with the \\n in place', input: `${'<'.repeat(15)}\n${frame('>')}`, expected: `${'<'.repeat(15)}\n${frame('>')}` },
    { what: 'an unframed text', input: body, expected: body },
    { what: 'an empty string', input: '', expected: '' },
  ])('$what', ({ input, expected }) => {
    expect(stripModinfo(input)).toBe(expected);
  });

  it('removes exactly 16 chars at each end', () => {
    const input = `${'a'.repeat(16)}X\n${'b'.repeat(16)}`;
    expect(stripModinfo(input)).toBe('X\n');
  });

  it("removes Go's binary sentinels once decoded as UTF-8, as findBuildInfo decodes them", () => {
    expect(stripModinfo(framedModinfo(body).toString('utf8'))).toBe(body);
    expect(INFO_START.length + INFO_END.length).toBe(32);
  });
});

describe('moduleOf', () => {
  const deps = (order: 'longest first' | 'longest last') => {
    const list = [
      { path: 'github.com/a/b/c', version: 'v2.0.0' },
      { path: 'github.com/a/b', version: 'v1.0.0' },
    ];
    return order === 'longest first' ? list : list.reverse();
  };
  const info = (order: 'longest first' | 'longest last'): BuildInfo => ({
    goVersion: 'go1.23.5',
    path: 'command-line-arguments',
    main: { path: 'd7y.io/dragonfly/v2', version: '(devel)' },
    deps: [
      { path: 'github.com/google/uuid', version: 'v1.5.0', sum: 'h1:abc=', replace: { path: '../fork', version: '' } },
      ...deps(order),
      { path: 'golang.org/x/net', version: 'v0.20.0', replace: { path: 'github.com/fork/net', version: 'v0.21.0' } },
      { path: 'golang.org/x/sys', version: 'v0.1.0', replace: { path: 'golang.org/x/sys', version: 'v0.2.0' } },
    ],
    settings: {},
  });

  describe.each(['longest first', 'longest last'] as const)('with the nested modules %s', (order) => {
    it.each([
      { pkg: 'github.com/a/b/c/d', module: 'github.com/a/b/c', version: 'v2.0.0' },
      { pkg: 'github.com/a/b/c', module: 'github.com/a/b/c', version: 'v2.0.0' },
      { pkg: 'github.com/a/b/x', module: 'github.com/a/b', version: 'v1.0.0' },
      { pkg: 'github.com/a/b', module: 'github.com/a/b', version: 'v1.0.0' },
      { pkg: 'github.com/a/bc', module: 'github.com/a/bc', version: 'unknown' },
    ])('$pkg → $module $version', ({ pkg, module, version }) => {
      expect(moduleOf(info(order), pkg)).toStrictEqual({ path: module, version });
    });
  });

  it.each([
    { pkg: 'fmt', expected: { path: 'std', version: 'go1.23.5' } },
    { pkg: 'internal/abi', expected: { path: 'std', version: 'go1.23.5' } },
    { pkg: 'runtime/internal/sys', expected: { path: 'std', version: 'go1.23.5' } },
    { pkg: 'vendor/golang.org/x/net/http2/hpack', expected: { path: 'std', version: 'go1.23.5' } },
    { pkg: 'd7y.io/dragonfly/v2', expected: { path: 'd7y.io/dragonfly/v2', version: '(devel)' } },
    { pkg: 'd7y.io/dragonfly/v2/pkg/rpc', expected: { path: 'd7y.io/dragonfly/v2', version: '(devel)' } },
    { pkg: 'github.com/google/uuid', expected: { path: 'github.com/google/uuid', version: 'v1.5.0 => ../fork' } },
    { pkg: 'golang.org/x/net/http2', expected: { path: 'golang.org/x/net', version: 'v0.20.0 => github.com/fork/net v0.21.0' } },
    { pkg: 'golang.org/x/sys/unix', expected: { path: 'golang.org/x/sys', version: 'v0.1.0 => golang.org/x/sys v0.2.0' } },
    { pkg: 'example.com/unknown/pkg', expected: { path: 'example.com/unknown/pkg', version: 'unknown' } },
    { pkg: 'd7y.io/other', expected: { path: 'd7y.io/other', version: 'unknown' } },
  ])('$pkg → $expected.path $expected.version', ({ pkg, expected }) => {
    expect(moduleOf(info('longest first'), pkg)).toStrictEqual(expected);
  });

  it('reports std with the Go version of the binary it is asked about', () => {
    expect(moduleOf({ goVersion: 'go1.21.0', path: 'x', deps: [], settings: {} }, 'net/http')).toStrictEqual({ path: 'std', version: 'go1.21.0' });
  });
});

describe('findBuildInfo through an ElfFile', () => {
  const tmp = tempDir('d7y-buildinfo-test-');
  beforeAll(tmp.setup);
  afterAll(tmp.teardown);
  let n = 0;

  async function withElf<T>(sections: SectionSpec[], fn: (elf: ElfFile) => Promise<T>): Promise<T> {
    const elf = await ElfFile.open(await tmp.file(`bin${n++}`, buildElf({ sections })));
    try {
      return await fn(elf);
    } finally {
      await elf.close();
    }
  }
  const buildinfoSection = (data: Buffer): SectionSpec => ({ name: '.go.buildinfo', addr: 0x10000n, data });

  it.each([
    { framing: "Go's binary sentinels", start: INFO_START, end: INFO_END },
    { framing: 'ASCII frames', start: Buffer.from('S'.repeat(16)), end: Buffer.from('E'.repeat(16)) },
  ])('reads an inline (Go 1.18+) build info framed by $framing', async ({ start, end }) => {
    const info = await withElf(
      [{ name: '.text', addr: 0x1000n, data: Buffer.alloc(16) }, buildinfoSection(goBuildinfo('go1.23.5', framedModinfo(MODINFO, start, end)))],
      findBuildInfo,
    );
    expect(info).toBeDefined();
    expect(info!.goVersion).toBe('go1.23.5');
    expect(info!.path).toBe('command-line-arguments');
    expect(info!.main).toStrictEqual({ path: 'd7y.io/dragonfly/v2', version: '(devel)' });
    expect(info!.settings).toMatchObject({ '-buildmode': 'plugin', '-trimpath': 'true', CGO_ENABLED: '1', '-ldflags': '-X main.a=b c' });
    expect(info!.deps.map((d) => d.path)).toEqual(['github.com/google/uuid', 'github.com/sirupsen/logrus', 'golang.org/x/net']);
  });

  it('reads a modinfo longer than 127 bytes (a two-byte varint)', async () => {
    const deps = Array.from({ length: 20 }, (_, i) => `dep\texample.com/m${i}\tv1.0.${i}\th1:x=\n`).join('');
    const info = await withElf([buildinfoSection(goBuildinfo('go1.22.1', framedModinfo(`path\tex.com/cmd\n${deps}`)))], findBuildInfo);
    expect(info!.deps).toHaveLength(20);
    expect(info!.deps[19]).toStrictEqual({ path: 'example.com/m19', version: 'v1.0.19', sum: 'h1:x=' });
  });

  it('is undefined for a file without .go.buildinfo', async () => {
    expect(await withElf([{ name: '.text', addr: 0x1000n, data: Buffer.alloc(8) }], findBuildInfo)).toBeUndefined();
  });

  it.each([
    { what: 'a wrong magic', data: Buffer.concat([Buffer.from('\xff Go buildinX', 'latin1'), goBuildinfo('go1.23.5', 'x').subarray(14)]) },
    { what: 'fewer than 32 bytes', data: goBuildinfo('go1.23.5', 'x').subarray(0, 31) },
  ])('is undefined for a .go.buildinfo with $what', async ({ data }) => {
    expect(await withElf([buildinfoSection(data)], findBuildInfo)).toBeUndefined();
  });

  const header = goBuildinfo('', '').subarray(0, 32);
  it.each([
    {
      what: 'a modinfo whose varint length runs past the section',
      data: Buffer.concat([header, uvarint(8), Buffer.from('go1.23.5'), uvarint(1000), Buffer.from('path\tx\n')]),
    },
    {
      what: 'a modinfo one byte longer than the section holds',
      data: (() => {
        const m = framedModinfo(MODINFO);
        return Buffer.concat([header, uvarint(8), Buffer.from('go1.23.5'), uvarint(m.length + 1), m]);
      })(),
    },
    { what: 'a version whose length runs past the section', data: Buffer.concat([header, uvarint(200), Buffer.from('go1.23.5')]) },
    { what: 'a varint that never ends', data: Buffer.concat([header, Buffer.from([0x80, 0x80, 0x80])]) },
    { what: 'nothing after the header', data: header },
    { what: 'the big-endian flag', data: goBuildinfo('go1.23.5', framedModinfo(MODINFO), { flags: 0x3 }) },
    { what: 'pointer format with 4-byte pointers', data: goBuildinfo('go1.23.5', '', { flags: 0, ptrSize: 4 }) },
  ])('raises UnreadableFileError for $what', async ({ data }) => {
    await expect(withElf([buildinfoSection(data)], findBuildInfo)).rejects.toThrow(UnreadableFileError);
  });

  describe('the pointer format (before Go 1.18)', () => {
    const DATA = 0x20000n;
    const mod = framedModinfo('path\texample.com/cmd/old\nmod\texample.com\tv1.2.3\th1:zz=\nbuild\tCGO_ENABLED=0\n');
    const version = Buffer.from('go1.17.13');
    /** .data: two string headers, then the bytes they point at. */
    const dataSection = (versionPtr: bigint): SectionSpec => {
      const d = Buffer.alloc(0x50 + mod.length);
      d.writeBigUInt64LE(versionPtr, 0x00);
      d.writeBigUInt64LE(BigInt(version.length), 0x08);
      d.writeBigUInt64LE(DATA + 0x50n, 0x10);
      d.writeBigUInt64LE(BigInt(mod.length), 0x18);
      version.copy(d, 0x40);
      mod.copy(d, 0x50);
      return { name: '.data', addr: DATA, data: d };
    };
    const pointerHeader = () => {
      const h = goBuildinfo('', '', { flags: 0 }).subarray(0, 32);
      h.writeBigUInt64LE(DATA, 16);
      h.writeBigUInt64LE(DATA + 0x10n, 24);
      return h;
    };

    it('follows the pointers to the version and modinfo strings', async () => {
      const info = await withElf([buildinfoSection(pointerHeader()), dataSection(DATA + 0x40n)], findBuildInfo);
      expect(info).toStrictEqual({
        goVersion: 'go1.17.13',
        path: 'example.com/cmd/old',
        main: { path: 'example.com', version: 'v1.2.3', sum: 'h1:zz=' },
        deps: [],
        settings: { CGO_ENABLED: '0' },
      });
    });

    it('raises UnreadableFileError when a pointer leads to no section', async () => {
      await expect(withElf([buildinfoSection(pointerHeader()), dataSection(0x7777_0000n)], findBuildInfo)).rejects.toThrow(/is in no section/);
    });
  });
});
