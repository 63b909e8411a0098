/**
 * The container layout has one source, src/session/layout.ts: no other source file, neither
 * builder/build.sh nor Dockerfile.builder spells a path or id of it, and the variables that carry it
 * into the image and the container are exactly those the two read.
 */
import { DEFAULT_TARGET } from '../../src/platform';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { InternalError } from '../../src/errors';
import { builderBuildArgs, CONTAINER, inside, layoutEnv } from '../../src/session/layout';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const LAYOUT_FILE = path.join('src', 'session', 'layout.ts');
const read = (rel: string): string => readFileSync(path.join(ROOT, rel), 'utf8');

/** Every leaf of CONTAINER: the paths, the user name and the ids. */
function leaves(value: unknown): Array<string | number> {
  if (typeof value === 'string' || typeof value === 'number') return [value];
  return Object.values(value as object).flatMap(leaves);
}
// Longest first, so a match names the most specific path.
const PATHS = [...new Set(leaves(CONTAINER).filter((v): v is string => typeof v === 'string' && v.startsWith('/')))].sort((a, b) => b.length - a.length);
const IDS = [...new Set([CONTAINER.user.uid, CONTAINER.user.gid])];

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
// A layout path as a whole path, or the start of one: '/work' in '/work/out', not in '/workspace'.
const PATH_PATTERN = new RegExp(`(?<![\\w.~-])(?:${PATHS.map(escape).join('|')})(?![\\w.~-])`);
const ID_PATTERN = new RegExp(`(?<!\\d)(?:${IDS.join('|')})(?!\\d)`);

/** What in a text names the layout: the paths and ids it spells. */
function layoutLiterals(text: string): string[] {
  return [PATH_PATTERN.exec(text)?.[0], ID_PATTERN.exec(text)?.[0]].filter((m): m is string => m !== undefined);
}

/** The layout literals in a TypeScript source's strings, templates and numbers; comments don't count. */
function literalsInTypeScript(file: string, source: string): Array<{ line: number; match: string }> {
  const sourceFile = ts.createSourceFile(file, source, ts.ScriptTarget.Latest, true);
  const found: Array<{ line: number; match: string }> = [];
  const visit = (node: ts.Node): void => {
    if (ts.isStringLiteralLike(node) || ts.isTemplateLiteralToken(node) || ts.isNumericLiteral(node)) {
      const line = sourceFile.getLineAndCharacterOfPosition(node.getStart()).line + 1;
      found.push(...layoutLiterals(node.text).map((match) => ({ line, match })));
    }
    ts.forEachChild(node, visit);
  };
  visit(sourceFile);
  return found;
}

