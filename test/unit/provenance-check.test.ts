import { describe, expect, it } from 'vitest';
import { serializeProvenance, type ProvenanceInput } from '../../src/artifacts/provenance';
import { UnverifiableError } from '../../src/errors';
import { hostLdflags, ldflagsAssignments, pluginLdflags } from '../../src/toolchain/goflags';
import {
  checkProvenance,
  describeMismatch,
  parseProvenance,
  parseSbom,
  type BinaryFacts,
  type FileFacts,
  type ProvenanceMismatch,
  type SetFacts,
} from '../../src/verify/provenance';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const SHA = 'a9b2adb0123456789abcdef0123456789abcdef0';
const HEX = (c: string) => c.repeat(64);
const HOST = 'bin/dfget';
const LOADER = 'bin/d7y-loadcheck';
const PLUGIN = 'plugins/d7y-resource-plugin-myfs.so';
const TIME = '2024-01-02T03:04:05Z';
const SETTINGS = { '-buildmode': 'exe', '-trimpath': 'true', '-tags': 'netgo', CGO_ENABLED: '1', GOOS: 'linux', GOARCH: 'amd64' };

function input(over: Partial<ProvenanceInput> = {}): ProvenanceInput {
  const toolchain = { trimpath: true, tags: ['netgo'], gcflags: '', race: false };
  return {
    version: '1.2.3',
    subjects: [
      { name: HOST, sha256: HEX('a') },
      { name: LOADER, sha256: HEX('b') },
      { name: PLUGIN, sha256: HEX('c') },
    ],
    dragonfly: { repo: 'https://github.com/dragonflyoss/dragonfly.git', ref: 'v2.1.0', commit: SHA },
    plugins: [{ type: 'resource', name: 'myfs', dir: '/src/myfs', sourcesSha256: HEX('d') }],
    platform: 'linux/amd64',
    flags: toolchain,
    ldflags: {
      host: hostLdflags({ gitCommit: 'a9b2adb', buildTime: TIME, goVersion: 'go1.23.5 linux/amd64' }, toolchain),
      plugins: pluginLdflags('a9b2adb', TIME),
    },
    buildCommit: 'a9b2adb',
    buildTime: { time: TIME, reason: 'committer date of a9b2adb' },
    goImage: { reference: 'golang:1.23.5-bookworm', id: `sha256:${HEX('e')}`, reason: '--go-image' },
    builderImage: { reference: 'd7y-build/builder:abc', id: `sha256:${HEX('f')}` },
    run: { id: 'run-uuid', startedOn: new Date(0), finishedOn: new Date(0) },
    ...over,
  };
}

const MODULES = ['pkg:golang/d7y.io/dragonfly/v2@%28devel%29', 'pkg:golang/stdlib@go1.23.5'];

function binary(over: Partial<Extract<BinaryFacts, { readable: true }>> = {}): BinaryFacts {
  return { readable: true, goVersion: 'go1.23.5', buildInfoRecorded: true, settings: SETTINGS, stamps: {}, modules: MODULES, ...over };
}

/** The set exactly as the provenance says: each file with its digest and a binary that agrees. */
function facts(): SetFacts {
  const hostStamps = {
    'version.GitCommit': 'a9b2adb',
    'version.BuildTime': TIME,
    'version.Gotags': 'netgo',
    'version.GoVersion': 'go1.23.5 linux/amd64',
    'version.Gogcflags': 'none',
  };
  return {
    files: new Map<string, FileFacts>([
      [HOST, { present: true, sha256: HEX('a'), binary: binary({ stamps: hostStamps }) }],
      [LOADER, { present: true, sha256: HEX('b'), binary: binary() }],
      [
        PLUGIN,
        {
          present: true,
          sha256: HEX('c'),
          binary: binary({ settings: { ...SETTINGS, '-buildmode': 'plugin' }, stamps: { 'main.buildCommit': 'a9b2adb', 'main.buildTime': TIME } }),
        },
      ],
    ]),
    sbom: new Map([HOST, LOADER, PLUGIN].map((name, i) => [name, { sha256: HEX('abc'[i]!), modules: MODULES }])),
  };
}

const attested = () => parseProvenance(serializeProvenance(input()), '/out/provenance.intoto.json');

