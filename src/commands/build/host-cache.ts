/**
 * The host cache: a host (with its loader check) built once for a key is taken from the host cache
 * volume by every later build with the same key, instead of being compiled and linked again. The
 * key is a hash of everything that makes the host's bytes; builder/build.sh keeps the entries
 * (`host-cache get|put`) and checks each against its SHA256SUMS before it is used.
 */
import { createHash } from 'node:crypto';
import type { BuildContainer } from '../../docker/engine';
import type { Logger } from '../../log';
import { CONTAINER } from '../../session/layout';
import type { ToolchainSettings } from '../../toolchain/goflags';

/** Whether the host came from the cache: 'off' with --no-cache. */
export type HostCacheOutcome = { host: 'hit' | 'miss'; hostKey: string } | { host: 'off' };

/** Everything that makes the bytes of the host and its loader check. */
export interface HostCacheInputs {
  /** The full Dragonfly SHA: the tree, and through go.sum every module it builds with. */
  commit: string;
  /** The Go image (Go, its C toolchain and libc) and the builder image on it (build.sh, the environment). */
  goImageId: string;
  builderImageId: string;
  /** The os/arch the host is built for (--platform); its GOOS, GOARCH and CC are in goEnv too. */
  platform: string;
  /** The environment of the go command (GOFLAGS, and the target's GOOS, GOARCH and CC). */
  goEnv: Record<string, string>;
  /** The whole argument list of `go build`, -ldflags and its stamps included. */
  goArgs: string[];
  toolchain: ToolchainSettings;
  /** The commands built: the host's and the loader check's. */
  commands: string[];
  /** The loader check's generated source (loaderProgram). */
  loaderProgram: string;
}

/** Bumped when what an entry holds, or how the key is made, changes: older entries are then never read. */
const KEY_VERSION = 'd7y-build host cache 1';

/** sha256 (hex) over every input, in a fixed order. Pure. */
export function hostCacheKey(inputs: HostCacheInputs): string {
  // A mapped type over the inputs: a new input that is left out here does not compile.
  const fields: { [K in keyof HostCacheInputs]: unknown } = {
    commit: inputs.commit,
    goImageId: inputs.goImageId,
    builderImageId: inputs.builderImageId,
    platform: inputs.platform,
    goEnv: Object.entries(inputs.goEnv).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
    goArgs: inputs.goArgs,
    toolchain: [inputs.toolchain.trimpath, inputs.toolchain.tags, inputs.toolchain.gcflags, inputs.toolchain.race],
    commands: inputs.commands,
    loaderProgram: inputs.loaderProgram,
  };
  const ordered = Object.keys(fields)
    .sort()
    .map((k) => [k, fields[k as keyof HostCacheInputs]]);
  return createHash('sha256')
    .update(JSON.stringify([KEY_VERSION, ordered]))
    .digest('hex');
}

/** build.sh's exit codes for `host-cache get`. */
const MISS = 10;
const CORRUPT = 11;

/** The key as logs show it. */
export const shortKey = (key: string): string => key.slice(0, 12);

/** build.sh's sums of the commands it put in place ("<sha256>  bin/<cmd>" lines): command → sha256. Pure. */
export function parseHostSums(stdout: string): Map<string, string> {
  const sums = new Map<string, string>();
  for (const line of stdout.split('\n')) {
    const m = /^([0-9a-f]{64}) {2}bin\/(.+)$/.exec(line);
    if (m) sums.set(m[2]!, m[1]!);
  }
  return sums;
}

/**
 * Puts the cached commands of key into the container's bin directory when the entry is there and
 * whole; their sha256 sums then, by command. A corrupt entry is removed by build.sh and reported;
 * it is never used.
 */
export async function takeFromHostCache(container: BuildContainer, log: Logger, key: string, commands: string[]): Promise<Map<string, string> | undefined> {
  const result = await container.exec([CONTAINER.tools.buildSh, 'host-cache', 'get', key, ...commands]);
  if (result.exitCode === 0) return parseHostSums(result.stdout);
  const reason = result.stderr.trim();
  if (result.exitCode === CORRUPT) log.warn(`the host cache entry ${shortKey(key)} was corrupt (${reason}): removed it, building ${commands[0]}`);
  else if (result.exitCode !== MISS) log.warn(`could not read the host cache (${reason || `exit ${result.exitCode}`}): building ${commands[0]}`);
  return undefined;
}

/** Stores the built commands under key. A failure costs the next build a compile, not this one: a warning. */
export async function putInHostCache(container: BuildContainer, log: Logger, key: string, commands: string[]): Promise<void> {
  const result = await container.exec([CONTAINER.tools.buildSh, 'host-cache', 'put', key, ...commands]);
  if (result.exitCode !== 0) {
    log.warn(`could not store ${commands[0]} in the host cache: ${result.stderr.trim() || `exit ${result.exitCode}`}`);
  } else if (result.stdout.trim() === 'present') {
    log.info(`another build stored ${commands[0]} under key ${shortKey(key)} first: keeping its copy`);
  } else {
    log.info(`stored ${commands[0]} in the host cache (key ${shortKey(key)})`);
  }
}
