/**
 * check-api: before the long compile, each plugin's value against the interface its loader asserts
 * at the pinned commit, read from the sources by d7y-apicheck (builder/apicheck) in the container.
 * A wrong method set fails here in seconds, with the message the loader check would give after the
 * build; what the syntax can't tell is left to that check.
 */
import path from 'node:path';
import { ValidationError } from '../../errors';
import { describeMethods, implementHint, type MethodProblems } from '../../validate/loader';
import { CONTAINER } from '../../session/layout';
import { need } from '../../session/session';
import type { BuildContext } from './state';

/** What `d7y-apicheck plugin` prints. */
export interface ApiReport {
  valueType?: string;
  undecided?: string;
  missing?: Array<{ name: string; source: string }>;
  differing?: Array<{ name: string; want: string; got: string }>;
  /** The plugin's sources could not be read (they don't parse). */
  error?: string;
}

/** `d7y-apicheck plugin`'s lines, one report each; undefined for a line that is not one. Pure. */
export function parseReports(stdout: string): Array<ApiReport | undefined> {
  return stdout
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      try {
        const report: unknown = JSON.parse(line);
        return typeof report === 'object' && report !== null && !Array.isArray(report) ? (report as ApiReport) : undefined;
      } catch {
        return undefined;
      }
    });
}

export function apiProblems(report: ApiReport): MethodProblems {
  return { missing: (report.missing ?? []).map((m) => ({ want: m.source })), differing: report.differing ?? [] };
}

export async function checkApi(ctx: BuildContext): Promise<void> {
  const container = need(ctx.state.container, 'the container');
  const source = need(ctx.state.source, 'the source');
  const { loader } = source;
  const iface = `${loader.importPath}.${loader.iface}`;
  // One process reads the loader's package once and prints a report per plugin, in their order.
  const result = await container.exec([
    CONTAINER.tools.apicheck,
    'plugin',
    path.posix.join(CONTAINER.dragonfly, loader.dir),
    loader.iface,
    loader.importPath,
    ...ctx.spec.plugins.map((plugin) => path.posix.join(CONTAINER.pluginSources, plugin.name)),
  ]);
  const reports = result.exitCode === 0 ? parseReports(result.stdout) : [];
  for (const [i, plugin] of ctx.spec.plugins.entries()) {
    const report = reports.length === ctx.spec.plugins.length ? reports[i] : undefined;
    if (report === undefined || report.error !== undefined) {
      // Sources go cannot parse: the compile that follows says where, better than this check could.
      ctx.log.warn(`cannot read ${plugin.name}'s methods before compiling: ${report?.error ?? (result.stderr || result.stdout).trim()}`);
      continue;
    }
    if (report.undecided !== undefined) {
      ctx.log.info(`plugin ${plugin.name}: ${report.undecided}; the loader check after the build decides`);
      continue;
    }
    const methods = describeMethods(apiProblems(report));
    if (methods.length > 0) {
      throw new ValidationError(
        `plugin ${plugin.name}: ${report.valueType} does not implement ${iface} at ${ctx.spec.ref} (${source.shortSha}) (${methods.join('; ')})`,
        {
          hint: implementHint(iface, ctx.spec.type),
          detail: methods.join('\n'),
        },
      );
    }
    ctx.log.info(`plugin ${plugin.name}: ${report.valueType} implements ${iface}`);
  }
}
