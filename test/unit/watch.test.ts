/**
 * The watch step over the real runner, with a fake watcher and fake round steps, on fake timers:
 * a burst of changes makes one round once it settles, what the upload leaves out makes none, a
 * failing round is reported and the watch goes on, changes during a round make another, and the
 * signal ends the watch with the session's cleanups run.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { watchStep, WATCH_STOPPED_HINT, type WatchDir } from '../../src/commands/build/watch';
import type { BuildContext } from '../../src/commands/build/state';
import { resolveSpec } from '../../src/config';
import { CompileError, InterruptedError, UsageError, type D7yError } from '../../src/errors';
import { nullLogger } from '../../src/log';
import { PipelineError, runSteps, type Step } from '../../src/session/runner';
import { newSession, type SourceFacts } from '../../src/session/session';
import { FakeEngine } from './fake-engine';

const DEBOUNCE = 300;

/** fs.watch stood in for: the test reports changes and errors by hand. */
class FakeWatch {
  watched: Array<{ dir: string; change: (file: string | undefined) => void; fail: (err: Error) => void; closed: boolean }> = [];
  watch: WatchDir = (dir, change, fail) => {
    const entry = { dir, change, fail, closed: false };
    this.watched.push(entry);
    return { close: () => (entry.closed = true) };
  };
  change(...files: string[]): void {
    for (const file of files) this.watched[0]!.change(file);
  }
}

let root: string;
let pluginDir: string;
beforeEach(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'd7y-watch-'));
  pluginDir = path.join(root, 'myfs');
  await mkdir(pluginDir);
  await writeFile(path.join(pluginDir, '.gitignore'), 'notes.txt\n');
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
});
afterEach(async () => {
  vi.useRealTimers();
  await rm(root, { recursive: true, force: true });
});

/** A session after a good first build of myfs: its sources read, its host known, its plugin installed. */
function session(signal: AbortSignal, lines: string[]): BuildContext {
  const spec = resolveSpec([pluginDir], { commit: 'v2.1.0', out: path.join(root, 'out'), pluginsDir: path.join(root, 'plugins') }, { HOME: root }, root);
  const log = { ...nullLogger, headline: (line: string) => lines.push(line) };
  return {
    ...newSession('run-1', spec, { engine: new FakeEngine(), log }, signal),
    spec,
    state: {
      pluginSources: new Map([['myfs', { dir: pluginDir, entries: new Set(['']), files: new Set(), bytes: 0 }]]),
      source: { host: 'dfget' } as SourceFacts,
      outputs: {
        host: '',
        loadcheck: '',
        plugins: [],
        manifest: '',
        provenance: '',
        sbom: '',
        installed: [path.join(root, 'plugins', 'd7y-resource-plugin-myfs.so')],
      },
    },
  };
}

/** Runs a stand-in for the build's steps (one that registers a cleanup), then the watch, with rounds of `round`. */
function start(round: ReadonlyArray<Step<BuildContext>>) {
  const controller = new AbortController();
  const lines: string[] = [];
  const events: string[] = [];
  const installed: string[][] = [];
  const failed: D7yError[] = [];
  const fake = new FakeWatch();
  const ctx = session(controller.signal, lines);
  const build: Step<BuildContext> = {
    name: 'build',
    run: async (c) => void c.cleanups.push(async () => void events.push('container removed')),
  };
  const watch = watchStep({
    output: { installed: (files) => installed.push(files), failed: (error) => failed.push(error) },
    started: performance.now(),
    onStart: () => events.push('timeout ended'),
    round,
    watch: fake.watch,
    debounceMs: DEBOUNCE,
  });
  const run = runSteps([build, watch], ctx).then(
    () => undefined,
    (err: unknown) => err,
  );
  return { controller, lines, events, installed, failed, fake, run };
}

/** A round that counts, fails while `failing` says so, and installs like the real one. */
function rounds() {
  const state = { count: 0, failing: false, gate: undefined as Promise<void> | undefined };
  const steps: Array<Step<BuildContext>> = [
    {
      name: 'compile-plugins',
      run: async () => {
        state.count++;
        await state.gate;
        if (state.failing) throw new CompileError('plugin myfs does not compile', { hint: 'fix the errors shown', detail: './main.go:3: undefined: x' });
      },
    },
    {
      name: 'install',
      run: async (ctx) => {
        ctx.state.outputs = { ...ctx.state.outputs!, installed: [path.join(root, 'plugins', 'd7y-resource-plugin-myfs.so')] };
      },
    },
  ];
  return { state, steps };
}

const INSTALLED = () => path.join(root, 'plugins', 'd7y-resource-plugin-myfs.so');

