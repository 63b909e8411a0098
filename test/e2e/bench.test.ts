/**
 * The benchmark's smoke run: every case runs once against the fixture and the offline Go image, the
 * report has every row with positive numbers, and nothing of the bench is left on the engine. It
 * never asserts speed: CI machines differ.
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { docker, fixtureSha, leftoverContainers, root, tempDir } from './helpers';

const TIMED = [
  'classic',
  'ours cold',
  'floor',
  'ours warm',
  'plugins in one call',
  'plugins in separate calls',
  'ours warm, large context',
  'imported cache on a fresh engine',
  '--help',
  'node -e 0',
  'peak RSS, warm',
  'peak RSS, large context',
  'floor CPU',
];
const RATIOS = [
  'warm / floor',
  'cold / classic',
  'imported / cold',
  'one call / separate calls',
  "one call's compile bound / separate calls",
  '--help / node -e 0',
];

function runBench(args: string[]): Promise<{ exitCode: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(root, 'bench/run.mjs'), ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (exitCode) => resolve({ exitCode, stdout, stderr }));
  });
}

/** The cells of the table row whose first cell is name. */
function row(report: string, name: string): string[] {
  const line = report.split('\n').find((l) => l.startsWith(`| ${name} |`));
  expect(line, `row "${name}"`).toBeDefined();
  return line!
    .split('|')
    .slice(1, -1)
    .map((c) => c.trim());
}

describe('npm run bench', () => {
  it('--smoke runs every case once and reports each row with positive numbers', async () => {
    await using work = await tempDir('bench-');
    const out = path.join(work.path, 'RESULTS.md');
    const result = await runBench(['--smoke', '--out', out, '--repo', inject('fixtureRepo'), '--commit', 'v2.1.0', '--go-image', inject('goImage')]);
    expect(result.exitCode, result.stderr).toBe(0);

    const report = await readFile(out, 'utf8');
    for (const name of TIMED) {
      const [, median, min, max, unit, runs] = row(report, name);
      const [med, lo, hi] = [median, min, max].map(Number);
      expect(med, name).toBeGreaterThan(0);
      expect(lo, name).toBeGreaterThan(0);
      expect(hi, name).toBeGreaterThanOrEqual(med!);
      expect(med, name).toBeGreaterThanOrEqual(lo!);
      expect(['s', 'ms', 'MB'], name).toContain(unit);
      expect(Number(runs), name).toBeGreaterThanOrEqual(1);
    }
    for (const name of RATIOS) expect(Number(row(report, name)[1]), name).toBeGreaterThan(0);
    // The plugins always compile; the host compiles beside them on a host cache miss (then
    // compile-host only waits for it, and may take no measurable time) or comes from the cache.
    const plugins = row(report, 'compile-plugins').slice(1, 5).map(Number);
    const host = row(report, 'compile-host').slice(1, 5).map(Number);
    for (const [i, column] of ['cold', 'warm', 'one call', 'imported'].entries()) {
      expect(plugins[i], `compile-plugins, ${column}`).toBeGreaterThan(0);
      expect(host[i], `compile-host, ${column}`).toBeGreaterThanOrEqual(0);
    }
    // The same table on stdout.
    expect(result.stdout).toContain(report.slice(report.indexOf('| case |'), report.indexOf('\n\n## Machine')));

    expect(report).toMatch(/^- CPU: .+, \d+ cores$/m);
    expect(report).toMatch(/^- Docker: \d+\./m);
    expect(report).toContain(`- Go image: ${inject('goImage')} (`);
    expect(report).toContain(`at v2.1.0 (${await fixtureSha('v2.1.0')})`);

    // Its floor container and classic images are gone, and so is every build container.
    expect(await docker('ps', '-aq', '--filter', 'label=io.d7y-build-bench')).toBe('');
    expect(await docker('images', '-q', '--filter', 'label=io.d7y-build-bench')).toBe('');
    expect(await leftoverContainers()).toEqual([]);
  });
});
