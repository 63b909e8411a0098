/**
 * The conventions of the command line: completion scripts from the declarations (bash run for real),
 * colour per NO_COLOR/FORCE_COLOR, --quiet, mistyped commands, --version --json.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli';
import { DockerUnavailableError } from '../../src/errors';
import { colourWanted, createLogger } from '../../src/log';
import { PLUGIN_TYPES } from '../../src/plugin';
import { VERSION } from '../../src/version';
import { FakeEngine } from './fake-engine';

class Sink extends Writable {
  text = '';
  override _write(chunk: Buffer, _encoding: string, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

let cwd: string;
beforeAll(async () => {
  cwd = await mkdtemp(path.join(os.tmpdir(), 'd7y-cli-conventions-'));
});
afterAll(async () => {
  await rm(cwd, { recursive: true, force: true });
});

async function cli(argv: string[], engine = new FakeEngine()): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = new Sink();
  const stderr = new Sink();
  const code = await main(argv, { stdout, stderr, env: {}, cwd, signal: new AbortController().signal, engine });
  return { code, stdout: stdout.text, stderr: stderr.text };
}

/** What bash completes for the words typed so far (the last one being completed). */
function bashCompletes(script: string, words: string[]): string[] {
  const file = path.join(cwd, 'completion.bash');
  execFileSync('sh', ['-c', 'cat > "$1"', 'sh', file], { input: script });
  const program = `source ${JSON.stringify(file)}; COMP_WORDS=(${words.map((w) => JSON.stringify(w)).join(' ')}); COMP_CWORD=${words.length - 1}; cd ${JSON.stringify(cwd)}; _d7y_build; printf '%s\\n' "\${COMPREPLY[@]}"`;
  return execFileSync('bash', ['-c', program], { encoding: 'utf8' })
    .split('\n')
    .filter((l) => l !== '');
}

