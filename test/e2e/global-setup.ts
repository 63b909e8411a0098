/**
 * Once per e2e run: a Docker engine (started, and later stopped, only if none answered), the offline
 * Go images, the fixture Dragonfly repository and the bundled CLI. A missing piece fails the run
 * loudly: these tests never skip themselves.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { startRegistry } from './registry';

const root = path.resolve(__dirname, '../..');
export const GO_VERSION = '1.23.5';
/** Another patch release, for plugins that must not load into hosts built with GO_VERSION. */
export const OTHER_GO_VERSION = '1.23.4';
/** The Go of the fixture's v2.5.0 (go.mod `go 1.25.5`). */
export const GO125_VERSION = '1.25.5';
/** The Go 1.20 line (fixture tag v2.0.9), whose plugins carry no build information. */
export const GO120_VERSION = '1.20.14';

/** Runs a script by its path from the repository root, e.g. scripts/engine.sh. */
function sh(script: string, args: string[] = []): string {
  return execFileSync('bash', [path.join(root, script), ...args], {
    cwd: root,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  }).trim();
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const engineWasUp = (() => {
    try {
      execFileSync('docker', ['info'], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  })();
  sh('scripts/engine.sh', ['start']);
  sh('test/env/tools.sh');
  const goImage = sh('scripts/go-image.sh', [GO_VERSION]);
  const otherGoImage = sh('scripts/go-image.sh', [OTHER_GO_VERSION]);
  const go125Image = sh('scripts/go-image.sh', [GO125_VERSION]);
  const go120Image = sh('scripts/go-image.sh', [GO120_VERSION]);

  const scratch = mkdtempSync(path.join(os.tmpdir(), 'd7y-e2e-'));
  const fixtureRepo = path.join(scratch, 'dragonfly');
  sh('test/env/fixture-dragonfly.sh', [fixtureRepo]);
  execFileSync('node', [path.join(root, 'scripts/bundle.mjs')], { cwd: root, stdio: 'inherit' });
  // One registry on loopback for the files that push: the Go image's layers are sent there once.
  const registry = await startRegistry();

  project.provide('goImage', goImage);
  project.provide('otherGoImage', otherGoImage);
  project.provide('go125Image', go125Image);
  project.provide('go120Image', go120Image);
  project.provide('fixtureRepo', fixtureRepo);
  project.provide('scratch', scratch);
  project.provide('registry', { address: registry.address, storage: registry.storage });

  return async () => {
    await registry.stop();
    rmSync(scratch, { recursive: true, force: true });
    if (!engineWasUp) sh('scripts/engine.sh', ['stop']);
  };
}

declare module 'vitest' {
  export interface ProvidedContext {
    goImage: string;
    otherGoImage: string;
    go125Image: string;
    go120Image: string;
    fixtureRepo: string;
    scratch: string;
    /** The shared registry (seedGoImage puts the Go image there on first use). */
    registry: { address: string; storage: string };
  }
}
