/**
 * `d7y-build prune`: remove what runs left behind when their process was killed (SIGKILL, a lost
 * CI runner): labelled containers, temp directories, and half-written install files. A resource
 * whose owner still runs is spared, so prune is safe beside running builds. Caches (the Go module
 * and build cache volumes, builder images, the git mirrors) are kept.
 */
import { readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Engine } from '../docker/engine';
import { LABEL, ownerOf } from '../docker/labels';
import { TEMP_DIR } from '../files';
import { ownerAlive, pidAlive } from '../owner';
import { TEMP_FILE } from '../artifacts/place';
import type { PruneSpec } from '../config';
import type { CommandIo } from './io';

export interface PruneOptions {
  /** Also remove containers whose owner is alive or on another host. */
  all: boolean;
  /** Directories to sweep for temporary install files (.<name>.d7y-tmp-<pid>-…). */
  dirs: string[];
}

export interface PruneResult {
  removedContainers: string[];
  sparedContainers: string[];
  removedPaths: string[];
}

/** Prune as a command: the engine given, else one from DOCKER_HOST and friends, with the spec's ping timeout. */
export async function runPrune(spec: PruneSpec, io: Pick<CommandIo, 'engine' | 'signal'>): Promise<PruneResult> {
  const engine = io.engine ?? new (await import('../docker/dockerode')).DockerEngine(undefined, { pingTimeoutMs: spec.pingTimeoutMs });
  return prune(engine, { all: spec.all, dirs: spec.dirs }, io.signal);
}

export async function prune(engine: Engine, options: PruneOptions, signal?: AbortSignal): Promise<PruneResult> {
  const result: PruneResult = { removedContainers: [], sparedContainers: [], removedPaths: [] };
  // An engine that never answers is given up on here, in bounded time, not in the listing.
  await engine.ping(signal);
  for (const c of await engine.listContainers({ [LABEL.run]: '' })) {
    const owner = ownerOf(c.labels);
    if (options.all || owner === undefined || !ownerAlive(owner)) {
      await engine.removeContainer(c.id);
      result.removedContainers.push(c.id);
    } else {
      result.sparedContainers.push(c.id);
    }
  }

  const tmp = os.tmpdir();
  for (const name of await readdir(tmp).catch(() => [])) {
    const pid = TEMP_DIR.exec(name)?.[1];
    if (pid !== undefined && Number(pid) !== process.pid && !pidAlive(Number(pid))) {
      await rm(path.join(tmp, name), { recursive: true, force: true });
      result.removedPaths.push(path.join(tmp, name));
    }
  }
  for (const dir of options.dirs) {
    for (const name of await readdir(dir).catch(() => [])) {
      const pid = TEMP_FILE.exec(name)?.[1];
      if (pid !== undefined && !pidAlive(Number(pid))) {
        await rm(path.join(dir, name), { force: true });
        result.removedPaths.push(path.join(dir, name));
      }
    }
  }
  return result;
}
