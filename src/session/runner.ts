/**
 * Runs the build as a list of named steps: each is timed and logged, the abort signal is checked
 * between steps, a failure is tagged with its step, and the cleanups registered along the way always
 * run, last first, without hiding the error that stopped the build.
 */
import { asD7yError, D7yError, InterruptedError } from '../errors';
import type { Logger, StepStatus } from '../log';

export interface StepTiming {
  name: string;
  status: StepStatus;
  durationMs: number;
}

export interface Step<C> {
  name: string;
  /** Returns 'skipped' when there was nothing to do. */
  run(ctx: C): Promise<void | 'skipped'>;
}

export interface PipelineContext {
  log: Logger;
  signal: AbortSignal;
  /** Undo actions (remove the container, delete temp dirs), run in reverse order at the end. */
  cleanups: Array<() => Promise<void>>;
}

export class PipelineError extends Error {
  constructor(
    readonly error: D7yError,
    readonly timings: StepTiming[],
  ) {
    super(error.message);
  }
}

/** A run that failed, as the library API reports it: the typed error, and what ran until then. */
export class RunFailure extends Error {
  constructor(
    readonly error: D7yError,
    readonly runId: string,
    readonly steps: StepTiming[],
    /** The Dragonfly SHA, when the failure came after it was resolved. */
    readonly commit?: string,
  ) {
    super(error.message, { cause: error });
  }
}

/**
 * Why the run was aborted: the reason given to abort() when it is a D7yError (an InterruptedError
 * naming the signal, a TimeoutError), else an interruption by the caller's AbortSignal.
 */
export function interruption(signal: AbortSignal): D7yError {
  return signal.reason instanceof D7yError ? signal.reason : new InterruptedError();
}

async function runCleanups<C extends PipelineContext>(ctx: C): Promise<void> {
  while (ctx.cleanups.length > 0) {
    const cleanup = ctx.cleanups.pop()!;
    try {
      await cleanup();
    } catch (err) {
      ctx.log.warn(`cleanup failed: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
}

export async function runSteps<C extends PipelineContext>(steps: ReadonlyArray<Step<C>>, ctx: C): Promise<StepTiming[]> {
  const timings: StepTiming[] = [];
  try {
    for (const [i, step] of steps.entries()) {
      if (ctx.signal.aborted) throw interruption(ctx.signal);
      ctx.log.stepStart(i + 1, steps.length, step.name);
      const started = performance.now();
      try {
        const outcome = await step.run(ctx);
        const durationMs = Math.round(performance.now() - started);
        // A step cut short by the abort may return normally; the interruption still wins, unless
        // this was the last step: then the work is done (installed) and saying otherwise would lie.
        if (ctx.signal.aborted && i < steps.length - 1) throw interruption(ctx.signal);
        const status = outcome === 'skipped' ? 'skipped' : 'done';
        timings.push({ name: step.name, status, durationMs });
        ctx.log.stepDone(i + 1, steps.length, step.name, durationMs, status);
      } catch (err) {
        const durationMs = Math.round(performance.now() - started);
        timings.push({ name: step.name, status: 'failed', durationMs });
        ctx.log.stepFailed(i + 1, steps.length, step.name, durationMs);
        // A step that ends by the interruption may say what it leaves (a watch: what it installed).
        const error = ctx.signal.aborted && !(err instanceof InterruptedError) ? interruption(ctx.signal) : asD7yError(err);
        error.step ??= step.name;
        throw error;
      }
    }
    return timings;
  } catch (err) {
    throw new PipelineError(asD7yError(err), timings);
  } finally {
    await runCleanups(ctx);
  }
}