/** The facts with one file's entry changed. */
function withFile(name: string, change: (f: FileFacts) => FileFacts | undefined): SetFacts {
  const f = facts();
  const next = change(f.files.get(name) ?? { present: false, why: 'absent' });
  if (next === undefined) f.files.delete(name);
  else f.files.set(name, next);
  return f;
}

function withBinary(name: string, over: Partial<Extract<BinaryFacts, { readable: true }>>): SetFacts {
  return withFile(name, (f) => (f.present && f.binary?.readable ? { ...f, binary: { ...f.binary, ...over } } : f));
}

describe('verify --provenance: the check', () => {
  it('finds nothing when every file is what the provenance says', () => {
    expect(checkProvenance(attested(), facts())).toEqual([]);
    const { sbom: _, ...withoutSbom } = facts();
    expect(checkProvenance(attested(), withoutSbom)).toEqual([]);
  });

  it.each<[string, () => SetFacts, ProvenanceMismatch[]]>([
    [
      'a plugin with another sha256',
      () => withFile(PLUGIN, () => ({ present: true, sha256: HEX('9') })),
      [{ kind: 'digest', file: PLUGIN, expected: HEX('c'), actual: HEX('9') }],
    ],
    ['a subject removed', () => withFile(LOADER, () => undefined), [{ kind: 'missing', file: LOADER, expected: HEX('b'), why: 'was not looked for' }]],
    [
      'a subject that is a directory',
      () => withFile(LOADER, () => ({ present: false, why: 'is a directory, not a file' })),
      [{ kind: 'missing', file: LOADER, expected: HEX('b'), why: 'is a directory, not a file' }],
    ],
    [
      'an extra .so in plugins/',
      () => withFile('plugins/d7y-resource-plugin-evil.so', () => ({ present: true, sha256: HEX('7') })),
      [{ kind: 'unlisted', file: 'plugins/d7y-resource-plugin-evil.so', actual: HEX('7') }],
    ],
    [
      'a host stamped with another commit',
      () =>
        withBinary(HOST, {
          stamps: { ...(facts().files.get(HOST) as { binary: { stamps: Record<string, string> } }).binary.stamps, 'version.GitCommit': '1111111' },
        }),
      [
        { kind: 'build', file: HOST, what: 'stamp version.GitCommit', expected: 'a9b2adb', actual: '1111111' },
        { kind: 'build', file: HOST, what: 'Dragonfly commit', expected: SHA, actual: '1111111' },
      ],
    ],
    [
      'a plugin built by another Go',
      () => withBinary(PLUGIN, { goVersion: 'go1.23.4' }),
      [{ kind: 'build', file: PLUGIN, what: 'Go version', expected: 'go1.23.5', actual: 'go1.23.4' }],
    ],
    [
      'a plugin built without -trimpath, with -race',
      () => withBinary(PLUGIN, { settings: { ...SETTINGS, '-trimpath': 'false', '-race': 'true' } }),
      [
        { kind: 'build', file: PLUGIN, what: '-trimpath', expected: 'true', actual: 'false' },
        { kind: 'build', file: PLUGIN, what: '-race', expected: 'false', actual: 'true' },
      ],
    ],
    [
      'the loader check built with other tags and CGO_ENABLED=0',
      () => withBinary(LOADER, { settings: { ...SETTINGS, '-tags': 'osusergo', CGO_ENABLED: '0' } }),
      [
        { kind: 'build', file: LOADER, what: 'CGO_ENABLED', expected: '1', actual: '0' },
        { kind: 'build', file: LOADER, what: '-tags', expected: 'netgo', actual: 'osusergo' },
      ],
    ],
    [
      'a plugin for another architecture',
      () => withBinary(PLUGIN, { settings: { ...SETTINGS, GOARCH: 'arm64' } }),
      [{ kind: 'build', file: PLUGIN, what: 'GOARCH', expected: 'amd64', actual: 'arm64' }],
    ],
    [
      'a plugin without its stamps',
      () => withBinary(PLUGIN, { stamps: {} }),
      [
        { kind: 'build', file: PLUGIN, what: 'stamp main.buildCommit', expected: 'a9b2adb', actual: '(not stamped)' },
        { kind: 'build', file: PLUGIN, what: 'stamp main.buildTime', expected: TIME, actual: '(not stamped)' },
      ],
    ],
    [
      'a subject that is no Go binary',
      () => withFile(LOADER, (f) => (f.present ? { ...f, binary: { readable: false, why: 'not a Go binary' } } : f)),
      [{ kind: 'build', file: LOADER, what: 'Go build information', expected: 'a Go binary', actual: 'not a Go binary' }],
    ],
    [
      'an SBOM with another hash, and without the loader check',
      () => {
        const f = facts();
        f.sbom!.set(HOST, { sha256: HEX('0'), modules: MODULES });
        f.sbom!.delete(LOADER);
        return f;
      },
      [
        { kind: 'sbom', file: HOST, what: 'sha256', expected: HEX('0'), actual: HEX('a') },
        { kind: 'sbom', file: LOADER, what: 'component', expected: 'listed', actual: 'not listed' },
      ],
    ],
    [
      "an SBOM whose modules are not the binary's, and that lists a file the provenance does not",
      () => {
        const f = facts();
        f.sbom!.set(PLUGIN, { sha256: HEX('c'), modules: ['pkg:golang/evil.example/x@v1.0.0', MODULES[1]!] });
        f.sbom!.set('plugins/other.so', { sha256: HEX('1'), modules: [] });
        return f;
      },
      [
        { kind: 'sbom-modules', file: PLUGIN, missing: ['pkg:golang/evil.example/x@v1.0.0'], extra: [MODULES[0]!] },
        { kind: 'sbom', file: 'plugins/other.so', what: 'component', expected: 'not listed', actual: 'listed' },
      ],
    ],
  ])('finds %s', (_name, set, expected) => {
    const found = checkProvenance(attested(), set());
    expect(found).toEqual(expected);
    for (const m of found) expect(describeMismatch(m)).toContain(m.file);
  });

  it('reads nothing more of a file whose digest differs, and compares no settings a Go 1.20 plugin does not record', () => {
    const changed = withFile(PLUGIN, () => ({ present: true, sha256: HEX('9'), binary: binary({ goVersion: 'go1.1' }) }));
    expect(checkProvenance(attested(), changed).map((m) => m.kind)).toEqual(['digest']);
    const legacy = withBinary(PLUGIN, { buildInfoRecorded: false, settings: {}, modules: [] });
    expect(checkProvenance(attested(), legacy)).toEqual([]);
  });

  it('takes a --build-commit that is no SHA as it is, and a SHA-like one only as a prefix of the commit', () => {
    const custom = parseProvenance(
      serializeProvenance(
        input({ buildCommit: 'release-7', ldflags: { host: '-X d7y.io/dragonfly/v2/version.GitCommit=release-7', plugins: '-X main.buildCommit=release-7' } }),
      ),
      'p',
    );
    const f = withBinary(HOST, { stamps: { 'version.GitCommit': 'release-7' } });
    const plugin = f.files.get(PLUGIN) as Extract<FileFacts, { present: true }>;
    f.files.set(PLUGIN, { ...plugin, binary: { ...(plugin.binary as Extract<BinaryFacts, { readable: true }>), stamps: { 'main.buildCommit': 'release-7' } } });
    expect(checkProvenance(custom, f)).toEqual([]);
  });
});

