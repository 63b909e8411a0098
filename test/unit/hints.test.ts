/**
 * Hints name options once, as tokens of the option table (option-names.ts): the CLI reads each as
 * its flag, a library caller as the option of the call. Every token resolves both ways, and a
 * library call that a bad option stops gets a hint naming that option.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli';
import { OPTION_KEYS, OPTIONS } from '../../src/config';
import { type D7yError, renderHint, UsageError } from '../../src/errors';
import { build, buildFlagsOf, install, verify, type BuildOptions } from '../../src/library';
import { BUILD_OPTION_NAMES, flagName, hintOption, NAMED_OPTIONS, optionOfFlag, type NamedOption } from '../../src/option-names';

const d7yfs = path.resolve(__dirname, '../../examples/d7yfs');
const TOKEN_MARKS = /[\u27e6\u27e7\u2980]/;

describe('option tokens', () => {
  it('name every build option of config.ts, and only those', () => {
    expect(Object.keys(BUILD_OPTION_NAMES).sort()).toEqual([...OPTION_KEYS].sort());
    expect(Object.keys(OPTIONS).sort()).toEqual(Object.keys(BUILD_OPTION_NAMES).sort());
  });

  it.each(NAMED_OPTIONS)('%s resolves as a flag (or variable) for the CLI and as an option (or variable) for the library', (key: NamedOption) => {
    for (const value of [undefined, '2g']) {
      const token = hintOption(key, value);
      const cli = renderHint(`pass ${token}`, 'cli');
      const library = renderHint(`pass ${token}`, 'library');
      for (const text of [cli, library]) expect(text).not.toMatch(TOKEN_MARKS);
      // The CLI: its flag, or the variable of an option no flag sets.
      expect(cli).toMatch(value === undefined ? /^pass (--[a-z-]+|D7Y_[A-Z_]+)$/ : /^pass (--[a-z-]+ 2g|D7Y_[A-Z_]+=2g)$/);
      if (flagName(key) !== undefined) expect(optionOfFlag(cli.split(' ')[1]!)).toBe(key);
      // The library: the option of the call, or the variable of one it lacks.
      expect(library).toMatch(value === undefined ? /^pass ([a-z][A-Za-z]+|D7Y_[A-Z_]+)$/ : /^pass ([a-z][A-Za-z]+: "2g"|D7Y_[A-Z_]+=2g)$/);
      expect(library).not.toMatch(/--/);
    }
  });

  it('names only options the library takes: each build option it names reaches the flags the CLI resolves', () => {
    for (const key of OPTION_KEYS) {
      const library = renderHint(hintOption(key), 'library');
      if (library.startsWith('D7Y_')) continue;
      const options = { plugins: [], [key]: key === 'trimpath' || key === 'race' || key === 'keep' ? true : 'x' } as BuildOptions;
      expect((buildFlagsOf(options) as Record<string, unknown>)[key], key).toBeDefined();
    }
  });

  it('leaves a hint without tokens as it is, and renders each token of a hint alone', () => {
    expect(renderHint('check the network', 'library')).toBe('check the network');
    const hint = `raise ${hintOption('timeout')}, or ${hintOption('goImage', 'golang:1.23.5-bookworm')} and ${hintOption('cacheDir', '/c')}`;
    expect(renderHint(hint, 'cli')).toBe('raise --timeout, or --go-image golang:1.23.5-bookworm and D7Y_CACHE_DIR=/c');
    expect(renderHint(hint, 'library')).toBe('raise timeout, or goImage: "golang:1.23.5-bookworm" and D7Y_CACHE_DIR=/c');
  });

  it('reads as flags on an error until the library hands it over', () => {
    const err = new UsageError('x', { hint: `raise ${hintOption('memory')}` });
    expect(err.hint).toBe('raise --memory');
    expect(err.forLibrary().hint).toBe('raise memory');
    expect(new UsageError('y').forLibrary().hint).toBeUndefined();
  });
});

describe('hints as each reader gets them', () => {
  const env = { HOME: '/nonexistent-home' };
  const failure = async (run: () => Promise<unknown>) =>
    (await run().then(
      () => undefined,
      (e: unknown) => e,
    )) as D7yError;

  it('a library build with a bad option names that option, where the CLI names the flag', async () => {
    const memory = await failure(() => build({ plugins: [d7yfs], commit: 'v2.1.0', memory: '3x', env }));
    expect(memory).toBeInstanceOf(UsageError);
    expect(memory.hint).toBe('pass a memory size like memory: "2g" or memory: "512m"');
    const goImage = await failure(() => build({ plugins: [d7yfs], commit: 'v2.1.0', goImage: 'Bad Image', env }));
    expect(goImage.hint).toMatch(/^pass an image \(lower-case name\) like goImage: "golang:1\.23\.5-bookworm" or goImage: /);
    const commit = await failure(() => build({ plugins: [d7yfs], env }));
    expect(commit.hint).toMatch(/^pass commit: "<branch\|tag\|sha>" .*, e\.g\. commit: "v2\.1\.0"$/);
    const apart = await failure(() => build({ plugins: [d7yfs], commit: 'v2.1.0', out: '/tmp/same', pluginsDir: '/tmp/same', env }));
    expect(apart.hint).toMatch(/^keep out and pluginsDir apart: out gets bin\//);

    // The same refusal on the command line names the flag.
    let stderr = '';
    const sink = { write: (s: string, cb?: () => void) => ((stderr += s), cb?.(), true) } as unknown as NodeJS.WritableStream;
    const code = await main(['--commit', 'v2.1.0', '--memory', '3x', d7yfs], {
      stdout: sink,
      stderr: sink,
      env,
      cwd: '/',
      signal: new AbortController().signal,
    });
    expect(code).toBe(2);
    expect(stderr).toContain('hint: pass a memory size like --memory 2g or --memory 512m');
  });

  it('install and verify name their options too', async () => {
    const host = await failure(() => install({ host: '', plugins: ['/x/d7y-resource-plugin-a.so'], env }));
    expect(host.hint).toMatch(/^pass host: "<path to the /);
    const provenance = await failure(() => verify({ provenance: '/nonexistent/out' }));
    expect(provenance.hint).toBe('pass provenance: "<provenance.intoto.json>", or provenance: "<the directory a build wrote>"');
  });
});
