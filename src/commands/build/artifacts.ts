/**
 * collect-artifacts and install: files leave the container as a tar stream checked entry by entry,
 * then go into --out and --plugins-dir under temporary names, renamed into place only when complete.
 * Nothing reaches either directory unless validation passed.
 */
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { extractExpected, UnexpectedEntryError, type ExtractedFile } from '../../artifacts/archive';
import { HostStore } from '../../artifacts/host-store';
import { placeAllLocked } from '../../artifacts/place';
import { serializeManifest, type Manifest } from '../../artifacts/manifest';
import { PROVENANCE_FILE, serializeProvenance } from '../../artifacts/provenance';
import { SBOM_FILE, serializeSbom, type SbomBinary } from '../../artifacts/sbom';
import { buildTimeFor } from '../../config';
import { D7yError, InternalError } from '../../errors';
import { makeTempDir } from '../../files';
import type { BuildContainer } from '../../docker/engine';
import { LABEL } from '../../docker/labels';
import { maskSecrets, redactUrl } from '../../secrets';
import { verifyFiles } from '../../verify';
import { NotGoBinaryError, readGoBinary } from '../../verify/binary';
import { ElfFile, UnreadableFileError } from '../../elf/elf';
import { targetPlatform, type TargetName } from '../../platform';
import { VERSION } from '../../version';
import { CONTAINER, inside } from '../../session/layout';
import { need } from '../../session/session';
import type { BuildContext } from './state';
import { buildTimestamp, sharedGoArgs } from '../../toolchain/goflags';
import { LOADCHECK_COMMAND } from '../../validate/loader';

export async function collectArtifacts(ctx: BuildContext): Promise<void> {
  const staging = await makeTempDir('out');
  ctx.cleanups.push(() => rm(staging, { recursive: true, force: true }));
  await collectInto(ctx, staging);
}

/** collect-artifacts into a staging directory the caller made, and removes. */
export async function collectInto(ctx: BuildContext, staging: string): Promise<void> {
  const container = need(ctx.state.container, 'the container');
  const source = need(ctx.state.source, 'the source');

  // Named as getArchive(CONTAINER.out) names its entries: out/bin/…, out/plugins/….
  const entry = (p: string): string => inside(path.posix.dirname(CONTAINER.out), p);
  const commands = [
    { name: entry(path.posix.join(CONTAINER.outBin, source.host)), command: source.host },
    { name: entry(CONTAINER.loadcheck), command: LOADCHECK_COMMAND },
  ];
  const pluginEntries = ctx.spec.plugins.map((p) => entry(path.posix.join(CONTAINER.outPlugins, p.file)));
  const store = ctx.spec.noCache ? undefined : HostStore.in(ctx.spec.cacheDir);
  const held = store === undefined ? undefined : await heldCommands(ctx, store, staging, commands);
  const files =
    held !== undefined
      ? [...held, ...(await fetchExpected(container, CONTAINER.outPlugins, staging, new Set(pluginEntries)))]
      : await fetchExpected(container, CONTAINER.out, staging, new Set([...commands.map((c) => c.name), ...pluginEntries]));
  const file = (name: string): ExtractedFile => {
    const found = files.find((f) => f.name === name);
    if (found === undefined) throw new InternalError(`the build container did not return ${name}`);
    return found;
  };
  const [host, loadcheck] = commands.map((c) => file(c.name)) as [ExtractedFile, ExtractedFile];
  ctx.state.staged = { host, loadcheck, plugins: pluginEntries.map(file) };
  await checkTargetArch(ctx.spec.target, [host, loadcheck, ...ctx.state.staged.plugins]);
  if (store !== undefined && held === undefined) await keepCommands(ctx, store, [host, loadcheck]);
  ctx.state.hostSums = new Map(commands.map((c) => [c.command, file(c.name).sha256]));
}

/**
 * The files of dir in the container that the build expects (named as in getArchive(CONTAINER.out),
 * the set `expected`), unpacked into staging under those names; anything else in the stream is refused.
 */
