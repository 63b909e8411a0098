/**
 * Files into and out of the build container as tar streams. In: tar-fs packs a directory with the
 * owner the container's build user needs. Out: every entry is checked against the list of files the
 * build was expected to produce before a byte is written, and hashed as it is written.
 */
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tarFs from 'tar-fs';
import tarStream from 'tar-stream';
import { CONTAINER } from '../session/layout';

export interface PackOptions {
  /** Path prefix of every entry, e.g. "dragonfly" to unpack as <target>/dragonfly/... */
  prefix: string;
  /** Entries (relative to the directory, "/"-separated) to leave out. */
  ignore?: (relative: string) => boolean;
  /**
   * Entries for the directories of the prefix above dir too, first: unpacking sets their owner, so
   * the build user owns them even where they exist already (a volume's root, created by the engine).
   */
  parents?: boolean;
}

/** A tar stream of dir's contents, owned by the build user. */
export function packDirectory(dir: string, options: PackOptions): Readable {
  return packDirectories([{ dir, ...options }]);
}

/** One tar stream of several directories' contents, one after the other, each under its own prefix. */
export function packDirectories(parts: Array<PackOptions & { dir: string }>): Readable {
  const pack = tarStream.pack();
  const add = (i: number): void => {
    const part = parts[i];
    if (part === undefined) {
      pack.finalize();
      return;
    }
    if (part.parents) {
      const names = part.prefix.split('/').slice(0, -1);
      for (let n = 1; n <= names.length; n++) {
        pack.entry({ name: names.slice(0, n).join('/'), type: 'directory', mode: 0o755, uid: CONTAINER.user.uid, gid: CONTAINER.user.gid });
      }
    }
    tarFs.pack(part.dir, {
      pack,
      finalize: false,
      finish: () => add(i + 1),
      ignore: (name) => part.ignore?.(path.relative(part.dir, name).split(path.sep).join('/')) ?? false,
      map: (header) => {
        header.name = path.posix.join(part.prefix, header.name);
        header.uid = CONTAINER.user.uid;
        header.gid = CONTAINER.user.gid;
        return header;
      },
    });
  };
  add(0);
  // tar-stream's streamx Readable is what dockerode pipes from; Node's type is close enough.
  return pack as unknown as Readable;
}

export interface ExtractedFile {
  /** Path relative to the extraction root, "/"-separated. */
  name: string;
  path: string;
  sha256: string;
  size: number;
}

export class UnexpectedEntryError extends Error {}

/**
 * Unpacks a tar stream into dest, accepting only directories and regular files whose normalised
 * names `allowed` accepts. Absolute names, "..", links and devices are refused.
 */
export async function extractExpected(tar: Readable, dest: string, allowed: (name: string) => boolean): Promise<ExtractedFile[]> {
  const files: ExtractedFile[] = [];
  const extract = tarStream.extract();
  extract.on('entry', (header, stream, next) => {
    const fail = (why: string): void => {
      // Destroying the extractor destroys this entry's stream with the same error: the rejection
      // below reports it, so the entry must not raise it again as an unhandled 'error'.
      stream.on('error', () => {});
      stream.resume();
      extract.destroy(new UnexpectedEntryError(`refusing archive entry ${JSON.stringify(header.name)}: ${why}`));
    };
    const name = path.posix.normalize(header.name).replace(/\/$/, '');
    if (header.name.startsWith('/') || name === '..' || name.startsWith('../')) return fail('it points outside the output');
    if (header.type === 'directory') {
      mkdir(path.join(dest, name), { recursive: true }).then(() => {
        stream.resume();
        next();
      }, next);
      return;
    }
    if (header.type !== 'file') return fail(`it is a ${header.type ?? 'special entry'}, not a regular file`);
    if (!allowed(name)) return fail('the build was not expected to produce it');

    const target = path.join(dest, name);
    const hash = createHash('sha256');
    let size = 0;
    const measure = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        hash.update(chunk);
        size += chunk.length;
        done(null, chunk);
      },
    });
    mkdir(path.dirname(target), { recursive: true })
      .then(() => pipeline(stream, measure, createWriteStream(target, { mode: (header.mode ?? 0o644) & 0o755 })))
      .then(() => {
        files.push({ name, path: target, sha256: hash.digest('hex'), size });
        next();
      }, next);
  });
  await pipeline(tar, extract);
  return files;
}
