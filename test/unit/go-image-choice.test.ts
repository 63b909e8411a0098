/**
 * The checks of the image's Go against go.mod, and that every hint naming scripts/go-image.sh names
 * a command the script accepts as written, building the image the hint then passes to --go-image.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkToolchain, checkWorkspaces } from '../../src/commands/build/container';
import { chooseGoImage, GO_RELEASES, type GoMod } from '../../src/toolchain/gomod';
import { missingGoImageHint } from '../../src/session/image';
import { GoImageError, renderHint } from '../../src/errors';

const script = path.resolve(__dirname, '../../scripts/go-image.sh');

/** What `scripts/go-image.sh --check args` prints, or its exit code and stderr when it refuses. */
function goImageCheck(...args: string[]): { ok: true; image: string } | { ok: false; status: number; stderr: string } {
  try {
    return { ok: true, image: execFileSync('bash', [script, '--check', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim() };
  } catch (err) {
    const e = err as { status: number; stderr: string };
    return { ok: false, status: e.status, stderr: e.stderr };
  }
}

/** The go-image.sh command in a hint, run with --check, must print the image the hint passes on. */
function expectRunnable(hint: string): void {
  const m = /scripts\/go-image\.sh (\S+) and pass --go-image (\S+)$/.exec(hint);
  expect(m, hint).not.toBeNull();
  expect(goImageCheck(m![1]!)).toEqual({ ok: true, image: m![2] });
}

function thrown(fn: () => void): GoImageError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(GoImageError);
    return err as GoImageError;
  }
  throw new Error('no error was thrown');
}

describe('scripts/go-image.sh --check', () => {
  it.each(Object.entries(GO_RELEASES))('maps the minor %s to the release the table lists', (minor, { latest }) => {
    expect(goImageCheck(minor)).toEqual({ ok: true, image: `d7y-build/golang:${latest}-bookworm` });
  });

  it.each(['1.20.14', '1.23.5', '1.21rc2', '1.25.5'])('takes the release %s as it is', (release) => {
    expect(goImageCheck(release)).toEqual({ ok: true, image: `d7y-build/golang:${release}-bookworm` });
  });

  it.each([
    ['1.99', /no last patch of Go 1\.99 is listed.*pass a full release like 1\.99\.0/],
    ['1.2x', /not a Go release/],
    ['go1.20.14', /not a Go release/],
    ['latest', /not a Go release/],
  ])('refuses %s with exit 2', (arg, message) => {
    const result = goImageCheck(arg);
    expect(result).toMatchObject({ ok: false, status: 2 });
    expect(result.ok ? '' : result.stderr).toMatch(message);
  });
});

describe('missingGoImageHint', () => {
  // Every form of go.mod line the Dragonfly release lines have.
  it.each<[GoMod]>([
    [{ go: '1.15' }],
    [{ go: '1.17' }],
    [{ go: '1.20' }],
    [{ go: '1.21' }],
    [{ go: '1.22.4' }],
    [{ go: '1.23.0', toolchain: '1.23.5' }],
    [{ go: '1.25.5' }],
    [{ go: '1.21rc2' }],
    [{ go: '1.26' }],
  ])('names a command that works for %j', (mod) => {
    expectRunnable(renderHint(missingGoImageHint(chooseGoImage(mod, undefined)!.release), 'cli'));
  });

  it('names no script command when go.mod names no release', () => {
    expect(missingGoImageHint(undefined)).not.toMatch(/go-image\.sh/);
  });
});

describe('checkToolchain', () => {
  it.each<[GoMod, string]>([
    [{ go: '1.17' }, 'go1.17.13'],
    [{ go: '1.20' }, 'go1.20.14'],
    [{ go: '1.20' }, 'go1.20'],
    [{ go: '1.21' }, 'go1.21.0'],
    [{ go: '1.21.0' }, 'go1.21.13'],
    [{ go: '1.23.0', toolchain: '1.23.5' }, 'go1.23.0'],
    [{ go: '1.23.0', toolchain: '1.23.5' }, 'go1.23.5'],
    [{ go: '1.23.8' }, 'go1.25.5'],
    [{}, 'go1.17.13'],
  ])('accepts go.mod %j with %s', (mod, go) => {
    expect(() => checkToolchain(mod, go, 'img', 'abc1234')).not.toThrow();
  });

  it.each<[GoMod, string]>([
    [{ go: '1.20' }, 'go1.19.13'],
    [{ go: '1.21.0' }, 'go1.21rc2'],
    [{ go: '1.23.8' }, 'go1.23.5'],
    [{ go: '1.25.5' }, 'go1.23.8'],
    [{ go: '1.22.4' }, 'go1.21.13'],
  ])('refuses go.mod %j with %s, naming an image that fits', (mod, go) => {
    const err = thrown(() => checkToolchain(mod, go, 'golang:old', 'abc1234'));
    expect(err.message).toBe(`Dragonfly at abc1234 needs Go ${mod.go} or newer, but golang:old has ${go}`);
    expect(err.hint).toContain(`e.g. ${chooseGoImage(mod, undefined)!.image}`);
    expectRunnable(err.hint!);
  });
});

describe('checkWorkspaces', () => {
  it.each(['go1.18', 'go1.20.14', 'go1.23.5'])('lets plugins with a go.mod build with %s', (go) => {
    expect(() => checkWorkspaces(['humanfs'], go, 'img')).not.toThrow();
  });

  it.each(['go1.17.13', 'go1.15.15'])('needs no workspace for plugins without a go.mod, with %s', (go) => {
    expect(() => checkWorkspaces([], go, 'img')).not.toThrow();
  });

  it('says which plugin, in the singular', () => {
    expect(thrown(() => checkWorkspaces(['humanfs'], 'go1.17.13', 'img')).message).toMatch(/^plugin humanfs has its own go\.mod,/);
  });

  it.each(['go1.17.13', 'go1.16.15', 'go1.15.15'])('refuses plugins with a go.mod on %s: go work needs Go 1.18', (go) => {
    const err = thrown(() => checkWorkspaces(['humanfs', 'otherfs'], go, 'golang:1.17.13-bullseye'));
    expect(err.exitCode).toBe(5);
    expect(err.message).toBe(
      `plugins humanfs, otherfs have their own go.mod, which is built in a Go workspace (go work), and golang:1.17.13-bullseye has ${go}: workspaces need Go 1.18 or newer`,
    );
    expect(err.hint).toMatch(/remove the go\.mod .* or pass --go-image with Go 1\.18 or newer/);
    const offline = /\((scripts\/go-image\.sh (\S+)) builds one offline\)$/.exec(err.hint!);
    expect(offline, err.hint).not.toBeNull();
    expect(goImageCheck(offline![2]!)).toEqual({ ok: true, image: 'd7y-build/golang:1.18.10-bookworm' });
  });
});
