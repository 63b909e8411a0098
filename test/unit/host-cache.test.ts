/**
 * The host cache: its key (every input changes it, the same inputs give the same key), and
 * builder/build.sh's `host-cache get|put` on real files: a miss, a stored entry taken whole, a corrupt
 * entry removed and never used, and two builds storing one key.
 */
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { hostCacheKey, type HostCacheInputs } from '../../src/commands/build/host-cache';
import { BUILD_SH_SCRIPT, buildShEnv } from './build-sh-env';

const BASE: HostCacheInputs = {
  commit: 'a'.repeat(40),
  goImageId: 'sha256:go',
  builderImageId: 'sha256:builder',
  platform: 'linux/amd64',
  goEnv: { GOFLAGS: '-buildvcs=false' },
  goArgs: ['-trimpath', '-ldflags=-X d7y.io/dragonfly/v2/version.BuildTime=2024-01-02T03:04:05Z'],
  toolchain: { trimpath: true, tags: [], gcflags: '', race: false },
  commands: ['dfget', 'd7y-loadcheck'],
  loaderProgram: 'package main\n',
};

describe('hostCacheKey', () => {
  it('is a sha256, the same for the same inputs however they were put together', () => {
    const key = hostCacheKey(BASE);
    expect(key).toMatch(/^[0-9a-f]{64}$/);
    const copy: HostCacheInputs = JSON.parse(JSON.stringify(BASE));
    expect(hostCacheKey({ ...copy, goEnv: { B: '2', A: '1' } })).toBe(hostCacheKey({ ...BASE, goEnv: { A: '1', B: '2' } }));
    expect(hostCacheKey(copy)).toBe(key);
  });

  const variations: Array<[string, Partial<HostCacheInputs>]> = [
    ['the Dragonfly commit', { commit: 'b'.repeat(40) }],
    ['the Go image', { goImageId: 'sha256:go2' }],
    ['the builder image', { builderImageId: 'sha256:builder2' }],
    ['the platform', { platform: 'linux/arm64' }],
    ['the go environment', { goEnv: {} }],
    ['a go argument', { goArgs: ['-trimpath'] }],
    ['the stamps in -ldflags', { goArgs: ['-trimpath', '-ldflags=-X d7y.io/dragonfly/v2/version.BuildTime=2024-01-02T03:04:06Z'] }],
    ['the order of the go arguments', { goArgs: [...BASE.goArgs].reverse() }],
    ['-trimpath', { toolchain: { ...BASE.toolchain, trimpath: false } }],
    ['the tags', { toolchain: { ...BASE.toolchain, tags: ['netgo'] } }],
    ['the gcflags', { toolchain: { ...BASE.toolchain, gcflags: 'all=-N -l' } }],
    ['-race', { toolchain: { ...BASE.toolchain, race: true } }],
    ['the host command', { commands: ['scheduler', 'd7y-loadcheck'] }],
    ['the loader check program', { loaderProgram: 'package main\n\n// another loader\n' }],
  ];

  it.each(variations)('changes with %s', (_label, change) => {
    expect(hostCacheKey({ ...BASE, ...change })).not.toBe(hostCacheKey(BASE));
  });

  it('gives every variation a key of its own', () => {
    const keys = variations.map(([, change]) => hostCacheKey({ ...BASE, ...change }));
    expect(new Set([hostCacheKey(BASE), ...keys]).size).toBe(variations.length + 1);
  });
});

