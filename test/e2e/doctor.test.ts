/**
 * `d7y-build doctor` against the real engine, the fixture Dragonfly and the offline Go image: a
 * machine the other e2e tests build on passes, with every check named; with no engine, the engine
 * check fails with its fix and the exit code of an unreachable engine.
 */
import { describe, expect, inject, it } from 'vitest';
import type { Check } from '../../src/commands/doctor';
import { fixtureArgs, fixtureSha, leftoverContainers, runCli } from './helpers';

function parse(stdout: string): { ok: boolean; checks: Check[] } {
  const lines = stdout.trimEnd().split('\n');
  expect(lines).toHaveLength(1);
  return JSON.parse(lines[0]!) as { ok: boolean; checks: Check[] };
}

describe('d7y-build doctor', () => {
  it('finds that a build can succeed here, naming each check', async () => {
    const before = await leftoverContainers();
    const { exitCode, stdout, stderr } = await runCli(['doctor', ...fixtureArgs('v2.1.0'), '--json']);
    expect(exitCode, stderr).toBe(0);
    const report = parse(stdout);
    expect(report.ok).toBe(true);
    expect(report.checks.map((c) => c.name)).toEqual([
      'engine',
      'engine-disk',
      'cache-dir',
      'cache-disk',
      'source',
      'go-image',
      'go-proxy',
      'go-caches',
      'build-time',
      'clock',
    ]);
    const check = Object.fromEntries(report.checks.map((c) => [c.name, c]));
    expect(check.engine).toMatchObject({ status: 'ok', finding: expect.stringMatching(/^Docker \S+ \(API [\d.]+, linux\/\w+\) at .+, (not )?rootless$/) });
    // The engine of these tests runs on this machine: its data directory is measured.
    expect(check['engine-disk']!.finding).toMatch(/^\d+(\.\d)? (GiB|MiB|KiB|bytes) free in \/\S+, where the engine keeps/);
    expect(check['cache-dir']).toMatchObject({ status: 'ok', finding: expect.stringMatching(/ \(from D7Y_CACHE_DIR\) is writable$/) });
    expect(check.source).toMatchObject({
      status: 'ok',
      finding: expect.stringContaining(`v2.1.0 is ${await fixtureSha('v2.1.0')} in ${inject('fixtureRepo')}`),
    });
    expect(check['go-image']).toEqual({ name: 'go-image', status: 'ok', finding: `${inject('goImage')} (--go-image) is on the engine` });
    // Whether the proxy answers depends on the network; that it was asked from a container does not.
    expect(check['go-proxy']!.finding).toMatch(
      /^GOPROXY=\S+ (answers a build container: golang\.org\/x\/mod@latest is v\S+|does not answer a build container \(.+\))$/,
    );
    expect(check['go-caches']).toMatchObject({ status: 'ok', finding: expect.stringMatching(/^d7y-build-go-mod .+, d7y-build-go-build .+$/) });
    expect(check.clock!.status).toBe('ok');
    // The container that asked the proxy is gone.
    expect(await leftoverContainers()).toEqual(before);
  });

  it('fails the engine check with its fix, and exits 3, when no engine answers', async () => {
    const env = { DOCKER_HOST: 'unix:///nonexistent.sock' };
    const json = await runCli(['doctor', ...fixtureArgs('v2.1.0'), '--json'], { env });
    expect(json.exitCode, json.stderr).toBe(3);
    const report = parse(json.stdout);
    expect(report.ok).toBe(false);
    expect(report.checks.map((c) => c.name)).toEqual(['engine', 'cache-dir', 'cache-disk', 'source', 'build-time']);
    expect(report.checks[0]).toEqual({
      name: 'engine',
      status: 'fail',
      finding: 'no Docker engine answers at unix:///nonexistent.sock (ENOENT)',
      fix: 'start Docker (e.g. `sudo systemctl start docker`), or point DOCKER_HOST at a running engine',
    });

    const text = await runCli(['doctor', ...fixtureArgs('v2.1.0')], { env });
    expect(text.exitCode).toBe(3);
    expect(text.stdout.split('\n').slice(0, 2)).toEqual([
      'FAIL  engine: no Docker engine answers at unix:///nonexistent.sock (ENOENT)',
      '  fix: start Docker (e.g. `sudo systemctl start docker`), or point DOCKER_HOST at a running engine',
    ]);
  });
});
