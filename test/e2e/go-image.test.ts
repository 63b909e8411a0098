/**
 * The Go image d7y-build picks when --go-image is not given, through the bundled CLI and a real
 * engine: Dragonfly's Go 1.20 line (fixture tag v2.0.9, go.mod `go 1.20`) builds with the last 1.20
 * patch under its official name, and a missing default image ends with a hint whose command works.
 */
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { docker, examples, exists, leftoverContainers, root, runCli, snapshot, tempDir } from './helpers';

const run = promisify(execFile);

afterEach(async () => {
  expect(await leftoverContainers()).toEqual([]);
});

async function imageExists(ref: string): Promise<boolean> {
  return docker('image', 'inspect', ref).then(
    () => true,
    () => false,
  );
}

describe('the default Go image', () => {
  it('for go.mod `go 1.20` is golang:1.20.14-bookworm, recorded with its reason', async () => {
    const defaultImage = 'golang:1.20.14-bookworm';
    // The offline stand-in under the official name the CLI picks; a real one already here is used as is.
    const tagged = !(await imageExists(defaultImage));
    if (tagged) await docker('tag', inject('go120Image'), defaultImage);
    try {
      await using work = await tempDir();
      const out = path.join(work.path, 'out');
      const result = await runCli([
        '--commit',
        'v2.0.9',
        '--repo',
        inject('fixtureRepo'),
        '--out',
        out,
        '--plugins-dir',
        path.join(work.path, 'plugins'),
        '--json',
        path.join(examples, 'd7yfs'),
      ]);
      expect(result.stderr).not.toMatch(/error:/);
      expect(result.exitCode).toBe(0);
      const reason = 'go.mod go 1.20 (language version): latest 1.20 patch, 1.20.14';
      expect(result.stderr).toContain(`Go image ${defaultImage}: ${reason}`);

      const outcome = JSON.parse(result.stdout);
      expect(outcome).toMatchObject({ ok: true, goVersion: 'go1.20.14', goImage: defaultImage, goImageReason: reason });
      const manifest = JSON.parse(await readFile(path.join(out, 'manifest.json'), 'utf8'));
      expect(manifest.dragonfly).toMatchObject({ ref: 'v2.0.9', goModGo: '1.20' });
      expect(manifest.dragonfly.goModToolchain).toBeUndefined();
      expect(manifest.go).toMatchObject({ version: 'go1.20.14', image: defaultImage, imageReason: reason });
      expect(manifest.validation.plugins).toMatchObject([{ type: 'resource', name: 'd7yfs' }]);
    } finally {
      if (tagged) await docker('rmi', defaultImage);
    }
    expect(await imageExists(inject('go120Image'))).toBe(true);
  });

  it('when absent and not pullable: exit 5, with a go-image.sh command that the script accepts as written', async () => {
    await using work = await tempDir();
    // The fixture's Go 1.20 line, one minor back: go.mod `go 1.19`, whose default image nobody has here.
    const repo = path.join(work.path, 'dragonfly');
    await run('git', ['clone', '-q', '--branch', 'v2.0.9', inject('fixtureRepo'), repo]);
    const goMod = path.join(repo, 'go.mod');
    await writeFile(goMod, (await readFile(goMod, 'utf8')).replace(/^go 1\.20$/m, 'go 1.19'));
    await run('git', ['-C', repo, '-c', 'user.name=t', '-c', 'user.email=t@d7y.invalid', 'commit', '-qam', 'go 1.19']);
    await run('git', ['-C', repo, 'tag', 'v2.0.7']);
    const defaultImage = 'golang:1.19.13-bookworm';
    expect(await imageExists(defaultImage)).toBe(false);

    const out = path.join(work.path, 'out');
    const result = await runCli([
      '--commit',
      'v2.0.7',
      '--repo',
      repo,
      '--out',
      out,
      '--plugins-dir',
      path.join(work.path, 'plugins'),
      '--json',
      path.join(examples, 'd7yfs'),
    ]);
    expect(result.exitCode, result.stderr).toBe(5);
    const { error } = JSON.parse(result.stdout);
    expect(error).toMatchObject({ code: 'go-image', step: 'prepare-image' });
    expect(error.message).toContain(
      `the Go image ${defaultImage} is not here and can't be pulled (go.mod go 1.19 (language version): latest 1.19 patch, 1.19.13)`,
    );
    const command = /build a stand-in offline with (scripts\/go-image\.sh \S+) and pass --go-image (\S+)$/.exec(error.hint);
    expect(command, error.hint).not.toBeNull();
    expect(command![2]).toBe('d7y-build/golang:1.19.13-bookworm');
    // The command as written, checked by the script itself (--check builds nothing): it would build the image the hint names.
    const [script, ...args] = command![1]!.split(' ');
    const checked = await run('bash', [path.join(root, script!), '--check', ...args]);
    expect(checked.stdout.trim()).toBe(command![2]);
    expect(await exists(out)).toBe(false);
    expect(await snapshot(path.join(work.path, 'plugins'))).toEqual({});
  });
});