async function fetchExpected(container: BuildContainer, dir: string, staging: string, expected: Set<string>): Promise<ExtractedFile[]> {
  // getArchive(dir) names its entries from dir's own name on; below out, they get out's prefix back.
  const prefix = path.posix.relative(path.posix.dirname(CONTAINER.out), path.posix.dirname(dir));
  const named = (name: string): string => (prefix === '' ? name : `${prefix}/${name}`);
  try {
    const files = await extractExpected(await container.getArchive(dir), path.join(staging, prefix), (name) => expected.has(named(name)));
    return files.map((f) => ({ ...f, name: named(f.name) }));
  } catch (err) {
    if (err instanceof UnexpectedEntryError) throw new InternalError(`the build container returned a bad archive: ${err.message}`, { cause: err });
    throw err;
  }
}

/**
 * The host and its loader check from this machine's copies (host-store.ts), when the container
 * reported their sums and a copy of each is here: they then stay in the container. Undefined when
 * one is not here, or a copy did not match its sum (it is removed): they come out of the container.
 */
async function heldCommands(
  ctx: BuildContext,
  store: HostStore,
  staging: string,
  commands: Array<{ name: string; command: string }>,
): Promise<ExtractedFile[] | undefined> {
  const sums = ctx.state.hostSums;
  if (sums === undefined) return undefined;
  const files: ExtractedFile[] = [];
  for (const { name, command } of commands) {
    const sha256 = sums.get(command);
    if (sha256 === undefined) return undefined;
    const dest = path.join(staging, ...name.split('/'));
    // The store is a convenience: one that can't be read (a file where its directory goes) costs a transfer, not the build.
    const taken = await store.take(sha256, dest, 0o755).catch((err: NodeJS.ErrnoException) => {
      ctx.log.warn(`cannot read the copies of hosts in ${store.dir} (${err.code ?? err.message}): taking ${command} from the container`);
      return undefined;
    });
    if (taken === undefined) return undefined;
    if (!taken.found) {
      if (taken.corrupt) ctx.log.warn(`the copy of ${command} in ${store.dir} did not match its sha256: removed it; taking ${command} from the container`);
      return undefined;
    }
    files.push({ name, path: dest, sha256, size: taken.size });
  }
  ctx.log.info(`${commands[0]!.command} from ${store.dir}: the container's has the same sha256, and stays there`);
  return files;
}

/** Keeps copies of the commands for the next build. A failure costs that build a transfer: a warning. */
async function keepCommands(ctx: BuildContext, store: HostStore, files: ExtractedFile[]): Promise<void> {
  try {
    for (const f of files) await store.keep(f.path, f.sha256);
  } catch (err) {
    ctx.log.warn(`could not keep a copy of the host in ${store.dir}: ${(err as Error).message}`);
  }
}

/**
 * Cross-compiled binaries are for the target, by their ELF headers, before the manifest records
 * the target as their platform: what is recorded is read from the files, not only what was asked
 * for. (A native target's binaries ran natively in validation: they are the container's.)
 */
async function checkTargetArch(target: TargetName, files: ExtractedFile[]): Promise<void> {
  if (targetPlatform(target).cross === undefined) return;
  const expected = targetPlatform(target).elfArch;
  for (const f of files) {
    const elf = await ElfFile.open(f.path);
    const arch = elf.header.arch;
    await elf.close();
    if (arch !== expected) throw new InternalError(`the build container returned ${f.name} for ${arch}, not for ${target}`);
  }
}

/**
 * The static check (`d7y-build verify`) on the artifacts, beside the host's own `plugin` check that
 * already passed. Its verdict is recorded; a disagreement is reported, the real load being the truth.
 */
export async function verifyArtifacts(ctx: BuildContext): Promise<void> {
  const source = need(ctx.state.source, 'the source');
  const staged = need(ctx.state.staged, 'the artifacts');
  try {
    // Files are named as in --out (bin/dfget, plugins/<file>), in the report and in any error, never where they were staged.
    const labelOf = (file: string) => (file === staged.host.path ? `bin/${source.host}` : `plugins/${path.basename(file)}`);
    const report = await verifyFiles(
      staged.host.path,
      staged.plugins.map((f) => f.path),
      labelOf,
    );
    ctx.state.verification = report;
    if (report.loads) ctx.log.info(`verify: every plugin loads into ${source.host}, by the package hashes`);
    else ctx.log.warn(`verify says ${report.plugins.find((p) => !p.loads)?.file} will not load, but ${source.host} loaded it: please report this`);
  } catch (err) {
    const message = err instanceof D7yError ? err.message : String(err);
    ctx.state.verification = { error: message };
    ctx.log.warn(`verify could not tell: ${message}`);
  }
}

