/**
 * A matrix against the real engine and the fixture Dragonfly: two commits built into their cell
 * directories, a bad ref failing its cell while the other builds (exit 18), --fail-fast, and a cell
 * of `d7y-build matrix --format github` built alone into the bytes the matrix built.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { examples, exists, fixtureSha, leftoverContainers, runCli, snapshot, tempDir } from './helpers';

const PLUGIN = path.join(examples, 'd7yfs');
/** The fixture repository and the offline Go image, for every cell. */
const fixture = () => ['--repo', inject('fixtureRepo'), '--go-image', inject('goImage')];

afterEach(async () => {
  expect(await leftoverContainers()).toEqual([]);
});

async function manifestCommit(dir: string): Promise<string> {
  const manifest = JSON.parse(await readFile(path.join(dir, 'manifest.json'), 'utf8')) as { dragonfly: { commit: string } };
  return manifest.dragonfly.commit;
}

interface Cell {
  ref: string;
  status: string;
  out: string;
  result?: { commit: string; installed: string[] };
  error?: { code: string; exitCode: number; message: string; hint?: string };
}

describe('d7y-build --commit a,b: a matrix of commits', () => {
  it('builds each commit into its cell directory, and a cell that matrix --format github prints builds the same bytes alone', async () => {
    await using work = await tempDir();
    const out = path.join(work.path, 'out');
    const run = await runCli(['--commit', 'v2.1.0,v2.1.1', ...fixture(), '--out', out, '--json', PLUGIN]);
    expect(run.stderr).not.toMatch(/error:/);
    expect(run.exitCode).toBe(0);
    // A header line per cell, timestamped or not.
    expect(run.stderr).toMatch(/^(\d\d:\d\d:\d\d )?cell 1\/2: Dragonfly v2\.1\.0 on linux\/amd64/m);
    expect(run.stderr).toMatch(/^(\d\d:\d\d:\d\d )?cell 2\/2: Dragonfly v2\.1\.1 on linux\/amd64/m);

    const outcome = JSON.parse(run.stdout) as { ok: boolean; cells: Cell[]; summary: string };
    expect(outcome.ok).toBe(true);
    expect(outcome.summary).toBe(path.join(out, 'matrix.json'));
    // Nothing is installed by a matrix: the plugins are in each cell's directory.
    const shas = [await fixtureSha('v2.1.0'), await fixtureSha('v2.1.1')];
    expect(outcome.cells.map((c) => [c.ref, c.status, c.out, c.result?.commit, c.result?.installed])).toEqual([
      ['v2.1.0', 'passed', path.join(out, 'v2.1.0/linux-amd64'), shas[0], []],
      ['v2.1.1', 'passed', path.join(out, 'v2.1.1/linux-amd64'), shas[1], []],
    ]);
    expect(await manifestCommit(path.join(out, 'v2.1.0/linux-amd64'))).toBe(shas[0]);
    expect(await manifestCommit(path.join(out, 'v2.1.1/linux-amd64'))).toBe(shas[1]);
    expect(await exists(path.join(out, 'v2.1.1/linux-amd64/plugins/d7y-resource-plugin-d7yfs.so'))).toBe(true);
    const summary = JSON.parse(await readFile(path.join(out, 'matrix.json'), 'utf8')) as { ok: boolean; cells: Cell[] };
    expect(summary.ok).toBe(true);
    expect(summary.cells.map((c) => c.result?.commit)).toEqual(shas);

    // The CI's matrix, from the same flags; its second cell built as a CI job would, alone.
    const printed = await runCli(['matrix', '--format', 'github', '--commit', 'v2.1.0,v2.1.1', '--out', 'out', 'd7yfs'], { cwd: work.path });
    expect(printed.exitCode).toBe(0);
    expect(printed.stdout.trim().split('\n')).toHaveLength(1);
    const { include } = JSON.parse(printed.stdout) as { include: Array<{ commit: string; platform: string; out: string; plugins: string }> };
    expect(include).toEqual([
      { commit: 'v2.1.0', platform: 'linux/amd64', out: 'out/v2.1.0/linux-amd64', plugins: 'd7yfs' },
      { commit: 'v2.1.1', platform: 'linux/amd64', out: 'out/v2.1.1/linux-amd64', plugins: 'd7yfs' },
    ]);
    const cell = include[1]!;
    const alone = path.join(work.path, 'alone');
    const single = await runCli(
      ['--commit', cell.commit, ...fixture(), '--out', path.join(alone, cell.out), '--plugins-dir', path.join(work.path, 'plugins'), PLUGIN],
      { cwd: work.path },
    );
    expect(single.stderr).not.toMatch(/error:/);
    expect(single.exitCode).toBe(0);
    expect(await manifestCommit(path.join(alone, cell.out))).toBe(shas[1]);
    const bytes = async (dir: string) => {
      const all = await snapshot(dir);
      return Object.fromEntries(Object.entries(all).filter(([name]) => name.startsWith('bin/') || name.startsWith('plugins/')));
    };
    expect(await bytes(path.join(alone, cell.out))).toEqual(await bytes(path.join(work.path, cell.out)));
  });

  it('fails the cell of a bad ref with its reason while the other builds, and exits 18', async () => {
    await using work = await tempDir();
    const out = path.join(work.path, 'out');
    const run = await runCli(['--commit', 'no-such-ref,v2.1.0', ...fixture(), '--out', out, PLUGIN]);
    expect(run.exitCode).toBe(18);
    expect(run.stderr).toMatch(/^(\d\d:\d\d:\d\d )?matrix: 1 of 2 cells passed/m);
    expect(run.stderr).toMatch(/^(\d\d:\d\d:\d\d )? {2}no-such-ref +d7yfs +linux\/amd64 +failed: .+ \(exit 4\)$/m);
    expect(run.stderr).toMatch(/^(\d\d:\d\d:\d\d )? {2}v2\.1\.0 +d7yfs +linux\/amd64 +loaded$/m);
    expect(run.stderr).toMatch(/^error: 1 of 2 matrix cells failed: no-such-ref \(source, exit 4\)$/m);
    expect(await manifestCommit(path.join(out, 'v2.1.0/linux-amd64'))).toBe(await fixtureSha('v2.1.0'));
    expect(await exists(path.join(out, 'no-such-ref/linux-amd64/manifest.json'))).toBe(false);
    expect(run.stdout).toBe('');
    const summary = JSON.parse(await readFile(path.join(out, 'matrix.json'), 'utf8')) as { ok: boolean; cells: Cell[] };
    expect(summary.ok).toBe(false);
    expect(summary.cells.map((c) => [c.ref, c.status, c.error?.code, c.error?.exitCode])).toEqual([
      ['no-such-ref', 'failed', 'source', 4],
      ['v2.1.0', 'passed', undefined, undefined],
    ]);
    expect(summary.cells[0]!.error?.hint).toBeTruthy();
  });

  it('with --fail-fast, stops at the first failed cell', async () => {
    await using work = await tempDir();
    const out = path.join(work.path, 'out');
    const run = await runCli(['--commit', 'no-such-ref,v2.1.0', '--fail-fast', ...fixture(), '--out', out, '--json', PLUGIN]);
    expect(run.exitCode).toBe(18);
    const outcome = JSON.parse(run.stdout) as { ok: boolean; error: { code: string; exitCode: number }; cells: Cell[] };
    expect(outcome).toMatchObject({ ok: false, error: { code: 'matrix-partly-failed', exitCode: 18 } });
    expect(outcome.cells.map((c) => [c.ref, c.status])).toEqual([
      ['no-such-ref', 'failed'],
      ['v2.1.0', 'skipped'],
    ]);
    expect(await exists(path.join(out, 'v2.1.0'))).toBe(false);
  });
});
