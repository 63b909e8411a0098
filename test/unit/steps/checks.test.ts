/** check-inputs, check-api, check-dependencies, validate and verify over the fake engine. */
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { GO_LIST_FORMAT } from '../../../src/commands/build/deps';
import { parseReports } from '../../../src/commands/build/api';
import type { BuildContext } from '../../../src/commands/build/state';
import type { BuildFlags } from '../../../src/config';
import { DependencyConflictError, UsageError, ValidationError } from '../../../src/errors';
import { CONTAINER } from '../../../src/session/layout';
import type { FakeEngine } from '../fake-engine';
import { buildingEngine, contextOf, PLUGIN, runBefore, runStep, specOf, useWorld } from './harness';

const BUILD_SH = CONTAINER.tools.buildSh;
const APICHECK = CONTAINER.tools.apicheck;

const world = useWorld({ clearTargets: true });
let ctx: BuildContext | undefined;
afterEach(async () => {
  await rm(path.join(world.pluginDir, 'go.mod'), { force: true });
});

/** Runs the steps before `step`, then `step`: its outcome, or what it threw. */
async function upTo(engine: FakeEngine, step: string, flags: BuildFlags = {}, adjust?: (c: BuildContext) => void): Promise<unknown> {
  ctx = contextOf(engine, specOf(world, flags));
  adjust?.(ctx);
  await runBefore(ctx, step);
  return runStep(ctx, step).catch((e: unknown) => e);
}

describe('check-inputs', () => {
  it('asks the engine once and records what it has', async () => {
    const engine = buildingEngine();
    expect(await upTo(engine, 'check-inputs')).toBeUndefined();
    expect(ctx!.state.engine).toEqual(engine.info);
    expect(ctx!.state.pluginSources?.get(PLUGIN.name)?.files.has('main.go')).toBe(true);
  });

  it("refuses --cpus beyond the engine's CPUs, before any container: a UsageError naming both", async () => {
    const engine = buildingEngine();
    const err = await upTo(engine, 'check-inputs', { cpus: String(engine.info.cpus + 1) });
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).message).toMatch(new RegExp(`--cpus ${engine.info.cpus + 1} is more than the ${engine.info.cpus} CPUs`));
    expect(engine.containers).toHaveLength(0);
  });
});

describe('check-api', () => {
  it('refuses a plugin whose methods differ from the interface, naming each, before the compile', async () => {
    const engine = buildingEngine().onExec([APICHECK, 'plugin'], {
      stdout: JSON.stringify({ valueType: '*main.client', missing: [{ name: 'Download', source: 'Download() error' }] }),
    });
    const err = await upTo(engine, 'check-api');
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).message).toMatch(/\*main\.client does not implement d7y\.io\/dragonfly\/v2\/pkg\/source\.ResourceClient/);
    expect((err as ValidationError).message).toMatch(/Download\(\) error/);
    expect(engine.execsOf([BUILD_SH, 'plugin'])).toEqual([]);
  });

  it('leaves sources it cannot read to the compile: a warning, no error', async () => {
    const engine = buildingEngine().onExec([APICHECK, 'plugin'], { exitCode: 1, stderr: 'main.go:1:1: expected package' });
    expect(await upTo(engine, 'check-api')).toBeUndefined();
  });

  it("reads every plugin in one process; a plugin's own read error is a warning naming it", async () => {
    const engine = buildingEngine().onExec([APICHECK, 'plugin'], { stdout: '{"error":"main.go:3:1: expected declaration"}\n' });
    const warnings: string[] = [];
    const err = await upTo(engine, 'check-api', {}, (c) => (c.log = { ...c.log, warn: (m: string) => warnings.push(m) }));
    expect(err).toBeUndefined();
    expect(warnings).toEqual([`cannot read ${PLUGIN.name}'s methods before compiling: main.go:3:1: expected declaration`]);
    const checks = engine.execsOf([APICHECK, 'plugin']);
    expect(checks).toHaveLength(1);
    expect(checks[0]!.cmd.at(-1)).toBe(`${CONTAINER.pluginSources}/${PLUGIN.name}`);
  });
});

describe('check-dependencies', () => {
  it('is skipped when no plugin has its own go.mod', async () => {
    expect(await upTo(buildingEngine(), 'check-dependencies')).toBe('skipped');
  });

  it('refuses a plugin module that would link another version of a package the host has', async () => {
    await writeFile(path.join(world.pluginDir, 'go.mod'), 'module example.com/myfs\n\ngo 1.21\n');
    const engine = buildingEngine()
      .onExec([BUILD_SH, 'deps', GO_LIST_FORMAT, 'host'], { stdout: 'github.com/x/y/z github.com/x/y v1.2.0\n' })
      .onExec([BUILD_SH, 'deps', GO_LIST_FORMAT, 'plugin'], { stdout: 'github.com/x/y/z github.com/x/y v1.3.0\n' });
    const err = await upTo(engine, 'check-dependencies');
    expect(err).toBeInstanceOf(DependencyConflictError);
    expect((err as DependencyConflictError).detail).toMatch(/github\.com\/x\/y/);
  });
});

describe('validate', () => {
  it('records what the host listed and what the loader check found', async () => {
    expect(await upTo(buildingEngine(), 'validate')).toBeUndefined();
    expect(ctx!.state.validation?.plugins).toMatchObject([{ name: PLUGIN.name }]);
    expect(ctx!.state.validation?.loader).toEqual([{ file: PLUGIN.file, interface: 'd7y.io/dragonfly/v2/pkg/source.ResourceClient', ok: true }]);
  });

  it('fails when the host does not list the plugin: a ValidationError, nothing installed', async () => {
    const engine = buildingEngine().onExec([BUILD_SH, 'validate'], {
      stdout: '',
      stderr: `plugin ${PLUGIN.file}: plugin.Open: plugin was built with a different version of package x\n`,
    });
    const err = await upTo(engine, 'validate');
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).exitCode).toBe(8);
  });
});

describe('verify', () => {
  it('records the verdict it could reach, and never fails the build for it', async () => {
    expect(await upTo(buildingEngine(), 'verify')).toBeUndefined();
    // The fake's artifacts are no ELF files: verify cannot tell, and says so in the state.
    expect(ctx!.state.verification).toEqual({ error: expect.any(String) });
  });
});

describe('parseReports', () => {
  it('reads one report per line, and nothing of a line that is not one', () => {
    expect(parseReports('{"valueType":"*main.a"}\n\n{"error":"x"}\nnot json\n[1]\nnull\n')).toEqual([
      { valueType: '*main.a' },
      { error: 'x' },
      undefined,
      undefined,
      undefined,
    ]);
  });
});