/** builder/build.sh, run here with the layout's variables pointing at temp dirs. */
describe('build.sh host-cache', () => {
  const script = BUILD_SH_SCRIPT;
  const KEY = 'c'.repeat(64);
  const COMMANDS = ['dfget', 'd7y-loadcheck'];
  let root: string;
  let env: Record<string, string>;
  const bin = () => env.D7Y_OUT_BIN!;
  const cache = () => env.D7Y_HOST_CACHE!;

  beforeEach(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'd7y-host-cache-'));
    const dir = (name: string) => path.join(root, name);
    env = buildShEnv(root, {
      TMPDIR: dir('tmp'),
      D7Y_OUT_BIN: dir('out/bin'),
      D7Y_HOST_CACHE: dir('host-cache'),
    });
    for (const d of [env.TMPDIR!, env.D7Y_OUT_BIN!, env.D7Y_HOST_CACHE!]) await mkdir(d, { recursive: true });
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  const buildSh = (...args: string[]) => {
    const r = spawnSync('bash', [script, ...args], { env, encoding: 'utf8' });
    return { exitCode: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  const built = async (host = 'host bytes', loadcheck = 'loadcheck bytes') => {
    await writeFile(path.join(bin(), 'dfget'), host);
    await writeFile(path.join(bin(), 'd7y-loadcheck'), loadcheck);
  };
  const clearBin = () => Promise.all(COMMANDS.map((c) => rm(path.join(bin(), c), { force: true })));

  it('misses with exit 10 when there is no entry', () => {
    expect(buildSh('host-cache', 'get', KEY, ...COMMANDS).exitCode).toBe(10);
  });

  it('stores an entry with its SHA256SUMS, and gives back the same bytes', async () => {
    await built();
    expect(buildSh('host-cache', 'put', KEY, ...COMMANDS)).toMatchObject({ exitCode: 0, stdout: 'stored\n' });
    expect(await readdir(cache())).toEqual([KEY]);
    const sums = await readFile(path.join(cache(), KEY, 'SHA256SUMS'), 'utf8');
    expect(sums).toMatch(/^[0-9a-f]{64} {2}bin\/dfget\n[0-9a-f]{64} {2}bin\/d7y-loadcheck\n$/);
    // The format sha256sum itself checks.
    expect(spawnSync('sha256sum', ['--check', '--strict', 'SHA256SUMS'], { cwd: path.join(cache(), KEY) }).status).toBe(0);

    await clearBin();
    expect(buildSh('host-cache', 'get', KEY, ...COMMANDS).exitCode).toBe(0);
    expect(await readFile(path.join(bin(), 'dfget'), 'utf8')).toBe('host bytes');
    expect(await readFile(path.join(bin(), 'd7y-loadcheck'), 'utf8')).toBe('loadcheck bytes');
    expect(await readdir(env.TMPDIR!)).toEqual([]);
  });

  it('keeps the first entry of a key: a second put discards its copy', async () => {
    await built('first');
    buildSh('host-cache', 'put', KEY, ...COMMANDS);
    await built('second');
    expect(buildSh('host-cache', 'put', KEY, ...COMMANDS)).toMatchObject({ exitCode: 0, stdout: 'present\n' });
    expect(await readdir(cache())).toEqual([KEY]);
    expect(await readFile(path.join(cache(), KEY, 'bin/dfget'), 'utf8')).toBe('first');
  });

  it.each([
    ['a flipped byte', (entry: string) => writeFile(path.join(entry, 'bin/dfget'), 'host bytez'), 'bin/dfget does not match SHA256SUMS'],
    ['a missing file', (entry: string) => rm(path.join(entry, 'bin/d7y-loadcheck')), 'bin/d7y-loadcheck is missing or unreadable'],
    ['no SHA256SUMS', (entry: string) => rm(path.join(entry, 'SHA256SUMS')), 'SHA256SUMS is missing'],
    [
      'SHA256SUMS naming more files',
      async (entry: string) => writeFile(path.join(entry, 'SHA256SUMS'), `${await readFile(path.join(entry, 'SHA256SUMS'), 'utf8')}${'0'.repeat(64)}  bin/x\n`),
      'SHA256SUMS lists other files',
    ],
  ])('removes a corrupt entry (%s) with exit 11 and uses none of it', async (_label, damage, reason) => {
    await built();
    buildSh('host-cache', 'put', KEY, ...COMMANDS);
    await damage(path.join(cache(), KEY));
    await clearBin();
    const get = buildSh('host-cache', 'get', KEY, ...COMMANDS);
    expect(get).toMatchObject({ exitCode: 11, stderr: `${reason}\n` });
    expect(await readdir(bin())).toEqual([]);
    expect(await readdir(cache())).toEqual([]);
    expect(await readdir(env.TMPDIR!)).toEqual([]);
    // The next build stores its own.
    await built();
    expect(buildSh('host-cache', 'put', KEY, ...COMMANDS).stdout).toBe('stored\n');
  });

  it('refuses what is not a key', () => {
    expect(buildSh('host-cache', 'get', '../etc', 'dfget')).toMatchObject({ exitCode: 2, stderr: "build.sh: host-cache: '../etc' is not a cache key\n" });
  });
});
