import { describe, expect, it } from 'vitest';
import {
  chooseGoImage,
  compareGoVersions,
  GO_RELEASES,
  offlineGoImage,
  parseGoMod,
  parseGoVersion,
  parseGoVersionOutput,
  type GoMod,
} from '../../src/toolchain/gomod';

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

describe('chooseGoImage', () => {
  // Each Dragonfly release line's go.mod (upstream, per tag), and the image built with by default.
  it.each<[string, GoMod, string, string]>([
    [
      'v2.0.0',
      { go: '1.15' },
      'golang:1.15.15-buster',
      'go.mod go 1.15 (language version): latest 1.15 patch, 1.15.15 on Debian buster (no bookworm images of Go 1.15.15)',
    ],
    [
      'v2.0.1',
      { go: '1.17' },
      'golang:1.17.13-bullseye',
      'go.mod go 1.17 (language version): latest 1.17 patch, 1.17.13 on Debian bullseye (no bookworm images of Go 1.17.13)',
    ],
    [
      'v2.0.4',
      { go: '1.18' },
      'golang:1.18.10-bullseye',
      'go.mod go 1.18 (language version): latest 1.18 patch, 1.18.10 on Debian bullseye (no bookworm images of Go 1.18.10)',
    ],
    ['v2.0.7', { go: '1.19' }, 'golang:1.19.13-bookworm', 'go.mod go 1.19 (language version): latest 1.19 patch, 1.19.13'],
    ['v2.0.9, v2.1.0', { go: '1.20' }, 'golang:1.20.14-bookworm', 'go.mod go 1.20 (language version): latest 1.20 patch, 1.20.14'],
    ['v2.1.12 to v2.1.60', { go: '1.21' }, 'golang:1.21.13-bookworm', 'go.mod go 1.21 (language version): latest 1.21 patch, 1.21.13'],
    ['v2.1.61', { go: '1.22.4' }, 'golang:1.22.4-bookworm', 'go.mod go 1.22.4'],
    ['v2.1.63 to v2.2.1', { go: '1.23.0' }, 'golang:1.23.0-bookworm', 'go.mod go 1.23.0'],
    ['a toolchain line', { go: '1.23.0', toolchain: '1.23.5' }, 'golang:1.23.5-bookworm', 'go.mod toolchain go1.23.5'],
    ['v2.2.2 to v2.3.4', { go: '1.23.8' }, 'golang:1.23.8-bookworm', 'go.mod go 1.23.8'],
    ['v2.4.0 on', { go: '1.25.5' }, 'golang:1.25.5-bookworm', 'go.mod go 1.25.5'],
    ['a minor whose last patch is not listed', { go: '1.26' }, 'golang:1.26.0-bookworm', 'go.mod go 1.26 (language version): first 1.26 release, 1.26.0'],
    ['a release candidate', { go: '1.21rc2' }, 'golang:1.21rc2-bookworm', 'go.mod go 1.21rc2'],
    ['a release candidate toolchain', { go: '1.21', toolchain: '1.21rc3' }, 'golang:1.21rc3-bookworm', 'go.mod toolchain go1.21rc3'],
  ])('%s: %j → %s', (_tags, mod, image, reason) => {
    const choice = chooseGoImage(mod, undefined);
    expect(choice).toEqual({ image, reason, release: image.replace(/^golang:(.*)-\w+$/, '$1') });
    // The hint's offline command builds exactly that release.
    expect(offlineGoImage(choice!.release!)).toEqual({
      image: `d7y-build/golang:${choice!.release}-bookworm`,
      command: `scripts/go-image.sh ${choice!.release}`,
    });
  });

  it('takes --go-image as given, and still knows the release go.mod asks for', () => {
    expect(chooseGoImage({ go: '1.20' }, 'my/go:1.20')).toEqual({ image: 'my/go:1.20', reason: '--go-image', release: '1.20.14' });
    expect(chooseGoImage({}, 'my/go')).toEqual({ image: 'my/go', reason: '--go-image', release: undefined });
  });

  it.each<[string, GoMod]>([
    ['no go line', {}],
    ['a minor older than any listed, before Go 1.21 had <minor>.0 releases', { go: '1.14' }],
    ['a toolchain line that is no release', { go: '1.23.0', toolchain: 'local' }],
    ['a go line that is no version', { go: 'latest' }],
  ])('names no image for %s', (_label, mod) => {
    expect(chooseGoImage(mod, undefined)).toBeUndefined();
  });

  it('lists, per minor, a last patch of that minor and a Debian release', () => {
    for (const [minor, { latest, debian }] of Object.entries(GO_RELEASES)) {
      expect(latest.startsWith(`${minor}.`), minor).toBe(true);
      expect(['buster', 'bullseye', 'bookworm']).toContain(debian);
    }
  });

  it('picks from a parsed go.mod', () => {
    expect(chooseGoImage(parseGoMod(DRAGONFLY_GO_MOD), undefined)?.image).toBe('golang:1.23.5-bookworm');
  });
});

describe('parseGoVersion', () => {
  it.each([
    ['1.23.5', { major: 1, minor: 23, patch: 5, kind: '', pre: 0 }],
    ['go1.23.5', { major: 1, minor: 23, patch: 5, kind: '', pre: 0 }],
    ['1.21', { major: 1, minor: 21, kind: '', pre: 0 }],
    ['  go1.22.12  ', { major: 1, minor: 22, patch: 12, kind: '', pre: 0 }],
    ['1.23rc1', { major: 1, minor: 23, kind: 'rc', pre: 1 }],
    ['go1.21beta2', { major: 1, minor: 21, kind: 'beta', pre: 2 }],
    ['devel', undefined],
    ['', undefined],
    ['v1.2.3', undefined],
  ])('%j → %j', (text, want) => {
    expect(parseGoVersion(text)).toEqual(want);
  });
});

describe('compareGoVersions', () => {
  // The image's Go (left) against go.mod's line (right), in the go command's order.
  it.each([
    ['go1.20.14', '1.20', 1],
    ['go1.20', '1.20', 0],
    ['go1.19.13', '1.20', -1],
    ['go1.17.13', '1.17', 1],
    ['go1.21.13', '1.21.0', 1],
    ['go1.21.0', '1.21.0', 0],
    ['go1.21.0', '1.21', 1],
    ['go1.23.5', '1.23.8', -1],
    ['go1.23.8', '1.23.8', 0],
    ['go1.23.5', '1.23.0', 1],
    ['go1.25.5', '1.25.5', 0],
    ['go1.22.12', '1.23', -1],
    ['go1.21rc2', '1.21.0', -1],
    ['go1.21rc2', '1.21', 1],
    ['go1.21rc2', '1.21rc3', -1],
    ['go1.21rc2', '1.21rc2', 0],
    ['go1.21beta1', '1.21rc1', -1],
    ['go1.21.0', '1.21rc2', 1],
    ['1.10', '1.9.9', 1],
    ['2.0', '1.99.99', 1],
  ])('%s vs %s', (a, b, sign) => {
    expect(Math.sign(compareGoVersions(a, b))).toBe(sign);
    expect(Math.sign(compareGoVersions(b, a))).toBe(-sign || 0);
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
