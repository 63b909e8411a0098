/**
 * validate: the plugins installed where Dragonfly looks for them in the container, then two checks,
 * both Dragonfly's own code: the new host's `plugin` command (dfplugin.Load; it exits 0 even when a
 * plugin fails, so its output is parsed), then the loader check (the type's LoadPlugin, which also
 * asserts the type's interface, as the running host does before it uses a plugin).
 */
import { ValidationError } from '../errors';
import type { BuildContainer } from '../docker/engine';
import { describeMethods, implementHint, loaderProblems, parseLoaderReport, summarize, type LoaderReport } from '../validate/loader';
import { checkListing, parsePluginOutput, type ExpectedPlugin as ListedPlugin, type LoadedPlugin } from '../validate/plugin-output';
import { hintFor } from '../validate/diagnose';
import { nameKeyHint, type PluginType } from '../plugin';
import { runPrefixEnv, targetPlatform } from '../platform';
import { CONTAINER } from './layout';
import type { SessionContext, ValidationFacts } from './session';

/** A plugin the host must load: its file, name and type. */
type ExpectedPlugin = ListedPlugin & { type: PluginType };

export interface ValidationChecks {
  /** Run `<host> plugin`: false for commits without the command (v2.0.0). */
  pluginCommand: boolean;
  /** Run the loader check (CONTAINER.loadcheck), and what to call its loader in messages (e.g. "Dragonfly a9b2adb's LoadPlugin"); undefined when there is none. */
  loader?: { describe: string };
}

/**
 * Installs `expected` (already in CONTAINER.outPlugins) where Dragonfly looks for plugins, runs the
 * checks against the host <CONTAINER.outBin>/<host> and returns what loaded, or throws ValidationError.
 */
export async function validateIn(
  ctx: SessionContext,
  container: BuildContainer,
  host: string,
  expected: ExpectedPlugin[],
  describeHost: string,
  checks: ValidationChecks,
): Promise<ValidationFacts> {
  const files = expected.map((p) => p.file);
  const cross = targetPlatform(ctx.target).cross;
  if (cross !== undefined) ctx.log.info(`running the ${ctx.target} binaries under ${cross.qemu} -L ${cross.sysroot}`);
  const listed = checks.pluginCommand
    ? await runPluginCommand(ctx, container, host, expected, describeHost)
    : { stdout: '', stderr: '', plugins: [] as LoadedPlugin[] };
  if (!checks.pluginCommand) await mustSucceed(container, ['place', ...files]);

  const loader: NonNullable<ValidationFacts['loader']> = [];
  if (checks.loader !== undefined) {
    // One process per plugin, each only reading the placed plugins: all at once; the first refusal
    // in the plugins' order is the one reported.
    const { describe } = checks.loader;
    const reports = await Promise.allSettled(expected.map((plugin) => runLoader(ctx, container, plugin, describe)));
    for (const [i, plugin] of expected.entries()) {
      const outcome = reports[i]!;
      if (outcome.status === 'rejected') throw outcome.reason;
      loader.push({ file: plugin.file, interface: outcome.value.interface, ok: true });
      ctx.log.info(`${describe} loads ${plugin.file}: it implements ${outcome.value.interface}`);
    }
  } else {
    ctx.log.warn(`the loader check did not run: no d7y-loadcheck beside ${describeHost}; only the \`plugin\` command validated the plugins`);
  }
  return { ...listed, loader: checks.loader === undefined ? undefined : loader };
}

/**
 * builder/build.sh bounds each load by D7Y_LOAD_TIMEOUT, in whole seconds, and runs the host and the
 * loader check behind D7Y_RUN_PREFIX: qemu-user for a target of another architecture.
 */
function loadEnv(ctx: SessionContext): Record<string, string> {
  return { D7Y_LOAD_TIMEOUT: String(Math.ceil(ctx.loadTimeoutMs / 1000)), ...runPrefixEnv(ctx.target) };
}

/**
 * timeout(1) exits 124 when it stopped the command, and 137 when it had to kill it: the same as a
 * kill from elsewhere (the memory limit), so 137 counts only once the time was up.
 */
