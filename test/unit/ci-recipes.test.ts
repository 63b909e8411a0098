/**
 * The CI recipes in docs/ci are the CLI's real command lines: every d7y-build command their jobs
 * run is read out of the YAML, its variables given the values the recipe sets (or a stand-in), and
 * parsed by the CLI's own parser (parseCommandLine, the flags and config.ts), which throws on a
 * flag, a value or a command the CLI does not have.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { parseCommandLine } from '../../src/cli';
import type { CiCell } from '../../src/matrix/spec';

const DOCS = path.join(__dirname, '../../docs/ci');
const RECIPES = readdirSync(DOCS).filter((f) => /\.ya?ml$/.test(f));

/** The shell scripts a recipe runs: GitHub steps' `run`, GitLab jobs' scripts, in document order. */
function scriptsOf(doc: unknown): string[] {
  const found: string[] = [];
  const walk = (node: unknown, key: string | undefined): void => {
    if (typeof node === 'string') {
      if (key !== undefined && ['run', 'script', 'before_script', 'after_script'].includes(key)) found.push(node);
    } else if (Array.isArray(node)) {
      for (const item of node) walk(item, key);
    } else if (node !== null && typeof node === 'object') {
      for (const [k, v] of Object.entries(node)) walk(v, k);
    }
  };
  walk(doc, undefined);
  return found;
}

/** The variables a recipe sets at its top (`env:` on GitHub, `variables:` on GitLab). */
function variablesOf(doc: Record<string, unknown>): Record<string, string> {
  const vars = (doc.env ?? doc.variables ?? {}) as Record<string, unknown>;
  return Object.fromEntries(Object.entries(vars).map(([k, v]) => [k, String(v)]));
}

/**
 * Shell words of one script, split into simple commands at `;`, `&&`, `||`, `|` and newlines:
 * quotes, `$VAR`, `${VAR}` and GitHub's `${{ … }}` (a stand-in value) are resolved. Enough for the
 * recipes; anything it does not know (a subshell, a heredoc) fails the test rather than passing.
 */
function commandsOf(script: string, vars: Record<string, string>): string[][] {
  const commands: string[][] = [];
  let words: string[] = [];
  let word: string | undefined;
  /** The next word is where a redirection goes, no word of the command. */
  let redirect = false;
  const end = () => {
    if (word !== undefined && !redirect) words.push(word);
    if (word !== undefined) redirect = false;
    word = undefined;
  };
  const endCommand = () => {
    end();
    if (words.length > 0) commands.push(words);
    words = [];
  };
  const variable = (text: string, at: number): [string, number] => {
    // A command substitution: its commands are read as the script's own, its output a stand-in.
    if (text.startsWith('$(', at)) {
      let depth = 0;
      for (let j = at + 1; j < text.length; j++) {
        if (text[j] === '(') depth++;
        else if (text[j] === ')' && --depth === 0) {
          commands.push(...commandsOf(text.slice(at + 2, j), vars));
          return ['stand-in-output', j + 1];
        }
      }
      throw new Error('an unclosed $( in a recipe script');
    }
    const expr = /^\$\{\{(.*?)\}\}/.exec(text.slice(at));
    if (expr) return [vars[expr[1]!.trim()] ?? `stand-in-${expr[1]!.trim().replace(/[^\w.-]/g, '')}`, at + expr[0].length];
    const named = /^\$(?:\{(\w+)\}|(\w+))/.exec(text.slice(at));
    if (!named) throw new Error(`a recipe script uses ${JSON.stringify(text.slice(at, at + 2))}, which this reader does not follow`);
    const name = named[1] ?? named[2]!;
    return [vars[name] ?? `stand-in-${name}`, at + named[0].length];
  };
  for (let i = 0; i < script.length;) {
    const c = script[i]!;
    if (c === '#' && word === undefined) {
      while (i < script.length && script[i] !== '\n') i++;
    } else if (c === '\n' || c === ';' || c === '|' || (c === '&' && script[i + 1] === '&')) {
      endCommand();
      i += c === '|' && script[i + 1] === '|' ? 2 : c === '&' ? 2 : 1;
    } else if (c === ' ' || c === '\t') {
      end();
      i++;
    } else if (c === '\\' && script[i + 1] === '\n') {
      i += 2;
    } else if (c === "'") {
      const close = script.indexOf("'", i + 1);
      word = (word ?? '') + script.slice(i + 1, close);
      i = close + 1;
    } else if (c === '"') {
      word ??= '';
      for (i++; script[i] !== '"';) {
        if (i >= script.length) throw new Error('an unclosed " in a recipe script');
        if (script[i] === '$') {
          const [value, next] = variable(script, i);
          word += value;
          i = next;
        } else word += script[i++];
      }
      i++;
    } else if (c === '$') {
      const [value, next] = variable(script, i);
      word = (word ?? '') + value;
      i = next;
    } else if ((c === '>' || c === '<') && script[i + 1] !== '<') {
      end();
      redirect = true;
      i += script[i + 1] === '>' ? 2 : 1;
    } else if ('()<>`'.includes(c)) {
      throw new Error(`a recipe script uses ${c}, which this reader does not follow`);
    } else {
      word = (word ?? '') + c;
      i++;
    }
  }
  endCommand();
  return commands;
}

