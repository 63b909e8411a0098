/**
 * The file system of the runtime image (--image): the host and plugins the build validated, the
 * shared libraries they need as the build container's loader resolves them (`ldd` there: the same
 * glibc they were linked and validated against; for a cross target, the target's loader with
 * `--list` under qemu, over the cross toolchain's sysroot), the CA bundle, passwd/group for the user
 * it runs as, /tmp, and Dragonfly's directories. Nothing else of the Go image: no toolchain, no shell.
 */
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import tarStream from 'tar-stream';
import { extractExpected, UnexpectedEntryError } from '../../artifacts/archive';
import type { BuildContainer } from '../../docker/engine';
import { ImageError, InternalError } from '../../errors';
import { makeTempDir } from '../../files';
import { CONTAINER, DRAGONFLY_DIRS, RUNTIME_IMAGE } from '../../session/layout';
import { targetPlatform, type TargetName } from '../../platform';

/** Taken along when the Go image has it: Dragonfly talks TLS to registries and peers. */
export const CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';

/** What `ldd` says the binaries load: absolute paths, and the names it could not find. */
export interface LddReport {
  libraries: string[];
  missing: string[];
}

/** A path the image may hold: absolute, plain characters, no `.` or `..` component. */
const SAFE_PATH = /^(\/[A-Za-z0-9_+][A-Za-z0-9._+-]*)+$/;

/**
 * The libraries in `ldd a b …` output, each once, sorted. Lines name a library as
 * `libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x…)`, the loader as `/lib64/ld-linux-x86-64.so.2
 * (0x…)`; the vDSO has no file, a header line names each binary. A path that is not plainly
 * absolute is refused: the image's layout is not the container's to choose. Pure.
 */
export function parseLdd(output: string): LddReport {
  const libraries = new Set<string>();
  const missing = new Set<string>();
  for (const line of output.split('\n')) {
    const text = line.trim();
    const notFound = /^(\S+) => not found$/.exec(text);
    if (notFound) {
      missing.add(notFound[1]!);
      continue;
    }
    const found = /^(?:\S+ => )?(\/\S*) \(0x[0-9a-f]+\)$/.exec(text);
    if (found === null) continue;
    const file = found[1]!;
    if (!SAFE_PATH.test(file) || file.split('/').some((part) => part === '.' || part === '..')) {
      throw new InternalError(`ldd in the build container named the library ${JSON.stringify(file)}, not a plain absolute path`);
    }
    libraries.add(file);
  }
  return { libraries: [...libraries].sort(), missing: [...missing].sort() };
}

/** A file of the image's root: its absolute path, content and mode; owned by root. */
export interface RootFile {
  path: string;
  content: Buffer;
  mode: number;
}

/**
 * What the target's dynamic loader lists for the binaries: `ldd` for the container's own platform;
 * for a cross target, the target's loader with --list under qemu (what ldd runs), its paths then
 * the target's own (below the sysroot in the container).
 */
function listLibraries(container: BuildContainer, binaries: string[], target: TargetName) {
  const cross = targetPlatform(target).cross;
  if (cross === undefined) return container.exec(['ldd', ...binaries]);
  const script = 'qemu=$1 root=$2 loader=$3; shift 3; for f; do echo "$f:"; "$qemu" -L "$root" "$root$loader" --list "$f"; done';
  return container.exec(['sh', '-c', script, 'sh', cross.qemu, cross.sysroot, cross.loader, ...binaries]);
}

/**
 * The shared libraries of the host and plugins (paths in the build container), and the CA bundle
 * when there is one, read out of the build container: each copied with its links followed into
 * a fresh directory there, then taken out in one archive and checked entry by entry.
 */
