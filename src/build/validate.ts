/**
 * validate: the plugins installed where Dragonfly looks for them in the container, then the new
 * host's own `plugin` command. It exits 0 even when a plugin fails, so its output is parsed.
 */
import { ValidationError } from '../errors';
import type { BuildContainer } from '../docker/engine';
import { checkListing, parsePluginOutput, type ExpectedPlugin } from '../validate/plugin-output';
import { hintFor } from '../validate/diagnose';
import { BUILD_SH, need, type BuildContext, type SessionContext, type ValidationFacts } from './context';

/**
 * Installs `expected` (already in /work/out/plugins) where Dragonfly looks for plugins, runs
 * `<host> plugin` (/work/out/bin/<host>) and returns what it loaded, or throws ValidationError.
 */
export async function validateIn(
  ctx: SessionContext,
  container: BuildContainer,
  host: string,
  expected: ExpectedPlugin[],
  describeHost: string,
): Promise<ValidationFacts> {
  const result = await container.exec([BUILD_SH, 'validate', host, ...expected.map((p) => p.file)], {
    onLine: (_stream, line) => ctx.log.output('plugin', line),
  });
  const hostOutput = [result.stdout.trim(), result.stderr.trim()].filter((t) => t !== '').join('\n');
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

export async function validatePlugins(ctx: BuildContext): Promise<void> {
  const container = need(ctx.state.container, 'the container');
  const source = need(ctx.state.source, 'the source');
  const expected = ctx.spec.plugins.map((p) => ({ type: ctx.spec.type, name: p.name, file: p.file }));
  ctx.state.validation = await validateIn(ctx, container, source.host, expected, `${source.host} built from ${source.shortSha}`);
}
