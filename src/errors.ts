/**
 * One error class per failure kind. Each carries its exit code and a hint that names the fix; it is
 * raised where the fact is known and printed once, by the CLI.
 */
import type { MatrixResult } from './commands/matrix';

export interface ErrorDetails {
  /** What to do about it, in one sentence; options in it as optionToken (config.ts hintOption) makes them. */
  hint?: string;
  /** Multi-line evidence (compiler output, the host's `plugin` output), already trimmed. */
  detail?: string;
  cause?: unknown;
}

/** Who reads a hint: the CLI's user sets flags (--go-image), a library caller options (goImage). */
export type HintReader = 'cli' | 'library';

const OPTION_TOKEN = /\u27e6([^\u27e6\u27e7\u2980]*)\u2980([^\u27e6\u27e7\u2980]*)\u27e7/g;

/**
 * An option as a hint names it, both ways: ⟦--go-image⦀goImage⟧. Made from the option table only
 * (config.ts hintOption), so that a hint is written once and read right by either reader.
 */
export function optionToken(cli: string, library: string): string {
  return `\u27e6${cli}\u2980${library}\u27e7`;
}

/** The hint as its reader sets options: each token as its flag, or as its library option. */
export function renderHint(hint: string, reader: HintReader): string {
  return hint.replace(OPTION_TOKEN, (_, cli: string, library: string) => (reader === 'cli' ? cli : library));
}

export abstract class D7yError extends Error {
  /** Stable machine-readable name, used in `--json` output. */
  abstract readonly code: string;
  abstract readonly exitCode: number;
  readonly detail: string | undefined;
  /** The pipeline step that failed; set by the pipeline when the error passes through it. */
  step: string | undefined;
  /** The hint as written, its options as tokens. */
  readonly #hint: string | undefined;
  #reader: HintReader = 'cli';

  constructor(message: string, details: ErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = new.target.name;
    this.#hint = details.hint;
    this.detail = details.detail;
  }

  /** What to do about it, naming flags, or library options once the library hands the error over (forLibrary). */
  get hint(): string | undefined {
    return this.#hint === undefined ? undefined : renderHint(this.#hint, this.#reader);
  }

  /** The error as a library call throws it: its hint names the options of the call, not flags. */
  forLibrary(): this {
    this.#reader = 'library';
    return this;
  }
}

/** Bad flag, argument, name, type or combination of them: nothing was started. */
export class UsageError extends D7yError {
  readonly code = 'usage';
  readonly exitCode = 2;
}

/** No Docker engine answers. */
export class DockerUnavailableError extends D7yError {
  readonly code = 'docker-unavailable';
  readonly exitCode = 3;
}

/** The Dragonfly repository can't be read or does not have the ref, or is not Dragonfly. */
export class SourceError extends D7yError {
  readonly code = 'source';
  readonly exitCode = 4;
}

/** The Go image is absent and can't be pulled, or its Go does not fit the pinned go.mod. */
export class GoImageError extends D7yError {
  readonly code = 'go-image';
  readonly exitCode = 5;
}

/** `go build` failed for the host or a plugin. */
export class CompileError extends D7yError {
  readonly code = 'compile';
  readonly exitCode = 6;
}

/** A plugin's go.mod forces a package the host also links to a version the host does not have. */
export class DependencyConflictError extends D7yError {
  readonly code = 'dependency-conflict';
  readonly exitCode = 7;
}

/** The freshly built host does not load or list a plugin. */
export class ValidationError extends D7yError {
  readonly code = 'validation';
  readonly exitCode = 8;
}

/** The output or plugins directory can't be written; nothing was written to it. */
export class InstallError extends D7yError {
  readonly code = 'install';
  readonly exitCode = 9;
}

/** The pinned Dragonfly can't host this plugin type (e.g. resource plugins from v2.4.0 on). */
export class UnsupportedHostError extends D7yError {
  readonly code = 'unsupported-host';
  readonly exitCode = 10;
}

/** The build container's memory limit (--memory) killed a compiler or the host. */
export class OutOfMemoryError extends D7yError {
  readonly code = 'out-of-memory';
  readonly exitCode = 13;
}

/** The build took longer than --timeout; the container was removed. */
export class TimeoutError extends D7yError {
  readonly code = 'timeout';
  readonly exitCode = 14;
}

/**
 * `verify`/`inspect` can't tell: the file is not a 64-bit Go binary of a supported architecture,
 * is truncated, is not a plugin (or not a host), or lacks the symbols the answer depends on.
 */
export class UnverifiableError extends D7yError {
  readonly code = 'unverifiable';
  readonly exitCode = 12;
}

/** The runtime image (--image) can't be built on the Go image; nothing is left tagged. */
export class ImageError extends D7yError {
  readonly code = 'image';
  readonly exitCode = 16;
}

/** The registry refused the runtime image (--push) or could not be reached; the local image is kept. */
export class PushError extends D7yError {
  readonly code = 'push';
  readonly exitCode = 17;
}

/**
 * A matrix of several cells ran, and some cells failed (with --fail-fast, the first failure stopped
 * it). Each cell's own error, and what the others built, is in the result and in <out>/matrix.json.
 */
export class MatrixPartlyFailedError extends D7yError {
  readonly code = 'matrix-partly-failed';
  readonly exitCode = 18;
  constructor(
    message: string,
    readonly result: MatrixResult,
    details: ErrorDetails = {},
  ) {
    super(message, details);
  }
}

/**
 * `doctor`: a check other than the engine's failed, so a build would fail too. No error is thrown:
 * the report, which names each failed check and its fix, is the output.
 */
export const DOCTOR_FOUND_A_PROBLEM = 15;

/** SIGINT (130), SIGTERM (143), or a library caller's AbortSignal (130, no signal); cleanup has run. */
export class InterruptedError extends D7yError {
  readonly code = 'interrupted';
  readonly exitCode: number;
  /** The hint says what the interrupted run leaves: a build nothing, a watch what its last good round installed. */
  constructor(
    readonly signal?: NodeJS.Signals,
    hint = 'nothing was installed; the build container was removed',
  ) {
    super(signal === undefined ? 'aborted by the AbortSignal given' : `interrupted by ${signal}`, { hint });
    this.exitCode = signal === 'SIGTERM' ? 143 : 130;
  }
}

/** A bug in d7y-build itself. */
export class InternalError extends D7yError {
  readonly code = 'internal';
  readonly exitCode = 1;
}

/** Anything thrown that is not a D7yError is a bug: wrap it so it still prints once, with its stack. */
export function asD7yError(err: unknown): D7yError {
  if (err instanceof D7yError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new InternalError(message, {
    cause: err,
    hint: 'this is a bug in d7y-build: please report it with the output above',
    detail: err instanceof Error ? err.stack : undefined,
  });
}
