/**
 * The archive format of `d7y-build cache export` and `import`: tar entries named <volume>/<path>,
 * one volume after another, described by a manifest (MANIFEST_NAME). As one file, the manifest is
 * its first entry, then the builder images as `docker save` wrote them but for the layers of the Go
 * image under them, each entry under IMAGES_DIR/, then the volumes; as a directory, the manifest is
 * a file beside IMAGES_FILE (those images' entries) and one <volume>.tar per volume. Schema version
 * 1 (volumes only) is still read.
 *
 * Entries are copied one at a time, each streamed through, so memory stays flat whatever the
 * caches hold. Each is rebuilt from its name, type, mode, owner, size, time and link target only:
 * nothing else of a header travels (no pax records, no extended attributes).
 */
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tarStream from 'tar-stream';

export const MANIFEST_NAME = 'd7y-build-cache.json';
/** A manifest is a few kilobytes; a larger first entry is not one. */
export const MAX_MANIFEST_BYTES = 1024 * 1024;

export interface ManifestVolume {
  name: string;
  role: string;
  labels: Record<string, string>;
  /** In a directory export: the volume's tar file, beside the manifest. */
  file?: string;
}

/** The directory of the images' entries in a one-file export: no volume is named so. */
export const IMAGES_DIR = 'images';
/** The images' tar in a directory export. */
export const IMAGES_FILE = 'images.tar';

/**
 * A builder image the export carries: its layers above the Go image's, which `docker load` finds on
 * an engine that has that Go image (it takes a layer it has without reading the file).
 */
export interface ManifestImage {
  ref: string;
  /** The image id the ref names once loaded: a load that yields another is refused. */
  id: string;
  /** The Go image it is built on, which the engine must have to load it. */
  base: { ref: string; id: string };
}

export interface CacheManifest {
  schemaVersion: 1 | 2;
  /** The d7y-build version that wrote it. */
  createdBy: string;
  createdAt: string;
  volumes: ManifestVolume[];
  /** Since schema version 2. */
  images?: ManifestImage[];
}

export class BadEntryError extends Error {}

/** What a packed entry is made with. */
export type EntryHeader = Parameters<tarStream.Pack['entry']>[0];

/** A header made anew from the fields that matter; undefined to leave the entry out. */
export type Rewrite = (header: tarStream.Header) => EntryHeader | undefined;

/** The fields an entry keeps. */
export function plainHeader(header: tarStream.Header, name: string): EntryHeader {
  return {
    name,
    type: header.type,
    mode: header.mode,
    uid: header.uid,
    gid: header.gid,
    size: header.type === 'file' ? header.size : 0,
    mtime: header.mtime,
    ...(header.type === 'symlink' ? { linkname: header.linkname } : {}),
  };
}

/** Adds one entry to pack, its content streamed from body; resolves once pack took all of it. */
function addEntry(pack: tarStream.Pack, header: EntryHeader, body: Readable): Promise<void> {
  if (header.type !== 'file') {
    body.resume();
    return new Promise((resolve, reject) => pack.entry(header, (err) => (err ? reject(err) : resolve())));
  }
  let done: (err?: Error | null) => void = () => {};
  const written = new Promise<void>((resolve, reject) => (done = (err) => (err ? reject(err) : resolve())));
  const sink = pack.entry(header, (err) => done(err));
  return Promise.all([pipeline(body, sink as unknown as NodeJS.WritableStream), written]).then(() => undefined);
}

export interface CopyOptions {
  /** Stop at the first entry this matches: the rest of source is not read. */
  stopAt?: (header: tarStream.Header) => boolean;
  /** Small files (by their new name) read whole and shown to check before they are copied; it throws BadEntryError. */
  check?: { names: ReadonlySet<string>; fn: (name: string, text: string) => void };
}

