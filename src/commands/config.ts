/**
 * `d7y-build config`: the settings a build would take, as a table of option, value and source
 * (flag, variable, config file, default), with the config files read and each plugin's name. The
 * values are resolved by config.ts (resolveConfigSpec), exactly as for a build. Pure.
 */
import type { ConfigSpec, ShownValue } from '../config';

function valueText(value: ShownValue): string {
  if (value === null) return '(unset)';
  if (Array.isArray(value)) return value.length === 0 ? '(none)' : value.join(',');
  if (value === '') return '""';
  return String(value);
}

/** Rows of cells, each column as wide as its widest cell. */
function table(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  '));
}

export function formatConfig(spec: ConfigSpec): string[] {
  const user = spec.userConfig === null ? 'none (no absolute HOME)' : `${spec.userConfig.path}${spec.userConfig.found ? '' : ' (not found)'}`;
  const rows = Object.entries(spec.options).map(([key, o]) => [key, valueText(o.value), o.source]);
  return [
    `config file: ${user}`,
    ...spec.plugins.map((p) => `plugin ${p.dir}: ${p.config ?? 'no d7y-plugin.yaml'}`),
    '',
    ...table([['option', 'value', 'source'], ...rows]),
    ...(spec.plugins.length === 0 ? [] : ['', ...table([['plugin', 'name', 'source'], ...spec.plugins.map((p) => [p.dir, p.name, p.nameFrom])])]),
  ];
}
