/**
 * `d7y-build --version --json`: what a bug report needs in one document. The CLI's own version,
 * Node's, the engine's (or why it did not answer), and the builder recipe: the hash of
 * Dockerfile.builder, builder/ and the container layout, which every builder image tag starts from.
 */
import { DEFAULT_TARGET } from './platform';
import { pingTimeoutFor } from './config';
import type { Engine } from './docker/engine';
import { builderContextFiles, builderImageTag, packageRoot } from './session/image';
import { builderBuildArgs } from './session/layout';
import { VERSION } from './version';

/** The most --version waits for an engine: it answers a question, it does not build. */
const MAX_PING_MS = 5000;

export interface Versions {
  name: 'd7y-build';
  version: string;
  node: string;
  platform: string;
  engine: { version: string; apiVersion: string; os: string; arch: string; address: string } | { error: string };
  /** The builder image recipe: the same for two installations that build the same builder images. */
  builderRecipe: string;
}

export async function versions(env: Record<string, string | undefined>, given?: Engine): Promise<Versions> {
  let engine: Versions['engine'];
  try {
    const client = given ?? new (await import('./docker/dockerode')).DockerEngine(undefined, { pingTimeoutMs: Math.min(pingTimeoutFor(env), MAX_PING_MS) });
    const info = await client.ping();
    engine = { version: info.serverVersion, apiVersion: info.apiVersion, os: info.os, arch: info.arch, address: info.address };
  } catch (err) {
    engine = { error: err instanceof Error ? err.message : String(err) };
  }
  const files = await builderContextFiles(packageRoot());
  return {
    name: 'd7y-build',
    version: VERSION,
    node: process.versions.node,
    platform: `${process.platform}/${process.arch}`,
    engine,
    builderRecipe: builderImageTag(files, builderBuildArgs('', DEFAULT_TARGET)).split(':')[1]!,
  };
}
