/**
 * validate: the plugins installed where Dragonfly looks for them in the container, then the new
 * host's own `plugin` command. It exits 0 even when a plugin fails, so its output is parsed.
 */
import { ValidationError } from '../errors';
import { checkListing, parsePluginOutput } from '../validate/plugin-output';
import { hintFor } from '../validate/diagnose';
import { need, type BuildContext } from './context';

const BUILD_SH = '/usr/local/lib/d7y-build/build.sh';

export async function validatePlugins(ctx: BuildContext): Promise<void> {
  const container = need(ctx.state.container, 'the container');
  const source = need(ctx.state.source, 'the source');
  const files = ctx.spec.plugins.map((p) => p.file);
  const result = await container.exec([BUILD_SH, 'validate', source.host, ...files], {
    onLine: (_stream, line) => ctx.log.output('plugin', line),
  });
  const hostOutput = [result.stdout.trim(), result.stderr.trim()].filter((t) => t !== '').join('\n');
  if (result.exitCode !== 0) {
    // A crash of the host itself: a plugin's init can take the process down with it.
    throw new ValidationError(`\`${source.host} plugin\` exited with ${result.exitCode} while loading the plugins`, {
      hint: hintFor(hostOutput, { type: ctx.spec.type, name: ctx.spec.plugins[0]!.name }),
      detail: hostOutput,
    });
  }

  const listing = parsePluginOutput(result.stdout, result.stderr);
  const verdict = checkListing(listing, ctx.spec.plugins.map((p) => ({ type: ctx.spec.type, name: p.name, file: p.file })));
  if (!verdict.ok) {
    const first = verdict.problems[0]!;
    const plugin = ctx.spec.plugins.find((p) => p.file === first.file) ?? ctx.spec.plugins[0]!;
    throw new ValidationError(`${source.host} built from ${source.shortSha} does not load ${first.file}: ${first.reason}`, {
      hint: hintFor(first.reason, { type: ctx.spec.type, name: plugin.name }),
      detail: hostOutput,
    });
  }
  for (const p of verdict.plugins) ctx.log.info(`${source.host} plugin: ${p.type} plugin ${p.name} loads, attribute ${JSON.stringify(p.attribute)}`);
  ctx.state.validation = { stdout: result.stdout, stderr: result.stderr, plugins: verdict.plugins };
}
