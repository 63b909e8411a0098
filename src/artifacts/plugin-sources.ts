/**
 * What of a plugin directory is sent to the build container: everything but .git and what its
 * .gitignore and .dockerignore (at the plugin's root) leave out, and no more than a size limit, so a
 * stray dataset or build output is refused before anything is uploaded. Only directories, regular
 * files and relative symbolic links that stay inside the directory can be sent: a FIFO or device
 * would hang or flood the upload, and a link out of the directory arrives dangling in the container.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, readdir, readlink, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import ignore from 'ignore';
import { D7yError, UsageError } from '../errors';
import { formatBytes, isInside, kindOf, readRegularFile } from '../files';
import { hintOption } from '../option-names';

export interface PluginSources {
  /** The plugin directory's real path (symbolic links resolved): what is packed. */
  dir: string;
  /** Relative paths ("/"-separated) of the files and directories to send; "" is the root. */
  entries: Set<string>;
  /** The entries that are regular files, or links to regular files. */
  files: Set<string>;
  bytes: number;
}

/** Ignore files are a few lines; one larger than this is not an ignore file. */
const MAX_IGNORE_FILE = 1024 * 1024;

const SKIP_HINT = "remove it, or list it in the plugin's .dockerignore so it is not sent";

async function ignoreFile(dir: string, name: string): Promise<string> {
  const text = await readRegularFile(path.join(dir, name), {
    what: 'the ignore file',
    hint: `make ${name} a regular text file of patterns, or remove it`,
    maxBytes: MAX_IGNORE_FILE,
    optional: true,
  });
  return text ?? '';
}

/** A link is sent as a link: it must be relative and end at a file or directory inside root. */
async function linkTarget(root: string, file: string, rel: string): Promise<'file' | 'directory'> {
  const refuse = (why: string, hint = SKIP_HINT) => new UsageError(`${rel} in the plugin directory ${why}`, { hint });
  const target = await readlink(file);
  if (path.isAbsolute(target)) {
    throw refuse(
      `is a symbolic link to the absolute path ${target}, which the build container does not have`,
      'make it a relative link within the plugin directory, copy the file in, or list it in .dockerignore',
    );
  }
  const real = await realpath(file).catch(() => undefined);
  if (real === undefined) throw refuse(`is a symbolic link to ${target}, which does not exist`);
  if (!isInside(real, root)) {
    throw refuse(
      `is a symbolic link to ${real}, outside the plugin directory`,
      'copy what it points to into the plugin directory, or list the link in .dockerignore',
    );
  }
  const info = await stat(real);
  if (info.isDirectory()) return 'directory';
  if (info.isFile()) return 'file';
  throw refuse(`is a symbolic link to ${kindOf(info)} (${real}), not a regular file`);
}

/** What of the directory root is never sent: .git and what its .gitignore and .dockerignore list. */
export async function ignoreRules(root: string): Promise<ignore.Ignore> {
  return ignore()
    .add(['.git'])
    .add(await ignoreFile(root, '.gitignore'))
    .add(await ignoreFile(root, '.dockerignore'));
}

/** root must be the directory's real path; the signal stops the walk of a large tree. */
export async function readPluginSources(root: string, maxBytes: number, signal?: AbortSignal): Promise<PluginSources> {
  const rules = await ignoreRules(root);
  const entries = new Set<string>(['']);
  const files = new Set<string>();
  let bytes = 0;
  const walk = async (rel: string): Promise<void> => {
    signal?.throwIfAborted();
    const names = (await readdir(path.join(root, rel), { encoding: 'buffer' })).sort(Buffer.compare);
    for (const raw of names) {
      const name = raw.toString('utf8');
      const child = rel === '' ? name : `${rel}/${name}`;
      if (!Buffer.from(name, 'utf8').equals(raw)) {
        // Not UTF-8: tar, Go and the ignore rules all need a name they can spell.
        if (rules.ignores(child) || rules.ignores(`${child}/`)) continue;
        const escaped = [...raw].map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`)).join('');
        throw new UsageError(`${path.join(rel, escaped)} in the plugin directory has a name that is not UTF-8`, {
          hint: "rename it to a UTF-8 name (e.g. with convmv), or list it in the plugin's .dockerignore so it is not sent",
        });
      }
      const file = path.join(root, child);
      const info = await lstat(file);
      if (rules.ignores(info.isDirectory() ? `${child}/` : child)) continue;
      if (info.isDirectory()) {
        entries.add(child);
        await walk(child);
        continue;
      }
      if (info.isSymbolicLink()) {
        if ((await linkTarget(root, file, child)) === 'file') files.add(child);
      } else if (info.isFile()) {
        files.add(child);
      } else {
        throw new UsageError(`${child} in the plugin directory is ${kindOf(info)}; only regular files, directories and links within it can be sent`, {
          hint: SKIP_HINT,
        });
      }
      entries.add(child);
      bytes += info.size;
      if (bytes > maxBytes) {
        throw new UsageError(`${root} holds more than ${formatBytes(maxBytes)} to send to the build (reached at ${child})`, {
          hint: `list what the build does not need in the plugin's .dockerignore or .gitignore, or raise ${hintOption('maxContext')}`,
        });
      }
    }
  };
  try {
    await walk('');
  } catch (err) {
    if (err instanceof D7yError) throw err;
    const e = err as NodeJS.ErrnoException;
    throw new UsageError(`${e.path ?? root} in the plugin directory cannot be read (${e.code ?? e.message})`, {
      hint: "make the plugin directory readable for this user, or list what it can't read in .dockerignore",
    });
  }
  return { dir: root, entries, files, bytes };
}

/**
 * The sha256 of what is sent, independent of the tar's times and owners: of the lines
 * `<sha256 of the file>  <path>` for every file sent (links read through), sorted by path bytes. It is
 * what `sha256sum` prints for those files, in that order, hashed again by `sha256sum`.
 */
export async function sourcesDigest(sources: PluginSources): Promise<string> {
  const names = [...sources.files].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  const lines = createHash('sha256');
  for (const name of names) {
    const file = createHash('sha256');
    for await (const chunk of createReadStream(path.join(sources.dir, name))) file.update(chunk as Buffer);
    lines.update(`${file.digest('hex')}  ${name}\n`);
  }
  return lines.digest('hex');
}
