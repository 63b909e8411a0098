/**
 * `d7y-build cache`: what d7y-build keeps between builds, and carrying it to another engine.
 *
 * - ls: each cache volume of the engine (Go's module and build caches, the Dragonfly source trees,
 *   any other volume d7y-build labelled) with its size, last use and the containers that have it;
 *   the git mirrors in the cache directory, and what crashed runs left there.
 * - prune: source trees (--all: every cache volume), or the oldest of them down to --max-size, and
 *   the leftovers; never a volume a container has.
 * - export / import: the volumes as tar (cache-archive.ts), read and written through the archive API
 *   of a throwaway container that mounts them, so a remote engine works as a local one. Import only
 *   creates volumes: one that exists is left as it is.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tarStream from 'tar-stream';
import {
  addEntryOf,
  BadEntryError,
  checkedName,
  copyEntries,
  MANIFEST_NAME,
  MAX_MANIFEST_BYTES,
  plainHeader,
  readFirstEntry,
  streamPack,
  type CacheManifest,
  type ManifestVolume,
  type Rewrite,
} from '../artifacts/cache-archive';
import { tempName } from '../artifacts/place';
import type { CacheSpec } from '../config';
import type { BuildContainer, Engine } from '../docker/engine';
import { LABEL, runLabels, toolLabels } from '../docker/labels';
import { D7yError, UsageError } from '../errors';
import { diskUsage, formatBytes, kindOf, makeDirectory, readRegularFile } from '../files';
import { listMirrors } from '../git/source';
import { LOCK_TEMP, lockIsStale } from '../lock';
import { nullLogger, type Logger } from '../log';
import { currentOwner, pidAlive } from '../owner';
import { CACHE_VOLUME_NAME, CACHE_VOLUMES, cacheVolumeRole } from '../session/cache';
import { CACHE_HELPER, CONTAINER } from '../session/layout';
import { IMPORTED_TREE_PREFIX, LAST_USED_FILE, SOURCE_TREE_ROLE, sourceTreeLabels, TREE_DIR, TREE_LINK, isSourceTreeVolume } from '../session/source-tree';
import { VERSION } from '../version';

export interface CacheVolume {
  name: string;
  role: string;
  /** What it holds; absent when the engine could not tell. */
  sizeBytes?: number;
  /** When a build last used it (source trees), else when the engine created it. */
  lastUsed?: string;
  /** The containers that have it mounted: it is in use. */
  usedBy: string[];
  /** The Dragonfly commit a source tree holds. */
  sha?: string;
}

export interface CacheListing {
  volumes: CacheVolume[];
  /** The cache directory on this machine (D7Y_CACHE_DIR). */
  cacheDir: string;
  mirrors: Array<{ path: string; repo?: string; sizeBytes: number }>;
  /** What killed runs left in the cache directory: clones and damaged mirrors set aside, stale locks. */
  leftovers: Array<{ path: string; sizeBytes: number }>;
  /** The volumes' sizes together. */
  volumeBytes: number;
}

export interface CacheOptions {
  log?: Logger;
  signal?: AbortSignal;
}

const HELPER_IMAGE = 'd7y-build/cache-helper:1';
const HELPER_DOCKERFILE = 'FROM scratch\nCMD ["none"]\n';
const HELPER_ROLE = 'cache-helper';

/** The empty image the throwaway container is made from: built here, once per engine. */
async function helperImage(engine: Engine): Promise<string> {
  if ((await engine.inspectImage(HELPER_IMAGE)) !== undefined) return HELPER_IMAGE;
  const context = tarStream.pack();
  context.entry({ name: 'Dockerfile' }, HELPER_DOCKERFILE);
  context.finalize();
  await engine.buildImage(context as unknown as Readable, { tag: HELPER_IMAGE, dockerfile: 'Dockerfile', buildArgs: {}, labels: toolLabels(HELPER_ROLE) });
  return HELPER_IMAGE;
}

/** Where a volume is mounted in the throwaway container. */
const mountOf = (volume: string): string => path.posix.join(CACHE_HELPER.volumes, volume);

