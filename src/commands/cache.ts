/**
 * `d7y-build cache`: what d7y-build keeps between builds, and carrying it to another engine.
 *
 * - ls: each cache volume of the engine (Go's module and build caches, the Dragonfly source trees,
 *   any other volume d7y-build labelled) with its size, last use and the containers that have it;
 *   the git mirrors in the cache directory, and what crashed runs left there.
 * - prune: source trees (--all: every cache volume), or the oldest of them down to --max-size, and
 *   the leftovers; never a volume a container has.
 * - export / import: the volumes as tar (cache-archive.ts), read and written through the archive API
 *   of a throwaway container that mounts them, so a remote engine works as a local one; and the
 *   builder images with the Go images they are built on, through the engine's image save and load,
 *   so a fresh engine builds nothing before its first build. Import only creates: a volume that
 *   exists is left as it is, and so is an image; images are not loaded where a ref names another
 *   image. What an import made goes again when it fails.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tarStream from 'tar-stream';
import { HostStore } from '../artifacts/host-store';
import {
  addEntryOf,
  BadEntryError,
  checkedImageEntry,
  checkedName,
  checkImageTags,
  copyEntries,
  IMAGE_TAG_FILES,
  IMAGES_DIR,
  IMAGES_FILE,
  isImageEntry,
  MANIFEST_NAME,
  MAX_MANIFEST_BYTES,
  plainHeader,
  readFirstEntry,
  savedLayout,
  streamPack,
  type CacheManifest,
  type ManifestImage,
  type ManifestVolume,
  type Rewrite,
} from '../artifacts/cache-archive';
import { tempName } from '../artifacts/place';
import type { CacheSpec, ExportImageFilter } from '../config';
import type { BuildContainer, Engine } from '../docker/engine';
import { LABEL, runLabels, toolLabels } from '../docker/labels';
import { engineMessage } from '../docker/engine';
import { D7yError, UsageError } from '../errors';
import { diskUsage, formatBytes, kindOf, makeDirectory, makeTempDir, readRegularFile } from '../files';
import { listMirrors } from '../git/source';
import { LOCK_TEMP, lockIsStale } from '../lock';
import { nullLogger, type Logger } from '../log';
import { currentOwner, pidAlive } from '../owner';
import { CACHE_VOLUME_NAME, CACHE_VOLUMES, cacheVolumeRole } from '../session/cache';
import { BUILDER_REPOSITORY, BUILDER_ROLE, builderImageFor, GO_IMAGE_LABEL } from '../session/image';
import { CACHE_HELPER, CONTAINER } from '../session/layout';
import { IMPORTED_TREE_PREFIX, LAST_USED_FILE, SOURCE_TREE_ROLE, sourceTreeLabels, TREE_DIR, TREE_LINK, isSourceTreeVolume } from '../session/source-tree';
import { TARGET_NAMES } from '../platform';
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

export interface CacheImage {
  ref: string;
  id: string;
  /** builder, or go: the Go image a builder image is built on. */
  role: 'builder' | 'go';
  sizeBytes: number;
}

