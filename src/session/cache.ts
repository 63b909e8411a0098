/**
 * Where a session's caches live: the git mirrors and locks in a directory on this machine
 * (D7Y_CACHE_DIR); Go's module and build caches and the host cache on named volumes of the engine.
 */
import { open, rm } from 'node:fs/promises';
import { UsageError } from '../errors';
import { makeDirectory, probePath } from '../files';
import { CONTAINER } from './layout';

/**
 * Caches that survive the container on these volumes: Go's, so the second build compiles only what
 * changed, and the host cache, so an unchanged host is not even linked again (compile-host).
 */
export const CACHE_VOLUMES = [
  { name: 'd7y-build-go-mod', target: CONTAINER.go.modCache, role: 'go-mod-cache' },
  { name: 'd7y-build-go-build', target: CONTAINER.go.buildCache, role: 'go-build-cache' },
  { name: 'd7y-build-host-cache', target: CONTAINER.hostCache, role: 'host-cache' },
] as const;

export async function checkCacheDir(dir: string, origin: string): Promise<void> {
  const probe = probePath(dir);
  try {
    await makeDirectory(dir);
    await (await open(probe, 'wx')).close();
    await rm(probe);
  } catch (err) {
    throw new UsageError(`the cache directory ${dir} (from ${origin}) is not a writable directory (${(err as NodeJS.ErrnoException).code ?? String(err)})`, {
      hint: 'set D7Y_CACHE_DIR to a writable directory for d7y-build\'s git mirrors and locks',
    });
  }
}
