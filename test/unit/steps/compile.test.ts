/** compile-plugins and compile-host over the fake engine: what build.sh is asked, and the typed errors of a failure. */
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { pluginConcurrency } from '../../../src/commands/build/compile';
import type { BuildContext } from '../../../src/commands/build/state';
import type { BuildFlags } from '../../../src/config';
import { CompileError, OutOfMemoryError } from '../../../src/errors';
import { CONTAINER } from '../../../src/session/layout';
import type { FakeEngine } from '../fake-engine';
import { hostCacheKey } from '../../../src/commands/build/host-cache';
import type { Logger } from '../../../src/log';
import { loaderProgram } from '../../../src/validate/loader';
import { BUILD_TIME, buildingEngine, cleanUp, contextOf, PLUGIN, runBefore, runStep, specOf, useWorld } from './harness';

const BUILD_SH = CONTAINER.tools.buildSh;

const world = useWorld();
let short: string;
beforeAll(() => {
  short = world.sha['v2.1.0'].slice(0, 7);
});
let ctx: BuildContext | undefined;

/** What the steps logged, as "info: …" and "warn: …" lines. */
let logged: string[] = [];
const recorder: Logger = {
  headline: () => {},
  info: (m) => logged.push(`info: ${m}`),
  warn: (m) => logged.push(`warn: ${m}`),
  output: () => {},
  stepStart: () => {},
  stepDone: () => {},
  stepFailed: () => {},
};

async function compile(
  engine: FakeEngine,
  step: 'compile-plugins' | 'compile-host',
  flags: BuildFlags = {},
  env: Record<string, string> = {},
): Promise<unknown> {
  ctx = contextOf(engine, specOf(world, flags, env));
  // With two CPUs or more the host's work starts in compile-plugins (overlap.ts): compile-host's
  // tests record both steps, and what compile-plugins says of the plugin is left out.
  const from = step === 'compile-host' ? 'compile-plugins' : step;
  await runBefore(ctx, from);
  logged = [];
  ctx.log = recorder;
  try {
    if (from !== step) await runStep(ctx, from);
    return await runStep(ctx, step);
  } catch (e: unknown) {
    return e;
  } finally {
    logged = logged.filter((line) => line !== `info: built ${PLUGIN.file}`);
  }
}

describe('compile-plugins', () => {
  it('builds each plugin through build.sh with the shared flags, its stamps and the Go environment', async () => {
    const engine = buildingEngine();
    expect(await compile(engine, 'compile-plugins', { tags: 'netgo,d7y', gcflags: 'all=-N -l' })).toBeUndefined();
    const calls = engine.execsOf([BUILD_SH, 'plugin']);
    expect(calls).toHaveLength(1);
    expect(calls[0]!.cmd).toEqual([
      BUILD_SH,
      'plugin',
      PLUGIN.name,
      PLUGIN.file,
      '--',
      '-trimpath',
      '-tags=netgo,d7y',
      '-gcflags=all=-N -l',
      `-ldflags=-X main.buildCommit=${short} -X main.buildTime=${BUILD_TIME}`,
    ]);
    expect(calls[0]!.env).toEqual({ GOFLAGS: '-buildvcs=false' });
  });

  it('stamps --build-commit and leaves -trimpath out with --no-trimpath', async () => {
    const engine = buildingEngine();
    await compile(engine, 'compile-plugins', { trimpath: false, buildCommit: 'rel 1' });
    expect(engine.execsOf([BUILD_SH, 'plugin'])[0]!.cmd.slice(5)).toEqual([`-ldflags=-X "main.buildCommit=rel 1" -X main.buildTime=${BUILD_TIME}`]);
  });

  it('turns a failing compile into a CompileError with the compiler output, without download chatter', async () => {
    const engine = buildingEngine().onExec([BUILD_SH, 'plugin'], {
      exitCode: 1,
      stderr: 'go: downloading example.com/x v1.0.0\n./main.go:3:1: syntax error\n',
    });
    const err = await compile(engine, 'compile-plugins');
    expect(err).toBeInstanceOf(CompileError);
    expect((err as CompileError).exitCode).toBe(6);
    expect((err as CompileError).message).toBe(`plugin myfs does not compile against Dragonfly v2.1.0 (${short})`);
    expect((err as CompileError).detail).toBe('./main.go:3:1: syntax error');
  });

  it('says when the kernel killed the compiler under --memory', async () => {
    const engine = buildingEngine().onExec([BUILD_SH, 'plugin'], { exitCode: 137 }).onExec([BUILD_SH, 'oom-kills'], { stdout: '1\n' });
    const err = await compile(engine, 'compile-plugins', { memory: '512m' });
    expect(err).toBeInstanceOf(OutOfMemoryError);
    expect((err as OutOfMemoryError).message).toBe('the build container ran out of memory (--memory 512m): the kernel killed go while building myfs');
  });
});

