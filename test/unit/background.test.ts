/** inBackground: work one step starts and a later one waits for, held, aborted and awaited as the run ends. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { inBackground } from '../../src/session/background';
import { PipelineError, runSteps, type PipelineContext } from '../../src/session/runner';
import { CompileError, InterruptedError, SourceError } from '../../src/errors';
import { nullLogger } from '../../src/log';

function context(controller = new AbortController()): PipelineContext {
  return { log: nullLogger, signal: controller.signal, cleanups: [] };
}

/** A promise with its resolve and reject at hand. */
function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);
beforeEach(() => {
  unhandled.length = 0;
  process.on('unhandledRejection', onUnhandled);
});
afterEach(() => {
  process.off('unhandledRejection', onUnhandled);
});

/** Lets pending promise reactions and the unhandled-rejection check run. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 20));

describe('inBackground', () => {
  it("gives the work's result to the step that waits", async () => {
    const ctx = context();
    const work = inBackground(ctx, async () => 42);
    expect(await work.wait()).toBe(42);
  });

  it('holds a failure for the step that waits, typed as thrown, and never as an unhandled rejection', async () => {
    const ctx = context();
    const error = new CompileError('the host does not compile');
    const work = inBackground(ctx, async () => {
      throw error;
    });
    await settle();
    expect(unhandled).toEqual([]);
    await expect(work.wait()).rejects.toBe(error);
  });

  it('leaves no unhandled rejection when nothing waits for a failed work', async () => {
    const ctx = context();
    inBackground(ctx, async () => {
      throw new CompileError('nobody waits for this');
    });
    await settle();
    while (ctx.cleanups.length > 0) await ctx.cleanups.pop()!();
    await settle();
    expect(unhandled).toEqual([]);
  });

  it("aborts the work with the run's signal", async () => {
    const controller = new AbortController();
    const ctx = context(controller);
    let seen: AbortSignal | undefined;
    inBackground(ctx, async (signal) => {
      seen = signal;
    });
    await settle();
    expect(seen!.aborted).toBe(false);
    const reason = new InterruptedError('SIGTERM');
    controller.abort(reason);
    expect(seen!.aborted).toBe(true);
    expect(seen!.reason).toBe(reason);
  });

  it('when a later step fails, aborts the work and waits for it after the cleanups registered before it', async () => {
    const ctx = context();
    const events: string[] = [];
    // The work ends only when it is aborted, or when the "container" it runs in is removed.
    const removed = deferred<void>();
    const steps = [
      {
        name: 'start-container',
        run: async (c: PipelineContext) => {
          c.cleanups.push(async () => {
            events.push('container removed');
            removed.resolve();
          });
        },
      },
      {
        name: 'compile-plugins',
        run: async (c: PipelineContext) => {
          inBackground(c, async (signal) => {
            await Promise.race([removed.promise, new Promise((resolve) => signal.addEventListener('abort', resolve))]);
            events.push('work ended');
            throw new CompileError('cut short');
          });
          c.cleanups.push(async () => {
            events.push('temp dir removed');
          });
          throw new SourceError('the step failed');
        },
      },
    ];
    const failure = await runSteps(steps, ctx).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(PipelineError);
    expect((failure as PipelineError).error).toBeInstanceOf(SourceError);
    expect(events).toEqual(['temp dir removed', 'container removed', 'work ended']);
    expect(ctx.cleanups).toEqual([]);
    await settle();
    expect(unhandled).toEqual([]);
  });

  it('aborts a work that would run on, when the run ends', async () => {
    const ctx = context();
    let aborted = false;
    const work = inBackground(
      ctx,
      (signal) => new Promise<void>((_resolve, reject) => signal.addEventListener('abort', () => ((aborted = true), reject(new Error('aborted'))))),
    );
    await runSteps([{ name: 'only', run: async () => {} }], ctx);
    expect(aborted).toBe(true);
    await expect(work.wait()).rejects.toThrow('aborted');
  });
});
