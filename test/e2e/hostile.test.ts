/**
 * Hostile input, by class, through the bundled CLI against the real engine and real git: a branch
 * that moves, refs of every kind, credentials in --repo, a damaged or locked mirror, a failed
 * install over a previous one, and control characters in what gets printed. Each failure exits
 * with its code and one escaped `error:` line with a hint, and leaves --out, --plugins-dir and the
 * engine as they were. Builds are few: one branch built twice, and one install over it that fails.
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { pidAlive } from '../../src/owner';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { docker, examples, leftoverContainers, runCli, snapshot, tempDir, writePlugin, type CliOptions, type CliRun } from './helpers';

const run = promisify(execFile);
const D7YFS = path.join(examples, 'd7yfs');
const PLUGIN = 'd7y-resource-plugin-d7yfs.so';
const TOKEN = `tok-${randomBytes(12).toString('hex')}`;
/** Raw control characters a terminal acts on, but the newline between lines. */
const RAW_CONTROL = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/;

let work: { path: string } & AsyncDisposable;
/** The upstream repository (bare), served over HTTP behind a password, and a clone to commit from. */
let upstream: string;
let checkout: string;
let server: http.Server;
let authUrl: string;
let plainUrl: string;

const git = async (dir: string, ...args: string[]): Promise<string> =>
  (await run('git', ['-C', dir, '-c', 'user.name=t', '-c', 'user.email=t@t', ...args])).stdout.trim();

/** Commits a change on branch in the checkout and publishes it upstream; returns the new SHA. */
async function commitUpstream(branch: string, change: (dir: string) => Promise<unknown>, message: string): Promise<string> {
  await git(checkout, 'checkout', '-q', branch);
  await change(checkout);
  await git(checkout, 'add', '-A');
  await git(checkout, 'commit', '-qm', message);
  await git(checkout, 'push', '-q', 'origin', branch);
  await git(upstream, 'update-server-info');
  return git(checkout, 'rev-parse', 'HEAD');
}

/** Where the CLI keeps the mirror of repo under cache. */
const mirrorOf = (cache: string, repo: string) => path.join(cache, 'git', `${createHash('sha256').update(repo).digest('hex').slice(0, 16)}.git`);

/** The documented shape of a failure: its code, one escaped one-line error with a hint, no stack. */
function expectFailure(result: CliRun, exitCode: number, message: RegExp): { message: string; hint: string } {
  expect(result.exitCode, result.stderr).toBe(exitCode);
  expect(result.stderr.match(/^error: /gm)).toHaveLength(1);
  expect(result.stderr).toMatch(/^hint: /m);
  expect(result.stderr).not.toMatch(/^\s+at .*:\d+:\d+\)?$/m);
  expect(result.stderr).not.toMatch(RAW_CONTROL);
  expect(result.stdout).not.toMatch(RAW_CONTROL);
  const outcome = JSON.parse(result.stdout) as { ok: boolean; error: { exitCode: number; message: string; hint: string } };
  expect(outcome).toMatchObject({ ok: false, error: { exitCode } });
  expect(outcome.error.message).not.toContain('\n');
  expect(outcome.error.message).toMatch(message);
  return outcome.error;
}