function manifestOf(ctx: BuildContext): Manifest {
  const { spec, state } = ctx;
  const source = need(state.source, 'the source');
  const image = need(state.image, 'the image');
  const toolchain = need(state.toolchain, 'the toolchain');
  const validation = need(state.validation, 'the validation');
  const staged = need(state.staged, 'the artifacts');
  const buildTime = buildTimeFor(spec, source);
  return {
    schemaVersion: 1,
    tool: { name: 'd7y-build', version: VERSION },
    platform: spec.target,
    dragonfly: {
      repo: redactUrl(spec.repo),
      ref: spec.ref,
      commit: source.commit.sha,
      shortCommit: source.shortSha,
      goModGo: source.goMod.go,
      goModToolchain: source.goMod.toolchain,
    },
    go: { version: toolchain.goVersion, platform: toolchain.platform, image: image.goImage, imageReason: image.goImageReason, imageId: image.goImageId },
    builderImage: { tag: image.builderImage, id: image.builderImageId },
    flags: { cgoEnabled: true, ...spec.toolchain, goArgs: sharedGoArgs(spec.toolchain) },
    buildCommit: need(state.buildCommit, 'the stamped build commit'),
    buildTime: buildTime.time,
    buildTimeReason: buildTime.reason,
    artifacts: [
      { kind: 'host', name: source.host, path: `bin/${source.host}`, sha256: staged.host.sha256, size: staged.host.size },
      { kind: 'loader-check', name: LOADCHECK_COMMAND, path: `bin/${LOADCHECK_COMMAND}`, sha256: staged.loadcheck.sha256, size: staged.loadcheck.size },
      ...spec.plugins.map((p, i) => {
        const f = staged.plugins[i]!;
        return { kind: 'plugin' as const, name: p.name, type: spec.type, path: `plugins/${p.file}`, sha256: f.sha256, size: f.size };
      }),
    ],
    validation: { command: source.pluginCommand ? `${source.host} plugin` : `${LOADCHECK_COMMAND} (${source.host} has no plugin command)`, ...validation },
    verify: need(state.verification, 'the verification'),
  };
}

/**
 * A binary for the SBOM, with the modules its build information records, read as `d7y-build
 * inspect` reads them. A file that records none is listed without modules, saying why.
 */
async function sbomBinary(ctx: BuildContext, binary: Omit<SbomBinary, 'buildInfo' | 'buildInfoMissing'>, file: string): Promise<SbomBinary> {
  try {
    const read = await readGoBinary(file);
    if (!read.buildInfoRecorded) return { ...binary, buildInfoMissing: `${read.buildInfo.goVersion} records no build information in plugins` };
    const { goVersion, main, deps } = read.buildInfo;
    return { ...binary, buildInfo: { goVersion, main, deps } };
  } catch (err) {
    // What verify can't read either (it said so in the step before); anything else is a bug.
    if (!(err instanceof UnreadableFileError || err instanceof NotGoBinaryError)) throw err;
    ctx.log.warn(`the SBOM lists no modules for ${binary.path}: ${err.message}`);
    return { ...binary, buildInfoMissing: err.message };
  }
}

