/**
 * `d7y-build doctor` over the fake engine and a small real git repository: each check's ok, warn
 * and fail, which checks run when the engine or the Go image is missing, the bounds in time, the
 * exit code, and the report as printed and as --json.
 */
import { execFileSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { main } from '../../../src/cli';
import { doctor, DOCTOR_TIMEOUTS, formatDoctor, PROBE_MODULE, type Check, type DoctorResult } from '../../../src/commands/doctor';
import { resolveDoctorSpec, type DoctorFlags, type DoctorSpec } from '../../../src/config';
import { DOCTOR_FOUND_A_PROBLEM, DockerUnavailableError, InterruptedError } from '../../../src/errors';
import { FakeEngine } from '../fake-engine';
import { GO_IMAGE, useWorld } from './harness';

const GiB = 1024 ** 3;
const ROOT_DIR = '/var/lib/docker';

const world = useWorld();
afterEach(() => {
  vi.useRealTimers();
});

function specOf(flags: DoctorFlags = { commit: 'v2.1.0', goImage: GO_IMAGE }, env: Record<string, string> = {}): DoctorSpec {
  return resolveDoctorSpec({ repo: world.repo, ...flags }, { D7Y_CACHE_DIR: world.cache, ...env }, world.root);
}

/** An engine on this machine that has the Go image, whose container reaches the proxy, with one cache volume measured. */
function healthyEngine(): FakeEngine {
  const engine = new FakeEngine()
    .onExec(['go', 'env', 'GOPROXY'], { stdout: 'https://proxy.example,direct\n' })
    .onExec(['timeout'], { stdout: JSON.stringify({ Path: 'golang.org/x/mod', Version: 'v0.20.0' }) });
  engine.info = { ...engine.info, local: true, rootDir: ROOT_DIR, systemTime: new Date().toISOString() };
  engine.images.set(GO_IMAGE, { id: 'sha256:go', env: {}, labels: {}, arch: 'amd64' });
  engine.volumes.set('d7y-build-go-mod', {});
  engine.volumeSizes.set('d7y-build-go-mod', 3 * GiB);
  engine.volumes.set('d7y-build-go-build', {});
  return engine;
}

/** Free space by path: the engine's data directory and the cache directory. */
function disks(engineFree = 100 * GiB, cacheFree = 100 * GiB): (p: string) => Promise<number> {
  return async (p) => (p === ROOT_DIR ? engineFree : cacheFree);
}

function run(engine: FakeEngine, spec: DoctorSpec = specOf(), freeBytes = disks()): Promise<DoctorResult> {
  return doctor(spec, { engine, freeBytes });
}

function checks(result: DoctorResult): Record<string, Check> {
  return Object.fromEntries(result.report.checks.map((c) => [c.name, c]));
}

describe('doctor', () => {
  it('finds nothing wrong on a healthy machine: every check ok, in order, exit 0', async () => {
    const engine = healthyEngine();
    const result = await run(engine, specOf({ commit: 'v2.1.0', goImage: GO_IMAGE }, { GOPROXY: 'https://proxy.example' }));
    expect(result.report.checks.map((c) => [c.name, c.status])).toEqual([
      ['engine', 'ok'],
      ['engine-disk', 'ok'],
      ['cache-dir', 'ok'],
      ['cache-disk', 'ok'],
      ['source', 'ok'],
      ['go-image', 'ok'],
      ['go-proxy', 'ok'],
      ['go-caches', 'ok'],
      ['build-time', 'ok'],
      ['clock', 'ok'],
    ]);
    expect(result).toMatchObject({ report: { ok: true }, exitCode: 0 });
    const found = checks(result);
    expect(found.engine!.finding).toBe('Docker 27.0.0 (API 1.46, linux/x86_64) at unix:///fake.sock, not rootless');
    expect(found['engine-disk']!.finding).toBe(`100.0 GiB free in ${ROOT_DIR}, where the engine keeps images, containers and the Go cache volumes`);
    expect(found['cache-dir']!.finding).toBe(`${world.cache} (from D7Y_CACHE_DIR) is writable`);
    expect(found.source!.finding).toBe(`v2.1.0 is ${world.sha['v2.1.0']} in ${world.repo}`);
    expect(found['go-image']!.finding).toBe(`${GO_IMAGE} (--go-image) is on the engine`);
    expect(found['go-proxy']!.finding).toBe(`GOPROXY=https://proxy.example,direct answers a build container: ${PROBE_MODULE} is v0.20.0`);
    expect(found['go-caches']!.finding).toBe(
      'd7y-build-go-mod 3.0 GiB, d7y-build-go-build size unknown, d7y-build-host-cache absent (the first build creates it)',
    );
    expect(result.report.checks.every((c) => c.fix === undefined)).toBe(true);

    // The proxy is asked from a throwaway container of the Go image, with the environment builds get, bounded inside too.
    expect(engine.containers).toHaveLength(1);
    expect(engine.containers[0]!.spec).toMatchObject({ image: 'sha256:go', volumes: [], env: { GOPROXY: 'https://proxy.example' }, platform: 'linux/amd64' });
    expect(engine.containers[0]!.spec.labels['io.d7y-build.run']).toMatch(/^[0-9a-f-]{36}$/);
    expect(engine.execs.map((e) => e.cmd)).toEqual([
      ['go', 'env', 'GOPROXY'],
      ['timeout', '20', 'go', 'list', '-m', '-json', PROBE_MODULE],
    ]);
    expect(engine.removed).toEqual([engine.containers[0]!.id]);
    expect(engine.pulls).toEqual([]);
  });

  describe('engine', () => {
    it('fails with the engine error and its hint, runs only what needs no engine, and exits 3', async () => {
      const engine = healthyEngine();
      engine.ping = async () => {
        throw new DockerUnavailableError('no Docker engine answers at unix:///fake.sock (ECONNREFUSED)', { hint: 'start Docker' });
      };
      const result = await run(engine);
      expect(result.report.checks.map((c) => c.name)).toEqual(['engine', 'cache-dir', 'cache-disk', 'source', 'build-time']);
      expect(checks(result).engine).toEqual({
        name: 'engine',
        status: 'fail',
        finding: 'no Docker engine answers at unix:///fake.sock (ECONNREFUSED)',
        fix: 'start Docker',
      });
      expect(result).toMatchObject({ report: { ok: false }, exitCode: 3 });
      expect(engine.containers).toEqual([]);
    });

    it('fails on a malformed D7Y_PING_TIMEOUT before asking the engine, exiting as a build would (2)', async () => {
      const engine = healthyEngine();
      const ping = vi.spyOn(engine, 'ping');
      const result = await run(engine, specOf(undefined, { D7Y_PING_TIMEOUT: 'soon' }));
      expect(checks(result).engine).toMatchObject({ status: 'fail', finding: expect.stringMatching(/^D7Y_PING_TIMEOUT="soon" is not a duration/) });
      expect(result.exitCode).toBe(2);
      expect(ping).not.toHaveBeenCalled();
    });

    it('says when the engine runs rootless', async () => {
      const engine = healthyEngine();
      engine.info = { ...engine.info, rootless: true };
      expect(checks(await run(engine)).engine!.finding).toMatch(/, rootless$/);
    });
  });

  describe('disk space', () => {
    it.each<[string, number, 'ok' | 'warn' | 'fail', number]>([
      ['engine-disk', 100 * GiB, 'ok', 0],
      ['engine-disk', 3 * GiB, 'warn', 0],
      ['engine-disk', 0.5 * GiB, 'fail', DOCTOR_FOUND_A_PROBLEM],
      ['cache-disk', 5 * GiB, 'ok', 0],
      ['cache-disk', 4.9 * GiB, 'warn', 0],
      ['cache-disk', 1023 * 1024 ** 2, 'fail', DOCTOR_FOUND_A_PROBLEM],
    ])('%s with %d bytes free: %s, exit %d', async (name, free, status, exitCode) => {
      const result = await run(healthyEngine(), specOf(), name === 'engine-disk' ? disks(free) : disks(undefined, free));
      const check = checks(result)[name]!;
      expect(check.status).toBe(status);
      expect(result.exitCode).toBe(exitCode);
      if (status === 'ok') expect(check.fix).toBeUndefined();
      else expect(check.fix).toMatch(name === 'engine-disk' ? /docker system df/ : /D7Y_CACHE_DIR/);
      if (status === 'fail') expect(check.finding).toMatch(/: less than 1\.0 GiB$/);
      if (status === 'warn') expect(check.finding).toMatch(/: less than 5\.0 GiB$/);
    });

    it('measures the real filesystems by default', async () => {
      const engine = healthyEngine();
      engine.info = { ...engine.info, rootDir: world.root };
      const found = checks(await doctor(specOf(), { engine }));
      expect(found['engine-disk']!.finding).toMatch(new RegExp(`^\\d+(\\.\\d)? (GiB|MiB|KiB|bytes) free in ${world.root}, `));
      expect(found['cache-disk']!.finding).toMatch(new RegExp(`^\\d+(\\.\\d)? (GiB|MiB|KiB|bytes) free in ${world.cache}, `));
    });

    it("can't tell the space of an engine on another machine, or of a data directory not here: warn", async () => {
      const remote = healthyEngine();
      remote.info = { ...remote.info, local: false, address: 'tcp://builder:2375' };
      expect(checks(await run(remote))['engine-disk']).toEqual({
        name: 'engine-disk',
        status: 'warn',
        finding: `the engine at tcp://builder:2375 keeps its data in ${ROOT_DIR} on its own machine: free space unknown`,
        fix: `check the free space of ${ROOT_DIR} on the engine's machine (df -h ${ROOT_DIR}): builds need a few GiB for images, containers and the Go caches`,
      });
      const inVm = healthyEngine();
      inVm.info = { ...inVm.info, rootDir: path.join(world.root, 'no-such-dir') };
      const result = await doctor(specOf(), { engine: inVm });
      expect(checks(result)['engine-disk']).toMatchObject({ status: 'warn', finding: expect.stringContaining("can't be measured from here (ENOENT)") });
      expect(result.exitCode).toBe(0);
    });
  });

  describe('cache-dir', () => {
    it('fails on a relative D7Y_CACHE_DIR, naming it, and resolves no commit without a mirror', async () => {
      const engine = healthyEngine();
      const result = await run(engine, specOf(undefined, { D7Y_CACHE_DIR: 'cache' }));
      const found = checks(result);
      expect(found['cache-dir']).toEqual({
        name: 'cache-dir',
        status: 'fail',
        finding: 'D7Y_CACHE_DIR="cache" is not an absolute path',
        fix: 'set D7Y_CACHE_DIR to an absolute path like $HOME/.cache/d7y-build, or unset it',
      });
      expect(found['cache-disk']).toBeUndefined();
      expect(found.source).toMatchObject({ status: 'warn', finding: 'v2.1.0 not resolved: the git mirror needs the cache directory' });
      // The Go image named by flag is still checked.
      expect(found['go-image']!.status).toBe('ok');
      expect(result.exitCode).toBe(DOCTOR_FOUND_A_PROBLEM);
    });

    it('fails on a cache directory that is a file', async () => {
      const file = path.join(world.root, 'a-file');
      await writeFile(file, '');
      const result = await run(healthyEngine(), specOf(undefined, { D7Y_CACHE_DIR: file }));
      expect(checks(result)['cache-dir']).toMatchObject({
        status: 'fail',
        finding: expect.stringMatching(/^the cache directory .*a-file \(from D7Y_CACHE_DIR\) is not a writable directory/),
        fix: expect.stringContaining('D7Y_CACHE_DIR'),
      });
      expect(result.exitCode).toBe(DOCTOR_FOUND_A_PROBLEM);
    });
  });

  describe('source and go-image', () => {
    it('fails on a ref the repository does not have, and checks no image by go.mod', async () => {
      const engine = healthyEngine();
      const result = await run(engine, specOf({ commit: 'v9.9.9' }));
      const found = checks(result);
      expect(found.source).toMatchObject({
        status: 'fail',
        finding: `${world.repo} has no commit, branch or tag "v9.9.9"`,
        fix: expect.stringContaining('git ls-remote'),
      });
      expect(found['go-image']).toBeUndefined();
      expect(found['go-proxy']).toBeUndefined();
      expect(result.exitCode).toBe(DOCTOR_FOUND_A_PROBLEM);
    });

    it('fails on a repository that is not Dragonfly', async () => {
      const found = checks(await run(healthyEngine(), specOf({ commit: 'other' })));
      expect(found.source).toMatchObject({ status: 'fail', finding: expect.stringMatching(/is not Dragonfly: its go\.mod declares example\.com\/other$/) });
    });

    it('warns of the image go.mod asks for when the engine lacks it: pulled by the first build, or built offline; nothing is pulled or run', async () => {
      const engine = healthyEngine();
      const result = await run(engine, specOf({ commit: 'v2.1.0' }));
      // The world's go.mod says `go 1.21`: the last 1.21 patch.
      expect(checks(result)['go-image']).toEqual({
        name: 'go-image',
        status: 'warn',
        finding: 'golang:1.21.13-bookworm (go.mod go 1.21 (language version): latest 1.21 patch, 1.21.13) is not on the engine: the first build pulls it',
        fix: "if the engine can't reach the registry: pull it on a machine that reaches the registry, or build a stand-in offline with scripts/go-image.sh 1.21.13 and pass --go-image d7y-build/golang:1.21.13-bookworm",
      });
      expect(checks(result)['go-proxy']).toBeUndefined();
      expect(result.exitCode).toBe(0);
      expect(engine.pulls).toEqual([]);
      expect(engine.containers).toEqual([]);
    });

    it('fails when go.mod names no Go release and no --go-image is given', async () => {
      const git = (...args: string[]) =>
        execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', '-c', 'commit.gpgsign=false', ...args], { cwd: world.repo });
      await writeFile(path.join(world.repo, 'go.mod'), 'module d7y.io/dragonfly/v2\n');
      git('commit', '-q', '-am', 'no go line');
      git('tag', 'no-go-line');
      const result = await run(healthyEngine(), specOf({ commit: 'no-go-line' }));
      expect(checks(result)['go-image']).toMatchObject({
        status: 'fail',
        finding: expect.stringMatching(/^go\.mod at [0-9a-f]{7} names no Go release to pick a Go image by$/),
        fix: expect.stringContaining('--go-image'),
      });
      expect(result.exitCode).toBe(DOCTOR_FOUND_A_PROBLEM);
    });

    it('checks the --go-image given without a commit, and neither without both', async () => {
      const withImage = checks(await run(healthyEngine(), specOf({ goImage: GO_IMAGE })));
      expect(withImage.source).toBeUndefined();
      expect(withImage['go-image']!.status).toBe('ok');
      const bare = await run(healthyEngine(), specOf({}));
      expect(bare.report.checks.map((c) => c.name)).toEqual(['engine', 'engine-disk', 'cache-dir', 'cache-disk', 'go-caches', 'build-time', 'clock']);
    });
  });

  describe('go-proxy', () => {
    it("warns, with the go command's own reason, when the proxy does not answer; the container is removed", async () => {
      const engine = healthyEngine().onExec(['timeout'], {
        exitCode: 1,
        stderr: 'go: golang.org/x/mod@latest: module lookup disabled by GOPROXY=off\n',
      });
      const result = await run(engine);
      expect(checks(result)['go-proxy']).toMatchObject({
        status: 'warn',
        finding: 'GOPROXY=https://proxy.example,direct does not answer a build container (go: golang.org/x/mod@latest: module lookup disabled by GOPROXY=off)',
        fix: expect.stringMatching(/^builds that download modules will fail: set GOPROXY/),
      });
      expect(result.exitCode).toBe(0);
      expect(engine.removed).toEqual([engine.containers[0]!.id]);
    });

    it('says when the go command gave up waiting', async () => {
      const engine = healthyEngine().onExec(['timeout'], { exitCode: 124 });
      expect(checks(await run(engine))['go-proxy']!.finding).toMatch(/\(no answer within 20 s\)$/);
    });

    it('fails when the image has no working go command', async () => {
      const engine = healthyEngine().onExec(['go', 'env'], { exitCode: 127, stderr: 'exec: "go": executable file not found in $PATH\n' });
      const result = await run(engine);
      expect(checks(result)['go-proxy']).toMatchObject({
        status: 'fail',
        finding: `\`go env GOPROXY\` fails in ${GO_IMAGE}: exec: "go": executable file not found in $PATH`,
        fix: 'pass a golang image with --go-image',
      });
      expect(result.exitCode).toBe(DOCTOR_FOUND_A_PROBLEM);
      expect(engine.removed).toHaveLength(1);
    });
  });

  describe('go-caches', () => {
    it('names cache volumes the engine does not have yet', async () => {
      const engine = healthyEngine();
      engine.volumes.clear();
      expect(checks(await run(engine))['go-caches']!.finding).toBe(
        'd7y-build-go-mod absent (the first build creates it), d7y-build-go-build absent (the first build creates it), d7y-build-host-cache absent (the first build creates it)',
      );
    });

    it('warns when the engine does not tell the sizes', async () => {
      const engine = healthyEngine();
      engine.listVolumes = async () => {
        throw new Error('(HTTP code 500) server error - disk usage already running');
      };
      const result = await run(engine);
      expect(checks(result)['go-caches']).toMatchObject({ status: 'warn', finding: expect.stringContaining('disk usage already running') });
      expect(result.exitCode).toBe(0);
    });
  });

  describe('build-time and clock', () => {
    it.each<[string, string | undefined, 'ok' | 'warn' | 'fail', RegExp]>([
      ['unset', undefined, 'ok', /^SOURCE_DATE_EPOCH is unset: builds stamp the Dragonfly commit's date$/],
      ['in the past', '1704164645', 'ok', /^SOURCE_DATE_EPOCH=1704164645: builds stamp 2024-01-02T03:04:05Z$/],
      ['in the future', String(Math.floor(Date.now() / 1000) + 86_400), 'warn', /is in the future$/],
      ['malformed', '2024-01-02', 'fail', /^SOURCE_DATE_EPOCH="2024-01-02" is not a number of seconds/],
    ])('SOURCE_DATE_EPOCH %s: %s', async (_label, value, status, finding) => {
      const result = await run(healthyEngine(), specOf(undefined, value === undefined ? {} : { SOURCE_DATE_EPOCH: value }));
      const check = checks(result)['build-time']!;
      expect(check.status).toBe(status);
      expect(check.finding).toMatch(finding);
      expect(result.exitCode).toBe(status === 'fail' ? DOCTOR_FOUND_A_PROBLEM : 0);
    });

    it.each<[string, number | undefined, 'ok' | 'warn', RegExp]>([
      ['the same time', 0, 'ok', /^this machine's clock is within a minute of the engine's \((behind|ahead) by 0 s\)$/],
      ['30 s ahead of this machine', 30_000, 'ok', /^this machine's clock is within a minute of the engine's \(behind by 30 s\)$/],
      ['five minutes ahead of this machine', 300_000, 'warn', /^this machine's clock is 300 s behind the engine's$/],
      ['an hour behind this machine', -3_600_000, 'ok', /^this machine's clock is 3600 s ahead of the engine's$/],
      ['no time at all', undefined, 'ok', /^the engine does not report its time: not compared$/],
    ])('an engine clock at %s: %s', async (_label, offsetMs, status, finding) => {
      const engine = healthyEngine();
      // The engine's clock as it answers, offset from this machine's.
      engine.ping = async () => ({ ...engine.info, systemTime: offsetMs === undefined ? undefined : new Date(Date.now() + offsetMs).toISOString() });
      const check = checks(await run(engine)).clock!;
      expect(check.status).toBe(status);
      expect(check.finding).toMatch(finding);
      if (status === 'warn') expect(check.fix).toMatch(/^sync this machine's clock/);
    });
  });

  describe('bounds', () => {
    /** An engine whose image inspection never answers, and a promise of the first call to it. */
    function stuckEngine(): { engine: FakeEngine; asked: Promise<void> } {
      const engine = healthyEngine();
      let asked!: () => void;
      const called = new Promise<void>((resolve) => (asked = resolve));
      engine.inspectImage = () => {
        asked();
        return new Promise(() => {});
      };
      return { engine, asked: called };
    }

    it('reports a check that does not finish in time, and the others', async () => {
      vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
      const { engine, asked } = stuckEngine();
      const pending = run(engine, specOf({ goImage: GO_IMAGE }));
      await asked;
      await vi.advanceTimersByTimeAsync(DOCTOR_TIMEOUTS.check);
      const result = await pending;
      expect(checks(result)['go-image']).toEqual({
        name: 'go-image',
        status: 'warn',
        finding: 'no answer within 10 s',
        fix: 'run d7y-build doctor again; if it stays slow, so will builds',
      });
      expect(checks(result)['go-proxy']).toBeUndefined();
      expect(result.report.checks.map((c) => c.name)).toEqual([
        'engine',
        'engine-disk',
        'cache-dir',
        'cache-disk',
        'go-image',
        'go-caches',
        'build-time',
        'clock',
      ]);
      expect(result.exitCode).toBe(0);
    });

    it('stops at once when interrupted', async () => {
      const { engine, asked } = stuckEngine();
      const controller = new AbortController();
      const pending = doctor(specOf({ goImage: GO_IMAGE }), { engine, freeBytes: disks(), signal: controller.signal });
      await asked;
      controller.abort(new InterruptedError('SIGINT'));
      await expect(pending).rejects.toBeInstanceOf(InterruptedError);
    });
  });
});

describe('d7y-build doctor', () => {
  class Sink extends Writable {
    text = '';
    override _write(chunk: Buffer, _encoding: string, done: () => void): void {
      this.text += chunk.toString();
      done();
    }
  }

  async function cli(argv: string[], engine: FakeEngine, env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
    const stdout = new Sink();
    const stderr = new Sink();
    const code = await main(argv, {
      stdout,
      stderr,
      env: { D7Y_CACHE_DIR: world.cache, ...env },
      cwd: world.root,
      signal: new AbortController().signal,
      engine,
    });
    return { code, stdout: stdout.text, stderr: stderr.text };
  }

  it('prints one line per check, and a fix under each that is not ok', async () => {
    const { code, stdout } = await cli(['doctor', '--commit', 'v2.1.0', '--repo', world.repo, '--go-image', GO_IMAGE], healthyEngine(), {
      SOURCE_DATE_EPOCH: 'x',
    });
    expect(code).toBe(DOCTOR_FOUND_A_PROBLEM);
    const lines = stdout.trimEnd().split('\n');
    expect(lines[0]).toBe('ok    engine: Docker 27.0.0 (API 1.46, linux/x86_64) at unix:///fake.sock, not rootless');
    const failed = lines.findIndex((l) => l.startsWith('FAIL  build-time: SOURCE_DATE_EPOCH="x" is not a number of seconds'));
    expect(failed).toBeGreaterThan(0);
    expect(lines[failed + 1]).toMatch(/^ {2}fix: set SOURCE_DATE_EPOCH to a Unix time in seconds/);
    for (const line of lines) expect(line).toMatch(/^(ok {4}|warn {2}|FAIL {2}| {2}fix: )\S/);
  });

  it('--json: { ok, checks }, with the exit code of a failed engine', async () => {
    const engine = healthyEngine();
    engine.ping = async () => {
      throw new DockerUnavailableError('no Docker engine answers at unix:///fake.sock (ECONNREFUSED)', { hint: 'start Docker' });
    };
    const { code, stdout } = await cli(['doctor', '--json'], engine);
    expect(code).toBe(3);
    const lines = stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    const document = JSON.parse(lines[0]!);
    expect(document).toMatchObject({
      ok: false,
      checks: expect.arrayContaining([
        { name: 'engine', status: 'fail', finding: 'no Docker engine answers at unix:///fake.sock (ECONNREFUSED)', fix: 'start Docker' },
      ]),
    });
  });
});

describe('formatDoctor', () => {
  it('labels each status, and indents the fix', () => {
    expect(
      formatDoctor({
        ok: false,
        checks: [
          { name: 'a', status: 'ok', finding: 'fine' },
          { name: 'b', status: 'warn', finding: 'hmm', fix: 'look' },
          { name: 'c', status: 'fail', finding: 'broken', fix: 'mend' },
        ],
      }),
    ).toEqual(['ok    a: fine', 'warn  b: hmm', '  fix: look', 'FAIL  c: broken', '  fix: mend']);
  });
});
