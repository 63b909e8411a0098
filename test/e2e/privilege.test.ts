/**
 * Least privilege: a user who may use Docker but is not root builds and installs; the build runs as
 * a non-root user in the container, with nothing of this machine mounted (named cache volumes only,
 * no Docker socket), and every output file belongs to the calling user.
 */
import { execFile } from 'node:child_process';
import { chmod, mkdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { cli, docker, examples, fixtureArgs, leftoverContainers, tempDir } from './helpers';

const run = promisify(execFile);
const NOBODY = 65534;

describe('least privilege', () => {
  it('builds as an unprivileged user, runs the build as non-root, mounts nothing of the machine', async () => {
    await using work = await tempDir('priv-');
    await chmod(path.dirname(work.path), 0o711);
    await chmod(work.path, 0o777);
    const home = path.join(work.path, 'home');
    await mkdir(home);
    // The fixture repository belongs to root: let this user's git read it.
    await writeFile(path.join(home, '.gitconfig'), '[safe]\n\tdirectory = *\n');
    await run('chown', ['-R', `${NOBODY}:${NOBODY}`, home]);
    const dockerGid = (await run('getent', ['group', 'docker'])).stdout.split(':')[2]!;

    const out = path.join(work.path, 'out');
    const plugins = path.join(work.path, 'plugins');
    const { stdout, stderr } = await run(
      'setpriv',
      [
        `--reuid=${NOBODY}`,
        `--regid=${NOBODY}`,
        `--groups=${dockerGid}`,
        process.execPath,
        cli,
        ...fixtureArgs('v2.1.0'),
        '--out',
        out,
        '--plugins-dir',
        plugins,
        '--keep',
        '--json',
        path.join(examples, 'd7yfs'),
      ],
      { env: { ...process.env, HOME: home, D7Y_CACHE_DIR: path.join(home, 'cache'), NO_COLOR: '1' } },
    );
    expect(stderr).not.toMatch(/error:/);
    const outcome = JSON.parse(stdout);
    const container = outcome.container as string;
    try {
      for (const file of [...outcome.artifacts.map((a: { path: string }) => a.path), ...outcome.installed]) {
        expect((await stat(file)).uid, file).toBe(NOBODY);
      }
      const info = JSON.parse(await docker('inspect', container))[0];
      expect(info.Config.User).toBe('10001:10001');
      expect(info.HostConfig.Binds ?? []).toEqual([]);
      expect(info.HostConfig.Privileged).toBe(false);
      expect(info.Mounts.map((m: { Type: string }) => m.Type)).toEqual(['volume', 'volume', 'volume', 'volume']);
      expect(info.Mounts.map((m: { Name: string }) => m.Name).sort()).toEqual(
        ['d7y-build-go-build', 'd7y-build-go-mod', 'd7y-build-host-cache', outcome.sourceTree.volume].sort(),
      );
      expect(JSON.stringify(info)).not.toContain('docker.sock');
      expect(await docker('exec', container, 'id', '-u')).toBe('10001');
    } finally {
      await docker('rm', '-f', container);
    }
    expect(await leftoverContainers()).toEqual([]);
  });
});