function assertFinished(ctx: SessionContext, exitCode: number, started: number, what: string, output: string): void {
  const timedOut = exitCode === 124 || (exitCode === 137 && Date.now() - started >= ctx.loadTimeoutMs);
  if (!timedOut) return;
  const seconds = Math.ceil(ctx.loadTimeoutMs / 1000);
  throw new ValidationError(`${what} did not finish loading the plugins within ${seconds} s: a plugin's init functions or DragonflyPluginInit do not return`, {
    hint: 'make init and DragonflyPluginInit return (start long work in a goroutine); D7Y_LOAD_TIMEOUT raises the limit',
    detail: output,
  });
}

async function mustSucceed(container: BuildContainer, args: string[]): Promise<void> {
  const result = await container.exec([CONTAINER.tools.buildSh, ...args]);
  if (result.exitCode !== 0) throw new ValidationError(`cannot place the plugins in the container: ${result.stderr.trim()}`);
}

async function runPluginCommand(
  ctx: SessionContext,
  container: BuildContainer,
  host: string,
  expected: ExpectedPlugin[],
  describeHost: string,
): Promise<Omit<ValidationFacts, 'loader'>> {
  const started = Date.now();
  const result = await container.exec([CONTAINER.tools.buildSh, 'validate', host, ...expected.map((p) => p.file)], {
    env: loadEnv(ctx),
    onLine: (_stream, line) => ctx.log.output('plugin', line),
  });
  const hostOutput = [result.stdout.trim(), result.stderr.trim()].filter((t) => t !== '').join('\n');
  assertFinished(ctx, result.exitCode, started, `\`${host} plugin\``, hostOutput);
  if (result.exitCode !== 0) {
    // A crash of the host itself: a plugin's init can take the process down with it.
    throw new ValidationError(`\`${host} plugin\` exited with ${result.exitCode} while loading the plugins`, {
      hint: hintFor(hostOutput, expected[0]!),
      detail: hostOutput,
    });
  }

  const listing = parsePluginOutput(result.stdout, result.stderr);
  const verdict = checkListing(listing, expected);
  if (!verdict.ok) {
    const first = verdict.problems[0]!;
    const plugin = expected.find((p) => p.file === first.file) ?? expected[0]!;
    throw new ValidationError(`${describeHost} does not load ${first.file}: ${first.reason}`, {
      hint: hintFor(first.reason, plugin),
      detail: hostOutput,
    });
  }
  for (const p of verdict.plugins) ctx.log.info(`${host} plugin: ${p.type} plugin ${p.name} loads, attribute ${JSON.stringify(p.attribute)}`);
  return { stdout: result.stdout, stderr: result.stderr, plugins: verdict.plugins };
}

/** One plugin through the loader; its report when it loads, else ValidationError naming what it lacks. */
async function runLoader(ctx: SessionContext, container: BuildContainer, plugin: ExpectedPlugin, describe: string): Promise<LoaderReport> {
  const started = Date.now();
  const result = await container.exec([CONTAINER.tools.buildSh, 'loadcheck', plugin.type, plugin.name], {
    env: loadEnv(ctx),
    onLine: (_stream, line) => ctx.log.output('loadcheck', line),
  });
  assertFinished(
    ctx,
    result.exitCode,
    started,
    `${describe} on ${plugin.file}`,
    [result.stdout.trim(), result.stderr.trim()].filter((t) => t !== '').join('\n'),
  );
  const report = result.exitCode === 0 ? parseLoaderReport(result.stdout) : undefined;
  if (report === undefined) {
    const output = [result.stdout.trim(), result.stderr.trim()].filter((t) => t !== '').join('\n');
    throw new ValidationError(`${describe} crashed (exit ${result.exitCode}) while loading ${plugin.file}`, {
      hint: hintFor(output, plugin),
      detail: output,
    });
  }
  if (!report.ok) {
    const methods = describeMethods(loaderProblems(report));
    throw new ValidationError(`${describe} refuses ${plugin.file}: ${summarize(report)}`, {
      hint:
        methods.length > 0
          ? implementHint(report.interface, plugin.type)
          : hintFor(report.error ?? '', plugin) + nameKeyHint(plugin.type, plugin.name, report.error ?? ''),
      detail: [`loader error: ${report.error ?? ''}`, ...methods].join('\n'),
    });
  }
  return report;
}
