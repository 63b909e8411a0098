/**
 * The README's "A day with a plugin", run as written: the shell block under the
 * `<!-- day-in-the-life -->` marker, from the repository root, with bash. It scaffolds, builds,
 * watches an edit, and installs against the fixture Dragonfly it generates itself.
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { leftoverContainers, root } from './helpers';

const MARKER = '<!-- day-in-the-life -->';

/** The first ```sh block after the marker. */
async function dayScript(): Promise<string> {
  const readme = await readFile(path.join(root, 'README.md'), 'utf8');
  const at = readme.indexOf(MARKER);
  expect(at, `README.md has no ${MARKER}`).toBeGreaterThan(0);
  const block = /```sh\n([\s\S]*?)\n```/.exec(readme.slice(at));
  expect(block, 'no sh block after the marker').not.toBeNull();
  return block![1]!;
}

function bash(script: string): Promise<{ exitCode: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    // The block's own `set -euo pipefail` stops it at the first failing command.
    const child = spawn('bash', ['-c', script], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, CI: '1' } });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('error', reject);
    child.on('close', (exitCode) => resolve({ exitCode, output }));
  });
}

describe('README: a day with a plugin', () => {
  it('runs as written: init, build, a watched edit rebuilt and loaded, install', async () => {
    const { exitCode, output } = await bash(await dayScript());
    expect(exitCode, output).toBe(0);
    // doctor said yes; init wrote the config that the builds then followed.
    expect(output).toMatch(/^type: resource$/m);
    expect(output).toMatch(/^commit: "v2\.1\.0"$/m);
    // The first build installed; the edit was rebuilt in the watch's container and loaded by dfget.
    expect(output).toMatch(/d7y-resource-plugin-myfs\.so$/m);
    expect(output).toMatch(/watch: rebuilt myfs in [\d.]+m?s, loaded by dfget; installed .*d7y-resource-plugin-myfs\.so/);
    expect(output).toContain('watch ended with exit 130');
    // install: validated by the host, then written.
    expect(output).toMatch(/node-plugins\/d7y-resource-plugin-myfs\.so$/m);
    expect(await leftoverContainers()).toEqual([]);
  });
});