/**
 * Runs fn with a container (never started) that mounts the volumes; removed afterwards, and at
 * once on abort, which ends any archive stream. It carries a run's labels, so `prune` removes it
 * when this process is killed.
 */
async function withHelper<T>(engine: Engine, volumes: string[], signal: AbortSignal | undefined, fn: (c: BuildContainer) => Promise<T>): Promise<T> {
  const container = await engine.createContainer({
    image: await helperImage(engine),
    cmd: ['none'],
    start: false,
    labels: { ...runLabels(randomUUID(), currentOwner()), [LABEL.role]: HELPER_ROLE },
    volumes: volumes.map((name) => ({ name, target: mountOf(name) })),
    env: {},
    workdir: CACHE_HELPER.volumes,
  });
  const onAbort = () => void container.remove().catch(() => {});
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    signal?.throwIfAborted();
    return await fn(container);
  } catch (err) {
    if (signal?.aborted) throw signal.reason;
    throw err;
  } finally {
    signal?.removeEventListener('abort', onAbort);
    await container.remove();
  }
}

/** A file or link of a container, as its tar header and (small) content; undefined when absent. */
async function readEntry(container: BuildContainer, file: string): Promise<{ header: tarStream.Header; text: string } | undefined> {
  let archive: Readable;
  try {
    archive = await container.getArchive(file);
  } catch (err) {
    if (err instanceof D7yError) throw err;
    return undefined; // no such file
  }
  return readFirstEntry(archive);
}

/** The volumes that hold d7y-build's caches, with their role and, with usage, their size. */
async function cacheVolumes(
  engine: Engine,
  usage: boolean,
): Promise<Array<{ name: string; role: string; labels: Record<string, string>; createdAt?: string; sizeBytes?: number }>> {
  const volumes = await engine.listVolumes({ usage });
  return volumes.flatMap((v) => {
    const role = cacheVolumeRole(v);
    return role === undefined ? [] : [{ ...v, role }];
  });
}

/** Volume name → the containers (any state) that mount it. */
async function volumeUsers(engine: Engine): Promise<Map<string, string[]>> {
  const users = new Map<string, string[]>();
  for (const c of await engine.listContainers({})) {
    for (const v of c.volumes) users.set(v, [...(users.get(v) ?? []), c.id]);
  }
  return users;
}

/** When builds last used these source trees (build.sh writes the time into each). */
async function lastUses(engine: Engine, names: string[], signal?: AbortSignal): Promise<Map<string, string>> {
  const uses = new Map<string, string>();
  if (names.length === 0) return uses;
  await withHelper(engine, names, signal, async (container) => {
    for (const name of names) {
      const seconds = Number((await readEntry(container, path.posix.join(mountOf(name), LAST_USED_FILE)))?.text.trim());
      if (Number.isInteger(seconds) && seconds > 0) uses.set(name, new Date(seconds * 1000).toISOString());
    }
  });
  return uses;
}

/** Install locks nobody holds, and lock files of dead writers, in <cacheDir>/locks. */
async function staleInstallLocks(cacheDir: string): Promise<string[]> {
  const dir = path.join(cacheDir, 'locks');
  const stale: string[] = [];
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    const file = path.join(dir, name);
    const temp = LOCK_TEMP.exec(name);
    if (temp ? !pidAlive(Number(temp[1])) : name.endsWith('.lock') && (await lockIsStale(file))) stale.push(file);
  }
  return stale;
}

