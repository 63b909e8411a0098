/**
 * A rebuild in watch mode (ROUND_STEPS) over the fake engine, after a whole build: the plugin side
 * again in the same container, the previous plugin sources removed before the new ones are sent,
 * no new container, no host build, and the plugin installed again.
 */
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { BuildContext } from '../../../src/commands/build/state';
import { BUILD_STEPS, ROUND_STEPS } from '../../../src/commands/build/steps';
import { CONTAINER } from '../../../src/session/layout';
import { runSteps } from '../../../src/session/runner';
import { buildingEngine, cleanUp, contextOf, PLUGIN, specOf, useWorld } from './harness';

const world = useWorld();

describe('a rebuild round', () => {
  it('sends the plugin again into the same container, where its old sources were removed first, and installs it again', async () => {
    const engine = buildingEngine();
    const ctx: BuildContext = contextOf(engine, specOf(world));
    try {
      for (const step of BUILD_STEPS) await step.run(ctx);
      const firstPuts = engine.puts.length;
      const hostBuilds = engine.execsOf([CONTAINER.tools.buildSh, 'host']).length;
      expect(hostBuilds).toBe(1);
      const installed = path.join(world.plugins, PLUGIN.file);
      expect(await readFile(installed, 'utf8')).toBe('plugin binary');

      await writeFile(path.join(world.pluginDir, 'util.go'), 'package main\n\nfunc util() {}\n');
      // The round's own state and cleanups, as the watch gives it.
      await runSteps(ROUND_STEPS, { ...ctx, state: { ...ctx.state }, cleanups: [] });

      expect(engine.containers).toHaveLength(1);
      expect(engine.execsOf([CONTAINER.tools.buildSh, 'host'])).toHaveLength(hostBuilds);
      expect(engine.execsOf([CONTAINER.tools.buildSh, 'plugin'])).toHaveLength(2);
      const removal = engine.execs.findIndex((e) => e.cmd[0] === 'rm');
      expect(engine.execs[removal]!.cmd).toEqual(['rm', '-rf', '--', `${CONTAINER.pluginSources}/myfs`, `${CONTAINER.workspaces}/myfs`]);
      // Removed, then sent, then compiled.
      const compiles = engine.execs.map((e, i) => (e.cmd[0] === CONTAINER.tools.buildSh && e.cmd[1] === 'plugin' ? i : -1)).filter((i) => i >= 0);
      expect(removal).toBeGreaterThan(compiles[0]!);
      expect(removal).toBeLessThan(compiles[1]!);
      const sent = engine.puts.slice(firstPuts);
      expect(sent.map((p) => Object.keys(p.files).sort())).toEqual([['plugins/myfs/.gitignore', 'plugins/myfs/main.go', 'plugins/myfs/util.go']]);
      expect(await readFile(installed, 'utf8')).toBe('plugin binary');
      expect(engine.removed).toEqual([]);
    } finally {
      await rm(path.join(world.pluginDir, 'util.go'), { force: true });
      await cleanUp(ctx);
    }
  });
});
