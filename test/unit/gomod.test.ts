import { describe, expect, it } from 'vitest';
import {
  compareGoVersions,
  defaultGoImage,
  parseGoMod,
  parseGoVersion,
  parseGoVersionOutput,
  wantedGo,
} from '../../src/build/gomod';

const DRAGONFLY_GO_MOD = `// The Dragonfly module.
module d7y.io/dragonfly/v2 // the module path

go 1.23.0

toolchain go1.23.5

require (
	github.com/google/uuid v1.6.0
	go.uber.org/atomic v1.11.0 // indirect
	golang.org/x/toolchain v0.0.1-go1.99.0.linux-amd64
	gopkg.in/yaml.v3 v3.0.1
)

require github.com/go v1.0.0

replace (
	github.com/old/module => ../module
)

exclude golang.org/x/net v0.0.1
`;

describe('parseGoMod', () => {
  it('reads module, go and toolchain around comments and require blocks', () => {
    expect(parseGoMod(DRAGONFLY_GO_MOD)).toEqual({ module: 'd7y.io/dragonfly/v2', go: '1.23.0', toolchain: '1.23.5' });
  });

  it('unquotes a quoted module path', () => {
    expect(parseGoMod('module "example.com/quoted"\n\ngo 1.21\n')).toEqual({ module: 'example.com/quoted', go: '1.21' });
  });

  it('ignores commented-out lines', () => {
    expect(parseGoMod('module example.com/m\n// go 1.99\n//toolchain go1.99.9\ngo 1.22\n')).toEqual({
      module: 'example.com/m',
      go: '1.22',
    });
  });

  it('copes with CRLF line ends', () => {
    expect(parseGoMod('module example.com/m\r\ngo 1.22.1\r\ntoolchain go1.22.4\r\n')).toEqual({
      module: 'example.com/m',
      go: '1.22.1',
      toolchain: '1.22.4',
    });
  });

  it('gives an empty result for an empty file', () => {
    expect(parseGoMod('')).toEqual({});
  });
});

describe('wantedGo and defaultGoImage', () => {
  it.each([
    ['toolchain wins over go', { go: '1.23.0', toolchain: '1.23.5' }, '1.23.5'],
    ['go without toolchain', { go: '1.21' }, '1.21'],
    ['neither', {}, undefined],
  ])('%s', (_label, mod, want) => {
    expect(wantedGo(mod)).toBe(want);
    expect(defaultGoImage(mod)).toBe(want === undefined ? undefined : `golang:${want}-bookworm`);
  });

  it('picks the image from a parsed go.mod', () => {
    expect(defaultGoImage(parseGoMod(DRAGONFLY_GO_MOD))).toBe('golang:1.23.5-bookworm');
  });
});

describe('parseGoVersion', () => {
  it.each<[string, [number, number, number] | undefined]>([
    ['1.23.5', [1, 23, 5]],
    ['go1.23.5', [1, 23, 5]],
    ['1.21', [1, 21, 0]],
    ['  go1.22.12  ', [1, 22, 12]],
    ['1.23rc1', [1, 23, 0]],
    ['devel', undefined],
    ['', undefined],
    ['v1.2.3', undefined],
  ])('%j → %j', (text, want) => {
    expect(parseGoVersion(text)).toEqual(want);
  });
});

describe('compareGoVersions', () => {
  it.each([
    ['1.21', '1.21.0', 0],
    ['go1.21.0', '1.21', 0],
    ['1.23.5', '1.23.0', 1],
    ['1.23.0', '1.23.5', -1],
    ['go1.22.12', '1.23', -1],
    ['1.10', '1.9.9', 1],
    ['2.0', '1.99.99', 1],
  ])('%s vs %s', (a, b, sign) => {
    expect(Math.sign(compareGoVersions(a, b))).toBe(sign);
  });

  it('throws for something that is not a version', () => {
    expect(() => compareGoVersions('devel', '1.23')).toThrow(/not Go versions/);
  });
});

describe('parseGoVersionOutput', () => {
  it.each([
    ['go version go1.23.5 linux/amd64', { version: 'go1.23.5', platform: 'linux/amd64' }],
    ['go version go1.22.12 linux/arm64\n', { version: 'go1.22.12', platform: 'linux/arm64' }],
    ['noise\ngo version go1.21.0 darwin/arm64', { version: 'go1.21.0', platform: 'darwin/arm64' }],
    ['bash: go: command not found', undefined],
  ])('%j', (output, want) => {
    expect(parseGoVersionOutput(output)).toEqual(want);
  });
});