describe('watch', () => {
  it('reports the build, runs one round for a burst of changes once they settle, none for what is left out; the signal ends it with the cleanups', async () => {
    const { state, steps } = rounds();
    const w = start(steps);
    await vi.waitFor(() => expect(w.fake.watched).toHaveLength(1));
    expect(w.fake.watched[0]!.dir).toBe(pluginDir);
    expect(w.events).toEqual(['timeout ended']);
    expect(w.lines[0]).toMatch(new RegExp(`^watch: built myfs in \\S+, loaded by dfget; installed ${INSTALLED()}$`));
    expect(w.lines[1]).toBe(`watching ${pluginDir} (Ctrl-C to stop)`);
    expect(w.installed).toEqual([[INSTALLED()]]);

    // What the upload leaves out (.git, .gitignore's patterns) starts nothing.
    w.fake.change('.git/index', 'notes.txt', 'sub/notes.txt');
    await vi.advanceTimersByTimeAsync(10 * DEBOUNCE);
    expect(state.count).toBe(0);

    // A burst: one round, DEBOUNCE after its last event.
    w.fake.change('main.go');
    await vi.advanceTimersByTimeAsync(100);
    w.fake.change('.main.go.swp', 'main.go');
    await vi.advanceTimersByTimeAsync(100);
    w.fake.change('main.go', '');
    await vi.advanceTimersByTimeAsync(DEBOUNCE - 1);
    expect(state.count).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    await vi.waitFor(() => expect(w.installed).toHaveLength(2));
    expect(state.count).toBe(1);
    expect(w.lines.slice(2)).toEqual([
      expect.stringMatching(/^watch: rebuilt myfs in \S+, loaded by dfget; installed /),
      `watching ${pluginDir} (Ctrl-C to stop)`,
    ]);
    await vi.advanceTimersByTimeAsync(10 * DEBOUNCE);
    expect(state.count).toBe(1);

    w.controller.abort(new InterruptedError('SIGINT'));
    const err = await w.run;
    expect(err).toBeInstanceOf(PipelineError);
    const error = (err as PipelineError).error;
    expect(error).toBeInstanceOf(InterruptedError);
    expect({ step: error.step, exitCode: error.exitCode, hint: error.hint }).toEqual({ step: 'watch', exitCode: 130, hint: WATCH_STOPPED_HINT });
    expect(w.events).toEqual(['timeout ended', 'container removed']);
    expect(w.fake.watched[0]!.closed).toBe(true);
  });

  it('reports a failing round with its error and goes on watching; the next change rebuilds', async () => {
    const { state, steps } = rounds();
    const w = start(steps);
    await vi.waitFor(() => expect(w.fake.watched).toHaveLength(1));

    state.failing = true;
    w.fake.change('main.go');
    await vi.advanceTimersByTimeAsync(DEBOUNCE);
    await vi.waitFor(() => expect(w.failed).toHaveLength(1));
    expect(w.failed[0]).toBeInstanceOf(CompileError);
    expect(w.failed[0]).toMatchObject({ step: 'compile-plugins', hint: 'fix the errors shown' });
    await vi.waitFor(() => expect(w.lines.at(-1)).toBe(`watching ${pluginDir} (Ctrl-C to stop)`));
    expect(w.lines.at(-2)).toMatch(/^watch: rebuilding myfs failed at compile-plugins after \S+; the installed plugins are unchanged$/);
    expect(w.installed).toHaveLength(1);

    state.failing = false;
    w.fake.change('main.go');
    await vi.advanceTimersByTimeAsync(DEBOUNCE);
    await vi.waitFor(() => expect(w.installed).toHaveLength(2));
    expect(state.count).toBe(2);

    w.controller.abort(new InterruptedError('SIGTERM'));
    expect(((await w.run) as PipelineError).error).toMatchObject({ exitCode: 143, step: 'watch' });
    expect(w.events).toContain('container removed');
  });

  it('a change during a round brings one more round after it', async () => {
    const { state, steps } = rounds();
    const w = start(steps);
    await vi.waitFor(() => expect(w.fake.watched).toHaveLength(1));
    let open!: () => void;
    state.gate = new Promise((resolve) => (open = resolve));

    w.fake.change('main.go');
    await vi.advanceTimersByTimeAsync(DEBOUNCE);
    await vi.waitFor(() => expect(state.count).toBe(1));
    w.fake.change('main.go');
    w.fake.change('util.go');
    await vi.advanceTimersByTimeAsync(DEBOUNCE);
    expect(state.count).toBe(1);
    open();
    await vi.waitFor(() => expect(w.installed).toHaveLength(3));
    expect(state.count).toBe(2);

    w.controller.abort(new InterruptedError('SIGINT'));
    await w.run;
  });

  it('ends with a usage error, cleanups run, when a directory can no longer be watched', async () => {
    const w = start(rounds().steps);
    await vi.waitFor(() => expect(w.fake.watched).toHaveLength(1));
    w.fake.watched[0]!.fail(Object.assign(new Error('inotify'), { code: 'ENOSPC' }));
    const error = ((await w.run) as PipelineError).error;
    expect(error).toBeInstanceOf(UsageError);
    expect(error.message).toBe(`cannot watch ${pluginDir} (ENOSPC)`);
    expect(error.hint).toMatch(/fs\.inotify\.max_user_watches/);
    expect(w.events).toContain('container removed');
    expect(w.fake.watched[0]!.closed).toBe(true);
  });
});