export interface CacheListing {
  volumes: CacheVolume[];
  /** The builder images and the Go images under them. */
  images: CacheImage[];
  /** The cache directory on this machine (D7Y_CACHE_DIR). */
  cacheDir: string;
  mirrors: Array<{ path: string; repo?: string; sizeBytes: number }>;
  /** Copies of hosts on this machine, by sha256 (src/artifacts/host-store.ts), most recently used first. */
  hostCopies: Array<{ path: string; sizeBytes: number; lastUsed: string }>;
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

/** The builder images, each tag of them, and the Go images their labels name, when the engine has them. */
async function listImages(engine: Engine): Promise<CacheImage[]> {
  const builders = await engine.listImages({ [LABEL.tool]: '', [LABEL.role]: BUILDER_ROLE });
  const images: CacheImage[] = builders.flatMap((b) => b.tags.map((ref) => ({ ref, id: b.id, role: 'builder' as const, sizeBytes: b.sizeBytes })));
  const goRefs = [...new Set(builders.flatMap((b) => b.labels[GO_IMAGE_LABEL] ?? []))];
  if (goRefs.length > 0) {
    const all = await engine.listImages({});
    for (const ref of goRefs) {
      const go = all.find((i) => i.tags.includes(ref));
      if (go !== undefined) images.push({ ref, id: go.id, role: 'go', sizeBytes: go.sizeBytes });
    }
  }
  return images.sort((a, b) => a.ref.localeCompare(b.ref));
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

  const images = await listImages(engine);
  const mirrorListing = await listMirrors(cacheDir);
  const mirrors = await Promise.all(
    mirrorListing.mirrors.map(async (m) => ({ path: m.dir, ...(m.repo ? { repo: m.repo } : {}), sizeBytes: await diskUsage(m.dir) })),
  );
  const leftoverPaths = [...mirrorListing.leftovers, ...(await staleInstallLocks(cacheDir))];
  const leftovers = await Promise.all(leftoverPaths.map(async (p) => ({ path: p, sizeBytes: await diskUsage(p) })));
  const hostCopies = (await HostStore.in(cacheDir).list()).map((c) => ({ path: c.path, sizeBytes: c.sizeBytes, lastUsed: c.lastUsed.toISOString() }));
  return { volumes, images, cacheDir, mirrors, hostCopies, leftovers, volumeBytes: sum(volumes.map((v) => v.sizeBytes ?? 0)) };
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
  // --all: the copies of hosts go too; otherwise they stay, the store keeps itself small.
  const copies = options.all ? listing.hostCopies : [];
  for (const file of [...listing.leftovers, ...copies]) {
    await rm(file.path, { recursive: true, force: true });
    result.removedPaths.push(file.path);
    result.freedBytes += file.sizeBytes;
  }
  return result;
}

export interface CacheExportResult {
  target: string;
  volumes: Array<{ name: string; role: string }>;
  /** Builder images, each with the Go image it needs where it is imported. */
  images: Array<{ ref: string; base: string }>;
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

function manifestOf(volumes: ExportVolume[], exported: ExportImage[], files: boolean): CacheManifest {
  return {
    schemaVersion: 2,
    createdBy: `d7y-build ${VERSION}`,
    createdAt: new Date().toISOString(),
    volumes: volumes.map(({ name, role, labels }) => ({ name, role, labels, ...(files ? { file: `${name}.tar` } : {}) })),
    images: exported.map(({ ref, id, base }) => ({ ref, id, base })),
  };
}

/** A builder image to export, and how many of its lowest layers are its Go image's. */
interface ExportImage extends ManifestImage {
  baseLayers: number;
}

/**
 * The builder images a build of this d7y-build would use (the tag it derives from the Go image's
 * id), each on a Go image the engine has. A builder image of another Go image or another d7y-build
 * is left out: no build would take it; so is one the filter leaves out (cache export --go-image,
 * --platform): an image is gigabytes where the volumes are megabytes.
 */
async function exportableImages(engine: Engine, filter: ExportImageFilter): Promise<ExportImage[]> {
  const only = filter.goImage === undefined ? undefined : await engine.inspectImage(filter.goImage);
  if (filter.goImage !== undefined && only === undefined) {
    throw new UsageError(`--go-image ${filter.goImage}: the engine has no such image, so no builder image is on it`, {
      hint: 'name the Go image your builds use (docker image ls shows them), or leave --go-image out to export every builder image',
    });
  }
  const targets = filter.platforms ?? TARGET_NAMES;
  const images: ExportImage[] = [];
  for (const builder of await engine.listImages({ [LABEL.tool]: '', [LABEL.role]: BUILDER_ROLE })) {
    const goRef = builder.labels[GO_IMAGE_LABEL];
    const go = goRef === undefined ? undefined : await engine.inspectImage(goRef);
    if (goRef === undefined || go === undefined || (only !== undefined && go.id !== only.id)) continue;
    // One of the builder images this d7y-build would use on that Go image, for a platform asked for.
    const tags = await Promise.all(targets.map(async (target) => (await builderImageFor(go.id, target)).tag));
    const tag = tags.find((t) => builder.tags.includes(t));
    if (tag === undefined) continue;
    // The Go image's layers are the builder image's lowest, unless the engine says otherwise.
    const layers = (await engine.inspectImage(tag))?.layers ?? [];
    const base = go.layers ?? [];
    const baseLayers = base.length > 0 && base.every((l, i) => layers[i] === l) ? base.length : 0;
    images.push({ ref: tag, id: builder.id, base: { ref: goRef, id: go.id }, baseLayers });
  }
  return images.sort((a, b) => a.ref.localeCompare(b.ref));
}

/**
 * The images' entries as `docker save` writes them, each under prefix, without the files of the
 * layers their Go images hold: the Go image is a gigabyte, the builder's own layers a few megabytes,
 * and an engine that loads them has the Go image. The save is spooled to a temporary file first:
 * which files those are, its manifest.json says, at its end.
 */
async function packImages(engine: Engine, images: ExportImage[], pack: tarStream.Pack, prefix: string, signal: AbortSignal | undefined): Promise<void> {
  const spool = await makeTempDir('images');
  try {
    const saved = path.join(spool, 'saved.tar');
    await pipeline(
      await engine.saveImages(
        images.map((i) => i.ref),
        signal,
      ),
      createWriteStream(saved),
    );
    const { layers, links } = await savedLayout(createReadStream(saved));
    const drop = new Set(images.flatMap((i) => (layers.get(i.ref) ?? []).slice(0, i.baseLayers)));
    // A layer file another entry links to stays (docker save links a layer it holds twice).
    for (const [from, to] of links) if (!drop.has(from)) drop.delete(to);
    await copyEntries(createReadStream(saved), pack, (h) => (drop.has(h.name) ? undefined : plainHeader(h, path.posix.join(prefix, h.name))));
  } finally {
    await rm(spool, { recursive: true, force: true });
  }
}

/** A directory export: the images' tar, a tar per volume, then the manifest naming them; tars no longer listed go. */
async function exportToDirectory(
  engine: Engine,
  container: BuildContainer,
  volumes: ExportVolume[],
  images: ExportImage[],
  target: string,
  { log, signal }: { log: Logger; signal: AbortSignal | undefined },
): Promise<void> {
  if (images.length > 0) {
    log.info(`exporting images ${images.map((i) => i.ref).join(', ')} → ${IMAGES_FILE}`);
    await writeAtomically(path.join(target, IMAGES_FILE), (pack) => packImages(engine, images, pack, '', signal));
  }
  for (const volume of volumes) {
    log.info(`exporting volume ${volume.name} → ${volume.name}.tar`);
    await writeAtomically(path.join(target, `${volume.name}.tar`), (pack) => packVolume(container, volume, pack));
  }
  const manifestFile = path.join(target, MANIFEST_NAME);
  const temp = tempName(manifestFile);
  try {
    await writeFile(temp, `${JSON.stringify(manifestOf(volumes, images, true), null, 2)}\n`, { flag: 'wx' });
    await rename(temp, manifestFile);
    const kept = new Set(volumes.map((v) => `${v.name}.tar`));
    for (const name of await readdir(target)) {
      if (name.endsWith('.tar') && CACHE_VOLUME_NAME.test(name.slice(0, -4)) && !kept.has(name)) await rm(path.join(target, name), { force: true });
    }
    if (images.length === 0) await rm(path.join(target, IMAGES_FILE), { force: true });
  } catch (err) {
    throw cannotWrite(target, err);
  } finally {
    await rm(temp, { force: true });
  }
}

export async function exportCache(
  engine: Engine,
  target: string,
  { log = nullLogger, signal }: CacheOptions = {},
  filter: ExportImageFilter = {},
): Promise<CacheExportResult> {
  await engine.ping(signal);
  const found = (await cacheVolumes(engine, false)).sort((a, b) => a.name.localeCompare(b.name));
  if (found.length === 0) throw new UsageError('there is no d7y-build cache on this engine to export', { hint: 'run a build first: it fills the caches' });
  await makeDirectory(isTarFile(target) ? path.dirname(target) : target).catch((err: unknown) => {
    throw cannotWrite(target, err);
  });

  const result: CacheExportResult = { target, volumes: [], images: [], skipped: [] };
  const names = found.map((v) => v.name);
  const images = await exportableImages(engine, filter);
  await withHelper(engine, names, signal, async (container) => {
    const volumes = await exportable(container, found, result);
    if (isTarFile(target)) {
      await writeAtomically(target, async (pack) => {
        await addEntryOf(pack, { name: MANIFEST_NAME, mode: 0o644, mtime: new Date() }, JSON.stringify(manifestOf(volumes, images, false), null, 2));
        if (images.length > 0) {
          log.info(`exporting images ${images.map((i) => i.ref).join(', ')}`);
          await packImages(engine, images, pack, IMAGES_DIR, signal);
        }
        for (const volume of volumes) {
          log.info(`exporting volume ${volume.name}`);
          await packVolume(container, volume, pack);
        }
      });
    } else {
      await exportToDirectory(engine, container, volumes, images, target, { log, signal });
    }
    result.volumes = volumes.map((v) => ({ name: v.name, role: v.role }));
    result.images = images.map((i) => ({ ref: i.ref, base: i.base.ref }));
  });
  return result;
}

export interface CacheImportResult {
  source: string;
  /** Volumes created and filled. */
  volumes: Array<{ name: string; role: string }>;
  /** Volumes the engine has already: left as they are. */
  kept: string[];
  /** Builder images loaded, each with the Go image it is on. */
  images: Array<{ ref: string; base: string }>;
  /** Images the engine has already, as the same image. */
  keptImages: string[];
  /** Images not loaded, and why. */
  skippedImages: Array<{ ref: string; why: string }>;
}

function notAnExport(source: string, why: string): UsageError {
  return new UsageError(`${source} is not a d7y-build cache export: ${why}`, {
    hint: 'pass a file or directory that `d7y-build cache export` wrote',
  });
}

/** A reference of an image as an export names it: repository:tag, lower case, nothing else. */
const IMAGE_REF = /^[a-z0-9][a-z0-9._/:-]{0,254}:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

const IMAGE_ID = /^sha256:[0-9a-f]{64}$/;

/** The manifest's images, each checked: a builder image of d7y-build's repository by its id, on a Go image by its id. */
function parseImages(images: unknown, source: string): ManifestImage[] {
  if (images === undefined) return [];
  if (!Array.isArray(images)) throw notAnExport(source, `its ${MANIFEST_NAME} lists no images`);
  const refs = new Set<string>();
  return images.map((i: Partial<ManifestImage>) => {
    const ref = typeof i?.ref === 'string' ? i.ref : '';
    const base = i?.base;
    const ok =
      IMAGE_REF.test(ref) &&
      ref.startsWith(`${BUILDER_REPOSITORY}:`) &&
      !refs.has(ref) &&
      typeof i.id === 'string' &&
      IMAGE_ID.test(i.id) &&
      typeof base?.ref === 'string' &&
      IMAGE_REF.test(base.ref) &&
      typeof base.id === 'string' &&
      IMAGE_ID.test(base.id);
    if (!ok) throw notAnExport(source, `it names the image ${JSON.stringify(ref)}, which is no builder image on a Go image, by their ids (or twice)`);
    refs.add(ref);
    return { ref, id: i.id!, base: { ref: base.ref, id: base.id } };
  });
}

/** The manifest, checked: its volumes (parseVolumes) and images (parseImages). */
function parseManifest(text: string, source: string): { volumes: ManifestVolume[]; images: ManifestImage[] } {
  let parsed: Partial<CacheManifest>;
  try {
    parsed = JSON.parse(text) as Partial<CacheManifest>;
  } catch {
    throw notAnExport(source, `its ${MANIFEST_NAME} is not JSON`);
  }
  if ((parsed?.schemaVersion !== 1 && parsed?.schemaVersion !== 2) || !Array.isArray(parsed.volumes))
    throw notAnExport(source, `its ${MANIFEST_NAME} is not a manifest of schema version 1 or 2`);
  return { volumes: parseVolumes(parsed.volumes, source), images: parsed.schemaVersion === 2 ? parseImages(parsed.images, source) : [] };
}

/** The manifest's volumes, each checked: a d7y-build cache volume name, and the labels it is created with. */
function parseVolumes(volumes: Array<Partial<ManifestVolume>>, source: string): ManifestVolume[] {
  const names = new Set<string>();
  return volumes.map((v: Partial<ManifestVolume>) => {
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
function importRewrite(all: ReadonlySet<string>, fill: ReadonlySet<string>, withImages: boolean): Rewrite {
  return (header) => {
    if (header.name === MANIFEST_NAME || (withImages && isImageEntry(header))) return undefined;
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

/**
 * Which of the export's builder images to load: those the engine lacks, whose Go image it has by the
 * same id (the export holds no layer of it). One whose tag names another image here is not loaded:
 * the load would move the tag.
 */
async function planImages(engine: Engine, images: ManifestImage[], result: CacheImportResult): Promise<ManifestImage[]> {
  const load: ManifestImage[] = [];
  for (const image of images) {
    const here = (await engine.inspectImage(image.ref))?.id;
    const base = (await engine.inspectImage(image.base.ref))?.id;
    if (here === image.id) result.keptImages.push(image.ref);
    else if (here !== undefined) result.skippedImages.push({ ref: image.ref, why: `${image.ref} is another image here (${here.slice(0, 19)})` });
    else if (base !== image.base.id)
      result.skippedImages.push({
        ref: image.ref,
        why: `it is built on ${image.base.ref} (${image.base.id.slice(0, 19)}), which ${base === undefined ? 'is not here' : `is another image here (${base.slice(0, 19)})`}; the first build makes its own`,
      });
    else load.push(image);
  }
  // One load tags every image of the export: with one that cannot be loaded, none is.
  const skipped = result.skippedImages[0];
  if (skipped === undefined) return load;
  for (const image of load) result.skippedImages.push({ ref: image.ref, why: `it is saved together with ${skipped.ref}, which is not loaded` });
  return [];
}

/**
 * Loads the export's images through the engine, each entry checked, tagging nothing but the images
 * to load (all of the export's but those kept or skipped: those the engine has keep their tag); then
 * each ref must name the manifest's id.
 */
async function loadImages(
  engine: Engine,
  source: string,
  kind: 'file' | 'dir',
  images: ManifestImage[],
  kept: string[],
  signal: AbortSignal | undefined,
): Promise<void> {
  const allowed = new Set([...images.map((i) => i.ref), ...kept]);
  const check = { names: IMAGE_TAG_FILES, fn: (name: string, text: string) => checkImageTags(name, text, allowed) };
  try {
    await streamPack(
      (pack) =>
        kind === 'file'
          ? copyEntries(createReadStream(source), pack, (h) => (h.name === MANIFEST_NAME ? undefined : checkedImageEntry(h, IMAGES_DIR)), {
              check,
              stopAt: (h) => h.name !== MANIFEST_NAME && !isImageEntry(h),
            })
          : copyEntries(createReadStream(path.join(source, IMAGES_FILE)), pack, (h) => checkedImageEntry(h, ''), { check }),
      (tar) => engine.loadImages(tar, signal),
    );
  } catch (err) {
    if (err instanceof BadEntryError) throw notAnExport(source, err.message);
    if (err instanceof D7yError || signal?.aborted) throw err;
    const { code, syscall } = err as NodeJS.ErrnoException;
    if (syscall !== undefined)
      throw new UsageError(`cannot read the cache export ${source}: ${code}`, { hint: 'pass the file or directory `d7y-build cache export` wrote' });
    throw new UsageError(`the engine refused the images of ${source}: ${engineMessage(err)}`, {
      hint: 'the export may be damaged: export the caches again (docker system df shows whether the engine has room)',
    });
  }
  for (const image of images) {
    const id = (await engine.inspectImage(image.ref))?.id;
    if (id !== image.id) throw notAnExport(source, `its image ${image.ref} loaded as ${id ?? 'nothing'}, where the manifest says ${image.id}`);
  }
}

export async function importCache(engine: Engine, source: string, { log = nullLogger, signal }: CacheOptions = {}): Promise<CacheImportResult> {
  const { kind, manifestText } = await openExport(source);
  const { volumes, images } = parseManifest(manifestText, source);
  await engine.ping(signal);
  const existing = new Set((await engine.listVolumes()).map((v) => v.name));
  const fill = volumes.filter((v) => !existing.has(v.name));
  const result: CacheImportResult = {
    source,
    volumes: fill.map((v) => ({ name: v.name, role: v.role })),
    kept: volumes.filter((v) => existing.has(v.name)).map((v) => v.name),
    images: [],
    keptImages: [],
    skippedImages: [],
  };
  const load = await planImages(engine, images, result);
  for (const name of result.kept) log.info(`volume ${name} exists: kept as it is`);
  for (const ref of result.keptImages) log.info(`image ${ref} exists: kept as it is`);
  for (const { ref, why } of result.skippedImages) log.info(`image ${ref} not loaded: ${why}`);

  const created: string[] = [];
  try {
    if (load.length > 0) {
      log.info(`loading images ${load.map((i) => i.ref).join(', ')}`);
      // From here on, a failure removes them again.
      result.images = load.map((i) => ({ ref: i.ref, base: i.base.ref }));
      await loadImages(engine, source, kind, load, result.keptImages, signal);
    }
    if (fill.length === 0) return result;
    for (const v of fill) {
      await engine.ensureVolume(v.name, v.labels);
      created.push(v.name);
    }
    await withHelper(engine, created, signal, async (container) => {
      const rewrite = importRewrite(new Set(volumes.map((v) => v.name)), new Set(created), images.length > 0);
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
              await copyEntries(createReadStream(path.join(source, v.file)), pack, importRewrite(new Set([v.name]), new Set([v.name]), false));
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
    // All or nothing: the volumes and images this import made go again.
    for (const name of created) await engine.removeVolume(name).catch(() => {});
    for (const { ref } of result.images) await engine.removeImage(ref).catch(() => {});
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
      const result = await exportCache(engine, spec.target, options, spec.images);
      return {
        lines: [
          ...result.images.map((i) => `exported image ${i.ref} (on ${i.base})`),
          ...result.volumes.map((v) => `exported volume ${v.name}`),
          ...result.skipped.map((v) => `skipped volume ${v.name}: ${v.why}`),
        ],
        result,
      };
    }
    case 'import': {
      const result = await importCache(engine, spec.source, options);
      return {
        lines: [
          ...result.images.map((i) => `imported image ${i.ref}`),
          ...result.keptImages.map((ref) => `kept image ${ref}: it exists`),
          ...result.skippedImages.map((i) => `skipped image ${i.ref}: ${i.why}`),
          ...result.volumes.map((v) => `imported volume ${v.name}`),
          ...result.kept.map((n) => `kept volume ${n}: it exists`),
        ],
        result,
      };
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
    ...listing.images.map((i) => `image ${i.ref}  ${i.role === 'go' ? 'Go image' : 'builder'}  ${i.id.slice(7, 19)}  ${formatBytes(i.sizeBytes)}`),
    ...listing.mirrors.map((m) => `mirror ${m.path}  ${m.repo ?? 'repository unknown'}  ${formatBytes(m.sizeBytes)}`),
    ...listing.hostCopies.map((c) => `host copy ${c.path}  ${formatBytes(c.sizeBytes)}  last used ${c.lastUsed}`),
    ...listing.leftovers.map((l) => `leftover ${l.path}  ${formatBytes(l.sizeBytes)}  (cache prune removes it)`),
    `volumes together: ${formatBytes(listing.volumeBytes)}`,
  ];
}
