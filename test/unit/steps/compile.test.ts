/** compile-plugins and compile-host over the fake engine: what build.sh is asked, and the typed errors of a failure. */
import { rm } from 'node:fs/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { pluginConcurrency } from '../../../src/commands/build/compile';
import type { BuildContext } from '../../../src/commands/build/state';
import type { BuildFlags } from '../../../src/config';
import { CompileError, OutOfMemoryError } from '../../../src/errors';
import { CONTAINER } from '../../../src/session/layout';
const BUILD_SH = CONTAINER.tools.buildSh;
import type { FakeEngine } from '../fake-engine';
import { BUILD_TIME, buildingEngine, cleanUp, contextOf, makeWorld, PLUGIN, runBefore, runStep, specOf, type World } from './harness';

let world: World;
let short: string;
beforeAll(async () => {
  world = await makeWorld();
  short = world.sha['v2.1.0'].slice(0, 7);
});
afterAll(async () => {
  await rm(world.root, { recursive: true, force: true });
});

let ctx: BuildContext | undefined;
afterEach(async () => {
  if (ctx !== undefined) await cleanUp(ctx);
  ctx = undefined;
});

async function compile(engine: FakeEngine, step: 'compile-plugins' | 'compile-host', flags: BuildFlags = {}): Promise<unknown> {
  ctx = contextOf(engine, specOf(world, flags));
  await runBefore(ctx, step);
  return runStep(ctx, step).catch((e: unknown) => e);
}

describe('compile-plugins', () => {
  it('builds each plugin through build.sh with the shared flags, its stamps and the Go environment', async () => {
    const engine = buildingEngine();
    expect(await compile(engine, 'compile-plugins', { tags: 'netgo,d7y', gcflags: 'all=-N -l' })).toBeUndefined();
    const calls = engine.execsOf([BUILD_SH, 'plugin']);
    expect(calls).toHaveLength(1);
    expect(calls[0]!.cmd).toEqual([
      BUILD_SH, 'plugin', PLUGIN.name, PLUGIN.file, '--',
      '-trimpath', '-tags=netgo,d7y', '-gcflags=all=-N -l',
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
    const engine = buildingEngine().onExec([BUILD_SH, 'plugin'], { exitCode: 1, stderr: 'go: downloading example.com/x v1.0.0\n./main.go:3:1: syntax error\n' });
    const err = await compile(engine, 'compile-plugins');
    expect(err).toBeInstanceOf(CompileError);
    expect((err as CompileError).exitCode).toBe(6);
    expect((err as CompileError).message).toBe(`plugin myfs does not compile against Dragonfly v2.1.0 (${short})`);
    expect((err as CompileError).detail).toBe('./main.go:3:1: syntax error');
  });

  it('says when the kernel killed the compiler under --memory', async () => {
    const engine = buildingEngine()
      .onExec([BUILD_SH, 'plugin'], { exitCode: 137 })
      .onExec([BUILD_SH, 'oom-kills'], { stdout: '1\n' });
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
   * once; `fail` names the plugins whose compile fails, with their own compiler output.
   */
  function gatedEngine(fail: string[] = []) {
    const running = new Set<string>();
    let peak = 0;
    const waiting = new Map<string, () => void>();
    const engine = buildingEngine().onExec([BUILD_SH, 'plugin'], async (call) => {
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
    expect(lines[0]).toBe('compiling 5 plugins, 2 at a time');
    expect(gate.peak()).toBe(2);
    // In spec order, each with its own name and file.
    expect(gate.engine.execsOf([BUILD_SH, 'plugin']).map((e) => e.cmd.slice(2, 4))).toEqual(plugins.map((p) => [p.name, p.file]));
    expect(lines.filter((l) => l.startsWith('built ')).sort()).toEqual(plugins.map((p) => `built ${p.file}`).sort());
  });

  it('takes the engine\'s CPUs without --cpus, and never more than there are plugins', async () => {
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
      BUILD_SH, 'host', 'dfget', 'd7y-loadcheck', '--', '-trimpath',
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
