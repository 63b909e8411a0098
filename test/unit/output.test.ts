/**
 * What leaves the process: control characters of untrusted text escaped, secrets masked, in the
 * error block, the --json document and every log line, through main() with in-memory streams.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli';
import { CompileError, SourceError } from '../../src/errors';
import { createLogger, escapeControl, escapeLines } from '../../src/log';
import { errorFields, formatError, jsonLine } from '../../src/outcome';
import { maskSecrets } from '../../src/secrets';

/** Every raw control character a terminal would act on; and those but the newline, for multi-line output. */
const RAW_CONTROL = /[\x00-\x08\x0a-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/;
const RAW_CONTROL_BUT_NEWLINE = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/;

describe('escapeControl', () => {
  it.each([
    ['plain text, tabs\tand unicode: ü → ✓', 'plain text, tabs\tand unicode: ü → ✓'],
    ['a\nerror: forged', 'a\\nerror: forged'],
    ['carriage\rreturn', 'carriage\\rreturn'],
    ['\x1b[31mred\x1b[0m', '\\x1b[31mred\\x1b[0m'],
    ['\x1b]0;pwned title\x07', '\\x1b]0;pwned title\\x07'],
    ['\x1b]8;;https://evil/\x1b\\link\x1b]8;;\x1b\\', '\\x1b]8;;https://evil/\\x1b\\link\\x1b]8;;\\x1b\\'],
    ['nul\x00 and del\x7f', 'nul\\x00 and del\\x7f'],
    ['8-bit CSI \u009b2J and OSC \u009d', '8-bit CSI \\x9b2J and OSC \\x9d'],
    ['evil\u202egnp.so', 'evil\\u202egnp.so'],
    ['isolate \u2066x\u2069', 'isolate \\u2066x\\u2069'],
  ])('%j → %j', (input, want) => {
    expect(escapeControl(input)).toBe(want);
    expect(escapeControl(input)).not.toMatch(RAW_CONTROL);
  });

  it('keeps multi-line text multi-line, each line escaped', () => {
    expect(escapeLines('line one\x1b[2J\nline\rtwo')).toEqual(['line one\\x1b[2J', 'line\\rtwo']);
  });
});

describe('the error block and the JSON error', () => {
  it('keep the message and the hint on one line each, the detail line by line', () => {
    const err = new SourceError('"v2.1.0\nerror: forged" is not a branch, tag or commit name', {
      hint: 'pass --commit\x1b[8m hidden',
      detail: 'first\x1b[31m\nsecond\u009b',
    });
    err.step = 'resolve-source';
    expect(formatError(err)).toBe(
      [
        'error: "v2.1.0\\nerror: forged" is not a branch, tag or commit name [resolve-source]',
        '  first\\x1b[31m',
        '  second\\x9b',
        'hint: pass --commit\\x1b[8m hidden',
      ].join('\n'),
    );
    expect(errorFields(err)).toMatchObject({
      message: '"v2.1.0\\nerror: forged" is not a branch, tag or commit name',
      hint: 'pass --commit\\x1b[8m hidden',
      detail: 'first\\x1b[31m\nsecond\\x9b',
    });
  });

  it('leaves compiler output as it was', () => {
    const err = new CompileError('plugin x does not compile', { detail: './x.go:3:2: undefined: foo\n\thave (int)\n\twant (string)' });
    expect(formatError(err)).toBe('error: plugin x does not compile\n  ./x.go:3:2: undefined: foo\n  \thave (int)\n  \twant (string)');
  });
});

describe('jsonLine', () => {
  it('masks every string and escapes what JSON leaves raw, meaning the same', () => {
    const value = { message: 'token s3cr3t-value in https://u:pw12@h/x', raw: 'del\x7f c1\u009b bidi\u202e esc\x1b nl\n' };
    const line = jsonLine(value, (t) => maskSecrets(t, ['s3cr3t-value']));
    expect(line.endsWith('\n')).toBe(true);
    expect(line.slice(0, -1)).not.toMatch(RAW_CONTROL);
    expect(line).not.toContain('s3cr3t-value');
    expect(line).not.toContain('pw12');
    expect(JSON.parse(line)).toEqual({ message: 'token *** in https://h/x', raw: value.raw });
  });
});

describe('the logger', () => {
  const lines = (write: (log: ReturnType<typeof createLogger>) => void, tty: boolean): string => {
    const stream = Object.assign(new PassThrough(), { isTTY: tty });
    let text = '';
    stream.on('data', (d: Buffer) => (text += d.toString()));
    write(createLogger({ verbose: true, stream, env: {}, mask: (t) => t.split('tok-1234').join('***') }));
    return text;
  };

  it('escapes and masks every message, and keeps its own colour', () => {
    const text = lines((log) => {
      log.info('refs/heads/a\nerror: forged tok-1234');
      log.warn('\x1b]0;title\x07');
      log.output('compile', 'go: \x1b[2J tok-1234');
      log.headline('d7y-build: \u009b31m');
    }, true);
    const out = text.split('\n');
    expect(out).toEqual([
      '      refs/heads/a\\nerror: forged ***',
      '\x1b[33mwarning:\x1b[0m \\x1b]0;title\\x07',
      '\x1b[2m      compile| go: \\x1b[2J ***\x1b[0m',
      'd7y-build: \\x9b31m',
      '',
    ]);
  });
});

describe('main', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'd7y-output-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function cli(argv: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    let out = '';
    let err = '';
    stdout.on('data', (d: Buffer) => (out += d.toString()));
    stderr.on('data', (d: Buffer) => (err += d.toString()));
    const code = await main(argv, { stdout, stderr, env: { D7Y_CACHE_DIR: path.join(dir, 'cache'), ...env }, cwd: dir, signal: new AbortController().signal });
    return { code, stdout: out, stderr: err };
  }

  it.each([
    ['no arguments', [], /^Usage: d7y-build \[options\] \[command\] <plugin-dir\.\.\.>/],
    ['help and a command', ['help', 'install'], /^Usage: d7y-build install \[options\] <plugin\.so\.\.\.>/],
    ['--help', ['--help'], /--trimpath +build with -trimpath, the default/],
  ])('%s prints help on stdout and exits 0', async (_, argv, usage) => {
    const run = await cli(argv);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(usage);
    expect(run.stderr).toBe('');
  });

  it('takes --trimpath as well as --no-trimpath, the last one winning', async () => {
    // Both parse; the run then stops at the first fact it checks, the missing plugin directory.
    for (const flags of [['--trimpath'], ['--no-trimpath'], ['--no-trimpath', '--trimpath']]) {
      const run = await cli([...flags, '--commit', 'v2.1.0', '--json', path.join(dir, 'missing')]);
      expect(run.code).toBe(2);
      expect(JSON.parse(run.stdout).error.message).toMatch(/plugin directory .*missing does not exist/);
    }
  });

  it("puts commander's suggestion on the error's one line", async () => {
    const run = await cli(['--trimpathx']);
    expect(run.code).toBe(2);
    expect(run.stderr).toBe("error: unknown option '--trimpathx' (Did you mean --trimpath?)\nhint: run d7y-build --help for the options\n");
  });

  /** One error line, a hint, nothing raw, and the JSON document agrees. */
  function expectOneCleanError(run: { stdout: string; stderr: string }): Record<string, string> {
    expect(run.stderr.match(/^error: /gm)).toHaveLength(1);
    expect(run.stderr).toMatch(/^hint: /m);
    expect(run.stderr).not.toMatch(RAW_CONTROL_BUT_NEWLINE);
    const outcome = JSON.parse(run.stdout) as { error: Record<string, string> };
    expect(outcome.error.message).not.toMatch(RAW_CONTROL);
    return outcome.error;
  }

  it.each([
    [
      'a plugin directory with a newline and escapes in its name',
      [path.join('/nonexistent', 'x\nerror: forged \x1b[31mred\x1b]0;t\x07')],
      /plugin directory .*x\\nerror: forged \\x1b\[31mred\\x1b\]0;t\\x07 does not exist/,
    ],
    ['a plugin directory with C1 and bidi controls', [path.join('/nonexistent', 'a\u009b2J\u202eos.so')], /a\\x9b2J\\u202eos\.so does not exist/],
  ])('%s: one escaped error line', async (_label, args, message) => {
    const run = await cli(['--commit', 'v2.1.0', '--json', '--name', 'x', ...args]);
    expect(run.code).toBe(2);
    expect(expectOneCleanError(run).message).toMatch(message);
  });

  it.each([
    ['in --repo', ['--repo', 'https://user:tok-in-flag-123@host/x.git']],
    ['as the user of --repo', ['--repo', 'https://tok-in-flag-123@host/x.git']],
    ['percent-encoded in --repo', ['--repo=https://user:tok%2Din%2Dflag%2D123@host/x.git']],
  ])('a credential %s never leaves, even in a usage error that quotes it', async (_label, repo) => {
    const run = await cli(['--commit', 'v2.1.0', '--json', ...repo, '--name', 'tok-in-flag-123', path.join(dir, 'p')]);
    expect(run.code).toBe(2);
    expectOneCleanError(run);
    expect(run.stderr + run.stdout).not.toMatch(/tok.in.flag.123|tok%2Din/);
    expect(run.stderr + run.stdout).toContain('***');
  });

  it.each([['D7Y_REPO'], ['GOPROXY'], ['https_proxy']])('masks the password of a URL in %s wherever it shows', async (name) => {
    const run = await cli(['--commit', 'v2.1.0', '--json', '--name', 'pass-in-env-9', path.join(dir, 'p')], {
      [name]: 'https://u:pass-in-env-9@proxy.example/',
    });
    expect(run.code).toBe(2);
    expectOneCleanError(run);
    expect(run.stderr + run.stdout).not.toContain('pass-in-env-9');
  });

  it('masks GIT_AUTH_TOKEN before anything is read', async () => {
    const run = await cli(['--commit', 'v2.1.0', '--json', path.join('/nonexistent', 'ghs_secret-token-value')], { GIT_AUTH_TOKEN: 'ghs_secret-token-value' });
    expect(run.code).toBe(2);
    expectOneCleanError(run);
    expect(run.stderr + run.stdout).not.toContain('ghs_secret-token-value');
  });

  it('refuses a usage error with a newline in it on one line', async () => {
    const run = await cli(['--commit', 'v2.1.0', '--json', '--type', 'x\nerror: forged', path.join(dir, 'p')]);
    expect(run.code).toBe(2);
    expect(expectOneCleanError(run).message).toMatch(/'x\\nerror: forged' is invalid/);
  });
});
