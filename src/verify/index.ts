/**
 * `d7y-build verify` and `d7y-build inspect`: answers from the files alone, with no Go toolchain,
 * no container and without running them. A question the files can't answer is an
 * UnverifiableError, never a guess.
 */
import { lstat, readlink, stat } from 'node:fs/promises';
import path from 'node:path';
import { UnreadableFileError } from '../elf/elf';
import { UnverifiableError, UsageError } from '../errors';
import { kindOf, readRegularFile } from '../files';
import { targetOfElfArch } from '../platform';
import { HOST_LIST } from '../plugin';
import { NotGoBinaryError, readGoBinary, type GoBinary } from './binary';
import { decide, type PluginVerdict } from './verdict';
import { hintOption } from '../option-names';

type Role = 'host' | 'plugin' | 'file';

const pathHint = (role: Role) => `pass the path of a ${role === 'file' ? 'Go binary' : role}`;

/** The errno code of a failed system call (ENOENT, EACCES, …), else undefined. */
function errnoOf(err: unknown): string | undefined {
  const e = err as NodeJS.ErrnoException | undefined;
  return typeof e?.syscall === 'string' ? e.code : undefined;
}

/**
 * Refuses what is not a regular file by its type, from stat alone: a FIFO is never opened (that
 * would block), a device never read. `label` names the file in messages.
 */
async function checkRegularFile(file: string, label: string, role: Role): Promise<void> {
  const hint = pathHint(role);
  const failed = (err: unknown): never => {
    if (errnoOf(err) === 'ENOENT') throw new UsageError(`${label} does not exist`, { hint });
    throw new UsageError(`cannot read ${label} (${errnoOf(err) ?? String(err)})`, { hint: `${hint} that you may read` });
  };
  const own = await lstat(file).catch(failed);
  let info = own;
  let link = '';
  if (own.isSymbolicLink()) {
    const target = await readlink(file).catch(failed);
    info = await stat(file).catch((err: unknown) => {
      if (errnoOf(err) === 'ENOENT') throw new UsageError(`${label} is a symbolic link to ${target}, which does not exist`, { hint });
      return failed(err);
    });
    link = ` (a symbolic link to ${target})`;
  }
  if (!info.isFile()) throw new UsageError(`${label}${link} is ${kindOf(info)}, not a file`, { hint });
}

async function load(file: string, role: Role, label = file): Promise<GoBinary> {
  await checkRegularFile(file, label, role);
  try {
    const binary = await readGoBinary(file);
    if (role === 'plugin' && binary.kind !== 'plugin') {
      throw new UnverifiableError(`${label} is not a Go plugin (built with -buildmode=${binary.buildInfo.settings['-buildmode'] ?? 'exe'})`, {
        hint: 'pass the .so built with -buildmode=plugin',
      });
    }
    if (role === 'host' && binary.kind !== 'executable') {
      throw new UnverifiableError(`${label} is a Go plugin, not a host executable`, { hint: `${hintOption('host')} takes the ${HOST_LIST} binary` });
    }
    await checkRecordedPlatform(file, label, binary.arch);
    return { ...binary, path: label };
  } catch (err) {
    if (err instanceof UnreadableFileError || err instanceof NotGoBinaryError) {
      throw new UnverifiableError(`cannot tell from ${label}: ${err.message}`, {
        hint: 'verify and inspect read 64-bit Go binaries for linux/amd64 and linux/arm64',
        cause: err,
      });
    }
    // The file changed between the checks and the read (removed, made unreadable).
    if (errnoOf(err) !== undefined) throw new UsageError(`cannot read ${label} (${errnoOf(err)})`, { hint: pathHint(role), cause: err });
    throw err;
  }
}

/**
 * The platform the d7y-build that wrote a file recorded for it: the manifest.json of its --out
 * (<out>/bin/<host>, <out>/plugins/<file>), when that manifest lists the file; undefined otherwise.
 */
export async function recordedPlatform(file: string): Promise<{ manifest: string; platform: string } | undefined> {
  const out = path.dirname(path.dirname(file));
  const manifest = path.join(out, 'manifest.json');
  const text = await readRegularFile(manifest, {
    what: 'the manifest',
    hint: 'remove it, or pass files outside a d7y-build --out',
    maxBytes: 16 * 1024 * 1024,
    optional: true,
  });
  if (text === undefined) return undefined;
  let parsed: { tool?: { name?: unknown }; platform?: unknown; artifacts?: Array<{ path?: unknown }> };
  try {
    parsed = JSON.parse(text) as typeof parsed;
  } catch {
    return undefined;
  }
  const own = path.relative(out, file).split(path.sep).join('/');
  if (parsed.tool?.name !== 'd7y-build' || typeof parsed.platform !== 'string' || !parsed.artifacts?.some((a) => a.path === own)) return undefined;
  return { manifest, platform: parsed.platform };
}