describe('compile-plugins, several plugins', () => {
  const names = ['aa', 'bb', 'cc', 'dd', 'ee'];
  const plugins = names.map((name) => ({ dir: `/src/${name}`, name, file: `d7y-resource-plugin-${name}.so` }));

  /**
   * An engine whose plugin compiles wait until the test lets them finish, counting how many run at
   * once; `fail` names the plugins whose compile fails, with their own compiler output. The host is
   * in the host cache, so every CPU is the plugins' (a host compiled beside them takes one: overlap.test.ts).
   */
  function gatedEngine(fail: string[] = []) {
    const running = new Set<string>();
    let peak = 0;
    const waiting = new Map<string, () => void>();
    const engine = buildingEngine()
      .onExec([BUILD_SH, 'host-cache', 'get'], { exitCode: 0 })
      .onExec([BUILD_SH, 'plugin'], async (call) => {
        const name = call.cmd[2]!;
        running.add(name);
        peak = Math.max(peak, running.size);
        await new Promise<void>((resolve) => waiting.set(name, resolve));
        running.delete(name);
        return fail.includes(name) ? { exitCode: 1, stderr: `./${name}.go:1:1: ${name} is broken\n` } : {};
      });
    /** Lets the named compile finish, once it has started. */
    const finish = async (name: string) => {
      await vi.waitFor(() => expect(waiting.has(name)).toBe(true));
      waiting.get(name)!();
    };
    return { engine, finish, peak: () => peak, started: () => [...waiting.keys()] };
  }

  /** The steps before compile-plugins, then compile-plugins of the five plugins started: its outcome, and what it logged. */
  async function start(engine: FakeEngine, flags: BuildFlags = {}): Promise<{ step: Promise<unknown>; lines: string[] }> {
    ctx = contextOf(engine, specOf(world, flags));
    await runBefore(ctx, 'compile-plugins');
    const lines: string[] = [];
    ctx.log = { ...ctx.log, info: (m: string) => lines.push(m) };
    ctx.spec = { ...ctx.spec, plugins };
    return { step: runStep(ctx, 'compile-plugins').catch((e: unknown) => e), lines };
  }

  it('compiles at most as many at once as --cpus allows, each with its own label and flags', async () => {
    const gate = gatedEngine();
    const { step, lines } = await start(gate.engine, { cpus: '2.5' });
    for (const name of names) await gate.finish(name);
    expect(await step).toBeUndefined();
    // The host taken from the host cache first (overlap.ts), then the plugins on every CPU.
    expect(lines.slice(0, 2)).toEqual([expect.stringMatching(/^dfget from cache /), 'compiling 5 plugins, 2 at a time']);
    expect(gate.peak()).toBe(2);
    // In spec order, each with its own name and file.
    expect(gate.engine.execsOf([BUILD_SH, 'plugin']).map((e) => e.cmd.slice(2, 4))).toEqual(plugins.map((p) => [p.name, p.file]));
    expect(lines.filter((l) => l.startsWith('built ')).sort()).toEqual(plugins.map((p) => `built ${p.file}`).sort());
  });

  it("takes the engine's CPUs without --cpus, and never more than there are plugins", async () => {
    const gate = gatedEngine();
    gate.engine.info.cpus = 3;
    const { step } = await start(gate.engine);
    for (const name of names) await gate.finish(name);
    expect(await step).toBeUndefined();
    expect(gate.peak()).toBe(3);
    expect(pluginConcurrency(2, undefined, 64)).toBe(2);
    expect(pluginConcurrency(5, 0.5e9, 64)).toBe(1);
    expect(pluginConcurrency(5, undefined, undefined)).toBe(1);
  });

  it('reports the failure of the earliest plugin, whichever finishes first, after the running ones ended; none starts after it', async () => {
    const gate = gatedEngine(['bb', 'cc']);
    const { step } = await start(gate.engine, { cpus: '3' });
    // cc fails first, then bb; aa succeeds last. dd and ee never start.
    await gate.finish('cc');
    await gate.finish('bb');
    await gate.finish('aa');
    const err = await step;
    expect(err).toBeInstanceOf(CompileError);
    expect((err as CompileError).message).toBe(`plugin bb does not compile against Dragonfly v2.1.0 (${short})`);
    expect((err as CompileError).detail).toBe('./bb.go:1:1: bb is broken');
    expect(gate.started().sort()).toEqual(['aa', 'bb', 'cc']);
  });
});

