/**
 * A matrix's cells in a CI system's own matrix syntax, so that each CI job runs one cell as a
 * plain build. GitHub Actions: the `strategy.matrix` object as one JSON line, for
 * `fromJSON(needs.<job>.outputs.<name>)` through $GITHUB_OUTPUT; a job runs
 * `d7y-build --commit "${{ matrix.commit }}" --platform "${{ matrix.platform }}" --out "${{ matrix.out }}" --go-image "${{ matrix.goImage }}" ${{ matrix.plugins }}`
 * (a blank --go-image counts as unset). GitLab CI: a `parallel: matrix:` fragment whose variables
 * are d7y-build's own (D7Y_COMMIT, D7Y_PLATFORM, D7Y_OUT, D7Y_GO_IMAGE), so a job runs
 * `d7y-build $PLUGIN_DIRS`. Pure.
 */
import { envName } from '../config';
import type { CiCell, CiFormat } from './spec';

/** Plugin directories as one word list for a shell: paths with blanks, quotes or $ would need quoting the CI's template does not do. */
const plain = (dirs: string[]) => dirs.join(' ');

function github(cells: CiCell[]): string {
  const include = cells.map((c) => ({
    commit: c.commit,
    platform: c.platform,
    out: c.out,
    ...(c.goImage === undefined ? {} : { goImage: c.goImage }),
    ...(c.plugins === undefined ? {} : { plugins: plain(c.plugins) }),
  }));
  return JSON.stringify({ include });
}

/** A YAML double-quoted scalar: JSON's string syntax is a subset of it. */
const scalar = (value: string) => JSON.stringify(value);

function gitlab(cells: CiCell[]): string {
  const lines = ['parallel:', '  matrix:'];
  for (const c of cells) {
    const vars: Array<[string, string | undefined]> = [
      [envName('commit'), c.commit],
      [envName('platform'), c.platform],
      [envName('out'), c.out],
      [envName('goImage'), c.goImage],
      ['PLUGIN_DIRS', c.plugins === undefined ? undefined : plain(c.plugins)],
    ];
    vars
      .filter((v): v is [string, string] => v[1] !== undefined)
      .forEach(([name, value], i) => lines.push(`    ${i === 0 ? '- ' : '  '}${name}: ${scalar(value)}`));
  }
  return lines.join('\n');
}

/** The cells for the CI system: what `d7y-build matrix --format <format>` prints. */
export function ciMatrix(format: CiFormat, cells: CiCell[]): string {
  return format === 'github' ? github(cells) : gitlab(cells);
}
