/**
 * --watch: the build, then a last step that watches the plugin directories and, once a change has
 * settled, rebuilds the plugin side (ROUND_STEPS) in the same container, with the same host and
 * warm Go caches. A round that fails is reported and the watch goes on; what the last good round
 * installed stays. SIGINT or SIGTERM ends the watch like any build: the runner's cleanups remove
 * the container and the run exits 130 or 143.
 */
import { watch as fsWatch } from 'node:fs';
import path from 'node:path';
import ignore from 'ignore';
import { ignoreRules } from '../../artifacts/plugin-sources';
import { asD7yError, InternalError, InterruptedError, UsageError, type D7yError } from '../../errors';
import { formatDuration } from '../../log';
import { interruption, PipelineError, runSteps, type Step } from '../../session/runner';
import { need, type RunOptions } from '../../session/session';
import { runBuildSteps } from './index';
import type { BuildContext } from './state';
import { BUILD_STEPS, ROUND_STEPS } from './steps';
import type { BuildSpec } from '../../config';

/** How long the plugin directories must stay unchanged before a round starts: an editor's save is a burst of events. */
export const DEBOUNCE_MS = 300;

export const WATCH_STOPPED_HINT = 'the watch stopped: what the last good build installed stays; the build container was removed';

export interface Watcher {
  close(): void;
}

/**
 * Reports changes below dir: the changed path relative to dir ("" or undefined when unknown), or an
 * error when dir can no longer be watched. fs.watch, recursive, unless a test gives its own.
 */
export type WatchDir = (dir: string, onChange: (file: string | undefined) => void, onError: (err: Error) => void) => Watcher;

const watchRecursively: WatchDir = (dir, onChange, onError) => {
  const watcher = fsWatch(dir, { recursive: true }, (_event, file) => onChange(file ?? undefined));
  watcher.on('error', onError);
  return watcher;
};

/** Where the watch's results go besides the progress: the CLI writes them to stdout and stderr. */
export interface WatchOutput {
  /** A build or round installed these files. */
  installed(files: string[]): void;
  /** A round failed with this error (its message, evidence and hint). */
  failed(error: D7yError): void;
}

export interface WatchSettings {
  output: WatchOutput;
  /** When the build began (performance.now()), for the first result line. */
  started: number;
  /** Called as the watch begins: a watch is not bounded by --timeout. */
  onStart?: () => void;
  /** The steps of a round: ROUND_STEPS unless a test gives its own. */
  round?: ReadonlyArray<Step<BuildContext>>;
  watch?: WatchDir;
  debounceMs?: number;
}

function watchFailure(dir: string, err: unknown): UsageError {
  const code = (err as NodeJS.ErrnoException).code;
  return new UsageError(`cannot watch ${dir} (${code ?? (err instanceof Error ? err.message : String(err))})`, {
    hint:
      code === 'ENOSPC' || code === 'EMFILE'
        ? 'the system limits how many files a user may watch: raise fs.inotify.max_user_watches (sysctl), or build without --watch'
        : 'keep the plugin directory in place and readable while watching, or build without --watch',
    cause: err,
  });
}

/**
 * Watches dirs and calls round once they have stayed unchanged for debounceMs after a change that
 * ignores does not leave out; changes during a round bring another round after it. Returns when
 * the signal aborts, after the running round; throws when a directory can't be watched.
 */
