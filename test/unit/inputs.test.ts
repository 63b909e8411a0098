import { describe, expect, it } from 'vitest';
import { packageName } from '../../src/commands/build/inputs';

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
