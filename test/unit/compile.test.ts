import { describe, expect, it } from 'vitest';
import { compilerOutput } from '../../src/commands/build/compile';

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
