import { describe, expect, it } from 'vitest';
import { PipelineError, runSteps, type PipelineContext, type Step } from '../../src/session/runner';
import { CompileError, D7yError, InternalError, InterruptedError } from '../../src/errors';
import { nullLogger, type Logger } from '../../src/log';

interface TestContext extends PipelineContext {
  events: string[];
}

function context(controller = new AbortController(), log: Logger = nullLogger): TestContext {
  return { log, signal: controller.signal, cleanups: [], events: [] };
}

/** A step that records that it ran, registers a cleanup that records that it ran, then does `body`. */
function step(name: string, body: (ctx: TestContext) => Promise<void | 'skipped'> = async () => {}): Step<TestContext> {
  return {
    name,
    async run(ctx) {
      ctx.events.push(`run ${name}`);
      ctx.cleanups.push(async () => {
        ctx.events.push(`cleanup ${name}`);
      });
      return body(ctx);
    },
  };
}

/** The PipelineError runSteps rejects with; fails the test when it resolves. */
async function pipelineError(promise: Promise<unknown>): Promise<PipelineError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(PipelineError);
    return err as PipelineError;
  }
  throw new Error('expected a PipelineError, but runSteps resolved');
}

describe('runSteps', () => {
  it('runs the steps in order and records their timings', async () => {
    const ctx = context();
    const timings = await runSteps(
      [
        step('one'),
        step('two', async () => 'skipped'),
        step('three', async () => {
          await new Promise((resolve) => setTimeout(resolve, 30));
        }),
      ],
      ctx,
    );
    expect(timings.map((t) => [t.name, t.status])).toEqual([
      ['one', 'done'],
      ['two', 'skipped'],
      ['three', 'done'],
    ]);
    for (const t of timings) expect(Number.isInteger(t.durationMs) && t.durationMs >= 0).toBe(true);
    expect(timings[2]!.durationMs).toBeGreaterThanOrEqual(20);
    expect(ctx.events.filter((e) => e.startsWith('run '))).toEqual(['run one', 'run two', 'run three']);
  });

  it('runs cleanups last first on success, and empties the list', async () => {
    const ctx = context();
    await runSteps([step('one'), step('two'), step('three')], ctx);
    expect(ctx.events).toEqual(['run one', 'run two', 'run three', 'cleanup three', 'cleanup two', 'cleanup one']);
    expect(ctx.cleanups).toEqual([]);
  });

  it('logs each step through the logger', async () => {
    const calls: string[] = [];
    const log: Logger = {
      ...nullLogger,
      stepStart: (i, total, name) => calls.push(`start ${i}/${total} ${name}`),
      stepDone: (i, total, name) => calls.push(`done ${i}/${total} ${name}`),
      stepFailed: (i, total, name) => calls.push(`failed ${i}/${total} ${name}`),
    };
    await pipelineError(
      runSteps(
        [
          step('a'),
          step('b', async () => {
            throw new CompileError('no');
          }),
        ],
        context(new AbortController(), log),
      ),
    );
    expect(calls).toEqual(['start 1/2 a', 'done 1/2 a', 'start 2/2 b', 'failed 2/2 b']);
  });

  it('stops at a failing step and tags its D7yError with the step name', async () => {
    const ctx = context();
    const compileError = new CompileError('plugin x does not compile', { hint: 'fix it' });
    const err = await pipelineError(
      runSteps(
        [
          step('check-inputs'),
          step('compile-plugins', async () => {
            throw compileError;
          }),
          step('compile-host'),
        ],
        ctx,
      ),
    );
    expect(err.error).toBe(compileError);
    expect(err.error.step).toBe('compile-plugins');
    expect(err.error.exitCode).toBe(6);
    expect(err.message).toBe('plugin x does not compile');
    expect(err.timings.map((t) => [t.name, t.status])).toEqual([
      ['check-inputs', 'done'],
      ['compile-plugins', 'failed'],
    ]);
    expect(ctx.events).not.toContain('run compile-host');
  });

  it('keeps a step already set on the error', async () => {
    const preset = new CompileError('x');
    preset.step = 'inner';
    const err = await pipelineError(
      runSteps(
        [
          step('outer', async () => {
            throw preset;
          }),
        ],
        context(),
      ),
    );
    expect(err.error.step).toBe('inner');
  });

  it.each([
    ['an Error', new TypeError('undefined is not a function'), 'undefined is not a function'],
    ['a string', 'boom', 'boom'],
  ])('turns %s into an InternalError', async (_label, thrown, message) => {
    const err = await pipelineError(
      runSteps(
        [
          step('prepare-image', async () => {
            throw thrown;
          }),
        ],
        context(),
      ),
    );
    expect(err.error).toBeInstanceOf(InternalError);
    expect(err.error).toBeInstanceOf(D7yError);
    expect(err.error.exitCode).toBe(1);
    expect(err.error.message).toBe(message);
    expect(err.error.step).toBe('prepare-image');
    expect(err.error.cause).toBe(thrown);
  });

  it('runs cleanups last first on failure', async () => {
    const ctx = context();
    await pipelineError(
      runSteps(
        [
          step('one'),
          step('two', async () => {
            throw new CompileError('no');
          }),
          step('three'),
        ],
        ctx,
      ),
    );
    expect(ctx.events).toEqual(['run one', 'run two', 'cleanup two', 'cleanup one']);
  });

  it('runs every cleanup even when one fails, and the original error wins', async () => {
    const warnings: string[] = [];
    const ctx = context(new AbortController(), { ...nullLogger, warn: (m) => warnings.push(m) });
    const original = new CompileError('the real problem');
    const err = await pipelineError(
      runSteps(
        [
          step('one'),
          step('two', async (c) => {
            c.cleanups.push(async () => {
              throw new Error('container already gone');
            });
            throw original;
          }),
        ],
        ctx,
      ),
    );
    expect(err.error).toBe(original);
    expect(err.message).toBe('the real problem');
    expect(ctx.events).toEqual(['run one', 'run two', 'cleanup two', 'cleanup one']);
    expect(warnings).toEqual(['cleanup failed: container already gone']);
  });

  it('does not fail a successful build because a cleanup failed', async () => {
    const ctx = context();
    const timings = await runSteps(
      [
        step('one', async (c) => {
          c.cleanups.push(async () => {
            throw new Error('nope');
          });
        }),
      ],
      ctx,
    );
    expect(timings.map((t) => t.status)).toEqual(['done']);
    expect(ctx.events).toEqual(['run one', 'cleanup one']);
  });

  it('stops before the next step when aborted between steps, and still cleans up', async () => {
    const controller = new AbortController();
    // The logger reports step two done after its post-run abort check: aborting there lands
    // exactly between steps two and three.
    const log: Logger = {
      ...nullLogger,
      stepDone: (_i, _total, name) => {
        if (name === 'two') controller.abort(new InterruptedError('SIGTERM'));
      },
    };
    const ctx = context(controller, log);
    const err = await pipelineError(runSteps([step('one'), step('two'), step('three')], ctx));
    expect(err.error).toBeInstanceOf(InterruptedError);
    expect(err.error.exitCode).toBe(143);
    expect((err.error as InterruptedError).signal).toBe('SIGTERM');
    expect(err.timings.map((t) => [t.name, t.status])).toEqual([
      ['one', 'done'],
      ['two', 'done'],
    ]);
    expect(ctx.events).toEqual(['run one', 'run two', 'cleanup two', 'cleanup one']);
  });

  it('runs no step when aborted before the start', async () => {
    const controller = new AbortController();
    controller.abort(new InterruptedError('SIGINT'));
    const ctx = context(controller);
    const err = await pipelineError(runSteps([step('one')], ctx));
    expect(err.error).toBeInstanceOf(InterruptedError);
    expect(err.error.exitCode).toBe(130);
    expect(err.timings).toEqual([]);
    expect(ctx.events).toEqual([]);
  });

  it('treats an abort reason that is not an InterruptedError as SIGINT', async () => {
    const controller = new AbortController();
    controller.abort();
    const err = await pipelineError(runSteps([step('one')], context(controller)));
    expect(err.error).toBeInstanceOf(InterruptedError);
    expect(err.error.exitCode).toBe(130);
  });

  it('lets the interruption win over a step that returned or failed after the abort', async () => {
    const controller = new AbortController();
    const ctx = context(controller);
    const err = await pipelineError(
      runSteps(
        [
          step('one', async () => {
            controller.abort(new InterruptedError('SIGTERM'));
            // the step's own failure caused by the abort must not be what is reported
            throw new Error('exec stream closed');
          }),
          step('two'),
        ],
        ctx,
      ),
    );
    expect(err.error).toBeInstanceOf(InterruptedError);
    expect(err.error.exitCode).toBe(143);
    expect(err.error.step).toBe('one');
    expect(err.timings.map((t) => [t.name, t.status])).toEqual([['one', 'failed']]);
    expect(ctx.events).toEqual(['run one', 'cleanup one']);
  });

  it('reports a step that returns normally after the abort as interrupted', async () => {
    const controller = new AbortController();
    const ctx = context(controller);
    const err = await pipelineError(
      runSteps(
        [
          step('one', async () => {
            controller.abort(new InterruptedError('SIGINT'));
          }),
          step('two'),
        ],
        ctx,
      ),
    );
    expect(err.error).toBeInstanceOf(InterruptedError);
    expect(err.error.exitCode).toBe(130);
    expect(err.timings.map((t) => [t.name, t.status])).toEqual([['one', 'failed']]);
    expect(ctx.events).toEqual(['run one', 'cleanup one']);
  });
});

describe('an abort during the last step', () => {
  it('does not turn work that completed into an interruption', async () => {
    const controller = new AbortController();
    const ctx = context(controller);
    const timings = await runSteps(
      [
        step('one'),
        step('install', async () => {
          controller.abort(new InterruptedError('SIGTERM'));
        }),
      ],
      ctx,
    );
    expect(timings.map((t) => [t.name, t.status])).toEqual([
      ['one', 'done'],
      ['install', 'done'],
    ]);
  });

  it('still stops a run aborted during an earlier step', async () => {
    const controller = new AbortController();
    const err = await pipelineError(
      runSteps(
        [
          step('one', async () => {
            controller.abort(new InterruptedError('SIGTERM'));
          }),
          step('install'),
        ],
        context(controller),
      ),
    );
    expect(err.error).toBeInstanceOf(InterruptedError);
    expect(err.error.exitCode).toBe(143);
  });
});