/** A file whose ELF machine is not the platform its manifest records was not written by that build. */
async function checkRecordedPlatform(file: string, label: string, arch: string): Promise<void> {
  const recorded = await recordedPlatform(file);
  const actual = targetOfElfArch(arch) ?? `linux/${arch}`;
  if (recorded === undefined || recorded.platform === actual) return;
  throw new UnverifiableError(`${label} is an ELF file for ${actual}, but ${recorded.manifest} records ${recorded.platform}`, {
    hint: 'the file was replaced after the build: pass the files of one build, or build again with --platform ' + recorded.platform,
  });
}

export interface HostSummary {
  path: string;
  goVersion: string;
  arch: string;
  settings: Record<string, string>;
  /** Dragonfly's version.GitCommit, when the host is a Dragonfly binary stamped by a build. */
  dragonflyCommit?: string;
}

export interface VerifyReport {
  loads: boolean;
  host: HostSummary;
  plugins: Array<PluginVerdict & { goVersion: string; buildCommit?: string; orderKnown: boolean }>;
}

function summary(b: GoBinary): HostSummary {
  return {
    path: b.path,
    goVersion: b.buildInfo.goVersion,
    arch: b.arch,
    settings: b.buildInfo.settings,
    ...(b.stamps['version.GitCommit'] ? { dragonflyCommit: b.stamps['version.GitCommit'] } : {}),
  };
}

/**
 * Plugins are considered in the order Dragonfly loads its plugins directory: by file name. The
 * report and every message name each file by `labelOf` (by default its path).
 */
export async function verifyFiles(hostPath: string, pluginPaths: string[], labelOf: (file: string) => string = (f) => f): Promise<VerifyReport> {
  const host = await load(hostPath, 'host', labelOf(hostPath));
  const plugins: GoBinary[] = [];
  for (const p of [...pluginPaths].sort((a, b) => path.basename(a).localeCompare(path.basename(b)))) plugins.push(await load(p, 'plugin', labelOf(p)));

  if (host.exportedHashes.size === 0 && host.buildInfo.settings.CGO_ENABLED === '1') {
    throw new UnverifiableError(`cannot tell from ${host.path}: it exports no package hashes`, {
      hint: 'its dynamic symbol table was stripped, or it does not link package plugin (and then loads no plugin at all)',
    });
  }
  for (const p of plugins) {
    if ((p.pluginHashes ?? []).length === 0) {
      throw new UnverifiableError(`cannot tell from ${p.path}: it has no package hashes`, { hint: 'its symbol tables were stripped' });
    }
  }

  const verdicts = decide(host, plugins);
  return {
    loads: verdicts.every((v) => v.loads),
    host: summary(host),
    plugins: verdicts.map((v, i) => ({
      ...v,
      goVersion: plugins[i]!.buildInfo.goVersion,
      buildCommit: plugins[i]!.stamps['main.buildCommit'],
      orderKnown: plugins[i]!.orderKnown,
    })),
  };
}

export interface InspectReport {
  path: string;
  kind: GoBinary['kind'];
  arch: string;
  size: number;
  goVersion: string;
  /** The main package, e.g. d7y.io/dragonfly/v2/cmd/dfget, or command-line-arguments. */
  mainPackage: string;
  main?: { path: string; version: string };
  deps: Array<{ path: string; version: string; replace?: { path: string; version: string } }>;
  settings: Record<string, string>;
  stamps: Record<string, string>;
  dragonflyCommit?: string;
  /** False for plugins of Go 1.20 and older: goVersion then comes from the DWARF, and settings are empty. */
  buildInfoRecorded: boolean;
  hasSymtab: boolean;
  exportedPackageHashes: number;
  /** For plugins: the packages plugin.Open checks, in its order. */
  packageHashes?: Array<{ pkg: string; hash: string }>;
}

export async function inspectFile(file: string): Promise<InspectReport> {
  const b = await load(file, 'file');
  const info = b.buildInfo;
  return {
    path: b.path,
    kind: b.kind,
    arch: b.arch,
    size: b.size,
    goVersion: info.goVersion,
    mainPackage: info.path,
    ...(info.main ? { main: { path: info.main.path, version: info.main.version } } : {}),
    deps: info.deps.map((d) => ({ path: d.path, version: d.version, ...(d.replace ? { replace: { path: d.replace.path, version: d.replace.version } } : {}) })),
    settings: info.settings,
    stamps: b.stamps,
    ...((b.stamps['version.GitCommit'] ?? b.stamps['main.buildCommit'])
      ? { dragonflyCommit: b.stamps['version.GitCommit'] ?? b.stamps['main.buildCommit'] }
      : {}),
    buildInfoRecorded: b.buildInfoRecorded,
    hasSymtab: b.hasSymtab,
    exportedPackageHashes: b.exportedHashes.size,
    ...(b.pluginHashes ? { packageHashes: b.pluginHashes } : {}),
  };
}