describe('compile-host', () => {
  it('builds the host and the loader check in one go build, with the version stamps', async () => {
    const engine = buildingEngine();
    expect(await compile(engine, 'compile-host')).toBeUndefined();
    const calls = engine.execsOf([BUILD_SH, 'host']);
    expect(calls).toHaveLength(1);
    const v = 'd7y.io/dragonfly/v2/version';
    expect(calls[0]!.cmd).toEqual([
      BUILD_SH,
      'host',
      'dfget',
      'd7y-loadcheck',
      '--',
      '-trimpath',
      `-ldflags=-X ${v}.GitCommit=${short} -X ${v}.BuildTime=${BUILD_TIME} -X ${v}.Gotags=none -X "${v}.GoVersion=go1.23.5 linux/amd64" -X ${v}.Gogcflags=none`,
    ]);
    expect(calls[0]!.env).toEqual({ GOFLAGS: '-buildvcs=false' });
  });

  it('turns a failing host compile into a CompileError', async () => {
    const engine = buildingEngine().onExec([BUILD_SH, 'host'], { exitCode: 2, stdout: 'cmd/dfget/main.go:1: undefined: x\n' });
    const err = await compile(engine, 'compile-host');
    expect(err).toBeInstanceOf(CompileError);
    expect((err as CompileError).message).toBe(`Dragonfly's dfget at ${short} does not compile with these settings`);
    expect((err as CompileError).detail).toBe('cmd/dfget/main.go:1: undefined: x');
  });
});

