/**
 * Work that one step starts and a later one waits for, so that what does not depend on each other
 * runs at once (the builder image while the source resolves, the host while the plugins compile).
 */
import type { PipelineContext } from './runner';

export interface Background<T> {
  /** The work's result, or its error as the work threw it: the waiting step fails with it. */
  wait(): Promise<T>;
}

/**
 * Starts `work` now. Its failure is held for wait(), never an unhandled rejection. Its signal aborts
 * with the run's, and when the run ends, by success, failure or interruption; a cleanup then waits
 * for the work to settle. That cleanup runs after all the others, after the container whose
 * commands the work may be running is removed, so it ends at once, and nothing outlives the run.
 */
export function inBackground<T>(ctx: PipelineContext, work: (signal: AbortSignal) => Promise<T>): Background<T> {
  const controller = new AbortController();
  const forward = () => controller.abort(ctx.signal.reason);
  if (ctx.signal.aborted) forward();
  else ctx.signal.addEventListener('abort', forward, { once: true });
  const result = (async () => work(controller.signal))();
  const settled = result.then(
    () => undefined,
    () => undefined,
  );
  ctx.cleanups.unshift(async () => {
    ctx.signal.removeEventListener('abort', forward);
    controller.abort();
    await settled;
  });
  return { wait: () => result };
}
