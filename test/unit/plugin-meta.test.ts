import { mkdtemp, mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { literalMeta, readPluginMeta } from '../../src/plugin-meta';
import { pluginName } from '../../src/plugin';

const init = (body: string, extra = '') => `package main
${extra}
func DragonflyPluginInit(option map[string]string) (any, map[string]string, error) {
${body}
}
`;

describe('literalMeta', () => {
  it.each([
    [
      'string literals',
      init('\treturn &c{}, map[string]string{"type": "resource", "name": "myfs", "scheme": "myfs"}, nil'),
      { type: 'resource', name: 'myfs', scheme: 'myfs' },
    ],
    [
      'constants',
      init('\treturn &c{}, map[string]string{"type": "resource", "name": pluginName, "scheme": pluginName}, nil', 'const pluginName = "abc"'),
      { type: 'resource', name: 'abc', scheme: 'abc' },
    ],
    [
      'constants in a block, typed',
      init('\treturn &c{}, map[string]string{\n\t\t"name": name,\n\t}, nil', 'const (\n\tname string = "blk"\n)'),
      { name: 'blk' },
    ],
    [
      'several returns agreeing',
      init('\tif option["x"] != "" {\n\t\treturn nil, map[string]string{"name": "a"}, nil\n\t}\n\treturn &c{}, map[string]string{"name": "a"}, nil'),
      { name: 'a' },
    ],
    [
      'several returns disagreeing',
      init('\tif option["x"] != "" {\n\t\treturn nil, map[string]string{"name": "a"}, nil\n\t}\n\treturn &c{}, map[string]string{"name": "b"}, nil'),
      {},
    ],
    ['a computed value', init('\treturn &c{}, map[string]string{"name": strings.ToLower("X")}, nil'), {}],
    ['the metadata in a variable outside the function', init('\treturn &c{}, meta, nil', 'var meta = map[string]string{"name": "outside"}'), {}],
    [
      'keys in comments and strings',
      init('\t// "name": "commented"\n\ts := `"name": "raw"`\n\t_ = s\n\treturn &c{}, map[string]string{"name": "real"}, nil'),
      { name: 'real' },
    ],
    ['a constant bound twice', init('\treturn &c{}, map[string]string{"name": n}, nil', 'const n = "one"\nfunc f() { n := "two"; _ = n }'), {}],
    ['escapes in the literal', init('\treturn &c{}, map[string]string{"name": "a\\x41"}, nil'), {}],
    ['no DragonflyPluginInit', 'package main\n', {}],
  ])('%s', (_, source, want) => {
    expect(literalMeta([source])).toEqual(want);
  });

  it('reads the constant from another file', () => {
    expect(literalMeta([init('\treturn &c{}, map[string]string{"name": N}, nil'), 'package main\n\nconst N = "other"\n'])).toEqual({ name: 'other' });
  });
});

describe('readPluginMeta', () => {
  it('reads regular .go files and skips tests, FIFOs and what it cannot read', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'meta-'));
    try {
      await writeFile(path.join(dir, 'p.go'), init('\treturn &c{}, map[string]string{"name": "fromfile"}, nil'));
      await writeFile(path.join(dir, 'p_test.go'), init('\treturn nil, map[string]string{"name": "fromtest"}, nil'));
      execFileSync('mkfifo', [path.join(dir, 'fifo.go')]);
      await symlink('/dev/zero', path.join(dir, 'zero.go'));
      await mkdir(path.join(dir, 'sub.go'));
      expect(readPluginMeta(dir)).toEqual({ name: 'fromfile' });
      expect(readPluginMeta(path.join(dir, 'missing'))).toEqual({});
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('pluginName', () => {
  it.each([
    ['the directory', ['resource', 'myfs', undefined, {}], 'myfs'],
    ['the sources before the directory', ['resource', 'hello2', undefined, { name: 'hello', scheme: 'hello' }], 'hello'],
    ['--name agreeing with the sources', ['resource', 'dir', 'hello', { name: 'hello' }], 'hello'],
    ['the fixed name', ['scheduler', 'whatever', undefined, { name: 'evaluator', type: 'scheduler' }], 'evaluator'],
  ] as const)('%s', (_, args, want) => {
    expect(pluginName(...(args as unknown as Parameters<typeof pluginName>))).toBe(want);
  });

  it.each([
    ['--name against the sources', ['resource', 'dir', 'other', { name: 'hello' }], /--name other disagrees/, /drop --name/],
    ['a type the sources do not declare', ['resource', 'x', undefined, { type: 'manager' }], /declares "type": "manager"/, /--type manager/],
    ['a fixed name the sources do not return', ['manager', 'x', undefined, { name: 'finder' }], /must be named "searcher"/, /"name": "searcher"/],
    ['a scheme other than the name', ['resource', 'x', undefined, { name: 'ab', scheme: 'cd' }], /declares "scheme": "cd"/, /"scheme": "ab"/],
    ['a bad directory name, one plugin', ['resource', 'My_FS', undefined, {}, false], /directory name "My_FS"/, /--name/],
    ['a bad directory name, several plugins', ['resource', 'My_FS', undefined, {}, true], /directory name "My_FS"/, /rename the directory/],
    ['a bad name in the sources', ['resource', 'x', undefined, { name: 'Bad-Name' }], /the name "Bad-Name" in DragonflyPluginInit/, /lower-case/],
  ] as const)('refuses %s', (_, args, message, hint) => {
    try {
      pluginName(...(args as unknown as Parameters<typeof pluginName>));
      expect.unreachable();
    } catch (err) {
      expect((err as Error).message).toMatch(message);
      expect((err as { hint: string }).hint).toMatch(hint);
      expect((err as { exitCode: number }).exitCode).toBe(2);
    }
  });
});