export async function listCache(engine: Engine, cacheDir: string, { signal }: CacheOptions = {}): Promise<CacheListing> {
  await engine.ping(signal);
  const found = await cacheVolumes(engine, true);
  const users = await volumeUsers(engine);
  const uses = await lastUses(
    engine,
    found.filter((v) => v.role === SOURCE_TREE_ROLE).map((v) => v.name),
    signal,
  );
  const volumes = found
    .map((v) => ({
      name: v.name,
      role: v.role,
      ...(v.sizeBytes !== undefined ? { sizeBytes: v.sizeBytes } : {}),
      ...((uses.get(v.name) ?? v.createdAt) !== undefined ? { lastUsed: uses.get(v.name) ?? v.createdAt } : {}),
      usedBy: users.get(v.name) ?? [],
      ...(v.labels[LABEL.sha] !== undefined ? { sha: v.labels[LABEL.sha] } : {}),
    }))
    .sort((a, b) => a.name.localeCompare(b.name));

  const mirrorListing = await listMirrors(cacheDir);
  const mirrors = await Promise.all(
    mirrorListing.mirrors.map(async (m) => ({ path: m.dir, ...(m.repo ? { repo: m.repo } : {}), sizeBytes: await diskUsage(m.dir) })),
  );
  const leftoverPaths = [...mirrorListing.leftovers, ...(await staleInstallLocks(cacheDir))];
  const leftovers = await Promise.all(leftoverPaths.map(async (p) => ({ path: p, sizeBytes: await diskUsage(p) })));
  return { volumes, cacheDir, mirrors, leftovers, volumeBytes: sum(volumes.map((v) => v.sizeBytes ?? 0)) };
}

const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);

export interface CachePruneResult {
  removedVolumes: Array<{ name: string; sizeBytes?: number }>;
  /** Volumes that would have gone, but a container has them. */
  sparedVolumes: Array<{ name: string; usedBy: string[] }>;
  removedPaths: string[];
  freedBytes: number;
  /** The cache volumes' sizes together, after. */
  volumeBytes: number;
}

/**
 * The order volumes go in under --max-size: source trees, least recently used first; then the other
 * caches, largest first.
 */
function trimOrder(volumes: CacheVolume[]): CacheVolume[] {
  const trees = volumes.filter((v) => v.role === SOURCE_TREE_ROLE).sort((a, b) => (a.lastUsed ?? '').localeCompare(b.lastUsed ?? ''));
  const others = volumes.filter((v) => v.role !== SOURCE_TREE_ROLE).sort((a, b) => (b.sizeBytes ?? 0) - (a.sizeBytes ?? 0));
  return [...trees, ...others];
}

export async function pruneCache(
  engine: Engine,
  cacheDir: string,
  options: { all: boolean; maxSizeBytes?: number },
  { signal }: CacheOptions = {},
): Promise<CachePruneResult> {
  const listing = await listCache(engine, cacheDir, { signal });
  const result: CachePruneResult = { removedVolumes: [], sparedVolumes: [], removedPaths: [], freedBytes: 0, volumeBytes: listing.volumeBytes };
  const { maxSizeBytes } = options;
  const candidates = maxSizeBytes !== undefined ? trimOrder(listing.volumes) : listing.volumes.filter((v) => options.all || v.role === SOURCE_TREE_ROLE);
  for (const volume of candidates) {
    if (maxSizeBytes !== undefined && result.volumeBytes <= maxSizeBytes) break;
    signal?.throwIfAborted();
    // The engine refuses to remove a volume a container has: the check and the removal are one.
    const outcome = volume.usedBy.length > 0 ? 'in-use' : await engine.removeVolume(volume.name);
    if (outcome === 'in-use') {
      result.sparedVolumes.push({ name: volume.name, usedBy: volume.usedBy });
      continue;
    }
    result.removedVolumes.push({ name: volume.name, ...(volume.sizeBytes !== undefined ? { sizeBytes: volume.sizeBytes } : {}) });
    result.freedBytes += volume.sizeBytes ?? 0;
    result.volumeBytes -= volume.sizeBytes ?? 0;
  }
  for (const leftover of listing.leftovers) {
    await rm(leftover.path, { recursive: true, force: true });
    result.removedPaths.push(leftover.path);
    result.freedBytes += leftover.sizeBytes;
  }
  return result;
}

export interface CacheExportResult {
  target: string;
  volumes: Array<{ name: string; role: string }>;
  /** Volumes left out, and why. */
  skipped: Array<{ name: string; why: string }>;
}

