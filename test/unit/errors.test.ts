import { describe, expect, it } from 'vitest';
import {
  asD7yError,
  CompileError,
  D7yError,
  DependencyConflictError,
  DockerUnavailableError,
  GoImageError,
  InstallError,
  InternalError,
  InterruptedError,
  MatrixPartlyFailedError,
  SourceError,
  UnsupportedHostError,
  UsageError,
  ValidationError,
} from '../../src/errors';

describe('errors', () => {
  it.each<[string, D7yError, number, string]>([
    ['UsageError', new UsageError('m'), 2, 'usage'],
    ['DockerUnavailableError', new DockerUnavailableError('m'), 3, 'docker-unavailable'],
    ['SourceError', new SourceError('m'), 4, 'source'],
    ['GoImageError', new GoImageError('m'), 5, 'go-image'],
    ['CompileError', new CompileError('m'), 6, 'compile'],
    ['DependencyConflictError', new DependencyConflictError('m'), 7, 'dependency-conflict'],
    ['ValidationError', new ValidationError('m'), 8, 'validation'],
    ['InstallError', new InstallError('m'), 9, 'install'],
    ['UnsupportedHostError', new UnsupportedHostError('m'), 10, 'unsupported-host'],
    ['MatrixPartlyFailedError', new MatrixPartlyFailedError('m', { cells: [], summary: '/o/matrix.json' }), 18, 'matrix-partly-failed'],
    ['InterruptedError SIGINT', new InterruptedError('SIGINT'), 130, 'interrupted'],
    ['InterruptedError SIGTERM', new InterruptedError('SIGTERM'), 143, 'interrupted'],
    ['InternalError', new InternalError('m'), 1, 'internal'],
  ])('%s exits with %i', (_label, err, exitCode, code) => {
    expect(err.exitCode).toBe(exitCode);
    expect(err.code).toBe(code);
    expect(err).toBeInstanceOf(D7yError);
    expect(err).toBeInstanceOf(Error);
    expect(err.name).toBe(err.constructor.name);
  });

  it('keeps hint, detail and cause', () => {
    const cause = new Error('root');
    const err = new SourceError('m', { hint: 'h', detail: 'd', cause });
    expect([err.hint, err.detail, err.cause, err.step]).toEqual(['h', 'd', cause, undefined]);
    expect('cause' in new SourceError('m')).toBe(false);
  });

  it('names the signal in an InterruptedError', () => {
    const err = new InterruptedError('SIGTERM');
    expect(err.signal).toBe('SIGTERM');
    expect(err.message).toBe('interrupted by SIGTERM');
  });

  it('asD7yError wraps a plain Error as InternalError', () => {
    const plain = new RangeError('index out of range');
    const err = asD7yError(plain);
    expect(err).toBeInstanceOf(InternalError);
    expect(err.exitCode).toBe(1);
    expect(err.message).toBe('index out of range');
    expect(err.cause).toBe(plain);
    expect(err.detail).toBe(plain.stack);
    expect(err.hint).toMatch(/bug in d7y-build/);
  });

  it('asD7yError wraps a thrown non-Error', () => {
    const err = asD7yError(42);
    expect(err).toBeInstanceOf(InternalError);
    expect(err.message).toBe('42');
    expect(err.detail).toBeUndefined();
  });

  it('asD7yError returns a D7yError as is', () => {
    const err = new CompileError('m');
    expect(asD7yError(err)).toBe(err);
  });
});
