import { describe, expect, it } from 'vitest';
import { BUILD_TYPE, provenanceStatement, serializeProvenance, type ProvenanceInput } from '../../src/artifacts/provenance';

const SHA = 'a9b2adb0123456789abcdef0123456789abcdef0';
const HEX = (c: string) => c.repeat(64);

function input(over: Partial<ProvenanceInput> = {}): ProvenanceInput {
  return {
    version: '1.2.3',
    subjects: [
      { name: 'bin/dfget', sha256: HEX('a') },
      { name: 'bin/d7y-loadcheck', sha256: HEX('b') },
      { name: 'plugins/d7y-resource-plugin-myfs.so', sha256: HEX('c') },
    ],
    dragonfly: { repo: 'https://github.com/dragonflyoss/dragonfly.git', ref: 'v2.1.0', commit: SHA },
    plugins: [{ type: 'resource', name: 'myfs', dir: '/src/my fs', sourcesSha256: HEX('d') }],
    platform: 'linux/amd64',
    flags: { trimpath: true, tags: ['netgo'], gcflags: '', race: false },
    ldflags: { host: '-X d7y.io/dragonfly/v2/version.GitCommit=a9b2adb', plugins: '-X main.buildCommit=a9b2adb' },
    buildCommit: 'a9b2adb',
    buildTime: { time: '2024-01-02T03:04:05Z', reason: 'SOURCE_DATE_EPOCH=1704164645' },
    goImage: { reference: 'golang:1.23.5-bookworm', id: `sha256:${HEX('e')}`, reason: 'go.mod toolchain go1.23.5' },
    builderImage: { reference: 'd7y-build/builder:abc', id: `sha256:${HEX('f')}` },
    run: { id: 'run-uuid', startedOn: new Date('2026-01-01T00:00:00.123Z'), finishedOn: new Date('2026-01-01T00:01:00.456Z') },
    ...over,
  };
}

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

describe('the provenance statement', () => {
  it('is an in-toto Statement v1 with a SLSA provenance v1 predicate and every required field', () => {
    const s = provenanceStatement(input()) as Json;
    expect(Object.keys(s)).toEqual(['_type', 'subject', 'predicateType', 'predicate']);
    expect(s._type).toBe('https://in-toto.io/Statement/v1');
    expect(s.predicateType).toBe('https://slsa.dev/provenance/v1');
    expect(s.subject).toEqual([
      { name: 'bin/dfget', digest: { sha256: HEX('a') } },
      { name: 'bin/d7y-loadcheck', digest: { sha256: HEX('b') } },
      { name: 'plugins/d7y-resource-plugin-myfs.so', digest: { sha256: HEX('c') } },
    ]);
    const { buildDefinition, runDetails } = s.predicate;
    expect(buildDefinition.buildType).toBe(BUILD_TYPE);
    expect(buildDefinition.externalParameters).toEqual({
      repository: 'https://github.com/dragonflyoss/dragonfly.git',
      ref: 'v2.1.0',
      plugins: [{ type: 'resource', name: 'myfs' }],
      platform: 'linux/amd64',
      flags: {
        cgoEnabled: true,
        trimpath: true,
        tags: ['netgo'],
        gcflags: '',
        race: false,
        ldflags: { host: '-X d7y.io/dragonfly/v2/version.GitCommit=a9b2adb', plugins: '-X main.buildCommit=a9b2adb' },
      },
      buildCommit: 'a9b2adb',
      buildTime: '2024-01-02T03:04:05Z',
      buildTimeReason: 'SOURCE_DATE_EPOCH=1704164645',
    });
    expect(buildDefinition.internalParameters).toEqual({
      goImage: { reference: 'golang:1.23.5-bookworm', reason: 'go.mod toolchain go1.23.5' },
      builderImage: { reference: 'd7y-build/builder:abc', id: `sha256:${HEX('f')}` },
    });
    expect(buildDefinition.resolvedDependencies).toEqual([
      { name: 'dragonfly', uri: 'git+https://github.com/dragonflyoss/dragonfly.git', digest: { gitCommit: SHA }, annotations: { ref: 'v2.1.0' } },
      { name: 'golang:1.23.5-bookworm', digest: { sha256: HEX('e') } },
      { name: 'plugin/myfs', uri: 'file:///src/my%20fs', digest: { sha256: HEX('d') } },
    ]);
    // ResourceDescriptor: each needs a uri, a digest or content.
    for (const d of buildDefinition.resolvedDependencies) expect(d.uri !== undefined || d.digest !== undefined).toBe(true);
    expect(runDetails).toEqual({
      builder: { id: 'https://d7y.io/d7y-build@1.2.3' },
      metadata: { invocationId: 'run-uuid', startedOn: '2026-01-01T00:00:00Z', finishedOn: '2026-01-01T00:01:00Z' },
    });
  });

  it('writes the same bytes for the same inputs, but for runDetails.metadata', () => {
    const a = serializeProvenance(input());
    const b = serializeProvenance(input({ run: { id: 'other', startedOn: new Date(0), finishedOn: new Date(1000) } }));
    expect(a).not.toBe(b);
    const withoutMetadata = (text: string) => {
      const s = JSON.parse(text) as Json;
      delete s.predicate.runDetails.metadata;
      return JSON.stringify(s);
    };
    expect(withoutMetadata(a)).toBe(withoutMetadata(b));
    expect(serializeProvenance(input())).toBe(a);
    expect(a.endsWith('}\n')).toBe(true);
  });

  it('drops the credentials of the repository URL everywhere it appears', () => {
    const text = serializeProvenance(input({ dragonfly: { repo: 'https://user:s3cr3t-token@git.example.com/df.git', ref: 'main', commit: SHA } }));
    expect(text).not.toContain('s3cr3t-token');
    expect(text).not.toContain('user');
    const s = JSON.parse(text) as Json;
    expect(s.predicate.buildDefinition.externalParameters.repository).toBe('https://git.example.com/df.git');
    expect(s.predicate.buildDefinition.resolvedDependencies[0].uri).toBe('git+https://git.example.com/df.git');
    const token = serializeProvenance(input({ dragonfly: { repo: 'https://ghp_abcdefgh@github.com/x/y.git', ref: 'main', commit: SHA } }));
    expect(token).not.toContain('ghp_abcdefgh');
  });

  it('names a local repository by a file URI, and keeps odd refs and names intact through JSON', () => {
    const ref = 'feature/"quoted"\n\u202e\\x';
    const s = JSON.parse(serializeProvenance(input({ dragonfly: { repo: '/srv/git/dragon fly', ref, commit: SHA } }))) as Json;
    expect(s.predicate.buildDefinition.resolvedDependencies[0]).toMatchObject({ uri: 'git+file:///srv/git/dragon%20fly', annotations: { ref } });
    expect(s.predicate.buildDefinition.externalParameters.ref).toBe(ref);
    const text = serializeProvenance(input({ dragonfly: { repo: '/r', ref, commit: SHA } }));
    // One JSON document: the newline in the ref is escaped, not written.
    expect(text.split('\n').filter((l) => l.includes('feature/'))).toHaveLength(2);
  });
});