/** A volume to export; for a source tree, the directory its link names. */
interface ExportVolume extends ManifestVolume {
  tree?: string;
}

/** The owner of what d7y-build writes into volumes: the build user. */
const OWNER = { uid: CONTAINER.user.uid, gid: CONTAINER.user.gid };

/** One volume's entries, named <volume>/…: a source tree as its published tree under an import's name, its link last. */
async function packVolume(container: BuildContainer, volume: ExportVolume, pack: tarStream.Pack): Promise<void> {
  const mount = mountOf(volume.name);
  if (volume.tree === undefined) {
    await copyEntries(await container.getArchive(mount), pack, (h) => plainHeader(h, h.name));
    return;
  }
  const mtime = new Date();
  const imported = `${IMPORTED_TREE_PREFIX}${(volume.labels[LABEL.sha] ?? '').slice(0, 12) || randomBytes(6).toString('hex')}`;
  await addEntryOf(pack, { name: volume.name, type: 'directory', mode: 0o755, mtime, ...OWNER });
  const from = volume.tree;
  await copyEntries(await container.getArchive(path.posix.join(mount, from)), pack, (h) =>
    plainHeader(h, path.posix.join(volume.name, imported, h.name.slice(from.length))),
  );
  await addEntryOf(pack, { name: path.posix.join(volume.name, TREE_LINK), type: 'symlink', linkname: imported, mode: 0o777, mtime, ...OWNER });
}

/** Whether target names a file (name.tar) rather than a directory of tars. */
const isTarFile = (target: string): boolean => target.endsWith('.tar');