describe('verify --provenance: reading the statement', () => {
  const valid = () => JSON.parse(serializeProvenance(input())) as Json;
  const subject = (name: unknown) => ({ name, digest: { sha256: HEX('a') } });

  it('reads what a build writes', () => {
    const a = attested();
    expect(a).toMatchObject({ type: 'resource', host: HOST, commit: SHA, buildCommit: 'a9b2adb', platform: 'linux/amd64', goVersion: 'go1.23.5' });
    expect(a.subjects.map((s) => s.name)).toEqual([HOST, LOADER, PLUGIN]);
    expect(a.stamps.plugins).toEqual({ 'main.buildCommit': 'a9b2adb', 'main.buildTime': TIME });
    expect(a.stamps.host['version.GoVersion']).toBe('go1.23.5 linux/amd64');
  });

  it.each<[string, (doc: Json) => unknown, RegExp]>([
    ['not JSON', () => undefined, /it is not JSON/],
    ['an array', () => [], /not a JSON object/],
    [
      'another _type',
      (d) => ({ ...d, _type: 'https://in-toto.io/Statement/v0.1' }),
      /_type is "https:\/\/in-toto.io\/Statement\/v0.1", not https:\/\/in-toto.io\/Statement\/v1/,
    ],
    ['another predicateType', (d) => ({ ...d, predicateType: 'https://spdx.dev/Document' }), /predicateType is "https:\/\/spdx.dev\/Document"/],
    ['no subjects', (d) => ({ ...d, subject: [] }), /no subject list/],
    ['a path traversal', (d) => ({ ...d, subject: [subject('../../etc/passwd')] }), /"..\/..\/etc\/passwd" is not bin\/<file> or plugins\/<file>/],
    ['an absolute name', (d) => ({ ...d, subject: [subject('/etc/passwd')] }), /"\/etc\/passwd" is not bin\/<file>/],
    ['a name through ..', (d) => ({ ...d, subject: [subject('bin/../../x')] }), /is not bin\/<file>/],
    ['a name that is ..', (d) => ({ ...d, subject: [subject('plugins/..')] }), /is not bin\/<file>/],
    ['a NUL in a name', (d) => ({ ...d, subject: [subject('bin/dfget\u0000.so')] }), /is not bin\/<file>/],
    ['a name that is no string', (d) => ({ ...d, subject: [subject(7)] }), /subject 0 has no name/],
    ['a duplicate name', (d) => ({ ...d, subject: [subject(HOST), subject(HOST)] }), /subject bin\/dfget is named twice/],
    ['a digest that is not sha256 hex', (d) => ({ ...d, subject: [{ name: HOST, digest: { sha256: 'zz' } }] }), /has no sha256 digest/],
    ['too many subjects', (d) => ({ ...d, subject: Array.from({ length: 1025 }, (_, i) => subject(`plugins/p${i}.so`)) }), /more than the 1024/],
    [
      'another buildType',
      (d) => ({ ...d, predicate: { ...d.predicate, buildDefinition: { ...d.predicate.buildDefinition, buildType: 'x' } } }),
      /not a d7y-build build/,
    ],
    [
      'no Dragonfly commit',
      (d) => ({ ...d, predicate: { ...d.predicate, buildDefinition: { ...d.predicate.buildDefinition, resolvedDependencies: [] } } }),
      /no dragonfly gitCommit/,
    ],
  ])('refuses %s with a typed error naming the file', (_name, change, message) => {
    const doc = change(valid());
    const text = doc === undefined ? '{"_type": ' : JSON.stringify(doc);
    const error = (() => {
      try {
        parseProvenance(text, '/out/provenance.intoto.json');
      } catch (err) {
        return err;
      }
    })() as UnverifiableError;
    expect(error).toBeInstanceOf(UnverifiableError);
    expect(error.exitCode).toBe(12);
    expect(error.message).toMatch(/^cannot tell from \/out\/provenance\.intoto\.json: /);
    expect(error.message).toMatch(message);
    expect(error.hint).toMatch(/provenance\.intoto\.json/);
  });

  it('reads the binaries of an SBOM, and refuses one that is no CycloneDX or lists a file twice', () => {
    const bom = {
      bomFormat: 'CycloneDX',
      components: [{ 'bom-ref': 'file:bin/dfget', hashes: [{ alg: 'SHA-256', content: HEX('a') }], properties: [{ name: 'd7y-build:path', value: HOST }] }],
      dependencies: [{ ref: 'file:bin/dfget', dependsOn: [MODULES[1], MODULES[0]] }],
    };
    expect(parseSbom(JSON.stringify(bom), 's')).toEqual(new Map([[HOST, { sha256: HEX('a'), modules: MODULES }]]));
    expect(() => parseSbom('{}', 's')).toThrow(/not a CycloneDX document/);
    expect(() => parseSbom(JSON.stringify({ ...bom, components: [...bom.components, ...bom.components] }), 's')).toThrow(/lists bin\/dfget twice/);
  });

  it('reads -ldflags back into its -X assignments, quoted ones whole', () => {
    expect(ldflagsAssignments(`-s -X a.b=c -X "d.e=f g" -X 'h.i=j"k'`)).toEqual({ 'a.b': 'c', 'd.e': 'f g', 'h.i': 'j"k' });
  });
});
