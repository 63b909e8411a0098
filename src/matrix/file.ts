/**
 * A matrix file (--matrix): the commits to build, each a ref or a ref with its own Go image and
 * plugin directories, in YAML or JSON (by the file name):
 *
 *   commits:
 *     - v2.1.66
 *     - ref: v2.3.4
 *       goImage: golang:1.23.5-bookworm
 *       plugins: [./myfs]
 *
 * Plugin directories are taken from the file's directory, as a config file's paths are.
 */
import path from 'node:path';
import { isImageReference } from '../config';
import { MAX_CONFIG_BYTES, parseDocument } from '../config-files';
import { UsageError } from '../errors';
import { readRegularFileSync } from '../files';
import type { MatrixEntry } from './cells';

const ENTRY_KEYS = ['ref', 'goImage', 'plugins'];
const SHAPE_HINT = 'write "commits:" and under it one "- <ref>" per commit, or "- ref: <ref>" with goImage: and plugins: of its own';

const isText = (v: unknown): v is string => typeof v === 'string' && v.trim() !== '';

/** One entry of the commits list, checked; `at` names it in messages ("m.yaml: commits[2]"). */
function entryOf(value: unknown, at: string, base: string): MatrixEntry {
  if (isText(value)) return { ref: value.trim() };
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new UsageError(`${at} is neither a ref nor a ref with settings`, { hint: SHAPE_HINT });
  const fields = value as Record<string, unknown>;
  const unknown = Object.keys(fields).find((k) => !ENTRY_KEYS.includes(k));
  if (unknown !== undefined) throw new UsageError(`${at}: unknown key "${unknown}"`, { hint: `an entry takes ${ENTRY_KEYS.join(', ')}` });
  if (!isText(fields.ref)) throw new UsageError(`${at} has no ref`, { hint: 'give each entry its Dragonfly branch, tag or SHA: ref: v2.1.0' });
  const entry: MatrixEntry = { ref: fields.ref.trim() };
  if (fields.goImage !== undefined) {
    if (!isText(fields.goImage) || !isImageReference(fields.goImage.trim())) {
      throw new UsageError(`${at}: goImage ${JSON.stringify(fields.goImage)} is not an image reference`, { hint: 'e.g. goImage: golang:1.23.5-bookworm' });
    }
    entry.goImage = fields.goImage.trim();
  }
  if (fields.plugins !== undefined) {
    if (!Array.isArray(fields.plugins) || fields.plugins.length === 0 || !fields.plugins.every(isText)) {
      throw new UsageError(`${at}: plugins is not a list of directories`, { hint: 'e.g. plugins: [./myfs]' });
    }
    entry.plugins = fields.plugins.map((dir) => path.resolve(base, dir.trim()));
  }
  return entry;
}

/** A matrix file's text to its entries, checked. Pure. */
export function parseMatrixFile(text: string, file: string): MatrixEntry[] {
  const data = parseDocument(text, file);
  const commits = (data as { commits?: unknown } | null)?.commits;
  if (typeof data !== 'object' || data === null || Object.keys(data).some((k) => k !== 'commits') || !Array.isArray(commits) || commits.length === 0) {
    throw new UsageError(`${file} is not a matrix: it must hold a non-empty "commits" list and nothing else`, { hint: SHAPE_HINT });
  }
  const entries = commits.map((c, i) => entryOf(c, `${file}: commits[${i}]`, path.dirname(file)));
  const repeated = entries.find((e, i) => entries.findIndex((o) => o.ref === e.ref) !== i);
  if (repeated !== undefined) throw new UsageError(`${file} lists ${repeated.ref} twice`, { hint: 'list each commit once: each one is a cell of the matrix' });
  return entries;
}

/** The entries of the matrix file at file (absolute). */
export function readMatrixFile(file: string): MatrixEntry[] {
  const text = readRegularFileSync(file, {
    what: 'the matrix file',
    hint: `make it a regular file of at most ${MAX_CONFIG_BYTES / 1024} KiB`,
    maxBytes: MAX_CONFIG_BYTES,
  });
  return parseMatrixFile(text, file);
}