function cannotWrite(target: string, err: unknown): UsageError {
  return new UsageError(`cannot write the cache export to ${target}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, {
    hint: 'pass a writable directory, or a file name ending in .tar in a writable directory',
  });
}

/**
 * Writes a tar stream to file under a temporary name, renamed into place when complete. A failure
 * of the file (no space, no permission) is a UsageError naming it; one of the engine passes through.
 */
async function writeAtomically(file: string, produce: (pack: tarStream.Pack) => Promise<void>): Promise<void> {
  const temp = tempName(file);
  let fileError: unknown;
  try {
    await streamPack(produce, async (tar) => {
      const out = createWriteStream(temp, { flags: 'wx' });
      out.on('error', (err) => (fileError ??= err));
      await pipeline(tar, out);
    });
    await rename(temp, file).catch((err: unknown) => {
      throw (fileError = err);
    });
  } catch (err) {
    throw fileError === undefined ? err : cannotWrite(file, fileError);
  } finally {
    await rm(temp, { force: true });
  }
}

/** The volumes to export: every cache volume, a source tree only with its published tree (the rest are skipped). */
async function exportable(
  container: BuildContainer,
  found: Array<{ name: string; role: string; labels: Record<string, string> }>,
  result: CacheExportResult,
): Promise<ExportVolume[]> {
  const volumes: ExportVolume[] = [];
  for (const v of found) {
    const volume: ExportVolume = { name: v.name, role: v.role, labels: v.labels };
    if (v.role === SOURCE_TREE_ROLE) {
      // The link's target; anything else in the volume is an upload that was never published.
      const link = await readEntry(container, path.posix.join(mountOf(v.name), TREE_LINK));
      if (link?.header.type !== 'symlink' || !TREE_DIR.test(link.header.linkname)) {
        result.skipped.push({ name: v.name, why: 'no complete source tree in it yet' });
        continue;
      }
      volume.tree = link.header.linkname;
    }
    volumes.push(volume);
  }
  return volumes;
}

function manifestOf(volumes: ExportVolume[], files: boolean): CacheManifest {
  return {
    schemaVersion: 1,
    createdBy: `d7y-build ${VERSION}`,
    createdAt: new Date().toISOString(),
    volumes: volumes.map(({ name, role, labels }) => ({ name, role, labels, ...(files ? { file: `${name}.tar` } : {}) })),
  };
}

/** A directory export: a tar per volume, then the manifest naming them; tars of volumes no longer there go. */
async function exportToDirectory(container: BuildContainer, volumes: ExportVolume[], target: string, log: Logger): Promise<void> {
  for (const volume of volumes) {
    log.info(`exporting volume ${volume.name} → ${volume.name}.tar`);
    await writeAtomically(path.join(target, `${volume.name}.tar`), (pack) => packVolume(container, volume, pack));
  }
  const manifestFile = path.join(target, MANIFEST_NAME);
  const temp = tempName(manifestFile);
  try {
    await writeFile(temp, `${JSON.stringify(manifestOf(volumes, true), null, 2)}\n`, { flag: 'wx' });
    await rename(temp, manifestFile);
    const kept = new Set(volumes.map((v) => `${v.name}.tar`));
    for (const name of await readdir(target)) {
      if (name.endsWith('.tar') && CACHE_VOLUME_NAME.test(name.slice(0, -4)) && !kept.has(name)) await rm(path.join(target, name), { force: true });
    }
  } catch (err) {
    throw cannotWrite(target, err);
  } finally {
    await rm(temp, { force: true });
  }
}

export async function exportCache(engine: Engine, target: string, { log = nullLogger, signal }: CacheOptions = {}): Promise<CacheExportResult> {
  await engine.ping(signal);
  const found = (await cacheVolumes(engine, false)).sort((a, b) => a.name.localeCompare(b.name));
  if (found.length === 0) throw new UsageError('there is no d7y-build cache on this engine to export', { hint: 'run a build first: it fills the caches' });
  await makeDirectory(isTarFile(target) ? path.dirname(target) : target).catch((err: unknown) => {
    throw cannotWrite(target, err);
  });

  const result: CacheExportResult = { target, volumes: [], skipped: [] };
  const names = found.map((v) => v.name);
  await withHelper(engine, names, signal, async (container) => {
    const volumes = await exportable(container, found, result);
    if (isTarFile(target)) {
      await writeAtomically(target, async (pack) => {
        await addEntryOf(pack, { name: MANIFEST_NAME, mode: 0o644, mtime: new Date() }, JSON.stringify(manifestOf(volumes, false), null, 2));
        for (const volume of volumes) {
          log.info(`exporting volume ${volume.name}`);
          await packVolume(container, volume, pack);
        }
      });
    } else {
      await exportToDirectory(container, volumes, target, log);
    }
    result.volumes = volumes.map((v) => ({ name: v.name, role: v.role }));
  });
  return result;
}

export interface CacheImportResult {
  source: string;
  /** Volumes created and filled. */
  volumes: Array<{ name: string; role: string }>;
  /** Volumes the engine has already: left as they are. */
  kept: string[];
}

function notAnExport(source: string, why: string): UsageError {
  return new UsageError(`${source} is not a d7y-build cache export: ${why}`, {
    hint: 'pass a file or directory that `d7y-build cache export` wrote',
  });
}

/** The manifest's volumes, each checked: a d7y-build cache volume name, and the labels it is created with. */
function parseManifest(text: string, source: string): ManifestVolume[] {
  let parsed: Partial<CacheManifest>;
  try {
    parsed = JSON.parse(text) as Partial<CacheManifest>;
  } catch {
    throw notAnExport(source, `its ${MANIFEST_NAME} is not JSON`);
  }
  if (parsed?.schemaVersion !== 1 || !Array.isArray(parsed.volumes)) throw notAnExport(source, `its ${MANIFEST_NAME} is not a manifest of schema version 1`);
  const names = new Set<string>();
  return parsed.volumes.map((v: Partial<ManifestVolume>) => {
    const name = typeof v?.name === 'string' ? v.name : '';
    const labels = typeof v?.labels === 'object' && v.labels !== null ? v.labels : {};
    const role = cacheVolumeRole({ name, labels });
    if (role === undefined || names.has(name)) throw notAnExport(source, `it names ${JSON.stringify(name)}, which is no d7y-build cache volume (or twice)`);
    names.add(name);
    return { name, role, labels: labelsFor(name, role, labels, source), ...(v.file !== undefined ? { file: `${name}.tar` } : {}) };
  });
}

/** The labels a volume is created with: d7y-build's own, never what an archive claims beyond them. */
function labelsFor(name: string, role: string, given: Record<string, string>, source: string): Record<string, string> {
  const known = CACHE_VOLUMES.find((v) => v.name === name);
  if (known !== undefined) return toolLabels(known.role);
  if (isSourceTreeVolume(name)) {
    const sha = given[LABEL.sha] ?? '';
    if (!/^[0-9a-f]{40}$/.test(sha) || !name.includes(`-${sha.slice(0, 12)}-`))
      throw notAnExport(source, `source tree ${name} has no matching ${LABEL.sha} label`);
    return sourceTreeLabels(sha);
  }
  return toolLabels(role);
}

/**
 * What of an archive goes into the new volumes: entries of the volumes to fill, each checked (and
 * the manifest of a one-file export left out); entries of volumes kept are skipped.
 */
function importRewrite(all: ReadonlySet<string>, fill: ReadonlySet<string>): Rewrite {
  return (header) => {
    if (header.name === MANIFEST_NAME) return undefined;
    const { volume, name } = checkedName(header, all);
    return fill.has(volume) ? plainHeader(header, name) : undefined;
  };
}

/** What source is: a one-file export or a directory export, with its manifest's text. */
async function openExport(source: string): Promise<{ kind: 'file' | 'dir'; manifestText: string }> {
  const info = await stat(source).catch((err: NodeJS.ErrnoException) => {
    throw new UsageError(`cannot read the cache export ${source}: ${err.code ?? String(err)}`, {
      hint: 'pass the file or directory `d7y-build cache export` wrote',
    });
  });
  if (info.isDirectory()) {
    const manifestText = await readRegularFile(path.join(source, MANIFEST_NAME), {
      what: 'the cache export manifest',
      hint: 'pass the file or directory `d7y-build cache export` wrote',
      maxBytes: MAX_MANIFEST_BYTES,
    });
    return { kind: 'dir', manifestText };
  }
  if (!info.isFile())
    throw new UsageError(`the cache export ${source} is ${kindOf(info)}`, { hint: 'pass the file or directory `d7y-build cache export` wrote' });
  let first: { header: tarStream.Header; text: string } | undefined;
  try {
    first = await readFirstEntry(createReadStream(source));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== undefined) throw new UsageError(`cannot read the cache export ${source}: ${code}`, { hint: 'pass a readable file' });
    throw notAnExport(source, `it is not a tar archive (${(err as Error).message})`);
  }
  if (first?.header.name !== MANIFEST_NAME) throw notAnExport(source, `its first entry is not ${MANIFEST_NAME}`);
  return { kind: 'file', manifestText: first.text };
}

export async function importCache(engine: Engine, source: string, { log = nullLogger, signal }: CacheOptions = {}): Promise<CacheImportResult> {
  const { kind, manifestText } = await openExport(source);
  const volumes = parseManifest(manifestText, source);
  await engine.ping(signal);
  const existing = new Set((await engine.listVolumes()).map((v) => v.name));
  const fill = volumes.filter((v) => !existing.has(v.name));
  const result: CacheImportResult = {
    source,
    volumes: fill.map((v) => ({ name: v.name, role: v.role })),
    kept: volumes.filter((v) => existing.has(v.name)).map((v) => v.name),
  };
  for (const name of result.kept) log.info(`volume ${name} exists: kept as it is`);
  if (fill.length === 0) return result;

  const created: string[] = [];
  try {
    for (const v of fill) {
      await engine.ensureVolume(v.name, v.labels);
      created.push(v.name);
    }
    await withHelper(engine, created, signal, async (container) => {
      const rewrite = importRewrite(new Set(volumes.map((v) => v.name)), new Set(created));
      try {
        await streamPack(
          async (pack) => {
            if (kind === 'file') {
              log.info(`importing ${fill.map((v) => v.name).join(', ')}`);
              await copyEntries(createReadStream(source), pack, rewrite);
              return;
            }
            for (const v of fill) {
              if (v.file === undefined) throw notAnExport(source, `its manifest names no file for ${v.name}`);
              log.info(`importing volume ${v.name} ← ${v.file}`);
              await copyEntries(createReadStream(path.join(source, v.file)), pack, importRewrite(new Set([v.name]), new Set([v.name])));
            }
          },
          (tar) => container.putArchive(tar, CACHE_HELPER.volumes),
        );
      } catch (err) {
        if (err instanceof BadEntryError) throw notAnExport(source, err.message);
        // The engine's own refusal passes through; what is wrong with the files is the user's to fix.
        if (err instanceof D7yError || signal?.aborted || (err as { statusCode?: number }).statusCode !== undefined) throw err;
        const { code, syscall } = err as NodeJS.ErrnoException;
        if (syscall !== undefined)
          throw new UsageError(`cannot read the cache export ${source}: ${code}`, { hint: 'pass the file or directory `d7y-build cache export` wrote' });
        throw notAnExport(source, (err as Error).message);
      }
    });
  } catch (err) {
    // All or nothing: the volumes this import made go again.
    for (const name of created) await engine.removeVolume(name).catch(() => {});
    throw err;
  }
  return result;
}

/** Runs a `cache` action: what to print, and the --json document. */
export async function runCache(engine: Engine, spec: CacheSpec, options: CacheOptions): Promise<{ lines: string[]; result: object }> {
  switch (spec.action) {
    case 'ls': {
      const listing = await listCache(engine, spec.cacheDir, options);
      return { lines: formatListing(listing), result: listing };
    }
    case 'prune': {
      const result = await pruneCache(engine, spec.cacheDir, spec, options);
      const lines = [
        ...result.removedVolumes.map((v) => `removed volume ${v.name}${v.sizeBytes !== undefined ? ` (${formatBytes(v.sizeBytes)})` : ''}`),
        ...result.sparedVolumes.map((v) => `spared volume ${v.name}: in use by container ${v.usedBy.map((id) => id.slice(0, 12)).join(', ') || 'of a build'}`),
        ...result.removedPaths.map((p) => `removed ${p}`),
      ];
      if (spec.maxSizeBytes !== undefined && result.volumeBytes > spec.maxSizeBytes) {
        lines.push(`the cache volumes still hold ${formatBytes(result.volumeBytes)}: what is left is in use`);
      }
      return { lines: lines.length > 0 ? lines : ['nothing to prune'], result };
    }
    case 'export': {
      const result = await exportCache(engine, spec.target, options);
      return {
        lines: [...result.volumes.map((v) => `exported volume ${v.name}`), ...result.skipped.map((v) => `skipped volume ${v.name}: ${v.why}`)],
        result,
      };
    }
    case 'import': {
      const result = await importCache(engine, spec.source, options);
      return { lines: [...result.volumes.map((v) => `imported volume ${v.name}`), ...result.kept.map((n) => `kept volume ${n}: it exists`)], result };
    }
  }
}

function formatListing(listing: CacheListing): string[] {
  const size = (n: number | undefined) => (n === undefined ? 'size unknown' : formatBytes(n));
  return [
    ...listing.volumes.map((v) =>
      [
        `volume ${v.name}`,
        v.role,
        size(v.sizeBytes),
        `last used ${v.lastUsed ?? 'unknown'}`,
        ...(v.usedBy.length > 0 ? [`in use by ${v.usedBy.map((id) => id.slice(0, 12)).join(', ')}`] : []),
      ].join('  '),
    ),
    ...listing.mirrors.map((m) => `mirror ${m.path}  ${m.repo ?? 'repository unknown'}  ${formatBytes(m.sizeBytes)}`),
    ...listing.leftovers.map((l) => `leftover ${l.path}  ${formatBytes(l.sizeBytes)}  (cache prune removes it)`),
    `volumes together: ${formatBytes(listing.volumeBytes)}`,
  ];
}
