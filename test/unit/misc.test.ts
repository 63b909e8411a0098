import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compilerOutput } from '../../src/commands/build/compile';
import { builderImageTag, packageRoot, type ContextFile } from '../../src/session/image';
import { builderBuildArgs } from '../../src/session/layout';
import { RunFailure } from '../../src/session/runner';
import { packageName } from '../../src/commands/build/inputs';
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
  SourceError,
  UnsupportedHostError,
  UsageError,
  ValidationError,
} from '../../src/errors';
import { failureOutcome, formatError, OUTCOME_SCHEMA_VERSION } from '../../src/outcome';
import { hintFor } from '../../src/validate/diagnose';
import { gitEnvironment } from '../../src/git/source';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

describe('builderImageTag', () => {
  const file = (name: string, content: string): ContextFile => ({ name, content: Buffer.from(content) });
  const files = [file('Dockerfile.builder', 'FROM ${GO_IMAGE}\n'), file('builder/build.sh', '#!/bin/bash\n')];
  const buildArgs = builderBuildArgs('sha256:0123456789abcdef');
  const tag = builderImageTag(files, buildArgs);

  it('has the form d7y-build/builder:<16 hex digits>', () => {
    expect(tag).toMatch(/^d7y-build\/builder:[0-9a-f]{16}$/);
  });

  it('is the same for the same input, in any file order', () => {
    expect(builderImageTag(files, buildArgs)).toBe(tag);
    expect(builderImageTag([...files].reverse(), buildArgs)).toBe(tag);
    expect(builderImageTag(files, Object.fromEntries(Object.entries(buildArgs).reverse()))).toBe(tag);
  });

  it('does not reorder the caller\'s array', () => {
    const reversed = [...files].reverse();
    builderImageTag(reversed, buildArgs);
    expect(reversed.map((f) => f.name)).toEqual(['builder/build.sh', 'Dockerfile.builder']);
  });

  it.each<[string, ContextFile[], Record<string, string>]>([
    ['a file content changes', [files[0]!, file('builder/build.sh', '#!/bin/bash\nset -e\n')], buildArgs],
    ['a file is renamed', [files[0]!, file('builder/run.sh', '#!/bin/bash\n')], buildArgs],
    ['a file is added', [...files, file('builder/extra', '')], buildArgs],
    ['a file is removed', [files[0]!], buildArgs],
    ['the base image id changes', files, builderBuildArgs('sha256:fedcba9876543210')],
    ['content moves between files', [file('Dockerfile.builder', 'FROM ${GO_IMAGE}\n#'), file('builder/build.sh', '!/bin/bash\n')], buildArgs],
    ['a layout path changes', files, { ...buildArgs, D7Y_OUT: '/work/output' }],
    ['the build uid changes', files, { ...buildArgs, D7Y_UID: '10002' }],
    ['a build arg is added', files, { ...buildArgs, D7Y_EXTRA: '' }],
    ['a value moves between build args', files, { ...buildArgs, D7Y_USER: `${buildArgs.D7Y_USER}x`, D7Y_UID: buildArgs.D7Y_UID!.slice(1) }],
  ])('changes when %s', (_label, changedFiles, args) => {
    const changed = builderImageTag(changedFiles, args);
    expect(changed).toMatch(/^d7y-build\/builder:[0-9a-f]{16}$/);
    expect(changed).not.toBe(tag);
  });
});

describe('packageRoot', () => {
  let outside: string;

  beforeAll(async () => {
    outside = await mkdtemp(path.join(os.tmpdir(), 'd7y-root-test-'));
  });

  afterAll(async () => {
    await rm(outside, { recursive: true, force: true });
  });

  it('finds the directory holding Dockerfile.builder from src/session', () => {
    expect(packageRoot(path.join(REPO_ROOT, 'src', 'session'))).toBe(REPO_ROOT);
  });

  it('finds it from the directory itself', () => {
    expect(packageRoot(REPO_ROOT)).toBe(REPO_ROOT);
  });

  it('finds it from its own location by default', () => {
    expect(packageRoot()).toBe(REPO_ROOT);
  });

  it('throws InternalError where there is none above', () => {
    expect(() => packageRoot(outside)).toThrow(InternalError);
  });
});

describe('packageName', () => {
  it.each<[string, string, string | undefined]>([
    ['a plain package clause', 'package main\n\nfunc main() {}\n', 'main'],
    ['after line comments and a build constraint', '// Copyright 2024\n//go:build linux\n\npackage d7yfs\n', 'd7yfs'],
    ['after a block comment', '/*\nLicensed under Apache-2.0\n*/\npackage main\n', 'main'],
    ['not a package clause in a line comment', '// package fake\npackage real\n', 'real'],
    ['not a package clause in a block comment', '/* package fake\npackage alsofake */\npackage real\n', 'real'],
    ['a trailing comment on the clause', 'package main // the plugin\n', 'main'],
    ['a block comment before the clause on the same line', '/* x */ package main\n', 'main'],
    ['indented clause', '\n\t package main\n', 'main'],
    ['underscore and digits', 'package my_pkg2\n', 'my_pkg2'],
    ['no package clause', 'func main() {}\n', undefined],
    ['only comments', '// package main\n/* package main */\n', undefined],
    ['an empty file', '', undefined],
    ['a package keyword without a name', 'package\n', undefined],
  ])('%s', (_label, source, want) => {
    expect(packageName(source)).toBe(want);
  });

  // Bug: block comments are stripped before line comments, so a "/*" inside a line comment opens a
  // "comment" that swallows the package clause up to the next "*/" (Go ignores "/*" in a // comment).
  it('ignores "/*" inside a line comment', () => {
    expect(packageName('// matches files like plugins/*.so\npackage main\n\n// end of list */\n')).toBe('main');
  });
});

