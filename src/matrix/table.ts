/**
 * What a matrix run says last, on stderr: one row per commit, plugin and platform, with what became
 * of it: loaded (the cell passed: built and loaded by its host), built (compiled, then the cell
 * failed later), failed, or skipped by --fail-fast; a failure with its short reason and its error's
 * exit code. Pure.
 */
import type { CellOutcome, MatrixResult } from '../commands/matrix';

/** A reason longer than this is cut: the whole message is in matrix.json. */
const MAX_REASON = 72;

function reason(error: Record<string, unknown>): string {
  const message = String(error.message);
  const short = message.length > MAX_REASON ? `${message.slice(0, MAX_REASON - 1)}…` : message;
  return `${short} (exit ${String(error.exitCode)})`;
}

function outcomeOf(cell: CellOutcome, plugin: string): string {
  switch (cell.status) {
    case 'passed':
      return 'loaded';
    case 'skipped':
      return 'skipped (--fail-fast)';
    case 'failed':
      return `${cell.compiled.includes(plugin) ? 'built, then failed' : 'failed'}: ${reason(cell.error!)}`;
  }
}

export function matrixTable(result: Pick<MatrixResult, 'cells' | 'summary'>): string[] {
  const rows = [
    ['COMMIT', 'PLUGIN', 'PLATFORM', 'RESULT'],
    ...result.cells.flatMap((cell) => cell.plugins.map((plugin) => [cell.ref, plugin, cell.platform, outcomeOf(cell, plugin)])),
  ];
  const widths = [0, 1, 2].map((col) => Math.max(...rows.map((r) => r[col]!.length)));
  const passed = result.cells.filter((c) => c.status === 'passed').length;
  return [
    `matrix: ${passed} of ${result.cells.length} cells passed; each cell's result in ${result.summary}`,
    ...rows.map((r) => `  ${r.map((v, col) => (col < 3 ? v.padEnd(widths[col]!) : v)).join('  ')}`),
  ];
}
