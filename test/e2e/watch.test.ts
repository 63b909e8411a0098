/**
 * --watch through the bundled CLI, a real engine and the fixture Dragonfly: the first build installs;
 * an edit of the plugin is rebuilt in the same container and installed, and the host loads the new
 * build; an edit that does not compile is reported and leaves the installed plugin as it was, and
 * the watch goes on; SIGINT ends it with 130 and no container left.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { cp, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { cli, digest, docker, examples, fixtureArgs, leftoverContainers, root, runHost, tempDir } from './helpers';

/** A line start: progress lines carry the time of day when stderr is no terminal. */
const LINE = '^(?:\\d\\d:\\d\\d:\\d\\d )?';
const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The watching CLI: its output so far, and waits for what it writes, each bounded by a deadline. */
class Watching {
  stdout = '';
  stderr = '';
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private readonly child: ChildProcess;
  private listeners: Array<() => void> = [];

  constructor(args: string[], env: Record<string, string>) {
    this.child = spawn(process.execPath, [cli, ...args], {
      cwd: root,
      env: { ...process.env, D7Y_CACHE_DIR: path.join(inject('scratch'), 'cache'), NO_COLOR: '1', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const notify = () => this.listeners.forEach((l) => l());
    this.child.stdout!.on('data', (d: Buffer) => ((this.stdout += d.toString()), notify()));
    this.child.stderr!.on('data', (d: Buffer) => ((this.stderr += d.toString()), notify()));
    this.exit = new Promise((resolve) => this.child.on('close', (code, signal) => (resolve({ code, signal }), notify())));
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Where stderr ends now: waits after a change look only at what comes after it. */
  mark(): number {
    return this.stderr.length;
  }

  /** The first match of pattern in stderr after `from`, within ms; fails naming what was awaited, with the output's tail. */
  async waitFor(pattern: RegExp, from: number, ms: number, what: string): Promise<RegExpMatchArray> {
    const deadline = Date.now() + ms;
    for (;;) {
      const found = this.stderr.slice(from).match(pattern);
      if (found) return found;
      const tail = `\n--- stderr (end) ---\n${this.stderr.slice(-4000)}`;
      if (!this.running) throw new Error(`d7y-build --watch exited (${this.child.exitCode ?? this.child.signalCode}) before ${what}${tail}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${what} within ${ms / 1000}s${tail}`);
      // Woken by the next output or exit, or at the deadline.
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.listeners.push(() => (clearTimeout(timer), resolve()));
      });
      this.listeners = [];
    }
  }

  async stop(signal: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    this.child.kill(signal);
    return this.exit;
  }
}

let watching: Watching | undefined;

afterEach(async () => {
  // A failed test must not leave the watch running: SIGINT removes its container like a user's Ctrl-C.
  if (watching?.running) await watching.stop('SIGINT');
  watching = undefined;
  expect(await leftoverContainers()).toEqual([]);
});

describe('d7y-build --watch', () => {
  it('rebuilds an edited plugin in the same container, keeps the installed one on a compile error, and stops on SIGINT', { timeout: 20 * 60_000 }, async () => {
    await using work = await tempDir();
    const pluginDir = path.join(work.path, 'd7yfs');
    await cp(path.join(examples, 'd7yfs'), pluginDir, { recursive: true });
    const source = path.join(pluginDir, 'd7yfs.go');
    const out = path.join(work.path, 'out');
    const plugins = path.join(work.path, 'plugins');
    const installed = path.join(plugins, 'd7y-resource-plugin-d7yfs.so');
    const host = path.join(out, 'bin', 'dfget');

    watching = new Watching([...fixtureArgs('v2.1.0'), '--out', out, '--plugins-dir', plugins, '--watch', pluginDir], { SOURCE_DATE_EPOCH: '1704164645' });
    const w = watching;

    // The first build: the whole pipeline, installed, then watching.
    const built = await w.waitFor(new RegExp(`${LINE}watch: built d7yfs in \\S+, loaded by dfget; installed (.*)$`, 'm'), 0, 10 * 60_000, 'first build');
    expect(built[1]).toBe(installed);
    for (const step of ['check-inputs', 'resolve-source', 'compile-host', 'validate', 'install']) expect(w.stderr).toContain(step);
    await w.waitFor(new RegExp(`${LINE}watching ${escape(pluginDir)} \\(Ctrl-C to stop\\)$`, 'm'), built.index!, 60_000, 'the watching line');
    expect(w.stdout).toBe(`${installed}\n`);
    const first = await digest(installed);
    const [container] = await leftoverContainers();
    expect(container).toBeDefined();
    expect(await runHost(host, plugins, ['-u', 'd7yfs://example/a'])).toMatchObject({ exitCode: 0, stdout: 'hello from d7yfs: example/a\n' });

    // An edit: new content and a new metadata key, rebuilt and installed; the host loads the new build.
    let from = w.mark();
    const original = await readFile(source, 'utf8');
    const edited = original
      .replace('"hello from d7yfs: ', '"hello again from d7yfs: ')
      .replace('"scheme":      "d7yfs",', '"scheme": "d7yfs", "edition": "2",');
    expect(edited).not.toBe(original);
    await writeFile(source, edited);
    const rebuilt = await w.waitFor(
      new RegExp(`${LINE}watch: rebuilt d7yfs in \\S+, loaded by dfget; installed (.*)$`, 'm'),
      from,
      5 * 60_000,
      'rebuild after the edit',
    );
    expect(rebuilt[1]).toBe(installed);
    const round = w.stderr.slice(from);
    // The round is the plugin side only: no new container, no host build.
    for (const step of ['check-sources', 'upload-plugins', 'check-api', 'compile-plugins', 'validate', 'collect-artifacts', 'install'])
      expect(round).toContain(step);
    for (const step of ['start-container', 'compile-host', 'resolve-source']) expect(round).not.toContain(step);
    expect(round).toMatch(/dfget plugin: resource plugin d7yfs loads, attribute \{[^\n]*"edition":"2"/);
    expect(await leftoverContainers()).toEqual([container]);
    expect(w.stdout).toBe(`${installed}\n${installed}\n`);
    const second = await digest(installed);
    expect(second).not.toBe(first);
    expect(await digest(path.join(out, 'plugins', 'd7y-resource-plugin-d7yfs.so'))).toBe(second);
    const listed = await runHost(host, plugins, ['plugin']);
    expect(listed.stdout).toMatch(/^resource plugin: d7yfs, location: d7y-resource-plugin-d7yfs\.so, attribute: \{.*"edition":"2"/m);
    expect(await runHost(host, plugins, ['-u', 'd7yfs://example/b'])).toMatchObject({ exitCode: 0, stdout: 'hello again from d7yfs: example/b\n' });
    await w.waitFor(new RegExp(`${LINE}watching ${escape(pluginDir)} \\(Ctrl-C to stop\\)$`, 'm'), rebuilt.index! + from, 60_000, 'watching after the rebuild');

    // An edit that does not compile: the error and its hint, the installed plugin byte for byte as it was, still watching.
    from = w.mark();
    await writeFile(source, `${edited}\nfunc broken() int { return "not an int" }\n`);
    const failed = await w.waitFor(
      /watch: rebuilding d7yfs failed at compile-plugins after \S+; the installed plugins are unchanged$/m,
      from,
      5 * 60_000,
      'failed rebuild',
    );
    // The error block follows the result line: the next "watching" line ends it.
    await w.waitFor(
      new RegExp(`${LINE}watching ${escape(pluginDir)} \\(Ctrl-C to stop\\)$`, 'm'),
      failed.index! + from,
      60_000,
      'watching after the failed rebuild',
    );
    const after = w.stderr.slice(from);
    expect(after).toMatch(/^error: plugin d7yfs does not compile against Dragonfly v2\.1\.0 \([0-9a-f]{7}\) \[compile-plugins\]$/m);
    expect(after).toMatch(/cannot use "not an int"/);
    expect(after).toMatch(/^hint: fix the errors shown/m);
    expect(after).not.toMatch(/watch: rebuilt/);
    expect(w.running).toBe(true);
    expect(await digest(installed)).toBe(second);
    expect(w.stdout).toBe(`${installed}\n${installed}\n`);

    // Ctrl-C: the container removed, exit 130, the installed plugin still the last good one.
    const ended = await w.stop('SIGINT');
    expect(ended).toEqual({ code: 130, signal: null });
    expect(w.stderr).toMatch(/^error: interrupted by SIGINT \[watch\]$/m);
    expect(w.stderr).toMatch(/^hint: the watch stopped: what the last good build installed stays; the build container was removed$/m);
    expect(await docker('ps', '-aq', '--filter', 'label=io.d7y-build.run')).toBe('');
    expect(await digest(installed)).toBe(second);
  });
});
