/**
 * Faults: the output device fills up, the container runs out of memory or time, the Docker daemon
 * stops mid-build. Each says what happened and installs nothing.
 */
import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { examples, fixtureArgs, leftoverContainers, root, runCli, snapshot, tempDir, uncachedGcflags } from './helpers';

const run = promisify(execFile);

afterEach(async () => {
  expect(await leftoverContainers()).toEqual([]);
});

async function prepared(dir: string) {
  const plugins = path.join(dir, 'plugins');
  await mkdir(plugins);
  await writeFile(path.join(plugins, 'd7y-resource-plugin-existing.so'), 'an installed plugin');
  return { plugins, out: path.join(dir, 'out') };
}

describe('faults', () => {
  it('a full disk under --out: no partial file anywhere', async () => {
    await using work = await tempDir('full-');
    const { plugins } = await prepared(work.path);
    const out = path.join(work.path, 'tiny');
    await mkdir(out);
    await run('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', out]);
    try {
      const before = await snapshot(plugins);
      const result = await runCli([...fixtureArgs('v2.1.0'), '--out', out, '--plugins-dir', plugins, '--json', path.join(examples, 'd7yfs')]);
      expect(result.exitCode).toBe(9);
      const { error } = JSON.parse(result.stdout);
      expect(error.message).toMatch(/cannot write --out .* ENOSPC: no space left on device/);
      expect(error.hint).toMatch(/free space on the file system of/);
      expect(await snapshot(out)).toEqual({});
      expect(await snapshot(plugins)).toEqual(before);
    } finally {
      await run('umount', [out]);
    }
  });

  it('out of memory: says so (--memory)', async () => {
    await using work = await tempDir('oom-');
    const { plugins, out } = await prepared(work.path);
    const before = await snapshot(plugins);
    // New cache keys for everything, so the compiler really runs under the limit.
    const result = await runCli([
      ...fixtureArgs('v2.1.0'),
      '--out',
      out,
      '--plugins-dir',
      plugins,
      '--memory',
      '48m',
      '--gcflags',
      uncachedGcflags('-N'),
      '--json',
      path.join(examples, 'd7yfs'),
    ]);
    expect(result.exitCode).toBe(13);
    const { error } = JSON.parse(result.stdout);
    expect(error).toMatchObject({ code: 'out-of-memory', step: 'compile-plugins' });
    expect(error.message).toMatch(/ran out of memory \(--memory 48m\)/);
    expect(error.hint).toMatch(/raise --memory/);
    expect(await snapshot(plugins)).toEqual(before);
    expect(await snapshot(out)).toEqual({});
  });

  it('out of time: stops at --timeout and cleans up', async () => {
    await using work = await tempDir('slow-');
    const { plugins, out } = await prepared(work.path);
    const started = Date.now();
    const result = await runCli([
      ...fixtureArgs('v2.1.0'),
      '--out',
      out,
      '--plugins-dir',
      plugins,
      '--timeout',
      '1s',
      '--gcflags',
      uncachedGcflags(),
      '--json',
      path.join(examples, 'd7yfs'),
    ]);
    expect(result.exitCode).toBe(14);
    expect(Date.now() - started).toBeLessThan(30_000); // the compile was stopped, not waited for
    expect(JSON.parse(result.stdout).error.message).toMatch(/took longer than --timeout \(1\.0s\)/);
    expect(await snapshot(out)).toEqual({});
  });

  it('the Docker daemon stops mid-build: a clear error, nothing installed, prune cleans up after', async () => {
    // This test stops and restarts the engine: it must be the one scripts/engine.sh started.
    const status = (await run('bash', [path.join(root, 'scripts/engine.sh'), 'status'])).stdout;
    expect(status, 'the e2e tests stop the engine here; start it with scripts/engine.sh').toMatch(/started by scripts\/engine\.sh/);

    await using work = await tempDir('daemon-');
    const { plugins, out } = await prepared(work.path);
    const before = await snapshot(plugins);
    let stopping: Promise<unknown> | undefined;
    const result = await runCli(
      [...fixtureArgs('v2.1.0'), '--out', out, '--plugins-dir', plugins, '--gcflags', uncachedGcflags(), '--json', path.join(examples, 'd7yfs')],
      {
        onStderr: (_child, stderr) => {
          if (stopping === undefined && /\] compile-plugins\n/.test(stderr)) {
            stopping = run('bash', [path.join(root, 'scripts/engine.sh'), 'stop']);
          }
        },
      },
    );
    await stopping;
    await run('bash', [path.join(root, 'scripts/engine.sh'), 'start']);

    expect(result.exitCode).toBe(3);
    const { error } = JSON.parse(result.stdout);
    expect(error.message).toMatch(/no Docker engine answers/);
    expect(error.hint).toMatch(/start Docker/);
    expect(await snapshot(plugins)).toEqual(before);
    expect(await snapshot(out)).toEqual({});

    // The daemon took the container down with it; what is left of it, prune removes.
    const pruned = await runCli(['prune', '--json']);
    expect(pruned.exitCode).toBe(0);
    expect(JSON.parse(pruned.stdout).removedContainers).toHaveLength(1);
  });
});