beforeAll(async () => {
  work = await tempDir('hostile-');
  upstream = path.join(work.path, 'upstream.git');
  checkout = path.join(work.path, 'checkout');
  await run('git', ['clone', '-q', '--bare', inject('fixtureRepo'), upstream]);
  await git(upstream, 'branch', 'dev', 'v2.1.0');
  // A branch named like a release line, whose commits have no dfget: resolving it is all a run
  // does before it stops (exit 10), so ref resolution is tested without a build.
  await run('git', ['clone', '-q', upstream, checkout]);
  await git(checkout, 'checkout', '-q', '-b', 'v9.9.x', 'v2.1.0');
  await git(checkout, 'rm', '-rq', 'cmd/dfget');
  await git(checkout, 'commit', '-qm', 'no dfget');
  await git(checkout, 'push', '-q', 'origin', 'v9.9.x');
  await git(checkout, 'checkout', '-q', '-b', 'dev', 'origin/dev');
  await git(upstream, 'update-server-info');

  // git's dumb HTTP protocol: static files, each request behind basic auth.
  const expected = `Basic ${Buffer.from(`d7y:${TOKEN}`).toString('base64')}`;
  server = http.createServer((req, res) => {
    if (req.headers.authorization !== expected) {
      res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="dragonfly"' }).end();
      return;
    }
    const file = path.join(upstream, path.normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)).replace(/^\/dragonfly\.git/, ''));
    readFile(file).then(
      (data) => res.writeHead(200).end(data),
      () => res.writeHead(404).end(),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  plainUrl = `http://127.0.0.1:${port}/dragonfly.git`;
  authUrl = `http://d7y:${TOKEN}@127.0.0.1:${port}/dragonfly.git`;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  await work[Symbol.asyncDispose]();
});

/**
 * leftoverContainers() that a finished run left behind: those whose owning process is gone. The
 * engine is shared, and a build someone else runs meanwhile is not this file's leak.
 */
async function leakedContainers(): Promise<string[]> {
  const leaked: string[] = [];
  for (const id of await leftoverContainers()) {
    const pid = Number(await docker('inspect', '-f', '{{index .Config.Labels "io.d7y-build.pid"}}', id).catch(() => 'gone'));
    if (Number.isInteger(pid) && !pidAlive(pid)) leaked.push(id);
  }
  return leaked;
}

afterEach(async () => {
  expect(await leakedContainers()).toEqual([]);
});

describe('a branch that moved, built through a password-protected --repo', () => {
  const cache = () => path.join(work.path, 'cache');
  const out = () => path.join(work.path, 'out');
  // A plugins dir whose name would forge a line and paint the terminal if printed raw.
  const plugins = () => path.join(work.path, 'plugins\nerror: forged \x1b[31mred\x1b[0m');
  // Every git command the CLI runs goes through this shim, which records its arguments: what `ps`
  // would show of them.
  const gitLog = () => path.join(work.path, 'git-argv.log');
  const shimDir = () => path.join(work.path, 'git-shim');
  beforeAll(async () => {
    const realGit = (await run('sh', ['-c', 'command -v git'])).stdout.trim();
    await mkdir(shimDir());
    await writeFile(path.join(shimDir(), 'git'), `#!/bin/sh\nprintf '%s\\n' "$*" >> '${gitLog()}'\nexec '${realGit}' "$@"\n`, { mode: 0o755 });
  });
  const build = (extra: string[] = []) =>
    runCli(['--commit', 'dev', '--repo', authUrl, '--go-image', inject('goImage'), '--out', out(), '--plugins-dir', plugins(), '--json', ...extra, D7YFS], {
      env: { D7Y_CACHE_DIR: cache(), PATH: `${shimDir()}:${process.env.PATH}` },
    });
  const runs: CliRun[] = [];

  it('builds the new commit of the branch, and stamps it', async () => {
    const first = await build();
    runs.push(first);
    expect(first.exitCode, first.stderr).toBe(0);
    const before = await git(upstream, 'rev-parse', 'dev');
    expect(JSON.parse(first.stdout).commit).toBe(before);

    const moved = await commitUpstream('dev', (dir) => writeFile(path.join(dir, 'MOVED'), 'dev moved on\n'), 'dev moves on');
    expect(moved).not.toBe(before);
    const second = await build(['--verbose']);
    runs.push(second);
    expect(second.exitCode, second.stderr).toBe(0);
    expect(second.stderr).toContain(`dev is ${moved}\n`);
    expect(second.stderr).not.toContain('from the mirror cache');

    const outcome = JSON.parse(second.stdout);
    expect(outcome.commit).toBe(moved);
    expect(outcome.buildCommit).toBe(moved.slice(0, 7));
    const manifest = JSON.parse(await readFile(path.join(out(), 'manifest.json'), 'utf8'));
    expect(manifest.dragonfly).toMatchObject({ repo: plainUrl, ref: 'dev', commit: moved });
    expect(manifest.buildCommit).toBe(moved.slice(0, 7));
    // What the binaries carry, read back from the files.
    const inspected = await runCli(['inspect', '--json', path.join(out(), 'plugins', PLUGIN)]);
    expect(JSON.parse(inspected.stdout).stamps['main.buildCommit']).toBe(moved.slice(0, 7));
    // The password went to git in its environment, never as an argument.
    const argv = await readFile(gitLog(), 'utf8');
    expect(argv).toMatch(/^clone .*http:\/\/127\.0\.0\.1:\d+\/dragonfly\.git/m);
    expect(argv).not.toContain(TOKEN);
  });

  it('prints the odd plugins dir escaped, one line per path', () => {
    const second = runs[1]!;
    const escaped = path.join(work.path, 'plugins\\nerror: forged \\x1b[31mred\\x1b[0m');
    expect(second.stderr).toContain(`installed ${path.join(escaped, PLUGIN)}`);
    expect(second.stderr).not.toMatch(/^error:/m);
    expect(second.stderr).not.toMatch(RAW_CONTROL);
    expect(JSON.parse(second.stdout).installed).toEqual([path.join(plugins(), PLUGIN)]);
  });

  it('writes the password nowhere: output, logs, manifest, provenance, SBOM, mirror', async () => {
    expect(runs).toHaveLength(2);
    for (const r of runs) expect(r.stdout + r.stderr).not.toContain(TOKEN);
    expect(runs[1]!.stderr).toMatch(/^ +plugin\| /m); // --verbose did show container output
    for (const file of ['manifest.json', 'provenance.intoto.json', 'sbom.cdx.json']) {
      expect(await readFile(path.join(out(), file), 'utf8'), file).not.toContain(TOKEN);
    }
    const mirror = mirrorOf(cache(), plainUrl);
    expect(await git(mirror, 'config', 'remote.origin.url')).toBe(plainUrl);
    // grep exits 1 when no file under the cache holds the token.
    await expect(run('grep', ['-rlF', TOKEN, cache()])).rejects.toMatchObject({ code: 1 });
  });

  it('a failed install leaves --out and --plugins-dir byte for byte as they were', async () => {
    // --out holds the previous build; a directory stands where the plugin goes.
    const target = path.join(work.path, 'target-plugins');
    await mkdir(path.join(target, PLUGIN), { recursive: true });
    await writeFile(path.join(target, PLUGIN, 'keep-me'), 'not a plugin');
    await writeFile(path.join(target, 'd7y-resource-plugin-other.so'), 'another plugin');
    const before = { out: await snapshot(out()), plugins: await snapshot(target) };
    expect(Object.keys(before.out).sort()).toEqual([
      'bin/d7y-loadcheck',
      'bin/dfget',
      'manifest.json',
      `plugins/${PLUGIN}`,
      'provenance.intoto.json',
      'sbom.cdx.json',
    ]);

    const result = await runCli(
      ['--commit', 'dev', '--repo', authUrl, '--go-image', inject('goImage'), '--out', out(), '--plugins-dir', target, '--json', D7YFS],
      { env: { D7Y_CACHE_DIR: cache() } },
    );
    const error = expectFailure(result, 9, new RegExp(`${PLUGIN.replace(/\./g, '\\.')} is a directory, not a file; installed nothing`));
    expect(error.hint).toMatch(/move .* out of the way/);
    expect(await snapshot(out())).toEqual(before.out);
    expect(await snapshot(target)).toEqual(before.plugins);
  });

  it('d7y-build install refuses a link where the plugin goes, and changes nothing', async () => {
    const target = path.join(work.path, 'install-target');
    await mkdir(target);
    await symlink('/etc/hostname', path.join(target, PLUGIN));
    const before = await snapshot(target);
    const result = await runCli(
      ['install', '--host', path.join(out(), 'bin', 'dfget'), '--plugins-dir', target, '--json', path.join(out(), 'plugins', PLUGIN)],
      {
        env: { D7Y_CACHE_DIR: cache() },
      },
    );
    expectFailure(result, 9, /is a symbolic link, not a file; installed nothing/);
    expect(await snapshot(target)).toEqual(before);
    expect(await readdir(target)).toEqual([PLUGIN]);
  });
});

describe('credentials in --repo never print', () => {
  const enc = encodeURIComponent;
  it.each([
    [
      'a password, nothing listening',
      () => ({ args: ['--repo', `http://d7y:${TOKEN}@127.0.0.1:9/dragonfly.git`] }),
      /cannot clone http:\/\/127\.0\.0\.1:9\/dragonfly\.git/,
    ],
    [
      'a token as the user, nothing listening',
      () => ({ args: ['--repo', `http://${TOKEN}@127.0.0.1:9/dragonfly.git`] }),
      /cannot clone http:\/\/127\.0\.0\.1:9\//,
    ],
    [
      'a percent-encoded password in D7Y_REPO',
      () => ({ args: [], env: { D7Y_REPO: `http://d7y:${enc(`${TOKEN}/@:`)}@127.0.0.1:9/x.git` } }),
      /cannot clone http:\/\/127\.0\.0\.1:9\/x\.git/,
    ],
    [
      'a wrong password, refused by the server',
      () => ({ args: ['--repo', authUrl.replace(TOKEN, `${TOKEN}-wrong`)] }),
      /cannot clone http:\/\/127\.0\.0\.1:\d+\/dragonfly\.git/,
    ],
  ])('%s', async (_label, given, message) => {
    await using dir = await tempDir();
    const { args, env } = given() as { args: string[]; env?: Record<string, string> };
    const result = await runCli(
      [
        '--commit',
        'v2.1.0',
        ...args,
        '--go-image',
        inject('goImage'),
        '--out',
        path.join(dir.path, 'out'),
        '--plugins-dir',
        path.join(dir.path, 'p'),
        '--json',
        D7YFS,
      ],
      { env: { D7Y_CACHE_DIR: path.join(dir.path, 'cache'), ...env } },
    );
    expectFailure(result, 4, message);
    expect(result.stdout + result.stderr).not.toContain(TOKEN);
    expect(result.stdout + result.stderr).not.toContain(enc(TOKEN));
    expect(await snapshot(path.join(dir.path, 'out'))).toEqual({});
    expect(await snapshot(path.join(dir.path, 'p'))).toEqual({});
  });
});

describe('refs: only a full SHA or a real tag comes from the mirror without a fetch', () => {
  // Resolving against the upstream's local path; every commit of v9.9.x lacks dfget (exit 10).
  const cache = () => path.join(work.path, 'refs-cache');
  const resolve = async (ref: string) => {
    const [out, plugins] = [path.join(work.path, 'refs-out'), path.join(work.path, 'refs-p')];
    const result = await runCli(
      ['--commit', ref, '--repo', upstream, '--go-image', inject('goImage'), '--out', out, '--plugins-dir', plugins, '--json', D7YFS],
      {
        env: { D7Y_CACHE_DIR: cache() },
      },
    );
    expect(await snapshot(out)).toEqual({});
    expect(await snapshot(plugins)).toEqual({});
    return result;
  };
  /** The SHA the run says ref is, and whether it said the mirror cache answered. */
  const resolved = (result: CliRun, ref: string) => {
    expectFailure(result, 10, /has no cmd\/dfget/);
    // Progress lines carry the time of day in front when stderr is no terminal.
    const line = new RegExp(`^(?:\\d\\d:\\d\\d:\\d\\d)? +${ref.replace(/\./g, '\\.')} is ([0-9a-f]{40})( \\(from the mirror cache\\))?$`, 'm').exec(
      result.stderr,
    );
    expect(line, result.stderr).not.toBeNull();
    return { sha: line![1]!, cached: line![2] !== undefined };
  };
  const noDfget = (name: string) => commitUpstream('v9.9.x', (dir) => writeFile(path.join(dir, name), `${name}\n`), name);

  it('a branch named like a version is fetched every time', async () => {
    const first = resolved(await resolve('v9.9.x'), 'v9.9.x');
    expect(first.sha).toBe(await git(upstream, 'rev-parse', 'v9.9.x'));
    const moved = await noDfget('one');
    expect(resolved(await resolve('v9.9.x'), 'v9.9.x')).toEqual({ sha: moved, cached: false });
    expect(resolved(await resolve('v9.9.x'), 'v9.9.x')).toEqual({ sha: moved, cached: false });
  });

  it('a short SHA is fetched, found or not yet known; a full SHA the mirror has is not', async () => {
    const known = await git(upstream, 'rev-parse', 'v9.9.x');
    expect(resolved(await resolve(known.slice(0, 10)), known.slice(0, 10))).toEqual({ sha: known, cached: false });
    const unknown = await noDfget('two');
    expect(resolved(await resolve(unknown.slice(0, 10)), unknown.slice(0, 10))).toEqual({ sha: unknown, cached: false });
    expect(resolved(await resolve(unknown), unknown)).toEqual({ sha: unknown, cached: true });
  });

  it('a tag comes from the mirror; one moved upstream is picked up by the next fetch, with a warning', async () => {
    const tagged = await git(upstream, 'rev-parse', 'v9.9.x');
    await git(upstream, 'tag', 'nodfget-1', tagged);
    expect(resolved(await resolve('nodfget-1'), 'nodfget-1')).toEqual({ sha: tagged, cached: false });
    expect(resolved(await resolve('nodfget-1'), 'nodfget-1')).toEqual({ sha: tagged, cached: true });

    const retagged = await noDfget('three');
    await git(upstream, 'tag', '-f', 'nodfget-1', retagged);
    // Tags are immutable by contract: the mirror's answer stands until a fetch brings the new one.
    expect(resolved(await resolve('nodfget-1'), 'nodfget-1')).toEqual({ sha: tagged, cached: true });
    const branch = await resolve('v9.9.x');
    expect(branch.stderr).toContain(`warning: tag nodfget-1 of ${upstream} moved upstream from ${tagged.slice(0, 12)} to ${retagged.slice(0, 12)}`);
    expect(resolved(await resolve('nodfget-1'), 'nodfget-1')).toEqual({ sha: retagged, cached: true });
  });

  it('an unknown ref is fetched and named', async () => {
    const result = await resolve('v9.9.y');
    expectFailure(result, 4, /has no commit, branch or tag "v9\.9\.y"/);
  });
});

describe('a damaged or locked mirror', () => {
  const cache = () => path.join(work.path, 'mirror-cache');
  const mirror = () => mirrorOf(cache(), upstream);
  const resolve = async (onStderr?: CliOptions['onStderr']) => {
    const [out, plugins] = [path.join(work.path, 'm-out'), path.join(work.path, 'm-p')];
    const result = await runCli(
      ['--commit', 'v9.9.x', '--repo', upstream, '--go-image', inject('goImage'), '--out', out, '--plugins-dir', plugins, '--json', D7YFS],
      {
        env: { D7Y_CACHE_DIR: cache() },
        onStderr,
      },
    );
    expect(await snapshot(out)).toEqual({});
    expect(await snapshot(plugins)).toEqual({});
    return result;
  };

  it.each([
    ['an empty directory', async () => mkdir(mirror(), { recursive: true })],
    ['a mirror without its objects', async () => rm(path.join(mirror(), 'objects'), { recursive: true })],
    ['a mirror without HEAD', async () => rm(path.join(mirror(), 'HEAD'))],
    ['a file', async () => writeFile(mirror(), 'not a repository')],
  ])('%s is cloned again, with a warning naming it', async (label, damage) => {
    if (label !== 'an empty directory') expect((await resolve()).exitCode).toBe(10); // a good mirror to damage
    if (label === 'a file') await rm(mirror(), { recursive: true });
    await damage();
    const result = await resolve();
    expectFailure(result, 10, /has no cmd\/dfget/);
    expect(result.stderr).toContain(`warning: the git mirror ${mirror()} is damaged (`);
    expect(await git(mirror(), 'rev-parse', 'v9.9.x')).toBe(await git(upstream, 'rev-parse', 'v9.9.x'));
  });

  it.each([
    ['empty', async (lock: string) => writeFile(lock, '')],
    ['of a process that is gone', async (lock: string) => writeFile(lock, JSON.stringify({ host: os.hostname(), pid: 2 ** 22 + 4321, startedMs: Date.now() }))],
  ])('a lock file left %s is taken over', async (label, leave) => {
    const lock = `${mirror()}.lock`;
    await leave(lock);
    const result = await resolve();
    expectFailure(result, 10, /has no cmd\/dfget/);
    if (label === 'empty') expect(result.stderr).toContain(`warning: waiting for the git mirror lock ${lock}, held by no process it names`);
    await expect(readdir(path.dirname(lock))).resolves.not.toContain(path.basename(lock));
  });

  it('a lock held by a live process is waited for, naming it', async () => {
    const lock = `${mirror()}.lock`;
    const owner = { host: os.hostname(), pid: process.pid, startedMs: Math.round(Date.now() - process.uptime() * 1000) };
    await writeFile(lock, JSON.stringify(owner));
    // Released once the run says it waits for it.
    const result = await resolve((_child, stderr) => {
      if (stderr.includes('waiting for the git mirror lock')) void rm(lock, { force: true });
    });
    expectFailure(result, 10, /has no cmd\/dfget/);
    expect(result.stderr).toContain(`warning: waiting for the git mirror lock ${lock}, held by process ${process.pid} on ${os.hostname()}`);
  });
});

describe('control characters in what gets printed', () => {
  const common = (dir: string) => ['--go-image', inject('goImage'), '--out', path.join(dir, 'out'), '--plugins-dir', path.join(dir, 'p'), '--json'];
  const FORGE = '\nerror: forged\x1b[2J\x1b]0;title\x07\u009b31m\u202e';
  const SHOWN = '\\nerror: forged\\x1b[2J\\x1b]0;title\\x07\\x9b31m\\u202e';

  it.each([
    [
      'a plugin directory name',
      (dir: string) => ['--commit', 'v2.1.0', ...common(dir), '--name', 'x', path.join(dir, `p${FORGE}`)],
      2,
      /plugin directory .* does not exist/,
    ],
    [
      'a ref',
      (dir: string) => ['--commit', `v2.1.0${FORGE}`, '--repo', inject('fixtureRepo'), ...common(dir), D7YFS],
      4,
      /is not a branch, tag or commit name/,
    ],
    ['a go file name', (dir: string) => ['--commit', 'v2.1.0', ...common(dir), path.join(dir, 'plug')], 2, /is package source, not main/],
    [
      'an install host path',
      (dir: string) => ['install', '--host', path.join(dir, `dfget${FORGE}`), '--plugins-dir', path.join(dir, 'p'), '--json', path.join(dir, PLUGIN)],
      2,
      /host binary .* does not exist/,
    ],
  ])('%s', async (_label, args, exitCode, message) => {
    await using dir = await tempDir();
    await writePlugin(path.join(dir.path, 'plug'), { [`x${FORGE}.go`]: 'package source\n' });
    const before = await snapshot(dir.path);
    const result = await runCli(args(dir.path));
    const error = expectFailure(result, exitCode, message);
    expect(error.message).toContain(SHOWN);
    expect(result.stderr).toContain(SHOWN);
    expect(await snapshot(dir.path)).toEqual(before);
  });
});
