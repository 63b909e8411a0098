/** resolve-source: the ref to a full SHA through the mirror cache, and what go.mod says at it. */
import { SourceError, UnsupportedHostError } from '../errors';
import { DragonflyMirror, type ResolvedCommit } from '../git/source';
import { hostFor, hostGoneHint, loaderRule, type PluginType } from '../plugin';
import { parseLoaderParams, type Loader } from '../validate/loader';
import type { SourceContext } from './session';
import { parseGoMod, type GoMod } from '../toolchain/gomod';
import { hintOption } from '../option-names';

export const DRAGONFLY_MODULE = 'd7y.io/dragonfly/v2';

/** Refs reach git as arguments: keep them to what branch, tag and SHA names use. */
const REF = /^[A-Za-z0-9][A-Za-z0-9._/+-]*$/;

/** The ref's commit through the mirror, and go.mod at it, which must declare Dragonfly's module. */
export async function resolveDragonfly(mirror: DragonflyMirror, ref: string): Promise<{ commit: ResolvedCommit; shortSha: string; goMod: GoMod }> {
  if (!REF.test(ref) || ref.includes('..')) {
    throw new SourceError(`"${ref}" is not a branch, tag or commit name`, {
      hint: `pass ${hintOption('commit')} with a branch, a tag or a (short) SHA, e.g. ${hintOption('commit', 'v2.1.0')}`,
    });
  }
  const commit = await mirror.resolve(ref);
  const shortSha = commit.sha.slice(0, 7);
  const goModText = await mirror.readFile(commit.sha, 'go.mod');
  const goMod = parseGoMod(goModText ?? '');
  if (goMod.module !== DRAGONFLY_MODULE) {
    throw new SourceError(
      `${mirror.repo} at ${shortSha} is not Dragonfly: ${goModText === undefined ? 'it has no go.mod' : `its go.mod declares ${goMod.module ?? 'no module'}`}`,
      { hint: `point ${hintOption('repo')} at a clone of Dragonfly (module ${DRAGONFLY_MODULE})` },
    );
  }
  return { commit, shortSha, goMod };
}

export async function resolveSource(ctx: SourceContext): Promise<void> {
  const { spec } = ctx;
  const mirror = new DragonflyMirror(spec.repo, { cacheDir: spec.cacheDir, signal: ctx.signal, warn: (m) => ctx.log.warn(m) });
  const { commit, shortSha, goMod } = await resolveDragonfly(mirror, spec.ref);
  ctx.log.info(`${spec.ref} is ${commit.sha}${commit.fetched ? '' : ' (from the mirror cache)'}`);

  const host = hostFor(spec.type);
  if (!(await mirror.hasDirectory(commit.sha, `cmd/${host}`))) {
    throw new UnsupportedHostError(`Dragonfly at ${spec.ref} (${shortSha}) has no cmd/${host}, so it can't load ${spec.type} plugins`, {
      hint: hostGoneHint(spec.type) ?? `pick a Dragonfly commit that has cmd/${host}`,
    });
  }

  const loader = await findLoader(mirror, commit.sha, spec.type);
  if (loader === undefined) {
    const rule = loaderRule(spec.type);
    throw new UnsupportedHostError(
      `Dragonfly at ${spec.ref} (${shortSha}) has no LoadPlugin for ${spec.type} plugins (looked in ${rule.dirs.map((d) => `${d}/plugin.go`).join(', ')}), so its ${host} never loads one`,
      { hint: `pick a Dragonfly commit whose ${host} loads ${spec.type} plugins` },
    );
  }
  const pluginCommand = (await mirror.readFile(commit.sha, 'cmd/dependency/plugin_cmd.go')) !== undefined;
  if (!pluginCommand) ctx.log.info(`${host} at ${shortSha} has no \`plugin\` command: the loader check alone validates the plugins`);

  const commitTime = await mirror.commitTime(commit.sha);
  ctx.state.source = { mirror, commit, shortSha, commitTime, goMod, host, loader, pluginCommand };
}

/** The loader of a plugin type at a commit: the first of the type's loader packages whose plugin.go has a LoadPlugin. */
async function findLoader(mirror: DragonflyMirror, sha: string, type: PluginType): Promise<Loader | undefined> {
  const rule = loaderRule(type);
  for (const dir of rule.dirs) {
    const source = await mirror.readFile(sha, `${dir}/plugin.go`);
    const params = source === undefined ? undefined : parseLoaderParams(source);
    if (params !== undefined) return { dir, importPath: `${DRAGONFLY_MODULE}/${dir}`, iface: rule.iface, params };
  }
  return undefined;
}
