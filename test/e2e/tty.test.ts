/**
 * The live progress on a real pseudo-terminal: tmux runs the bundled CLI in a 120×40 pane, and the
 * screen it leaves is read back with capture-pane, as a person would see it.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { BUILD_STEPS } from '../../src/commands/build/steps';
import { cli, digest, examples, exists, fixtureArgs, root, tempDir } from './helpers';

const run = promisify(execFile);
/** A tmux server of this file's own, without the user's configuration. */
const SOCKET = `d7y-tty-${process.pid}`;
const tmux = async (...args: string[]): Promise<string> => (await run('tmux', ['-L', SOCKET, '-f', '/dev/null', ...args])).stdout;
const quote = (word: string): string => `'${word.replace(/'/g, `'\\''`)}'`;
/** How long a warm build of examples/d7yfs may take before the test gives up on it. */
const DEADLINE_MS = 5 * 60_000;

let session: string | undefined;
// The server ends with its last session.
afterEach(async () => {
  if (session !== undefined) await tmux('kill-session', '-t', session);
  session = undefined;
});

interface Screen {
  exitCode: number;
  /** The pane's text, wrapped lines joined. */
  text: string;
  /** The same with its colours and attributes as escape sequences. */
  painted: string;
}

/** Runs the CLI in a fresh tmux pane (CI, NO_COLOR and FORCE_COLOR unset but for `env`) and returns the screen it leaves. */
async function onTerminal(args: string[], env: Record<string, string>, dir: string): Promise<Screen> {
  const exitFile = path.join(dir, 'exit');
  const command = ['env', '-u', 'CI', '-u', 'NO_COLOR', '-u', 'FORCE_COLOR', `D7Y_CACHE_DIR=${path.join(inject('scratch'), 'cache')}`];
  command.push(...Object.entries(env).map(([name, value]) => `${name}=${value}`), process.execPath, cli, ...args);
  // The pane outlives the CLI, so that its screen can be read; the exit code goes to a file.
  const script = `${command.map(quote).join(' ')}; echo $? > ${quote(exitFile)}; exec sleep 3600`;
  session = `tty-${randomBytes(4).toString('hex')}`;
  await tmux('new-session', '-d', '-s', session, '-x', '120', '-y', '40', '-c', root, script);
  const started = Date.now();
  while (!(await exists(exitFile))) {
    if (Date.now() - started > DEADLINE_MS)
      throw new Error(`the build did not end within ${DEADLINE_MS / 1000}s:\n${await tmux('capture-pane', '-p', '-J', '-t', session)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  const [exitCode, text, painted] = await Promise.all([
    run('cat', [exitFile]).then((r) => Number(r.stdout.trim())),
    tmux('capture-pane', '-p', '-J', '-t', session),
    tmux('capture-pane', '-p', '-J', '-e', '-t', session),
  ]);
  return { exitCode, text, painted };
}

/** What the screen must show after a build: each step once, done, with its duration; the summary; the path. */
async function expectFinishedScreen(screen: Screen, out: string, plugins: string): Promise<void> {
  expect(screen.exitCode, screen.text).toBe(0);
  const lines = screen.text.split('\n').filter((l) => l.trim() !== '');
  // Nothing of the cursor movement or colour shows as text, and no spinner or detail line is left.
  expect(screen.text).not.toMatch(/\x1b|\^\[|\[\d*[ABJK]|\[\d+(;\d+)*m/);
  expect(screen.text).not.toMatch(/[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏]/);

  const head = lines.findIndex((l) => /^d7y-build \S+: resource plugin d7yfs against Dragonfly v2\.1\.0$/.test(l));
  const summary = lines.findIndex((l) => /^built in [\d.]+m?s \(13 steps\):$/.test(l));
  expect(head, screen.text).toBe(0);
  expect(summary, screen.text).toBeGreaterThan(head);
  // Between them, only the finished steps, in order, each once, and warnings.
  const steps = lines.slice(head + 1, summary).filter((l) => !l.startsWith('warning: '));
  expect(steps.map((l) => /^✔ \[ *(\d+)\/13\] (\S+) +\d+(?:\.\d)?m?s$/.exec(l)?.slice(1))).toEqual(BUILD_STEPS.map((s, i) => [String(i + 1), s.name]));

  const installed = path.join(plugins, 'd7y-resource-plugin-d7yfs.so');
  const sha = async (file: string) => `sha256:${(await digest(file)).slice(0, 12)}`;
  expect(lines.slice(summary + 1)).toEqual([
    expect.stringMatching(new RegExp(`^  host +\\d+ [KM]iB  ${await sha(path.join(out, 'bin/dfget'))}  ${path.join(out, 'bin/dfget')}$`)),
    expect.stringMatching(
      new RegExp(`^  loader check +\\d+ [KM]iB  ${await sha(path.join(out, 'bin/d7y-loadcheck'))}  ${path.join(out, 'bin/d7y-loadcheck')}$`),
    ),
    expect.stringMatching(new RegExp(`^  plugin +\\d+ [KM]iB  ${await sha(installed)}  ${path.join(out, 'plugins/d7y-resource-plugin-d7yfs.so')}$`)),
    `provenance ${path.join(out, 'provenance.intoto.json')}, SBOM ${path.join(out, 'sbom.cdx.json')}`,
    `installed into ${plugins}: d7y-resource-plugin-d7yfs.so`,
    expect.stringMatching(/^host cache: (hit, the host taken from it|miss, the host built and stored) \(key [0-9a-f]{12}\)$/),
    installed, // stdout
  ]);
}

describe('on a terminal', () => {
  const build = (work: string) => [
    ...fixtureArgs('v2.1.0'),
    '--out',
    path.join(work, 'out'),
    '--plugins-dir',
    path.join(work, 'plugins'),
    path.join(examples, 'd7yfs'),
  ];

  it('shows the steps live, leaves each done with its duration, then the summary, in colour', async () => {
    await using work = await tempDir('tty-');
    const screen = await onTerminal(build(work.path), {}, work.path);
    await expectFinishedScreen(screen, path.join(work.path, 'out'), path.join(work.path, 'plugins'));
    expect(screen.painted).toMatch(/\x1b\[32m✔/);
  });

  it('paints nothing with NO_COLOR', async () => {
    await using work = await tempDir('tty-');
    const screen = await onTerminal(build(work.path), { NO_COLOR: '1' }, work.path);
    await expectFinishedScreen(screen, path.join(work.path, 'out'), path.join(work.path, 'plugins'));
    expect(screen.painted).not.toMatch(/\x1b/);
  });
});