/** Streams every entry of source into pack, as rewrite makes it; source is read to its end (see stopAt). */
export async function copyEntries(source: Readable, pack: tarStream.Pack, rewrite: Rewrite, { stopAt, check }: CopyOptions = {}): Promise<void> {
  const extract = tarStream.extract();
  // A failure of the source destroys the extractor, and the loop below throws it.
  const feeding = pipeline(source, extract as unknown as NodeJS.WritableStream);
  feeding.catch(() => {});
  try {
    for await (const entry of extract) {
      const body = entry as unknown as Readable;
      if (stopAt?.(entry.header)) {
        source.destroy();
        extract.destroy();
        return;
      }
      const header = rewrite(entry.header);
      if (header === undefined) body.resume();
      else if (check?.names.has(header.name) && header.type === 'file') {
        if ((header.size ?? 0) > MAX_MANIFEST_BYTES) throw new BadEntryError(`entry ${JSON.stringify(entry.header.name)} is too large`);
        const chunks: Buffer[] = [];
        for await (const chunk of body as AsyncIterable<Buffer>) chunks.push(chunk);
        const content = Buffer.concat(chunks);
        check.fn(header.name, content.toString('utf8'));
        await addEntryOf(pack, header, content);
      } else await addEntry(pack, header, body);
    }
  } catch (err) {
    source.destroy();
    extract.destroy();
    throw err;
  }
  await feeding;
}

/**
 * A new tar stream that produce writes entries into while consume reads it (into a file, or the
 * engine). The first failure of either ends both (the stream is destroyed, which fails any entry
 * being written), and is thrown once both have ended.
 */
export async function streamPack(produce: (pack: tarStream.Pack) => Promise<void>, consume: (tar: Readable) => Promise<void>): Promise<void> {
  const pack = tarStream.pack();
  const producing = produce(pack).then(() => pack.finalize());
  const consuming = consume(pack as unknown as Readable);
  try {
    await Promise.all([producing, consuming]);
  } catch (err) {
    pack.destroy();
    await Promise.allSettled([producing, consuming]);
    throw err;
  }
}

/** Adds an entry that no source holds: a directory, a link, or a small file with this content. */
export function addEntryOf(pack: tarStream.Pack, header: EntryHeader, content?: string | Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (err?: Error | null) => (err ? reject(err) : resolve());
    if (content === undefined) pack.entry(header, done);
    else pack.entry(header, content, done);
  });
}

/** The header and text of a tar stream's first entry (text empty when it is no small file); the rest is not read. */
export async function readFirstEntry(source: Readable): Promise<{ header: tarStream.Header; text: string } | undefined> {
  const extract = tarStream.extract();
  // A failure of the source destroys the extractor, and the loop below throws it; so does stopping early.
  pipeline(source, extract as unknown as NodeJS.WritableStream).catch(() => {});
  try {
    for await (const entry of extract) {
      if (entry.header.type !== 'file' || entry.header.size > MAX_MANIFEST_BYTES) return { header: entry.header, text: '' };
      const chunks: Buffer[] = [];
      for await (const chunk of entry as unknown as AsyncIterable<Buffer>) chunks.push(chunk);
      return { header: entry.header, text: Buffer.concat(chunks).toString('utf8') };
    }
    return undefined;
  } finally {
    source.destroy();
    extract.destroy();
  }
}

/** Whether an entry of a one-file export belongs to its images. */
export const isImageEntry = (header: tarStream.Header): boolean => header.name.split('/')[0] === IMAGES_DIR;

/**
 * An entry of the images as `docker load` takes them: the name below prefix (IMAGES_DIR in a
 * one-file export, '' in IMAGES_FILE), relative and without "..", a directory, file, or link that
 * stays among them. Throws BadEntryError.
 */
export function checkedImageEntry(header: tarStream.Header, prefix: string): EntryHeader {
  const raw = header.name;
  const name = prefix === '' ? raw : raw.slice(prefix.length + 1);
  if ((prefix !== '' && !raw.startsWith(`${prefix}/`)) || name === '' || raw.startsWith('/') || raw.split('/').includes('..')) {
    throw new BadEntryError(`entry ${JSON.stringify(raw)} is no entry of the images`);
  }
  if (header.type === 'symlink') {
    const target = header.linkname ?? '';
    const resolved = path.posix.normalize(path.posix.join(path.posix.dirname(name), target));
    if (target.startsWith('/') || resolved === '..' || resolved.startsWith('../')) {
      throw new BadEntryError(`entry ${JSON.stringify(raw)} links to ${JSON.stringify(target)}, outside the images`);
    }
  } else if (header.type !== 'file' && header.type !== 'directory') {
    throw new BadEntryError(`entry ${JSON.stringify(raw)} is a ${header.type ?? 'special entry'}: images hold directories, files and links`);
  }
  return plainHeader(header, name);
}

/** The files of `docker save`'s tar that name tags: `docker load` tags what they name. */
export const IMAGE_TAG_FILES: ReadonlySet<string> = new Set(['manifest.json', 'repositories', 'index.json']);