export async function runtimeLibraries(container: BuildContainer, binaries: string[], target: TargetName): Promise<RootFile[]> {
  const ldd = await listLibraries(container, binaries, target);
  const report = parseLdd(ldd.stdout);
  if (report.missing.length > 0) {
    throw new ImageError(`the host or a plugin needs ${report.missing.join(', ')}, which the Go image does not have`, {
      hint: 'build with a Go image that has every library the host links (the official golang images do), or leave out --image',
      detail: ldd.stdout + ldd.stderr,
    });
  }
  if (report.libraries.length === 0) {
    throw new ImageError(`ldd in the build container named no library of the host (exit ${ldd.exitCode})`, {
      hint: "the runtime image takes the host's libraries from the Go image: use one with ldd (the official golang images have it), or leave out --image",
      detail: ldd.stdout + ldd.stderr,
    });
  }

  // The target's loader lists itself by the path it was run by, below the sysroot: in the image, it
  // is where the binaries' PT_INTERP names it, as every library is where the loader found it.
  const root = targetPlatform(target).cross?.sysroot ?? '';
  const libraries = [...new Set(report.libraries.map((p) => (root !== '' && p.startsWith(`${root}/`) ? p.slice(root.length) : p)))].sort();

  // Copies, links followed, below a fresh directory: a library from the target's root (the
  // container's own, or a cross target's sysroot), the CA bundle only when the image has one.
  const script = [
    'set -eu',
    'root=$1; shift',
    'dir=$(mktemp -d)',
    'for p in "$@"; do',
    `  if [ "$p" = ${CA_BUNDLE} ]; then [ -e "$p" ] || continue; from=$p; else from=$root$p; fi`,
    '  mkdir -p "$dir$(dirname "$p")" && cp -L "$from" "$dir$p"',
    'done',
    'echo "$dir"',
  ].join('\n');
  const copied = await container.exec(['sh', '-c', script, 'sh', root, ...libraries, CA_BUNDLE]);
  const dir = copied.stdout.trim();
  if (copied.exitCode !== 0 || !SAFE_PATH.test(dir)) {
    throw new ImageError(`cannot copy the host's libraries out of the Go image: ${copied.stderr.trim() || `exit ${copied.exitCode}`}`, {
      hint: 'the runtime image takes them from the Go image; --verbose shows the build container',
    });
  }

  const base = path.posix.basename(dir);
  const wanted = new Map([...libraries, CA_BUNDLE].map((p) => [`${base}${p}`, p]));
  const staging = await makeTempDir('image-root');
  try {
    const files = await extractExpected(await container.getArchive(dir), staging, (name) => wanted.has(name)).catch((err: unknown) => {
      if (err instanceof UnexpectedEntryError)
        throw new InternalError(`the build container returned a bad archive of libraries: ${err.message}`, { cause: err });
      throw err;
    });
    return await Promise.all(
      files.map(async (f) => {
        const file = wanted.get(f.name)!;
        return { path: file, content: await readFile(f.path), mode: file === CA_BUNDLE ? 0o644 : 0o755 };
      }),
    );
  } finally {
    await rm(staging, { recursive: true, force: true });
    // The copies are the container's to lose with it: a failed removal must not hide why we are here.
    await container.exec(['rm', '-rf', dir]).catch(() => undefined);
  }
}

/** passwd, group and nsswitch.conf: root, and the user the image runs as, at home in Dragonfly's data directory. */
function accountFiles(): RootFile[] {
  const { name, uid, gid } = CONTAINER.user;
  const text = (p: string, lines: string[]): RootFile => ({ path: p, content: Buffer.from(lines.join('\n') + '\n'), mode: 0o644 });
  return [
    text('/etc/passwd', ['root:x:0:0:root:/root:/sbin/nologin', `${name}:x:${uid}:${gid}:${name}:${DRAGONFLY_DIRS.data}:/sbin/nologin`]),
    text('/etc/group', ['root:x:0:', `${name}:x:${gid}:`]),
    text('/etc/nsswitch.conf', ['passwd: files', 'group: files', 'hosts: files dns']),
  ];
}

/** An entry of a tar packTar writes: root's unless uid/gid say otherwise. */
export interface TarEntry {
  /** Relative, "/"-separated; directories end in "/". */
  name: string;
  mode: number;
  uid?: number;
  gid?: number;
  /** A file's bytes; none for a directory. */
  content?: Buffer;
}

/** A tar of the entries, sorted by name, every one with the same mtime and no owner names: the same entries make the same bytes. */
export async function packTar(entries: TarEntry[], mtime: Date): Promise<Buffer> {
  const pack = tarStream.pack();
  for (const e of [...entries].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    const header = { name: e.name, mode: e.mode, uid: e.uid ?? 0, gid: e.gid ?? 0, mtime, uname: '', gname: '' };
    if (e.content === undefined) pack.entry({ ...header, type: 'directory' });
    else pack.entry({ ...header, type: 'file' }, e.content);
  }
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of pack as unknown as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/**
 * The image's root as one tar (ADD unpacks it with these modes and owners): every directory a file
 * needs (root's, 0755), /tmp (1777), Dragonfly's writable directories (the user's), the files.
 */
export async function rootTar(files: RootFile[], mtime: Date): Promise<Buffer> {
  const all = [...files, ...accountFiles()];
  // A library the Go image's loader names where the image keeps its own files (its passwd, the
  // host, /tmp) would replace them: the image must hold each path once.
  const seen = new Set<string>();
  for (const f of all) {
    if (seen.has(f.path) || f.path === '/tmp' || RUNTIME_IMAGE.userDirs.some((d) => f.path === d || f.path.startsWith(`${d}/`))) {
      throw new ImageError(`the runtime image would hold ${f.path} twice: a library the Go image names is where the image keeps its own files`, {
        hint: 'build with a Go image whose libraries are in the usual places (the official golang images), or leave out --image',
      });
    }
    seen.add(f.path);
  }
  const dirs = new Map<string, TarEntry>();
  const addParents = (p: string) => {
    for (let d = path.posix.dirname(p); d !== '/'; d = path.posix.dirname(d)) if (!dirs.has(d)) dirs.set(d, { name: `${d.slice(1)}/`, mode: 0o755 });
  };
  for (const f of all) addParents(f.path);
  addParents(`${RUNTIME_IMAGE.plugins}/`);
  dirs.set('/tmp', { name: 'tmp/', mode: 0o1777 });
  for (const d of RUNTIME_IMAGE.userDirs) {
    addParents(d);
    dirs.set(d, { name: `${d.slice(1)}/`, mode: 0o755, uid: CONTAINER.user.uid, gid: CONTAINER.user.gid });
  }
  return packTar([...dirs.values(), ...all.map((f) => ({ name: f.path.slice(1), mode: f.mode, content: f.content }))], mtime);
}