describe('hintFor', () => {
  const expected = { type: 'resource', name: 'd7yfs' };

  it.each([
    [
      'plugin.Open("/p/d7y-resource-plugin-d7yfs"): plugin was built with a different version of package d7y.io/dragonfly/v2/pkg/source',
      /not built from the same sources and settings/,
    ],
    ['plugin type not match, want resource, got scheduler', /"type": "resource"/],
    ['plugin name not match, want d7yfs, got other', /"name": "d7yfs", the name in the file name/],
    ['empty plugin metadata', /non-nil metadata map/],
    ['invalid plugin init function signature', /declare it exactly as func DragonflyPluginInit/],
    ['plugin.Open: symbol DragonflyPluginInit not found in plugin', /export func DragonflyPluginInit/],
    ['panic: runtime error: invalid memory address', /panicked while loading/],
    ['something else entirely', /see the host output below/],
  ])('%s', (reason, hint) => {
    expect(hintFor(reason, expected)).toMatch(hint);
  });

  it('names the expected type and name', () => {
    expect(hintFor('plugin type not match', { type: 'scheduler', name: 'x' })).toContain('"type": "scheduler"');
    expect(hintFor('plugin name not match', { type: 'scheduler', name: 'xyz' })).toContain('"name": "xyz"');
  });
});

describe('compilerOutput', () => {
  it('drops blank lines and go download chatter, stderr first', () => {
    const out = compilerOutput({
      exitCode: 1,
      stderr: [
        'go: downloading github.com/google/uuid v1.6.0',
        'go: finding module for package x',
        'go: extracting golang.org/x/sys v0.20.0',
        '# example.com/plugin',
        './main.go:3:2: undefined: foo',
        '',
      ].join('\n'),
      stdout: 'from stdout\n\n',
    });
    expect(out).toBe(['# example.com/plugin', './main.go:3:2: undefined: foo', 'from stdout'].join('\n'));
  });

  it('keeps go lines that are errors', () => {
    const line = 'go: github.com/x/y@v1.0.0: missing go.sum entry';
    expect(compilerOutput({ exitCode: 1, stderr: line, stdout: '' })).toBe(line);
  });

  it('keeps output up to the limit as is', () => {
    const lines = Array.from({ length: 40 }, (_, i) => `line ${i + 1}`);
    expect(compilerOutput({ exitCode: 1, stderr: lines.join('\n'), stdout: '' })).toBe(lines.join('\n'));
  });

  it('cuts long output with a note of how many lines were left out', () => {
    const lines = Array.from({ length: 100 }, (_, i) => `line ${i + 1}`);
    const out = compilerOutput({ exitCode: 1, stderr: lines.join('\n'), stdout: '' }, 10).split('\n');
    expect(out).toHaveLength(10);
    expect(out.slice(0, 9)).toEqual(lines.slice(0, 9));
    expect(out[9]).toBe('… (91 more lines; --verbose shows all)');
  });

  it('counts only lines that would be shown', () => {
    const chatter = Array.from({ length: 50 }, (_, i) => `go: downloading m${i} v1.0.0`);
    const out = compilerOutput({ exitCode: 1, stderr: [...chatter, 'a', 'b', 'c'].join('\n'), stdout: '' }, 2);
    expect(out).toBe('a\n… (2 more lines; --verbose shows all)');
  });
});

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

describe('gitEnvironment', () => {
  it("keeps the user's CA, ssh and askpass settings, drops every other GIT_* and what could prompt", () => {
    const env = gitEnvironment({
      PATH: '/usr/bin',
      GIT_SSL_CAINFO: '/ca.pem',
      GIT_SSH_COMMAND: 'ssh -i k',
      GIT_ASKPASS: '/bin/pass',
      GIT_DIR: '/elsewhere/.git',
      GIT_WORK_TREE: '/elsewhere',
      GIT_INDEX_FILE: '/elsewhere/index',
      GIT_CONFIG_PARAMETERS: "'core.fsmonitor=evil'",
      EDITOR: 'vi',
      PAGER: 'less',
    });
    expect(env).toEqual({ PATH: '/usr/bin', GIT_SSL_CAINFO: '/ca.pem', GIT_SSH_COMMAND: 'ssh -i k', GIT_ASKPASS: '/bin/pass', GIT_TERMINAL_PROMPT: '0' });
  });

  it('adds what d7y-build names itself, after the filter', () => {
    expect(gitEnvironment({ GIT_DIR: '/user' }, { GIT_DIR: '/cache/git/x.git' })).toEqual({ GIT_TERMINAL_PROMPT: '0', GIT_DIR: '/cache/git/x.git' });
  });
});