/** A reference as the engine writes it in index.json, as the manifest names it: without docker.io/ and library/. */
const shortRef = (ref: string): string => ref.replace(/^docker\.io\//, '').replace(/^library\//, '');

/**
 * Checks that a file of IMAGE_TAG_FILES names only the tags in allowed: a load tags nothing else.
 * Throws BadEntryError.
 */
export function checkImageTags(name: string, text: string, allowed: ReadonlySet<string>): void {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new BadEntryError(`the images' ${name} is not JSON`);
  }
  const tags: unknown[] = [];
  if (name === 'manifest.json' && Array.isArray(parsed)) for (const m of parsed) tags.push(...((m as { RepoTags?: unknown[] })?.RepoTags ?? []));
  else if (name === 'repositories' && typeof parsed === 'object' && parsed !== null) {
    for (const [repo, byTag] of Object.entries(parsed)) for (const tag of Object.keys(byTag ?? {})) tags.push(`${repo}:${tag}`);
  } else if (name === 'index.json' && typeof parsed === 'object' && parsed !== null) {
    for (const m of (parsed as { manifests?: Array<{ annotations?: Record<string, unknown> }> }).manifests ?? []) {
      const ref = m?.annotations?.['io.containerd.image.name'];
      if (ref !== undefined) tags.push(typeof ref === 'string' ? shortRef(ref) : ref);
    }
  } else throw new BadEntryError(`the images' ${name} is not what docker save writes`);
  for (const tag of tags) {
    if (typeof tag !== 'string' || !allowed.has(tag)) throw new BadEntryError(`the images would tag ${JSON.stringify(tag)}, which the manifest does not list`);
  }
}

/**
 * Whether an entry of a volume's content is safe to unpack into it: a relative name inside the
 * volume, no "..", and of a kind caches hold (directories, regular files, symbolic links that stay
 * inside the volume). Returns the normalised name, or throws BadEntryError.
 */
export function checkedName(header: tarStream.Header, volumes: ReadonlySet<string>): { volume: string; name: string } {
  const raw = header.name;
  const name = path.posix.normalize(raw).replace(/\/+$/, '');
  const volume = name.split('/')[0]!;
  if (raw.startsWith('/') || name === '..' || name.startsWith('../') || raw.split('/').includes('..')) {
    throw new BadEntryError(`entry ${JSON.stringify(raw)} points outside its volume`);
  }
  if (!volumes.has(volume)) throw new BadEntryError(`entry ${JSON.stringify(raw)} belongs to no volume the manifest lists`);
  if (header.type === 'symlink') {
    const target = header.linkname ?? '';
    const resolved = path.posix.normalize(path.posix.join(path.posix.dirname(name), target));
    if (target.startsWith('/') || !(resolved === volume || resolved.startsWith(`${volume}/`))) {
      throw new BadEntryError(`entry ${JSON.stringify(raw)} links to ${JSON.stringify(target)}, outside its volume`);
    }
  } else if (header.type !== 'file' && header.type !== 'directory') {
    throw new BadEntryError(`entry ${JSON.stringify(raw)} is a ${header.type ?? 'special entry'}: a cache holds directories, files and links`);
  }
  return { volume, name };
}

/** What of a `docker save` tar is the files of images' layers: manifest.json's Layers, and links among the entries. */
export async function savedLayout(source: Readable): Promise<{ layers: Map<string, string[]>; links: Map<string, string> }> {
  const extract = tarStream.extract();
  pipeline(source, extract as unknown as NodeJS.WritableStream).catch(() => {});
  const layers = new Map<string, string[]>();
  const links = new Map<string, string>();
  try {
    for await (const entry of extract) {
      const body = entry as unknown as Readable;
      const { name, type, linkname } = entry.header;
      if (type === 'symlink') links.set(name, path.posix.normalize(path.posix.join(path.posix.dirname(name), linkname ?? '')));
      if (name === 'manifest.json' && type === 'file' && entry.header.size! <= MAX_MANIFEST_BYTES) {
        const chunks: Buffer[] = [];
        for await (const chunk of body as AsyncIterable<Buffer>) chunks.push(chunk);
        const parsed = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Array<{ RepoTags?: string[]; Layers?: string[] }>;
        for (const m of parsed) for (const tag of m.RepoTags ?? []) layers.set(tag, m.Layers ?? []);
      } else body.resume();
    }
  } finally {
    source.destroy();
    extract.destroy();
  }
  return { layers, links };
}
