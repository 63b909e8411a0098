/**
 * `verify --provenance`: an artifact set (a build's --out, or the host and plugins given) against
 * its provenance.intoto.json and the sbom.cdx.json beside it. Reads what the check needs, within
 * the set's directory only: each subject's sha256 (streamed), each binary's build information, the
 * plugins/*.so the provenance does not name. The comparison itself is provenance.ts's.
 */
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { open, readdir, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { PROVENANCE_FILE } from '../artifacts/provenance';
import { binaryModules, SBOM_FILE } from '../artifacts/sbom';
import { UsageError } from '../errors';
import { isInside, kindOf, readRegularFile } from '../files';
import { hintOption } from '../option-names';
import { readGoBinary } from './binary';
import { verifyFiles, type VerifyReport } from '.';
import {
  checkProvenance,
  MAX_ATTESTATION_BYTES,
  parseProvenance,
  parseSbom,
  type BinaryFacts,
  type FileFacts,
  type ProvenanceMismatch,
  type SetFacts,
} from './provenance';

/** What `verify --provenance` is given: absolute paths. */
export interface ProvenanceSpec {
  /** The provenance file, or a directory holding provenance.intoto.json; undefined: the one in the set's directory. */
  provenance: string | undefined;
  /** Undefined: the provenance's host subject. */
  host: string | undefined;
  /**
   * Empty: the provenance's plugins/ subjects. One directory: the set (a build's --out). Without
   * either, the set is the provenance's directory, or the one above --host's bin/.
   */
  plugins: string[];
}

export interface ProvenanceReport {
  /** The provenance file read, and the SBOM beside it (null when there is none). */
  file: string;
  sbom: string | null;
  /** The set's directory, which subject names are taken from. */
  dir: string;
  subjects: number;
  matches: boolean;
  mismatches: ProvenanceMismatch[];
}

export interface AttestedVerifyReport {
  /** Whether the set is what its provenance (and SBOM) says; the exit code is 19 when not. */
  matches: boolean;
  provenance: ProvenanceReport;
  /** Whether the plugins load into the host: null when the set does not match (those files are not the ones attested). */
  load: VerifyReport | null;
}

const USAGE_HINT = `pass ${hintOption('provenance', '<provenance.intoto.json>')}, or ${hintOption('provenance', '<the directory a build wrote>')}`;

async function isDirectory(p: string): Promise<boolean> {
  return (await stat(p).catch(() => undefined))?.isDirectory() ?? false;
}

/** The set's directory and its provenance file, from what was given. */
async function locate(spec: ProvenanceSpec): Promise<{ dir: string; file: string; plugins: string[] }> {
  // `verify --provenance ./out`: the one argument that is a directory is the set.
  const setDir = spec.host === undefined && spec.plugins.length === 1 && (await isDirectory(spec.plugins[0]!));
  const out = setDir ? spec.plugins[0] : undefined;
  const plugins = setDir ? [] : spec.plugins;
  let file = spec.provenance;
  if (file !== undefined && (await isDirectory(file))) file = path.join(file, PROVENANCE_FILE);
  // Beside the set: in --out, which holds bin/<host>.
  file ??=
    out !== undefined
      ? path.join(out, PROVENANCE_FILE)
      : spec.host !== undefined
        ? path.join(path.dirname(path.dirname(spec.host)), PROVENANCE_FILE)
        : undefined;
  if (file === undefined)
    throw new UsageError('verify --provenance needs the artifact set: no --host, no directory and no provenance file given', { hint: USAGE_HINT });
  return { dir: out ?? path.dirname(file), file, plugins };
}

/** sha256 of a regular file in dir, streamed; why not, when it is missing, not a regular file, or a link out of dir. */
async function digestIn(realDir: string, file: string): Promise<{ sha256: string; real: string } | { why: string }> {
  const real = await realpath(file).catch((err: NodeJS.ErrnoException) => err);
  if (real instanceof Error)
    return { why: real.code === 'ENOENT' || real.code === 'ENOTDIR' ? 'does not exist' : `cannot be read (${real.code ?? real.message})` };
  if (!isInside(real, realDir)) return { why: `is a symbolic link out of the set's directory, to ${real}` };
  const handle = await open(real, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY).catch((err: NodeJS.ErrnoException) => err);
  if (handle instanceof Error) return { why: `cannot be read (${handle.code ?? handle.message})` };
  try {
    const info = await handle.stat();
    if (!info.isFile()) return { why: `is ${kindOf(info)}, not a file` };
    const hash = createHash('sha256');
    for await (const chunk of handle.createReadStream({ autoClose: false, highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
    return { sha256: hash.digest('hex'), real };
  } finally {
    await handle.close();
  }
}

async function binaryFacts(file: string): Promise<BinaryFacts> {
  try {
    const b = await readGoBinary(file);
    const info = b.buildInfo;
    return {
      readable: true,
      goVersion: info.goVersion,
      buildInfoRecorded: b.buildInfoRecorded,
      settings: info.settings,
      stamps: b.stamps,
      modules: b.buildInfoRecorded ? [...binaryModules(info).keys()].sort() : [],
    };
  } catch (err) {
    return { readable: false, why: err instanceof Error ? err.message : String(err) };
  }
}

/** The name of a given file in the set, or a UsageError when it lies outside it. */
function nameIn(dir: string, file: string, what: string): string {
  if (!isInside(file, dir) || file === dir) {
    throw new UsageError(`${what} ${file} is outside the artifact set ${dir}`, {
      hint: `pass files below ${dir}, where the provenance's subjects are, or leave them out to check the whole set`,
    });
  }
  return path.relative(dir, file).split(path.sep).join('/');
}

export async function verifyProvenance(spec: ProvenanceSpec): Promise<AttestedVerifyReport> {
  const { dir, file, plugins } = await locate(spec);
  const attested = parseProvenance(await readRegularFile(file, { what: 'the provenance', hint: USAGE_HINT, maxBytes: MAX_ATTESTATION_BYTES }), file);
  const sbomFile = path.join(path.dirname(file), SBOM_FILE);
  const sbomText = await readRegularFile(sbomFile, {
    what: 'the SBOM',
    hint: `remove ${sbomFile}, or put the build's own there`,
    maxBytes: MAX_ATTESTATION_BYTES,
    optional: true,
  });
  const hostName = spec.host === undefined ? attested.host : nameIn(dir, spec.host, '--host');
  const pluginNames = plugins.map((p) => nameIn(dir, p, 'plugin'));

  const realDir = await realpath(dir).catch(() => {
    throw new UsageError(`the artifact set ${dir} does not exist`, { hint: USAGE_HINT });
  });
  // Every subject, the files given, and every .so in plugins/: Dragonfly loads that directory whole.
  const found = await readdir(path.join(dir, 'plugins')).catch(() => [] as string[]);
  const names = new Set([
    ...attested.subjects.map((s) => s.name),
    hostName,
    ...pluginNames,
    ...found.filter((f) => f.endsWith('.so')).map((f) => `plugins/${f}`),
  ]);
  const expected = new Map(attested.subjects.map((s) => [s.name, s.sha256]));
  const files = new Map<string, FileFacts>();
  const real = new Map<string, string>();
  for (const name of names) {
    const d = await digestIn(realDir, path.join(dir, ...name.split('/')));
    if ('why' in d) {
      files.set(name, { present: false, why: d.why });
      continue;
    }
    real.set(name, d.real);
    // Only the bytes attested are read as Go binaries: others have already failed the check.
    files.set(name, { present: true, sha256: d.sha256, ...(expected.get(name) === d.sha256 ? { binary: await binaryFacts(d.real) } : {}) });
  }
  const facts: SetFacts = { files, ...(sbomText === undefined ? {} : { sbom: parseSbom(sbomText, sbomFile) }) };
  const mismatches = checkProvenance(attested, facts);
  const provenance: ProvenanceReport = {
    file,
    sbom: sbomText === undefined ? null : sbomFile,
    dir,
    subjects: attested.subjects.length,
    matches: mismatches.length === 0,
    mismatches,
  };
  if (!provenance.matches) return { matches: false, provenance, load: null };

  const loadPlugins = pluginNames.length > 0 ? pluginNames : attested.subjects.map((s) => s.name).filter((n) => n.startsWith('plugins/'));
  const labels = new Map([hostName, ...loadPlugins].map((n) => [real.get(n)!, n]));
  const load = await verifyFiles(
    real.get(hostName)!,
    loadPlugins.map((n) => real.get(n)!),
    (f) => labels.get(f) ?? f,
  );
  return { matches: true, provenance, load };
}
