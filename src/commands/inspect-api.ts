/**
 * `d7y-build inspect-api`: the interface a plugin type must implement at a Dragonfly commit, read
 * from the commit's sources by d7y-apicheck in a builder container. The build's own steps resolve
 * the commit and prepare the images; only the loader's package goes into the container.
 */
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { packDirectory } from '../artifacts/archive';
import { openContainer } from '../session/container';
import { CONTAINER, inside } from '../session/layout';
import { buildTimestamp } from '../toolchain/goflags';
import { need, runSession, type ImageFacts, type RunOptions, type SessionContext, type SourceFacts } from '../session/session';
import { prepareImage } from '../session/image';
import type { Step, StepTiming } from '../session/runner';
import { resolveSource } from '../session/source';
import type { ApiSpec } from '../config';
import type { BuildContainer } from '../docker/engine';
import { UnsupportedHostError } from '../errors';
import { makeTempDir } from '../files';
import { parseIfaceReport, pluginApi, type PluginApi } from '../scaffold/render';

export interface ApiContext extends SessionContext {
  spec: ApiSpec;
  state: {
    source?: SourceFacts;
    image?: ImageFacts;
    container?: BuildContainer;
    api?: PluginApi;
  };
}

async function startContainer(ctx: ApiContext): Promise<void> {
  ctx.state.container = (await openContainer(ctx, need(ctx.state.image, 'the builder image'))).container;
}

/** The loader's package alone into the container, where d7y-apicheck reads its interface. */
async function readInterface(ctx: ApiContext): Promise<void> {
  const container = need(ctx.state.container, 'the container');
  const source = need(ctx.state.source, 'the source');
  const { loader } = source;
  const scratch = await makeTempDir('api');
  ctx.cleanups.push(() => rm(scratch, { recursive: true, force: true }));
  await source.mirror.exportTree(source.commit.sha, scratch);
  const dir = path.posix.join(CONTAINER.dragonfly, loader.dir);
  await container.putArchive(packDirectory(path.join(scratch, loader.dir), { prefix: inside(CONTAINER.work, dir) }), CONTAINER.work);

  const result = await container.exec([CONTAINER.tools.apicheck, 'iface', dir, loader.iface]);
  const report = result.exitCode === 0 ? parseIfaceReport(result.stdout) : undefined;
  if (report === undefined) {
    throw new UnsupportedHostError(
      `cannot read ${loader.importPath}.${loader.iface} at ${ctx.spec.ref} (${source.shortSha}): ${(result.stderr || result.stdout).trim()}`,
      {
        hint: `d7y-apicheck reads interfaces declared in ${loader.dir} itself; pick a Dragonfly commit whose ${loader.iface} is declared there`,
      },
    );
  }
  ctx.state.api = pluginApi(
    {
      type: ctx.spec.type,
      ref: ctx.spec.ref,
      repo: ctx.spec.repo,
      commit: source.commit.sha,
      commitTime: buildTimestamp(source.commitTime),
      goModGo: source.goMod.go,
      loader,
    },
    report,
  );
  ctx.log.info(`${loader.importPath}.${loader.iface} at ${source.shortSha}: ${report.methods.length} method(s)`);
}

/** The steps that read the API; `init` runs them between its own. */
export const API_STEPS: ReadonlyArray<Step<ApiContext>> = [
  { name: 'resolve-source', run: resolveSource },
  { name: 'prepare-image', run: prepareImage },
  { name: 'start-container', run: startContainer },
  { name: 'read-interface', run: readInterface },
];

export interface InspectApiResult extends PluginApi {
  steps: StepTiming[];
}

export async function inspectApi(spec: ApiSpec, options: RunOptions = {}): Promise<InspectApiResult> {
  const { ctx, steps } = await runSession(API_STEPS, spec, options);
  return { ...need(ctx.state.api, 'the API'), steps };
}