export async function watchRounds(options: {
  dirs: Array<{ dir: string; ignores: (file: string) => boolean }>;
  watch: WatchDir;
  debounceMs: number;
  signal: AbortSignal;
  round: () => Promise<void>;
  /** Called whenever the watch waits for changes. */
  waiting: () => void;
}): Promise<void> {
  const { signal, debounceMs } = options;
  let changed = false;
  let settling: NodeJS.Timeout | undefined;
  let failure: D7yError | undefined;
  let wake: (() => void) | undefined;
  const poke = () => wake?.();
  const onChange = () => {
    changed = true;
    clearTimeout(settling);
    settling = setTimeout(() => {
      settling = undefined;
      poke();
    }, debounceMs);
  };
  const watchers: Watcher[] = [];
  signal.addEventListener('abort', poke);
  try {
    for (const { dir, ignores } of options.dirs) {
      const onError = (err: Error) => {
        failure ??= watchFailure(dir, err);
        poke();
      };
      try {
        watchers.push(options.watch(dir, (file) => (file === undefined || !ignores(file) ? onChange() : undefined), onError));
      } catch (err) {
        throw watchFailure(dir, err);
      }
    }
    for (;;) {
      options.waiting();
      while (!signal.aborted && failure === undefined && !(changed && settling === undefined)) {
        await new Promise<void>((resolve) => (wake = resolve));
      }
      if (failure !== undefined) throw failure;
      if (signal.aborted) return;
      changed = false;
      await options.round();
    }
  } finally {
    signal.removeEventListener('abort', poke);
    clearTimeout(settling);
    for (const w of watchers) w.close();
  }
}

/** Whether the rules leave out a path fs.watch reports; "" (the directory itself) and what they can't read are changes. */
function ignoredBy(rules: ignore.Ignore): (file: string) => boolean {
  return (file) => {
    const relative = file.split(path.sep).join('/');
    return ignore.isPathValid(relative) && rules.ignores(relative);
  };
}

/** The step that watches, after the build's last step; it ends only by the signal or a watch failure. */
export function watchStep(settings: WatchSettings): Step<BuildContext> {
  const { output, round = ROUND_STEPS, watch = watchRecursively, debounceMs = DEBOUNCE_MS } = settings;
  return {
    name: 'watch',
    async run(ctx): Promise<never> {
      settings.onStart?.();
      const names = ctx.spec.plugins.map((p) => p.name).join(', ');
      const host = need(ctx.state.source, 'the source').host;
      const result = (verb: string, ms: number, installed: string[]) => {
        ctx.log.headline(`watch: ${verb} ${names} in ${formatDuration(ms)}, loaded by ${host}; installed ${installed.join(', ')}`);
        output.installed(installed);
      };
      result('built', performance.now() - settings.started, need(ctx.state.outputs, 'the outputs').installed);

      const sources = [...need(ctx.state.pluginSources, 'the plugin sources').values()];
      const dirs = await Promise.all(sources.map(async (s) => ({ dir: s.dir, ignores: ignoredBy(await ignoreRules(s.dir)) })));
      await watchRounds({
        dirs,
        watch,
        debounceMs,
        signal: ctx.signal,
        waiting: () => ctx.log.headline(`watching ${ctx.spec.plugins.map((p) => p.dir).join(', ')} (Ctrl-C to stop)`),
        round: async () => {
          const started = performance.now();
          // The round's own state and cleanups: a failed round leaves the session as the last good one left it.
          const roundCtx: BuildContext = { ...ctx, state: { ...ctx.state }, cleanups: [] };
          try {
            await runSteps(round, roundCtx);
            result('rebuilt', performance.now() - started, need(roundCtx.state.outputs, 'the outputs').installed);
          } catch (err) {
            if (ctx.signal.aborted) return;
            const error = err instanceof PipelineError ? err.error : asD7yError(err);
            ctx.log.headline(
              `watch: rebuilding ${names} failed${error.step === undefined ? '' : ` at ${error.step}`} after ${formatDuration(performance.now() - started)}; the installed plugins are unchanged`,
            );
            output.failed(error);
          }
        },
      });
      const reason = interruption(ctx.signal);
      throw reason instanceof InterruptedError ? new InterruptedError(reason.signal, WATCH_STOPPED_HINT) : reason;
    },
  };
}

/**
 * A build, then a watch that rebuilds on every change until SIGINT or SIGTERM (or a failure of the
 * first build, or of the watch itself). Settles only by rejecting, with a RunFailure as build's.
 */
export async function watchBuild(spec: BuildSpec, options: RunOptions, output: WatchOutput): Promise<never> {
  const started = performance.now();
  await runBuildSteps(spec, options, (endTimeout) => [...BUILD_STEPS, watchStep({ output, started, onStart: endTimeout })]);
  throw new InternalError('the watch ended without being stopped');
}
