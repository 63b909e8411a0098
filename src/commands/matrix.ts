/**
 * A matrix run: the cells' builds one after another (the caches make each next one faster; builds
 * in parallel would compete for the same engine), each a normal build (runBuild) under a header
 * line. A failed cell does not stop the others, unless --fail-fast; an interruption stops the
 * matrix as it stops a build. At the end, <out>/matrix.json, written atomically, holds each cell's
 * result or error; some failed cells make the run a MatrixPartlyFailedError carrying the same.
 */
import { randomBytes } from 'node:crypto';
import { rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { asD7yError, type D7yError, InterruptedError, MatrixPartlyFailedError, PushError } from '../errors';
import { makeDirectory } from '../files';
import type { Logger } from '../log';
import { errorFields, jsonLine, OUTCOME_SCHEMA_VERSION } from '../outcome';
import { RunFailure } from '../session/runner';
import type { IndexSpec, MatrixImages, MatrixSpec } from '../matrix/spec';
import { runBuild, type BuildResult } from './build';
import type { CommandIo } from './io';

export const MATRIX_FILE = 'matrix.json';

export interface CellOutcome {
  ref: string;
  platform: string;
  /** Where the cell's outputs are: its --out. */
  out: string;
  /** skipped: --fail-fast stopped the matrix before this cell. */
  status: 'passed' | 'failed' | 'skipped';
  /** The cell's plugins, by name, and those of them that compiled (all of them when the cell passed). */
  plugins: string[];
  compiled: string[];
  /** What the cell's build returned, when it passed. */
  result?: BuildResult;
  /** The cell's error, when it failed: code, exitCode, step, message, hint, detail. */
  error?: Record<string, unknown>;
}

export interface MatrixResult {
  cells: CellOutcome[];
  /** <out>/matrix.json: the same cells. */
  summary: string;
  /**
   * With --image and --push over several platforms: per commit whose cells all passed, the index put
   * at its tag, in the cells' order.
   */
  indexes?: PushedIndex[];
}

export interface PushedIndex {
  /** The commit as given, and the tag --image names for it. */
  commit: string;
  ref: string;
  digest: string;
  platforms: string[];
}

/** A logger that also tells which plugins compiled: the cell's summary rows say "built" of those. */
function noticingCompiled(log: Logger, compiled: string[]): Logger {
  return {
    ...log,
    info: (message, fact) => {
      if (fact?.type === 'plugin-compiled') compiled.push(fact.plugin);
      log.info(message, fact);
    },
  };
}

/** JSON text at file, all at once: a reader finds the whole document or none. */
async function writeAtomically(file: string, text: string): Promise<void> {
  await makeDirectory(path.dirname(file));
  const temp = path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    await writeFile(temp, text, { mode: 0o644 });
    await rename(temp, file);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
}

/**
 * One commit's platform images under its tag: with --push, an index of the digests its cells pushed,
 * put through the registry API with the credentials the pushes used; without, the images stay as
 * the cells tagged them (an engine holds no index) and the log says so.
 */
async function indexOf(images: MatrixImages, index: IndexSpec, cells: CellOutcome[], io: CommandIo): Promise<PushedIndex | undefined> {
  const platformImages = cells.map((c) => ({ ref: c.result!.image!.ref, digest: c.result!.image!.digest, platform: c.platform }));
  if (!images.push) {
    io.log.info(`the platforms' images are ${platformImages.map((i) => i.ref).join(', ')}; with --push, ${index.ref} becomes an index of them`);
    return undefined;
  }
  const { registryAuth, registryOf } = await import('../docker/registry-auth');
  const { pushImageIndex } = await import('../docker/image-index');
  const registry = registryOf(index.repository);
  const fail = (why: string, hint: string, cause?: unknown) => new PushError(`cannot put the index ${index.ref} on ${registry}: ${why}`, { hint, cause });
  const found = await (await registryAuth(images.registryAuthFile, io.env, io.redact)).credentialsFor(registry, fail);
  const platforms = platformImages.map((i) => i.platform);
  const unknown = platformImages.find((i) => i.digest === undefined);
  if (unknown !== undefined)
    throw fail(`the registry gave no digest for ${unknown.ref}`, `push ${unknown.ref} again and put the index with docker manifest create`);
  const pushed = await pushImageIndex(
    index.repository,
    index.tag,
    platformImages.map((i) => {
      const [os, architecture] = i.platform.split('/') as [string, string];
      return { digest: i.digest!, os, architecture };
    }),
    { ...(found.credential !== undefined ? { credential: found.credential } : {}), signal: io.signal },
  );
  io.log.info(`pushed the index ${index.ref}@${pushed.digest} of ${platforms.join(', ')}`);
  return { commit: index.commit, ref: index.ref, digest: pushed.digest, platforms };
}

/**
 * Each commit's index, over its cells alone: a commit with a failed or skipped cell gets none (a
 * tag that misses a platform would fail its users there), the others theirs. An index that can't
 * be put does not keep the next commits' from being tried; the first such error is returned.
 */
async function indexesOf(images: MatrixImages, cells: CellOutcome[], io: CommandIo): Promise<{ indexes: PushedIndex[]; error?: D7yError }> {
  const indexes: PushedIndex[] = [];
  let error: D7yError | undefined;
  for (const index of images.indexes) {
    const own = cells.filter((c) => c.ref === index.commit);
    if (own.some((c) => c.status !== 'passed')) {
      io.log.warn(`no index at ${index.ref}: not every platform of ${index.commit} passed`);
      continue;
    }
    try {
      const pushed = await indexOf(images, index, own, io);
      if (pushed !== undefined) indexes.push(pushed);
    } catch (err) {
      const failure = asD7yError(err);
      if (failure instanceof InterruptedError || io.signal.aborted) throw err;
      io.log.warn(failure.message);
      error ??= failure;
    }
  }
  return { indexes, ...(error === undefined ? {} : { error }) };
}

/** Runs the cells; runCell builds one (runBuild; a test's stand-in). */
export async function runMatrix(spec: MatrixSpec, io: CommandIo, runCell: typeof runBuild = runBuild): Promise<MatrixResult> {
  const total = spec.cells.length;
  const cells: CellOutcome[] = [];
  let stopped = false;
  for (const [i, { cell, spec: cellSpec }] of spec.cells.entries()) {
    const base = { ref: cell.ref, platform: cell.platform, out: cellSpec.outDir, plugins: cellSpec.plugins.map((p) => p.name) };
    if (stopped) {
      cells.push({ ...base, status: 'skipped', compiled: [] });
      continue;
    }
    const where = { index: i + 1, total, ref: cell.ref, platform: cell.platform };
    io.log.info(`cell ${i + 1}/${total}: Dragonfly ${cell.ref} on ${cell.platform}, into ${cellSpec.outDir}`, {
      type: 'cell-started',
      ...where,
      out: cellSpec.outDir,
    });
    const compiled: string[] = [];
    try {
      const result = await runCell(cellSpec, { ...io, log: noticingCompiled(io.log, compiled) });
      cells.push({ ...base, status: 'passed', compiled, result });
      io.log.info(`cell ${i + 1}/${total}: ${cell.ref} on ${cell.platform} passed`, { type: 'cell-finished', ...where, status: 'passed', exitCode: 0 });
    } catch (err) {
      const error = err instanceof RunFailure ? err.error : asD7yError(err);
      // An interruption stops the matrix as it stops a build: the build has cleaned up, the error goes up.
      if (error instanceof InterruptedError) throw err;
      cells.push({ ...base, status: 'failed', compiled, error: errorFields(error) });
      io.log.info(`cell ${i + 1}/${total}: ${cell.ref} on ${cell.platform} failed (exit ${error.exitCode}): ${error.message}`, {
        type: 'cell-finished',
        ...where,
        status: 'failed',
        exitCode: error.exitCode,
      });
      stopped = spec.failFast;
    }
  }

  const result: MatrixResult = { cells, summary: path.join(spec.outDir, MATRIX_FILE) };
  const failed = cells.filter((c) => c.status === 'failed');
  const mask = io.mask ?? ((text: string) => text);
  let indexError: D7yError | undefined;
  if (spec.image !== undefined) {
    const { indexes, error } = await indexesOf(spec.image, cells, io);
    if (spec.image.push) result.indexes = indexes;
    indexError = error;
  }
  await writeAtomically(
    result.summary,
    jsonLine({ schemaVersion: OUTCOME_SCHEMA_VERSION, ok: failed.length === 0 && indexError === undefined, ...result }, mask),
  );
  // A failed cell makes the run's error (exit 18), an index that could not be put one more reason in it.
  if (indexError !== undefined && failed.length === 0) throw indexError;
  if (failed.length === 0) return result;
  const skipped = cells.filter((c) => c.status === 'skipped').length;
  throw new MatrixPartlyFailedError(
    `${failed.length} of ${total} matrix cells failed: ${failed.map((c) => `${c.ref} (${String(c.error!.code)}, exit ${String(c.error!.exitCode)})`).join(', ')}${skipped > 0 ? `; --fail-fast skipped ${skipped}` : ''}${indexError === undefined ? '' : `; and ${indexError.message}`}`,
    result,
    {
      hint: `each failed cell's error is in the table above and in ${result.summary}; the other cells' outputs are in their directories. Rerun one cell with d7y-build --commit <ref>`,
    },
  );
}
