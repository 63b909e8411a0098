/** validate: the built plugins, through the new host's `plugin` command and the type's LoadPlugin. */
import { need } from '../../session/session';
import { validateIn } from '../../session/validate';
import type { BuildContext } from './state';

export async function validatePlugins(ctx: BuildContext): Promise<void> {
  const container = need(ctx.state.container, 'the container');
  const source = need(ctx.state.source, 'the source');
  const expected = ctx.spec.plugins.map((p) => ({ type: ctx.spec.type, name: p.name, file: p.file }));
  ctx.state.validation = await validateIn(ctx, container, source.host, expected, `${source.host} built from ${source.shortSha}`, {
    pluginCommand: source.pluginCommand,
    loader: { describe: `${source.loader.importPath}.LoadPlugin at ${ctx.spec.ref} (${source.shortSha})` },
  });
}