// The host is looked up, and on a miss compiled, beside the plugins with two CPUs or more
// (overlap.ts), after them with one: the host cache works the same either way.
describe.each<[string, BuildFlags]>([
  ['beside the plugins', {}],
  ['after the plugins', { cpus: '1' }],
])('compile-host and the host cache, the host %s', (_label, mode) => {
  const HOST_CACHE = [BUILD_SH, 'host-cache'];
  const COMMANDS = ['dfget', 'd7y-loadcheck'];

  /** The key of the host the step built: every input, as the step had it. */
  function expectedKey(c: BuildContext, goArgs: string[]): string {
    const { source, image, toolchain } = c.state;
    return hostCacheKey({
      commit: source!.commit.sha,
      goImageId: image!.goImageId,
      builderImageId: image!.builderImageId,
      platform: 'linux/amd64',
      goEnv: toolchain!.env,
      goArgs,
      toolchain: c.spec.toolchain,
      commands: COMMANDS,
      loaderProgram: loaderProgram(source!.loader),
    });
  }

  it('on a miss, builds the host and stores it under the key of everything that makes its bytes', async () => {
    const engine = buildingEngine();
    expect(await compile(engine, 'compile-host', mode)).toBeUndefined();
    const host = engine.execsOf([BUILD_SH, 'host']);
    expect(host).toHaveLength(1);
    const key = expectedKey(ctx!, host[0]!.cmd.slice(host[0]!.cmd.indexOf('--') + 1));
    // Asked first, stored after the build, under the same key.
    const order = engine.execs.filter((e) => e.cmd[0] === BUILD_SH && e.cmd[1]!.startsWith('host')).map((e) => e.cmd.slice(1, 3));
    expect(order).toEqual([
      ['host-cache', 'get'],
      ['host', 'dfget'],
      ['host-cache', 'put'],
    ]);
    expect(engine.execsOf([...HOST_CACHE, 'get'])[0]!.cmd).toEqual([...HOST_CACHE, 'get', key, ...COMMANDS]);
    expect(engine.execsOf([...HOST_CACHE, 'put'])[0]!.cmd).toEqual([...HOST_CACHE, 'put', key, ...COMMANDS]);
    expect(ctx!.state.hostCache).toEqual({ host: 'miss', hostKey: key });
    expect(logged).toContain(`info: stored dfget in the host cache (key ${key.slice(0, 12)})`);
  });

  it('on a hit, takes the host from the cache and compiles nothing', async () => {
    const engine = buildingEngine().onExec([...HOST_CACHE, 'get'], { exitCode: 0 });
    expect(await compile(engine, 'compile-host', mode)).toBeUndefined();
    expect(engine.execsOf([BUILD_SH, 'host'])).toEqual([]);
    expect(engine.execsOf([...HOST_CACHE, 'put'])).toEqual([]);
    const key = engine.execsOf([...HOST_CACHE, 'get'])[0]!.cmd[3]!;
    expect(ctx!.state.hostCache).toEqual({ host: 'hit', hostKey: key });
    expect(logged).toEqual([`info: dfget from cache (key ${key.slice(0, 12)})`]);
  });

  it('rebuilds after a corrupt entry, with a warning, and stores the new host', async () => {
    const engine = buildingEngine().onExec([...HOST_CACHE, 'get'], { exitCode: 11, stderr: 'bin/dfget does not match SHA256SUMS\n' });
    expect(await compile(engine, 'compile-host', mode)).toBeUndefined();
    expect(engine.execsOf([BUILD_SH, 'host'])).toHaveLength(1);
    expect(engine.execsOf([...HOST_CACHE, 'put'])).toHaveLength(1);
    const key = engine.execsOf([...HOST_CACHE, 'get'])[0]!.cmd[3]!;
    expect(logged[0]).toBe(`warn: the host cache entry ${key.slice(0, 12)} was corrupt (bin/dfget does not match SHA256SUMS): removed it, building dfget`);
    expect(ctx!.state.hostCache).toEqual({ host: 'miss', hostKey: key });
  });

  it('builds when the cache can not be read or written, with a warning each', async () => {
    const engine = buildingEngine()
      .onExec([...HOST_CACHE, 'get'], { exitCode: 2, stderr: 'mktemp: No space left on device' })
      .onExec([...HOST_CACHE, 'put'], { exitCode: 1, stderr: 'cp: No space left on device' });
    expect(await compile(engine, 'compile-host', mode)).toBeUndefined();
    expect(engine.execsOf([BUILD_SH, 'host'])).toHaveLength(1);
    expect(logged.filter((l) => l.startsWith('warn:'))).toEqual([
      'warn: could not read the host cache (mktemp: No space left on device): building dfget',
      'warn: could not store dfget in the host cache: cp: No space left on device',
    ]);
  });

  it('keeps the entry another build stored first', async () => {
    const engine = buildingEngine().onExec([...HOST_CACHE, 'put'], { stdout: 'present\n' });
    await compile(engine, 'compile-host', mode);
    const key = engine.execsOf([...HOST_CACHE, 'put'])[0]!.cmd[3]!;
    expect(logged).toContain(`info: another build stored dfget under key ${key.slice(0, 12)} first: keeping its copy`);
  });

  it('gives the same key to the same build, and another to other settings or stamps', async () => {
    const keyOf = async (flags: BuildFlags, env: Record<string, string> = {}) => {
      const engine = buildingEngine();
      await compile(engine, 'compile-host', { ...mode, ...flags }, env);
      await cleanUp(ctx!);
      return engine.execsOf([...HOST_CACHE, 'get'])[0]!.cmd[3]!;
    };
    const base = await keyOf({});
    expect(await keyOf({})).toBe(base);
    const others = [
      await keyOf({ gcflags: 'all=-N -l' }),
      await keyOf({ tags: 'netgo' }),
      await keyOf({ race: true }),
      await keyOf({ trimpath: false }),
      await keyOf({}, { SOURCE_DATE_EPOCH: '1' }),
    ];
    expect(new Set([base, ...others]).size).toBe(others.length + 1);
  });

  it('with --no-cache, neither reads nor writes the host cache, and gives every go command a fresh GOCACHE', async () => {
    const engine = buildingEngine();
    expect(await compile(engine, 'compile-host', { ...mode, cache: false })).toBeUndefined();
    expect(engine.execsOf(HOST_CACHE)).toEqual([]);
    const fresh = { GOFLAGS: '-buildvcs=false', GOCACHE: CONTAINER.go.freshBuildCache };
    expect(engine.execsOf([BUILD_SH, 'plugin'])[0]!.env).toEqual(fresh);
    expect(engine.execsOf([BUILD_SH, 'host'])[0]!.env).toEqual(fresh);
    expect(ctx!.state.hostCache).toEqual({ host: 'off' });
    expect(CONTAINER.go.freshBuildCache).not.toBe(CONTAINER.go.buildCache);
  });

  it('stamps the committer date of the Dragonfly commit without SOURCE_DATE_EPOCH', async () => {
    const engine = buildingEngine();
    await compile(engine, 'compile-host', mode, { SOURCE_DATE_EPOCH: '' });
    const seconds = ctx!.state.source!.commitTime;
    const time = new Date(seconds * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
    expect(engine.execsOf([BUILD_SH, 'host'])[0]!.cmd.at(-1)).toContain(`-X d7y.io/dragonfly/v2/version.BuildTime=${time} `);
    expect(engine.execsOf([BUILD_SH, 'plugin'])[0]!.cmd.at(-1)).toBe(`-ldflags=-X main.buildCommit=${short} -X main.buildTime=${time}`);
  });
});
