/**
 * Interruptions at every step: SIGINT and SIGTERM remove the container and temp files and exit
 * 130/143 with nothing installed; SIGKILL leaves only labelled resources, which prune removes while
 * sparing a build that is still running.
 */
import { mkdir, readdir } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BUILD_STEPS } from '../../src/commands/build/steps';
import { docker, examples, fixtureArgs, leftoverContainers, runCli, snapshot, tempDir } from './helpers';

afterEach(async () => {
  expect(await leftoverContainers()).toEqual([]);
});

/** Runs a build and sends `signal` the moment stderr shows `step` starting. */
async function interruptAt(step: string, signal: NodeJS.Signals, dir: string, extra: string[] = []) {
  const tmp = path.join(dir, 'tmp');
  await mkdir(tmp);
  let sent = false;
  const run = await runCli(
    [...fixtureArgs('v2.1.1'), '--out', path.join(dir, 'out'), '--plugins-dir', path.join(dir, 'plugins'), ...extra, path.join(examples, 'd7yfs')],
    {
      env: { TMPDIR: tmp },
      onStderr: (child, stderr) => {
        if (!sent && new RegExp(`\\] ${step}\\n`).test(stderr)) {
          sent = true;
          child.kill(signal);
        }
      },
    },
  );
  return { run, sent, tmp };
}

describe('SIGINT and SIGTERM at every step', () => {
  const cases = BUILD_STEPS.map((s, i) => ({ step: s.name, signal: (i % 2 === 0 ? 'SIGINT' : 'SIGTERM') as NodeJS.Signals }));

  it.each(cases)('$signal during $step', async ({ step, signal }) => {
    await using work = await tempDir('sig-');
    const { run, sent, tmp } = await interruptAt(step, signal, work.path);
    expect(sent).toBe(true);
    expect(await readdir(tmp)).toEqual([]); // temp dirs and files removed
    if (run.exitCode === 0) {
      // The last steps can finish before the signal is handled: then everything is installed.
      // collect-artifacts and verify only wait for work that validate started.
      expect(['collect-artifacts', 'verify', 'install']).toContain(step);
      expect(Object.keys(await snapshot(path.join(work.path, 'plugins')))).toEqual(['d7y-resource-plugin-d7yfs.so']);
      return;
    }
    expect(run.exitCode).toBe(signal === 'SIGTERM' ? 143 : 130);
    expect(run.stderr).toContain(`interrupted by ${signal}`);
    expect(await snapshot(path.join(work.path, 'plugins'))).toEqual({});
    expect(await snapshot(path.join(work.path, 'out'))).toEqual({});
  });
});

describe('SIGKILL and prune', () => {
  it('prune removes what a killed build left and spares a running one', async () => {
    await using work = await tempDir('kill-');
    // A tree already on the engine is not sent again: without the source trees, this build exports one into a temp dir.
    for (const volume of (await docker('volume', 'ls', '-q', '--filter', 'name=d7y-build-src-')).split('\n').filter((v) => v !== '')) {
      await docker('volume', 'rm', volume);
    }
    const killed = await interruptAt('compile-plugins', 'SIGKILL', work.path);
    expect(killed.sent).toBe(true);
    expect(killed.run.signal).toBe('SIGKILL');
    const left = await leftoverContainers();
    expect(left).toHaveLength(1);
    expect((await readdir(killed.tmp)).some((n) => /^d7y-build-\d+-source-/.test(n))).toBe(true);

    // A build that is still running while prune runs: its container must survive. The build is
    // stopped (SIGSTOP) once it compiles, so it is surely still running while prune looks, and goes
    // on (SIGCONT) when prune is done.
    const runningDir = path.join(work.path, 'running');
    await mkdir(runningDir);
    let pruning: ReturnType<typeof runCli> | undefined;
    const running = runCli(
      [...fixtureArgs('v2.1.1'), '--out', path.join(runningDir, 'out'), '--plugins-dir', path.join(runningDir, 'plugins'), path.join(examples, 'd7yfs')],
      {
        onStderr: (child, stderr) => {
          if (pruning === undefined && /\] compile-plugins\n/.test(stderr)) {
            child.kill('SIGSTOP');
            pruning = runCli(['prune', '--json', '--plugins-dir', path.join(runningDir, 'plugins')], { env: { TMPDIR: killed.tmp } }).finally(() =>
              child.kill('SIGCONT'),
            );
          }
        },
      },
    );
    const done = await running;
    expect(done.stderr).not.toMatch(/error:/);
    expect(done.exitCode).toBe(0);
    expect(pruning).toBeDefined();
    const pruned = await pruning!;
    expect(pruned.exitCode).toBe(0);
    const result = JSON.parse(pruned.stdout);
    expect(result.removedContainers.map((id: string) => id.slice(0, 12))).toEqual(left);
    expect(result.sparedContainers).toHaveLength(1); // the running build's
    expect(await readdir(killed.tmp)).toEqual([]);
  });
});
