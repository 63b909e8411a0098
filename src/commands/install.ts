/**
 * `d7y-build install --host <binary> <plugin.so...>`: prebuilt plugins go into --plugins-dir only
 * after the given host, run in a container, loads them. For release jobs that build once and install
 * against the host a fleet really runs: a plugin built for another Dragonfly commit is refused here,
 * not by plugin.Open in production.
 */
import { copyFile, mkdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { packDirectory } from '../artifacts/archive';
import { assertWritableDir, placeAllLocked, statesOf, type FileState } from '../artifacts/place';
import type { Manifest } from '../artifacts/manifest';
import { ElfFile, UnreadableFileError } from '../elf/elf';
import { DEFAULT_TARGET, targetOfElfArch, type TargetName } from '../platform';
import { openContainer } from '../session/container';
import { CONTAINER, inside } from '../session/layout';
import { need, runSession, type ImageFacts, type RunOptions, type SessionContext, type ToolchainFacts, type ValidationFacts } from '../session/session';
import { ensureImages } from '../session/image';
import { registryAuth } from '../docker/registry-auth';
import { checkCacheDir } from '../session/cache';
import type { Step, StepTiming } from '../session/runner';
import { validateIn } from '../session/validate';
import type { InstallSpec } from '../config';
import type { BuildContainer } from '../docker/engine';
import { UsageError } from '../errors';
import { HOST_LIST } from '../plugin';
import { LOADCHECK_COMMAND } from '../validate/loader';
import { readRegularFile } from '../files';
import { makeTempDir } from '../files';
import { VERSION } from '../version';
import type { CommandIo } from './io';
import { hintOption } from '../option-names';

interface InstallContext extends SessionContext {
  spec: InstallSpec;
  state: {
    goImage?: string;
    image?: ImageFacts;
    container?: BuildContainer;
    toolchain?: ToolchainFacts;
    validation?: ValidationFacts;
    /** Whether the host has the loader check a build leaves beside it. */
    loadcheck?: boolean;
    pluginsBefore?: Map<string, FileState>;
    installed?: string[];
  };
}

async function isFile(p: string): Promise<boolean> {
  return stat(p).then(
    (s) => s.isFile(),
    () => false,
  );
}

/** The Go image recorded by the d7y-build that produced the host: <out>/manifest.json beside <out>/bin/. */
async function goImageFromManifest(host: string): Promise<string | undefined> {
  const manifest = path.join(path.dirname(path.dirname(host)), 'manifest.json');
  try {
    const text = await readRegularFile(manifest, { what: 'the manifest', hint: `pass ${hintOption('goImage')}`, maxBytes: 16 * 1024 * 1024, optional: true });
    return text === undefined ? undefined : (JSON.parse(text) as Manifest).go.image;
  } catch {
    // Not a d7y-build manifest: the caller asks for --go-image.
    return undefined;
  }
}

/** The target platform of an ELF file; undefined when it is none the table has (the `plugin` command then says why). */
async function hostTarget(file: string): Promise<TargetName | undefined> {
  try {
    const elf = await ElfFile.open(file);
    await elf.close();
    return targetOfElfArch(elf.header.arch);
  } catch (err) {
    if (err instanceof UnreadableFileError) return undefined;
    throw err;
  }
}

async function checkInputs(ctx: InstallContext): Promise<void> {
  const { spec } = ctx;
  if (!(await isFile(spec.host))) {
    throw new UsageError(`host binary ${spec.host} does not exist`, { hint: `pass ${hintOption('host', `<the ${HOST_LIST} binary>`)}` });
  }
  for (const plugin of spec.plugins) {
    if (!(await isFile(plugin.path))) throw new UsageError(`plugin ${plugin.path} does not exist`, { hint: 'pass the .so files to install' });
  }
  ctx.state.goImage = spec.goImage ?? (await goImageFromManifest(spec.host));
  if (ctx.state.goImage === undefined) {
    throw new UsageError(`no Go image to run ${path.basename(spec.host)} in`, {
      hint: `pass ${hintOption('goImage')} with the image the host was built with (d7y-build records it in manifest.json)`,
    });
  }
  // The host's platform, by its ELF header: an arm64 host runs under qemu-user, as in a --platform build.
  ctx.target = (await hostTarget(spec.host)) ?? ctx.target;
  if (ctx.target !== DEFAULT_TARGET) ctx.log.info(`${path.basename(spec.host)} is a ${ctx.target} binary`);
  await assertWritableDir(spec.pluginsDir, '--plugins-dir');
  await checkCacheDir(spec.cacheDir, spec.cacheDirOrigin);
  const targets = spec.plugins.map((p) => path.join(spec.pluginsDir, p.file));
  ctx.state.pluginsBefore = await statesOf(targets);
  const engine = await ctx.engine.ping(ctx.signal);
  ctx.log.info(`Docker ${engine.serverVersion} (${engine.os}/${engine.arch}) at ${engine.address}`);
}

async function prepareImage(ctx: InstallContext): Promise<void> {
  const reason = ctx.spec.goImage !== undefined ? '--go-image' : "the host's manifest.json";
  ctx.state.image = await ensureImages(ctx, { image: need(ctx.state.goImage, 'the Go image'), reason });
}

async function startContainer(ctx: InstallContext): Promise<void> {
  const { container, toolchain } = await openContainer(ctx, need(ctx.state.image, 'the image'));
  ctx.state.container = container;
  ctx.state.toolchain = toolchain;
}

/** The host and the plugins into CONTAINER.out, laid out as a build leaves them. */
async function uploadArtifacts(ctx: InstallContext): Promise<void> {
  const container = need(ctx.state.container, 'the container');
  const scratch = await makeTempDir('install');
  ctx.cleanups.push(() => rm(scratch, { recursive: true, force: true }));
  // scratch stands for CONTAINER.out: each file where the build would have left it.
  const at = (p: string): string => path.join(scratch, inside(CONTAINER.out, p));
  await mkdir(at(CONTAINER.outBin), { recursive: true });
  await mkdir(at(CONTAINER.outPlugins), { recursive: true });
  await copyFile(ctx.spec.host, at(path.posix.join(CONTAINER.outBin, path.basename(ctx.spec.host))));
  for (const p of ctx.spec.plugins) await copyFile(p.path, at(path.posix.join(CONTAINER.outPlugins, p.file)));
  // The loader check a build leaves beside its host (<out>/bin/d7y-loadcheck), built with the host's flags.
  const loadcheck = path.join(path.dirname(ctx.spec.host), LOADCHECK_COMMAND);
  ctx.state.loadcheck = await isFile(loadcheck);
  if (ctx.state.loadcheck) await copyFile(loadcheck, at(CONTAINER.loadcheck));
  await container.putArchive(packDirectory(scratch, { prefix: inside(CONTAINER.work, CONTAINER.out) }), CONTAINER.work);
}

async function validate(ctx: InstallContext): Promise<void> {
  const host = path.basename(ctx.spec.host);
  const loadcheck = path.join(path.dirname(ctx.spec.host), LOADCHECK_COMMAND);
  ctx.state.validation = await validateIn(ctx, need(ctx.state.container, 'the container'), host, ctx.spec.plugins, ctx.spec.host, {
    pluginCommand: true,
    loader: need(ctx.state.loadcheck, 'the uploaded artifacts') ? { describe: `Dragonfly's LoadPlugin (${loadcheck})` } : undefined,
  });
}

async function install(ctx: InstallContext): Promise<void> {
  const installed = ctx.spec.plugins.map((p) => path.join(ctx.spec.pluginsDir, p.file));
  await placeAllLocked(
    ctx.spec.cacheDir,
    ctx.spec.plugins.map((p, i) => ({ from: p.path, to: installed[i]!, mode: 0o755 })),
    `--plugins-dir ${ctx.spec.pluginsDir}`,
    {
      unchangedSince: need(ctx.state.pluginsBefore, 'the plugins directory as it was'),
      signal: ctx.signal,
      onWait: (dir) => ctx.log.info(`waiting for another d7y-build to finish installing into ${dir}`),
    },
  );
  for (const file of installed) ctx.log.info(`installed ${file}`, { type: 'installed', path: file });
  ctx.state.installed = installed;
}

export const INSTALL_STEPS: ReadonlyArray<Step<InstallContext>> = [
  { name: 'check-inputs', run: checkInputs },
  { name: 'prepare-image', run: prepareImage },
  { name: 'start-container', run: startContainer },
  { name: 'upload-artifacts', run: uploadArtifacts },
  { name: 'validate', run: validate },
  { name: 'install', run: install },
];

export interface InstallResult {
  runId: string;
  host: string;
  goImage: string;
  installed: string[];
  validation: ValidationFacts;
  steps: StepTiming[];
}

/** The install as a command: its headline, then the run. */
export async function runInstall(spec: InstallSpec, { log, signal, env, engine, redact }: CommandIo): Promise<InstallResult> {
  log.headline(`d7y-build ${VERSION}: install ${spec.plugins.map((p) => p.file).join(', ')} for ${spec.host}`);
  return installPrebuilt(spec, { log, signal, engine, registryAuth: await registryAuth(undefined, env, redact) });
}

export async function installPrebuilt(spec: InstallSpec, options: RunOptions = {}): Promise<InstallResult> {
  const { runId, ctx, steps } = await runSession(INSTALL_STEPS, spec, options);
  return {
    runId,
    host: spec.host,
    goImage: need(ctx.state.goImage, 'the Go image'),
    installed: need(ctx.state.installed, 'the installed files'),
    validation: need(ctx.state.validation, 'the validation'),
    steps,
  };
}
