/**
 * What a command gets from its caller, the CLI or the library: where its progress goes, the abort
 * signal, the environment, and the engine. Both run a command through the same function with it.
 */
import type { Engine } from '../docker/engine';
import type { Logger } from '../log';

export interface CommandIo {
  log: Logger;
  signal: AbortSignal;
  env: Record<string, string | undefined>;
  /** The engine to use; absent, one from DOCKER_HOST and friends. */
  engine?: Engine;
  /** Takes secret values found on the way (a netrc's passwords), to mask them in all output. */
  redact(values: string[]): void;
  /** Masks the secret values known so far, in what a command writes itself besides a build's files (matrix.json). */
  mask?: (text: string) => string;
}
