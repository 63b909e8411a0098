/** The one JSON document `--json` prints, success or failure, and the human error block. Pure. */
import type { D7yError } from './errors';
import type { RunFailure } from './build/pipeline';

export const OUTCOME_SCHEMA_VERSION = 1;

export function successOutcome(result: object): Record<string, unknown> {
  return { schemaVersion: OUTCOME_SCHEMA_VERSION, ok: true, ...result };
}

export function errorFields(error: D7yError): Record<string, unknown> {
  return {
    code: error.code,
    exitCode: error.exitCode,
    step: error.step,
    message: error.message,
    hint: error.hint,
    detail: error.detail,
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
  };
}

/** The error as a person reads it: what, the evidence indented, then what to do. */
export function formatError(error: D7yError): string {
  const lines = [`error: ${error.message}${error.step ? ` [${error.step}]` : ''}`];
  if (error.detail) lines.push(...error.detail.split('\n').map((l) => `  ${l}`));
  if (error.hint) lines.push(`hint: ${error.hint}`);
  return lines.join('\n');
}