describe('d7y-build completion', () => {
  let bash: string;
  beforeAll(async () => {
    bash = (await cli(['completion', 'bash'])).stdout;
  });

  it('bash: completes commands, the options of the command typed, and choices of valued options', async () => {
    expect(bashCompletes(bash, ['d7y-build', 'ins'])).toEqual(expect.arrayContaining(['install', 'inspect', 'inspect-api']));
    expect(bashCompletes(bash, ['d7y-build', 'install', '--plu'])).toEqual(['--plugins-dir']);
    expect(bashCompletes(bash, ['d7y-build', '--wat'])).toEqual(['--watch']);
    expect(bashCompletes(bash, ['d7y-build', '--type', ''])).toEqual([...PLUGIN_TYPES]);
    expect(bashCompletes(bash, ['d7y-build', 'completion', ''])).toEqual(expect.arrayContaining(['bash', 'zsh', 'fish']));
  });

  it('bash: completes the matrix flags and the matrix command', () => {
    expect(bashCompletes(bash, ['d7y-build', '--fail'])).toEqual(['--fail-fast']);
    expect(bashCompletes(bash, ['d7y-build', '--matr'])).toEqual(['--matrix']);
    expect(bashCompletes(bash, ['d7y-build', 'matr'])).toEqual(['matrix']);
    expect(bashCompletes(bash, ['d7y-build', 'matrix', '--format', ''])).toEqual(['github', 'gitlab']);
  });

  it('bash: completes paths for plugin directories and path-valued options', async () => {
    await mkdir(path.join(cwd, 'myplugin'), { recursive: true });
    await writeFile(path.join(cwd, 'mynotes.txt'), '');
    expect(bashCompletes(bash, ['d7y-build', 'myp'])).toEqual(['myplugin']);
    expect(bashCompletes(bash, ['d7y-build', '--out', 'myn'])).toEqual(['mynotes.txt']);
  });

  it('zsh and fish: every option of every command is declared, from the same declarations as --help', async () => {
    const zsh = (await cli(['completion', 'zsh'])).stdout;
    const fish = (await cli(['completion', 'fish'])).stdout;
    expect(zsh).toMatch(/^#compdef d7y-build$/m);
    for (const [command, flags] of [
      ['install', ['--host', '--plugins-dir', '--go-image', '--json', '--quiet']],
      ['verify', ['--host', '--json']],
      ['prune', ['--all', '--out']],
    ] as const) {
      expect(zsh).toContain(`_d7y_build_${command}() {`);
      for (const flag of flags) {
        expect(fish).toContain(`complete -c d7y-build -n '__fish_seen_subcommand_from ${command}' -l ${flag.slice(2)}`);
        expect(zsh.slice(zsh.indexOf(`_d7y_build_${command}() {`))).toContain(`'${flag}[`);
      }
    }
    expect(fish).toContain(`-l type -x -a '${PLUGIN_TYPES.join(' ')}'`);
  });

  it('refuses a shell it has no script for: exit 2 naming the choices', async () => {
    const { code, stderr } = await cli(['completion', 'tcsh']);
    expect(code).toBe(2);
    expect(stderr).toMatch(/bash, zsh, fish/);
  });
});

describe('colour', () => {
  it.each([
    [{ isTTY: true }, {}, true],
    [{ isTTY: false }, {}, false],
    [{ isTTY: true }, { NO_COLOR: '1' }, false],
    [{ isTTY: true }, { NO_COLOR: '' }, true],
    [{ isTTY: false }, { FORCE_COLOR: '1' }, true],
    [{ isTTY: true }, { FORCE_COLOR: '0' }, false],
    [{ isTTY: false }, { FORCE_COLOR: '' }, false],
    [{ isTTY: false }, { FORCE_COLOR: '1', NO_COLOR: 'yes' }, false],
  ])('%o with %o paints: %s', (stream, env, expected) => {
    expect(colourWanted(stream, env)).toBe(expected);
  });
});

describe('--quiet', () => {
  it('keeps warnings and drops progress', () => {
    const stream = new Sink();
    const log = createLogger({ verbose: false, quiet: true, stream, env: {} });
    log.headline('d7y-build: building');
    log.stepStart(1, 2, 'resolve-source');
    log.info('resolved');
    log.stepDone(1, 2, 'resolve-source', 10);
    log.warn('toolchain differs');
    expect(stream.text).toBe('warning: toolchain differs\n');
  });

  it('cannot go with --verbose: exit 2', async () => {
    const { code, stderr } = await cli(['--commit', 'v2.1.0', '--quiet', '--verbose', '.']);
    expect(code).toBe(2);
    expect(stderr).toMatch(/--quiet.*--verbose|--verbose.*--quiet/);
  });
});

describe('a mistyped command', () => {
  it('is named, with the command meant: exit 2', async () => {
    const { code, stderr } = await cli(['instal', 'x.so']);
    expect(code).toBe(2);
    expect(stderr).toMatch(/unknown command "instal"/);
    expect(stderr).toMatch(/did you mean d7y-build install\?/);
  });

  it('is a plugin directory when one of that name exists', async () => {
    await mkdir(path.join(cwd, 'prun'), { recursive: true });
    const { stderr } = await cli(['prun']);
    expect(stderr).not.toMatch(/unknown command/);
    expect(stderr).toMatch(/no Dragonfly commit given/);
  });
});

describe('--version', () => {
  it('prints the version alone', async () => {
    const { code, stdout } = await cli(['--version']);
    expect(code).toBe(0);
    expect(stdout).toBe(`${VERSION}\n`);
  });

  it('with --json: the CLI, Node, the engine and the builder recipe', async () => {
    const { code, stdout } = await cli(['--version', '--json']);
    expect(code).toBe(0);
    const doc = JSON.parse(stdout);
    expect(doc).toMatchObject({
      name: 'd7y-build',
      version: VERSION,
      node: process.versions.node,
      engine: { version: expect.any(String), apiVersion: expect.any(String) },
    });
    expect(doc.builderRecipe).toMatch(/^[0-9a-f]{16}$/);
  });

  it('with --json and no engine: says why in the document, still exit 0', async () => {
    const engine = new FakeEngine();
    engine.ping = async () => {
      throw new DockerUnavailableError('no Docker engine answers at the default Docker socket');
    };
    const doc = JSON.parse((await cli(['--json', '--version'], engine)).stdout);
    expect(doc.engine).toEqual({ error: 'no Docker engine answers at the default Docker socket' });
  });
});
