import { describe, expect, it } from 'vitest';
import { CompileError, UsageError, ValidationError } from '../../src/errors';
import { failureOutcome, formatError, OUTCOME_SCHEMA_VERSION } from '../../src/outcome';
import { RunFailure } from '../../src/session/runner';

describe('formatError', () => {
  it('prints the message with the step in brackets, the detail indented, then the hint', () => {
    const err = new CompileError('plugin x does not compile', {
      detail: './main.go:3:2: undefined: foo\n./main.go:4:1: syntax error',
      hint: 'fix the errors shown',
    });
    err.step = 'compile-plugins';
    expect(formatError(err)).toBe(
      [
        'error: plugin x does not compile [compile-plugins]',
        '  ./main.go:3:2: undefined: foo',
        '  ./main.go:4:1: syntax error',
        'hint: fix the errors shown',
      ].join('\n'),
    );
  });

  it('prints only the message when there is no step, detail or hint', () => {
    expect(formatError(new UsageError('bad flag'))).toBe('error: bad flag');
  });

  it('prints the hint without detail', () => {
    expect(formatError(new UsageError('bad flag', { hint: 'see --help' }))).toBe('error: bad flag\nhint: see --help');
  });
});

describe('failureOutcome', () => {
  it('carries the error fields and the failure', () => {
    const err = new ValidationError('the host does not load d7yfs', { hint: 'h', detail: 'd' });
    err.step = 'validate';
    const steps = [
      { name: 'check-inputs', status: 'done' as const, durationMs: 5 },
      { name: 'validate', status: 'failed' as const, durationMs: 7 },
    ];
    expect(failureOutcome(err, new RunFailure(err, 'run-1', steps, 'abc1234'))).toEqual({
      schemaVersion: OUTCOME_SCHEMA_VERSION,
      ok: false,
      runId: 'run-1',
      commit: 'abc1234',
      steps,
      error: {
        code: 'validation',
        exitCode: 8,
        step: 'validate',
        message: 'the host does not load d7yfs',
        hint: 'h',
        detail: 'd',
      },
    });
    expect(OUTCOME_SCHEMA_VERSION).toBe(1);
  });

  it('has empty steps and no run without a failure', () => {
    const outcome = failureOutcome(new UsageError('bad flag'));
    expect(outcome).toMatchObject({ schemaVersion: 1, ok: false, runId: undefined, commit: undefined, steps: [] });
    expect(outcome.error).toMatchObject({ code: 'usage', exitCode: 2, message: 'bad flag', step: undefined });
  });
});
