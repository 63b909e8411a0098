/**
 * The one JSON document `--json` prints, success or failure, and the human error block. Pure.
 * The message and hint of an error are shown as one line each, its detail line by line, all with
 * their control characters escaped: the same text in the block and in the document.
 */
import { MatrixPartlyFailedError, type D7yError } from './errors';
import type { RunFailure } from './session/runner';
import { CONTROL, escapeControl, escapeLines, unicodeEscape } from './log';

export const OUTCOME_SCHEMA_VERSION = 1;

export function successOutcome(result: object): Record<string, unknown> {
  return { schemaVersion: OUTCOME_SCHEMA_VERSION, ok: true, ...result };
}

export function errorFields(error: D7yError): Record<string, unknown> {
  return {
    code: error.code,
    exitCode: error.exitCode,
    step: error.step,
    message: escapeControl(error.message),
    hint: error.hint === undefined ? undefined : escapeControl(error.hint),
    detail: error.detail === undefined ? undefined : escapeLines(error.detail).join('\n'),
  };
}

export function failureOutcome(error: D7yError, failure?: RunFailure): Record<string, unknown> {
  return {
    schemaVersion: OUTCOME_SCHEMA_VERSION,
    ok: false,
    runId: failure?.runId,
    commit: failure?.commit,
    steps: failure?.steps ?? [],
    error: errorFields(error),
    // A matrix's failure is its cells': what each built or why it failed.
    ...(error instanceof MatrixPartlyFailedError ? { cells: error.result.cells, summary: error.result.summary } : {}),
  };
}

/** The error as a person reads it: what, the evidence indented, then what to do. */
export function formatError(error: D7yError): string {
  const fields = errorFields(error) as { message: string; hint?: string; detail?: string };
  const lines = [`error: ${fields.message}${error.step ? ` [${error.step}]` : ''}`];
  if (fields.detail) lines.push(...fields.detail.split('\n').map((l) => `  ${l}`));
  if (fields.hint) lines.push(`hint: ${fields.hint}`);
  return lines.join('\n');
}

/**
 * A value as one JSON line, every string masked first. JSON escapes C0 itself; what control
 * characters it leaves raw (DEL, C1, the bidirectional overrides) are written as \u escapes too,
 * so the document means the same and is safe on a terminal.
 */
export function jsonLine(value: unknown, mask: (text: string) => string): string {
  const text = JSON.stringify(value, (_key, v: unknown) => (typeof v === 'string' ? mask(v) : v));
  return `${text.replace(CONTROL, unicodeEscape)}\n`;
}
