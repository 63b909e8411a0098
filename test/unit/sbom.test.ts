import { describe, expect, it } from 'vitest';
import { cycloneDx, golangPurl, serializeSbom, type SbomBinary, type SbomInput } from '../../src/artifacts/sbom';

const HEX = (c: string) => c.repeat(64);

const HOST: SbomBinary = {
  kind: 'host',
  name: 'dfget',
  path: 'bin/dfget',
  sha256: HEX('a'),
  buildInfo: {
    goVersion: 'go1.23.5',
    main: { path: 'd7y.io/dragonfly/v2', version: '(devel)' },
    deps: [
      { path: 'github.com/spf13/cobra', version: 'v1.8.0' },
      { path: 'golang.org/x/sys', version: 'v0.20.0' },
    ],
  },
};
const PLUGIN: SbomBinary = {
  kind: 'plugin',
  name: 'humanfs',
  path: 'plugins/d7y-resource-plugin-humanfs.so',
  sha256: HEX('c'),
  buildInfo: {
    goVersion: 'go1.23.5',
    main: { path: 'example.com/humanfs', version: '(devel)' },
    deps: [
      { path: 'd7y.io/dragonfly/v2', version: 'v2.1.0', replace: { path: '/work/dragonfly', version: '' } },
      { path: 'github.com/dustin/go-humanize', version: 'v1.0.1' },
      { path: 'golang.org/x/sys', version: 'v0.20.0' },
      { path: 'example.com/old', version: 'v1.0.0', replace: { path: 'example.com/new', version: 'v1.1.0' } },
    ],
  },
};

function input(over: Partial<SbomInput> = {}): SbomInput {
  return { version: '1.2.3', binaries: [HOST, PLUGIN], timestamp: '2024-01-02T03:04:05Z', ...over };
}

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

describe('the CycloneDX SBOM', () => {
  it('has the fields CycloneDX 1.5 requires, one component per binary with its sha256', () => {
    const bom = cycloneDx(input()) as Json;
    expect(Object.keys(bom)).toEqual(['bomFormat', 'specVersion', 'serialNumber', 'version', 'metadata', 'components', 'dependencies']);
    expect(bom).toMatchObject({ bomFormat: 'CycloneDX', specVersion: '1.5', version: 1 });
    expect(bom.serialNumber).toMatch(/^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(bom.metadata).toEqual({ timestamp: '2024-01-02T03:04:05Z', tools: { components: [{ type: 'application', name: 'd7y-build', version: '1.2.3' }] } });
    for (const c of bom.components) {
      expect(['application', 'library']).toContain(c.type);
      expect(typeof c.name).toBe('string');
      expect(typeof c['bom-ref']).toBe('string');
    }
    expect(new Set(bom.components.map((c: Json) => c['bom-ref'])).size).toBe(bom.components.length);
    const [host, plugin] = bom.components;
    expect(host).toMatchObject({ type: 'application', 'bom-ref': 'file:bin/dfget', name: 'dfget', hashes: [{ alg: 'SHA-256', content: HEX('a') }] });
    expect(plugin).toMatchObject({ type: 'library', name: 'humanfs', hashes: [{ alg: 'SHA-256', content: HEX('c') }] });
  });

  it('lists each module once, by purl, and relates each binary to the modules it was built with', () => {
    const bom = cycloneDx(input()) as Json;
    const modules = bom.components.filter((c: Json) => c.purl !== undefined);
    expect(modules.map((c: Json) => c.purl)).toEqual([
      'pkg:golang/d7y.io/dragonfly/v2@%28devel%29',
      'pkg:golang/example.com/humanfs@%28devel%29',
      'pkg:golang/example.com/new@v1.1.0',
      'pkg:golang/github.com/dustin/go-humanize@v1.0.1',
      'pkg:golang/github.com/spf13/cobra@v1.8.0',
      'pkg:golang/golang.org/x/sys@v0.20.0',
      'pkg:golang/stdlib@go1.23.5',
    ]);
    for (const m of modules) expect(m).toMatchObject({ type: 'library', 'bom-ref': m.purl });
    expect(bom.dependencies).toEqual([
      {
        ref: 'file:bin/dfget',
        dependsOn: [
          'pkg:golang/d7y.io/dragonfly/v2@%28devel%29',
          'pkg:golang/github.com/spf13/cobra@v1.8.0',
          'pkg:golang/golang.org/x/sys@v0.20.0',
          'pkg:golang/stdlib@go1.23.5',
        ],
      },
      {
        ref: 'file:plugins/d7y-resource-plugin-humanfs.so',
        dependsOn: [
          // A directory replacement is the code of no release.
          'pkg:golang/d7y.io/dragonfly/v2@%28devel%29',
          'pkg:golang/example.com/humanfs@%28devel%29',
          'pkg:golang/example.com/new@v1.1.0',
          'pkg:golang/github.com/dustin/go-humanize@v1.0.1',
          'pkg:golang/golang.org/x/sys@v0.20.0',
          'pkg:golang/stdlib@go1.23.5',
        ],
      },
    ]);
    // Every reference resolves to a component.
    const refs = new Set(bom.components.map((c: Json) => c['bom-ref']));
    for (const d of bom.dependencies) for (const r of [d.ref, ...d.dependsOn]) expect(refs.has(r)).toBe(true);
  });

  it('lists a binary without build information with no modules, and says why', () => {
    const old: SbomBinary = {
      kind: 'plugin',
      name: 'oldfs',
      path: 'plugins/old.so',
      sha256: HEX('d'),
      buildInfoMissing: 'go1.20.14 records no build information in plugins',
    };
    const bom = cycloneDx(input({ binaries: [old] })) as Json;
    expect(bom.components).toHaveLength(1);
    expect(bom.components[0].properties).toContainEqual({ name: 'd7y-build:modulesUnknown', value: 'go1.20.14 records no build information in plugins' });
    expect(bom.dependencies).toEqual([{ ref: 'file:plugins/old.so', dependsOn: [] }]);
  });

  it('percent-encodes purl segments and versions', () => {
    expect(golangPurl('github.com/Azure/azure-sdk-for-go', 'v68.0.0+incompatible')).toBe('pkg:golang/github.com/Azure/azure-sdk-for-go@v68.0.0%2Bincompatible');
    expect(golangPurl('example.com/a b', "v1 (x)!'*")).toBe('pkg:golang/example.com/a%20b@v1%20%28x%29%21%27%2A');
  });

  it('is the same document, serial number included, for the same binaries and time; another for others', () => {
    const a = serializeSbom(input());
    expect(serializeSbom(input())).toBe(a);
    const other = JSON.parse(serializeSbom(input({ binaries: [{ ...HOST, sha256: HEX('b') }, PLUGIN] }))) as Json;
    expect(other.serialNumber).not.toBe((JSON.parse(a) as Json).serialNumber);
    const later = JSON.parse(serializeSbom(input({ timestamp: '2025-01-01T00:00:00Z' }))) as Json;
    expect(later.serialNumber).not.toBe((JSON.parse(a) as Json).serialNumber);
  });

  it('escapes what JSON must escape in names and paths', () => {
    const odd: SbomBinary = { ...HOST, name: 'a"b\nc\\d', path: 'bin/a"b' };
    const text = serializeSbom(input({ binaries: [odd] }));
    const bom = JSON.parse(text) as Json;
    expect(bom.components[0].name).toBe('a"b\nc\\d');
    expect(bom.components[0]['bom-ref']).toBe('file:bin/a"b');
  });
});