/** Shell and Dockerfile text without comments: whole comment lines and a trailing " # …". */
function withoutShellComments(text: string): string {
  return text
    .split('\n')
    .filter((line) => !line.trimStart().startsWith('#'))
    .map((line) => line.replace(/\s#\s.*$/, ''))
    .join('\n');
}

function sourceFiles(dir: string): string[] {
  return readdirSync(path.join(ROOT, dir), { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => path.relative(ROOT, path.join(e.parentPath, e.name)));
}

describe('the scanners', () => {
  it('find layout paths and ids in TypeScript strings, templates and numbers, not in comments or other paths', () => {
    const source = [
      `const a = '${CONTAINER.out}';`,
      `const b = \`x \${a} ${CONTAINER.work}/y\`;`,
      `const c = ${CONTAINER.user.uid};`,
      `// ${CONTAINER.dragonfly} in a comment`,
      `/** ${CONTAINER.tools.buildSh} in a doc comment */`,
      `const d = '${CONTAINER.work}space and https://example.com${CONTAINER.work}s and ${CONTAINER.user.uid}0';`,
    ].join('\n');
    expect(literalsInTypeScript('t.ts', source).map((f) => f.match)).toEqual([CONTAINER.out, CONTAINER.work, String(CONTAINER.user.uid)]);
    expect(literalsInTypeScript('t.ts', `// ${CONTAINER.out}\nconst e = 'plain';`)).toEqual([]);
  });

  it('leave out shell comments but not code', () => {
    const text = `# ${CONTAINER.out}\n  # ${CONTAINER.work}\ncd "$D7Y_OUT" # ${CONTAINER.out}\ncp a ${CONTAINER.dragonfly}/b\n[ \${#files[@]} -gt 0 ]`;
    expect(layoutLiterals(withoutShellComments(text))).toEqual([CONTAINER.dragonfly]);
    expect(withoutShellComments(text)).toContain('${#files[@]}');
  });
});

describe('the container layout', () => {
  it('is spelled nowhere in src/ but layout.ts', () => {
    const files = sourceFiles('src').filter((f) => f !== LAYOUT_FILE);
    expect(files.length).toBeGreaterThan(20);
    const found = files.flatMap((f) => literalsInTypeScript(f, read(f)).map((l) => `${f}:${l.line}: ${l.match}`));
    expect(found).toEqual([]);
  });

  it.each(['builder/build.sh', 'Dockerfile.builder'])('is spelled nowhere in %s', (file) => {
    expect(layoutLiterals(withoutShellComments(read(file)))).toEqual([]);
  });

  it('goes into the container whole: every path and id of CONTAINER is a variable of layoutEnv', () => {
    const values = new Set(Object.values(layoutEnv()));
    const missing = leaves(CONTAINER)
      .map(String)
      .filter((v) => !values.has(v));
    expect(missing).toEqual([]);
  });

  it('gives the image the same values as the container', () => {
    const env = layoutEnv();
    for (const [name, value] of Object.entries(builderBuildArgs('sha256:0', DEFAULT_TARGET))) {
      if (name !== 'GO_IMAGE' && name !== 'D7Y_CROSS_PACKAGES') expect(env[name], name).toBe(value);
    }
  });
});

describe('builder/build.sh', () => {
  const script = read('builder/build.sh');
  const required = [...script.matchAll(/\$\{(D7Y_[A-Z0-9_]+):\?/g)].map((m) => m[1]!);
  const defaulted = [...script.matchAll(/\$\{(D7Y_[A-Z0-9_]+):-/g)].map((m) => m[1]!);
  const code = withoutShellComments(script);
  const used = new Set([...code.matchAll(/\$\{?(D7Y_[A-Z0-9_]+)/g)].map((m) => m[1]!));

  it('requires layout variables, each of which the container gets', () => {
    expect(required.length).toBeGreaterThan(5);
    const env = layoutEnv();
    expect(required.filter((name) => env[name] === undefined)).toEqual([]);
  });

  it('reads no D7Y_ variable it neither requires nor defaults', () => {
    expect([...used].filter((name) => !required.includes(name) && !defaulted.includes(name))).toEqual([]);
  });
});

describe('Dockerfile.builder', () => {
  // Instructions one a line: continued lines joined.
  const dockerfile = read('Dockerfile.builder').replace(/\\\n/g, ' ');
  const [beforeFrom, afterFrom] = dockerfile.split(/^FROM .*$/m) as [string, string];
  // One ARG instruction may declare several.
  const args = (text: string): string[] => [...text.matchAll(/^ARG ([\w ]+)$/gm)].flatMap((m) => m[1]!.split(' ').filter((w) => w !== ''));
  const buildArgs = builderBuildArgs('sha256:0', DEFAULT_TARGET);

  it('declares exactly the build args d7y-build passes', () => {
    expect(args(beforeFrom)).toEqual(['GO_IMAGE']);
    expect([...args(afterFrom)].sort()).toEqual(
      Object.keys(buildArgs)
        .filter((n) => n !== 'GO_IMAGE')
        .sort(),
    );
  });

  it('checks and uses every one of them', () => {
    const code = withoutShellComments(afterFrom).replace(/^ARG .*$/gm, '');
    const loop =
      /for v in ([^;]*); do/
        .exec(code)?.[1]
        ?.split(/\s+/)
        .filter((w) => w !== '') ?? [];
    // The cross packages are empty for the native platform: the only arg the loop may not require.
    expect([...loop].sort()).toEqual(
      args(afterFrom)
        .filter((name) => name !== 'D7Y_CROSS_PACKAGES')
        .sort(),
    );
    const rest = code.replace(/for v in [^;]*; do/s, '');
    expect(args(afterFrom).filter((name) => !new RegExp(`\\$\\{?${name}\\b`).test(rest))).toEqual([]);
  });
});

describe('inside', () => {
  it('gives a path relative to the directory that holds it', () => {
    expect(inside(CONTAINER.work, CONTAINER.dragonfly)).toBe(path.posix.relative(CONTAINER.work, CONTAINER.dragonfly));
    expect(inside('/a', '/a/b/c')).toBe('b/c');
  });

  it.each([
    ['the directory itself', '/a', '/a'],
    ['a sibling', '/a', '/ab'],
    ['a parent', '/a/b', '/a'],
    ['elsewhere', '/a', '/b/c'],
  ])('refuses %s', (_label, dir, p) => {
    expect(() => inside(dir, p)).toThrow(InternalError);
  });
});