const sink = () => ({ write: () => true }) as unknown as NodeJS.WritableStream;

describe('commandsOf: the shell words of a recipe script', () => {
  it.each<[string, string[][]]>([
    ['d7y-build --commit "$REF" ./p', [['d7y-build', '--commit', 'v1', './p']]],
    [
      "[ ! -f x ] || d7y-build cache import '.d7y cache'",
      [
        ['[', '!', '-f', 'x', ']'],
        ['d7y-build', 'cache', 'import', '.d7y cache'],
      ],
    ],
    ['a && b ; c | d\n# note\ne \\\n  f', [['a'], ['b'], ['c'], ['d'], ['e', 'f']]],
    ['d7y-build --commit ${{ matrix.commit }} --out out/${REF}', [['d7y-build', '--commit', 'stand-in-matrix.commit', '--out', 'out/v1']]],
  ])('%s', (script, expected) => {
    expect(commandsOf(script, { REF: 'v1' })).toEqual(expected);
  });

  it('reads the commands of a command substitution too', () => {
    expect(commandsOf('echo "m=$(d7y-build matrix --commit "$REF")" >> out', { REF: 'v1' })).toEqual([
      ['d7y-build', 'matrix', '--commit', 'v1'],
      ['echo', 'm=stand-in-output'],
    ]);
  });

  it('refuses what it cannot follow, so that no command is skipped unread', () => {
    expect(() => commandsOf('x=`d7y-build --version`', {})).toThrow(/uses `/);
    expect(() => commandsOf('cat <<EOF', {})).toThrow(/uses </);
  });
});

const parseArgv = (argv: string[]) => parseCommandLine(argv, { stdout: sink(), stderr: sink(), env: { HOME: '/home/ci' }, cwd: '/builds/plugins' });

/**
 * GitHub's `${{ matrix.* }}` as the recipe's own `d7y-build matrix` command makes them: its first
 * cell, so a job's command is checked with what the CLI would really hand it.
 */
function matrixVariables(commands: string[][]): Record<string, string> {
  const printing = commands.find((words) => words[0] === 'd7y-build' && words[1] === 'matrix');
  if (printing === undefined) return {};
  const cell = (parseArgv(printing.slice(1))?.spec as { cells: CiCell[] }).cells[0]!;
  return Object.fromEntries(
    Object.entries({ ...cell, plugins: cell.plugins?.join(' ') }).flatMap(([k, v]) => (v === undefined ? [] : [[`matrix.${k}`, String(v)]])),
  );
}

describe.each(RECIPES)('docs/ci/%s', (recipe) => {
  const doc = parseYaml(readFileSync(path.join(DOCS, recipe), 'utf8')) as Record<string, unknown>;
  const vars = variablesOf(doc);
  const scripts = scriptsOf(doc);
  const cellVars = matrixVariables(scripts.flatMap((script) => commandsOf(script, vars)));
  const commands = scripts.flatMap((script) => commandsOf(script, { ...vars, ...cellVars })).filter((words) => words[0] === 'd7y-build');

  it('runs d7y-build', () => {
    expect(commands.length).toBeGreaterThan(0);
  });

  it.each(commands.map((words) => [words.slice(1).join(' '), words.slice(1)]))('d7y-build %s is a real command line', (_, argv) => {
    expect(parseArgv(argv as string[])).toBeDefined();
  });
});
