/**
 * Where a session's caches live: the git mirrors and locks in a directory on this machine
 * (D7Y_CACHE_DIR), and on named volumes of the engine Go's module and build caches, the host cache
 * and the Dragonfly source trees (source-tree.ts).
 */
import { open, rm } from 'node:fs/promises';
import { LABEL } from '../docker/labels';
import { UsageError } from '../errors';
import { makeDirectory, probePath } from '../files';
import { CONTAINER } from './layout';
import { isSourceTreeVolume, SOURCE_TREE_ROLE } from './source-tree';

/**
 * Caches that survive the container on these volumes: Go's, so the second build compiles only what
 * changed, and the host cache, so an unchanged host is not even linked again (compile-host).
 */
export const CACHE_VOLUMES = [
  { name: 'd7y-build-go-mod', target: CONTAINER.go.modCache, role: 'go-mod-cache' },
  { name: 'd7y-build-go-build', target: CONTAINER.go.buildCache, role: 'go-build-cache' },
  { name: 'd7y-build-host-cache', target: CONTAINER.hostCache, role: 'host-cache' },
] as const;

/** What a d7y-build volume may be called: a path component in archives and containers too. */
export const CACHE_VOLUME_NAME = /^d7y-build-[a-z0-9][a-z0-9_.-]{0,100}$/;

/**
 * The role of a volume that holds one of d7y-build's caches (Go's, a source tree, or any other
 * volume d7y-build labelled), or undefined for a volume that is not d7y-build's cache.
 */
export function cacheVolumeRole(volume: { name: string; labels: Record<string, string> }): string | undefined {
  const known = CACHE_VOLUMES.find((v) => v.name === volume.name);
  if (known !== undefined) return known.role;
  if (isSourceTreeVolume(volume.name)) return SOURCE_TREE_ROLE;
  if (CACHE_VOLUME_NAME.test(volume.name) && volume.labels[LABEL.tool] !== undefined) return volume.labels[LABEL.role] ?? 'cache';
  return undefined;
}

export async function checkCacheDir(dir: string, origin: string): Promise<void> {
  const probe = probePath(dir);
  try {
    await makeDirectory(dir);
    await (await open(probe, 'wx')).close();
    await rm(probe);
  } catch (err) {
    throw new UsageError(`the cache directory ${dir} (from ${origin}) is not a writable directory (${(err as NodeJS.ErrnoException).code ?? String(err)})`, {
      hint: "set D7Y_CACHE_DIR to a writable directory for d7y-build's git mirrors and locks",
    });
  }
}
