import { describe, expect, it } from 'vitest';
import {
  buildTimestamp,
  goCommandEnv,
  goFeatures,
  hostLdflags,
  ldflagsQuotable,
  ldflagsX,
  pluginLdflags,
  sharedGoArgs,
  type ToolchainSettings,
} from '../../src/toolchain/goflags';

const plain: ToolchainSettings = { trimpath: false, tags: [], gcflags: '', race: false };

describe('goFeatures and goCommandEnv', () => {
  // -buildvcs and `go work` came with Go 1.18: older Go must get neither.
  it.each<[string, boolean]>([
    ['go1.15.15', false],
    ['go1.17.13', false],
    ['go1.18beta1', true], // both were in Go 1.18's first beta
    ['go1.18', true],
    ['go1.18.10', true],
    ['go1.20.14', true],
    ['go1.23.5', true],
    ['go1.25.5', true],
  ])('%s: since 1.18 %s', (version, since118) => {
    expect(goFeatures(version)).toEqual({ buildvcs: since118, workspaces: since118 });
    expect(goCommandEnv(version)).toEqual(since118 ? { GOFLAGS: '-buildvcs=false' } : {});
  });
});

describe('sharedGoArgs', () => {
  it.each<[string, Partial<ToolchainSettings>, string[]]>([
    ['nothing set', {}, []],
    ['trimpath only', { trimpath: true }, ['-trimpath']],
    ['one tag', { tags: ['netgo'] }, ['-tags=netgo']],
    ['tags joined by commas', { tags: ['netgo', 'osusergo'] }, ['-tags=netgo,osusergo']],
    ['gcflags as is', { gcflags: 'all=-N -l' }, ['-gcflags=all=-N -l']],
    ['race only', { race: true }, ['-race']],
    [
      'everything, in a stable order',
      { race: true, gcflags: 'all=-N -l', tags: ['a', 'b'], trimpath: true },
      ['-trimpath', '-tags=a,b', '-gcflags=all=-N -l', '-race'],
    ],
    ['tags and race without trimpath or gcflags', { tags: ['x'], race: true }, ['-tags=x', '-race']],
  ])('%s', (_label, settings, want) => {
    expect(sharedGoArgs({ ...plain, ...settings })).toEqual(want);
  });
});

describe('ldflagsX', () => {
  it.each([
    ['plain value', 'main.buildCommit', 'abc1234', '-X main.buildCommit=abc1234'],
    ['empty value', 'main.x', '', '-X main.x='],
    ['value with spaces → double quotes', 'main.v', 'go1.23.5 linux/amd64', '-X "main.v=go1.23.5 linux/amd64"'],
    ['value with a tab → double quotes', 'main.v', 'a\tb', '-X "main.v=a\tb"'],
    ['value with a single quote → double quotes', 'main.v', "it's", `-X "main.v=it's"`],
    ['value with a double quote → single quotes', 'main.v', 'say "hi"', `-X 'main.v=say "hi"'`],
  ])('%s', (_label, name, value, want) => {
    expect(ldflagsX(name, value)).toBe(want);
  });

  it('throws when the value holds both kinds of quote', () => {
    expect(() => ldflagsX('main.v', `it's "both"`)).toThrow(/both kinds of quote/);
  });

  it.each([
    ['plain', true],
    ['has space', true],
    ['has "double"', true],
    ["has 'single'", true],
    [`has 'single' and "double"`, false],
  ])('ldflagsQuotable(%j) is %s', (value, want) => {
    expect(ldflagsQuotable(value)).toBe(want);
  });
});

describe('hostLdflags', () => {
  const stamp = { gitCommit: 'abc1234', buildTime: '2024-01-02T03:04:05Z', goVersion: 'go1.23.5 linux/amd64' };

  it('stamps the five version variables, with "none" for no tags and no gcflags', () => {
    expect(hostLdflags(stamp, plain)).toBe(
      [
        '-X d7y.io/dragonfly/v2/version.GitCommit=abc1234',
        '-X d7y.io/dragonfly/v2/version.BuildTime=2024-01-02T03:04:05Z',
        '-X d7y.io/dragonfly/v2/version.Gotags=none',
        '-X "d7y.io/dragonfly/v2/version.GoVersion=go1.23.5 linux/amd64"',
        '-X d7y.io/dragonfly/v2/version.Gogcflags=none',
      ].join(' '),
    );
  });

  it('stamps the tags and gcflags when set, quoting gcflags with spaces', () => {
    const flags = hostLdflags(stamp, { trimpath: true, tags: ['netgo', 'osusergo'], gcflags: 'all=-N -l', race: true });
    expect(flags).toContain('-X d7y.io/dragonfly/v2/version.Gotags=netgo,osusergo');
    expect(flags).toContain('-X "d7y.io/dragonfly/v2/version.Gogcflags=all=-N -l"');
    expect(flags).not.toContain('=none');
  });
});

describe('pluginLdflags', () => {
  it.each([
    ['abc1234', '2024-01-02T03:04:05Z', '-X main.buildCommit=abc1234 -X main.buildTime=2024-01-02T03:04:05Z'],
    ['my build', 't', '-X "main.buildCommit=my build" -X main.buildTime=t'],
  ])('(%j, %j)', (commit, time, want) => {
    expect(pluginLdflags(commit, time)).toBe(want);
  });
});

describe('buildTimestamp', () => {
  it('uses SOURCE_DATE_EPOCH when given', () => {
    const epoch = Date.UTC(2024, 0, 2, 3, 4, 5) / 1000;
    expect(buildTimestamp(epoch, new Date('1999-12-31T23:59:59.999Z'))).toBe('2024-01-02T03:04:05Z');
  });

  it('uses SOURCE_DATE_EPOCH 0', () => {
    expect(buildTimestamp(0)).toBe('1970-01-01T00:00:00Z');
  });

  it('uses now without SOURCE_DATE_EPOCH, dropping the milliseconds', () => {
    expect(buildTimestamp(undefined, new Date('2024-01-02T03:04:05.678Z'))).toBe('2024-01-02T03:04:05Z');
  });

  it('defaults now to the current time, in the same format', () => {
    const before = Math.floor(Date.now() / 1000) * 1000;
    const stamp = buildTimestamp(undefined);
    const after = Date.now();
    expect(stamp).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
    const t = Date.parse(stamp);
    expect(t).toBeGreaterThanOrEqual(before);
    expect(t).toBeLessThanOrEqual(after);
  });
});