/** provenance.intoto.json and sbom.cdx.json, from what the steps recorded and the binaries themselves. */
async function attestationsOf(ctx: BuildContext, manifest: Manifest): Promise<{ provenance: string; sbom: string }> {
  const { spec, state } = ctx;
  const image = need(state.image, 'the image');
  const ldflags = need(state.ldflags, 'the -ldflags');
  const digests = need(state.sourcesSha256, 'the digests of the plugin sources');
  const staged = need(state.staged, 'the artifacts');
  // In the order of manifest.artifacts: host, loader check, plugins.
  const stagedPaths = [staged.host.path, staged.loadcheck.path, ...staged.plugins.map((f) => f.path)];
  const finishedOn = new Date();
  const provenance = serializeProvenance({
    version: VERSION,
    subjects: manifest.artifacts.map((a) => ({ name: a.path, sha256: a.sha256 })),
    dragonfly: { repo: spec.repo, ref: spec.ref, commit: manifest.dragonfly.commit },
    plugins: spec.plugins.map((p) => ({ type: spec.type, name: p.name, dir: p.dir, sourcesSha256: need(digests.get(p.name), `the digest of ${p.name}`) })),
    platform: spec.target,
    flags: spec.toolchain,
    ldflags: { host: need(ldflags.host, 'the host -ldflags'), plugins: need(ldflags.plugins, 'the plugin -ldflags') },
    buildCommit: manifest.buildCommit,
    buildTime: { time: manifest.buildTime, reason: manifest.buildTimeReason },
    goImage: { reference: image.goImage, id: image.goImageId, reason: image.goImageReason },
    builderImage: { reference: image.builderImage, id: image.builderImageId },
    run: { id: need(ctx.runLabels[LABEL.run], 'the run id'), startedOn: ctx.startedAt, finishedOn },
  });
  const binaries = await Promise.all(
    manifest.artifacts.map((a, i) => sbomBinary(ctx, { kind: a.kind, name: a.name, path: a.path, sha256: a.sha256 }, stagedPaths[i]!)),
  );
  const sbom = serializeSbom({ version: VERSION, binaries, timestamp: buildTimestamp(spec.sourceDateEpoch, finishedOn) });
  return { provenance, sbom };
}

export async function install(ctx: BuildContext): Promise<void> {
  const { spec } = ctx;
  const source = need(ctx.state.source, 'the source');
  const staged = need(ctx.state.staged, 'the artifacts');
  const manifest = manifestOf(ctx);
  const attestations = await attestationsOf(ctx, manifest);

  const host = path.join(spec.outDir, 'bin', source.host);
  const loadcheck = path.join(spec.outDir, 'bin', LOADCHECK_COMMAND);
  const outPlugins = spec.plugins.map((p) => path.join(spec.outDir, 'plugins', p.file));
  const manifestPath = path.join(spec.outDir, 'manifest.json');
  const provenancePath = path.join(spec.outDir, PROVENANCE_FILE);
  const sbomPath = path.join(spec.outDir, SBOM_FILE);
  const { pluginsDir } = spec;
  const installed = pluginsDir === undefined ? [] : spec.plugins.map((p) => path.join(pluginsDir, p.file));
  // One placement for both directories: every file is written before any is renamed into place,
  // so a failure (a full disk, another build that installed the same plugin first) changes neither.
  await placeAllLocked(
    spec.cacheDir,
    [
      // The host is large (upstream's dfget over 100 MB) and often this machine's copy (host-store.ts): linked where it can be.
      { from: staged.host.path, to: host, mode: 0o755, link: true },
      { from: staged.loadcheck.path, to: loadcheck, mode: 0o755, link: true },
      ...staged.plugins.map((f, i) => ({ from: f.path, to: outPlugins[i]!, mode: 0o755 })),
      { from: { content: maskSecrets(serializeManifest(manifest), ctx.secrets.values) }, to: manifestPath },
      { from: { content: maskSecrets(attestations.provenance, ctx.secrets.values) }, to: provenancePath },
      { from: { content: maskSecrets(attestations.sbom, ctx.secrets.values) }, to: sbomPath },
      ...installed.map((to, i) => ({ from: staged.plugins[i]!.path, to, mode: 0o755 })),
    ],
    pluginsDir === undefined ? `--out ${spec.outDir}` : `--out ${spec.outDir} and --plugins-dir ${pluginsDir}`,
    {
      unchangedSince: need(ctx.state.pluginsBefore, 'the plugins directory as it was'),
      signal: ctx.signal,
      onWait: (dir) => ctx.log.info(`waiting for another d7y-build to finish installing into ${dir}`),
    },
  );
  ctx.log.info(`wrote ${host}, ${outPlugins.length} plugin(s), ${manifestPath}, ${provenancePath} and ${sbomPath}`);
  for (const file of installed) ctx.log.info(`installed ${file}`, { type: 'installed', path: file });
  ctx.state.outputs = { host, loadcheck, plugins: outPlugins, manifest: manifestPath, provenance: provenancePath, sbom: sbomPath, installed };
}
