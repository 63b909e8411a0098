/**
 * `verify --provenance`: what a provenance.intoto.json (and the sbom.cdx.json beside it) says of an
 * artifact set, read defensively (it may come from anywhere), and the pure comparison of that with
 * what the files on disk are: their sha256, and what each binary's own build information and stamps
 * say of the commit, the Go version and the flags. Pure: the facts are read by attested.ts.
 */
import { UnverifiableError } from '../errors';
import { BUILD_TYPE, PROVENANCE_TYPE, STATEMENT_TYPE } from '../artifacts/provenance';
import { isPluginType, hostFor, type PluginType } from '../plugin';
import { ldflagsAssignments, VERSION_PKG } from '../toolchain/goflags';
import { LOADCHECK_COMMAND } from '../validate/loader';

/** The most subjects a provenance may name: a build writes a host, the loader check and its plugins. */
export const MAX_SUBJECTS = 1024;
/** The most bytes of provenance.intoto.json and sbom.cdx.json read. */
export const MAX_ATTESTATION_BYTES = 16 * 1024 * 1024;
/**
 * The only subject names a build writes: bin/<file> and plugins/<file>, one plain file name each.
 * Anything else (../../etc/passwd, /etc/passwd, bin/../x, a NUL) is not a d7y-build subject, and
 * never becomes a path.
 */
const SUBJECT_NAME = /^(bin|plugins)\/(?!\.\.?$)[A-Za-z0-9._+-]{1,255}$/;
const SHA256 = /^[0-9a-f]{64}$/;

/** What the provenance says of the set. */
export interface AttestedBuild {
  subjects: Array<{ name: string; sha256: string }>;
  type: PluginType;
  /** bin/<host> */
  host: string;
  /** The full SHA of the Dragonfly commit (resolvedDependencies "dragonfly"). */
  commit: string;
  buildCommit: string;
  platform: string;
  flags: { cgoEnabled: boolean; trimpath: boolean; tags: string[]; gcflags: string; race: boolean };
  /** The -X stamps of the host's and the plugins' -ldflags, by the name `inspect` shows (version.GitCommit, main.buildCommit). */
  stamps: { host: Record<string, string>; plugins: Record<string, string> };
  /** The Go release the host was stamped with (version.GoVersion's first word), when stamped. */
  goVersion?: string;
}

type Json = Record<string, unknown>;

function malformed(file: string, why: string): UnverifiableError {
  return new UnverifiableError(`cannot tell from ${file}: ${why}`, {
    hint: 'pass the provenance.intoto.json a d7y-build build wrote beside the artifacts, as it wrote it',
  });
}

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The -X stamps, named as binary.ts reads them: d7y.io/dragonfly/v2/version.X → version.X. */
function stampsOf(ldflags: string): Record<string, string> {
  return Object.fromEntries(
    Object.entries(ldflagsAssignments(ldflags)).map(([k, v]) => [k.startsWith(`${VERSION_PKG}.`) ? `version.${k.slice(VERSION_PKG.length + 1)}` : k, v]),
  );
}

/** Parses and checks the statement; every way it can be malformed or hostile is an UnverifiableError naming the file. */
export function parseProvenance(text: string, file: string): AttestedBuild {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw malformed(file, `it is not JSON (${(err as Error).message})`);
  }
  if (!isObject(doc)) throw malformed(file, 'it is not a JSON object');
  if (doc._type !== STATEMENT_TYPE) throw malformed(file, `_type is ${JSON.stringify(doc._type) ?? 'missing'}, not ${STATEMENT_TYPE}`);
  if (doc.predicateType !== PROVENANCE_TYPE)
    throw malformed(file, `predicateType is ${JSON.stringify(doc.predicateType) ?? 'missing'}, not ${PROVENANCE_TYPE}`);
  const subjects = doc.subject;
  if (!Array.isArray(subjects) || subjects.length === 0) throw malformed(file, 'it has no subject list');
  if (subjects.length > MAX_SUBJECTS) throw malformed(file, `it names ${subjects.length} subjects, more than the ${MAX_SUBJECTS} a build writes`);
  const seen = new Set<string>();
  const parsed = subjects.map((s: unknown, i) => {
    const name = isObject(s) ? s.name : undefined;
    const sha256 = isObject(s) && isObject(s.digest) ? s.digest.sha256 : undefined;
    if (typeof name !== 'string') throw malformed(file, `subject ${i} has no name`);
    if (!SUBJECT_NAME.test(name))
      throw malformed(file, `subject ${JSON.stringify(name.slice(0, 200))} is not bin/<file> or plugins/<file>, as a build names them`);
    if (seen.has(name)) throw malformed(file, `subject ${name} is named twice`);
    seen.add(name);
    if (typeof sha256 !== 'string' || !SHA256.test(sha256)) throw malformed(file, `subject ${name} has no sha256 digest of 64 hex digits`);
    return { name, sha256 };
  });

  const predicate = isObject(doc.predicate) ? doc.predicate : {};
  const definition = isObject(predicate.buildDefinition) ? predicate.buildDefinition : {};
  if (definition.buildType !== BUILD_TYPE) {
    throw malformed(
      file,
      `its buildType is ${JSON.stringify(definition.buildType) ?? 'missing'}, not ${BUILD_TYPE}: not a d7y-build build, so its parameters can't be checked`,
    );
  }
  const params = isObject(definition.externalParameters) ? definition.externalParameters : {};
  const flags = isObject(params.flags) ? params.flags : {};
  const ldflags = isObject(flags.ldflags) ? flags.ldflags : {};
  const plugins = Array.isArray(params.plugins) ? params.plugins : [];
  const type = isObject(plugins[0]) ? plugins[0].type : undefined;
  if (typeof type !== 'string' || !isPluginType(type)) throw malformed(file, 'externalParameters.plugins names no plugin type');
  const deps = Array.isArray(definition.resolvedDependencies) ? definition.resolvedDependencies : [];
  const dragonfly = deps.find((d): d is Json => isObject(d) && d.name === 'dragonfly');
  const commit = dragonfly !== undefined && isObject(dragonfly.digest) ? dragonfly.digest.gitCommit : undefined;
  if (typeof commit !== 'string' || !/^[0-9a-f]{40}([0-9a-f]{24})?$/.test(commit)) throw malformed(file, 'resolvedDependencies has no dragonfly gitCommit');
  const str = (v: unknown, what: string): string => {
    if (typeof v !== 'string') throw malformed(file, `externalParameters.${what} is not a string`);
    return v;
  };
  const bool = (v: unknown, what: string): boolean => {
    if (typeof v !== 'boolean') throw malformed(file, `externalParameters.flags.${what} is not true or false`);
    return v;
  };
  const tags = flags.tags;
  if (!Array.isArray(tags) || tags.some((t) => typeof t !== 'string')) throw malformed(file, 'externalParameters.flags.tags is not a list of strings');
  const hostStamps = stampsOf(str(ldflags.host, 'flags.ldflags.host'));
  return {
    subjects: parsed,
    type,
    host: `bin/${hostFor(type)}`,
    commit,
    buildCommit: str(params.buildCommit, 'buildCommit'),
    platform: str(params.platform, 'platform'),
    flags: {
      cgoEnabled: bool(flags.cgoEnabled, 'cgoEnabled'),
      trimpath: bool(flags.trimpath, 'trimpath'),
      tags: tags as string[],
      gcflags: str(flags.gcflags, 'flags.gcflags'),
      race: bool(flags.race, 'race'),
    },
    stamps: { host: hostStamps, plugins: stampsOf(str(ldflags.plugins, 'flags.ldflags.plugins')) },
    ...(hostStamps['version.GoVersion'] ? { goVersion: hostStamps['version.GoVersion'].split(' ')[0] } : {}),
  };
}

/** What the SBOM says of each binary, by its path in the set. */
export type SbomEntries = Map<string, { sha256: string; modules: string[] }>;

/** The binaries of a d7y-build SBOM (components with a d7y-build:path) and the modules each depends on. */
export function parseSbom(text: string, file: string): SbomEntries {
  const bad = (why: string) =>
    new UnverifiableError(`cannot tell from ${file}: ${why}`, { hint: 'pass the sbom.cdx.json a d7y-build build wrote beside the artifacts, or remove it' });
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw bad(`it is not JSON (${(err as Error).message})`);
  }
  if (!isObject(doc) || doc.bomFormat !== 'CycloneDX' || !Array.isArray(doc.components) || !Array.isArray(doc.dependencies)) {
    throw bad('it is not a CycloneDX document with components and dependencies');
  }
  const dependsOn = new Map<string, string[]>();
  for (const d of doc.dependencies) {
    if (isObject(d) && typeof d.ref === 'string' && Array.isArray(d.dependsOn))
      dependsOn.set(
        d.ref,
        d.dependsOn.filter((x): x is string => typeof x === 'string'),
      );
  }
  const entries: SbomEntries = new Map();
  for (const c of doc.components) {
    if (!isObject(c) || !Array.isArray(c.properties)) continue;
    const at = c.properties.find((p): p is Json => isObject(p) && p.name === 'd7y-build:path');
    if (at === undefined || typeof at.value !== 'string') continue;
    if (entries.has(at.value)) throw bad(`it lists ${at.value} twice`);
    const hash = Array.isArray(c.hashes) ? c.hashes.find((h): h is Json => isObject(h) && h.alg === 'SHA-256') : undefined;
    entries.set(at.value, {
      sha256: typeof hash?.content === 'string' ? hash.content : '',
      modules: [...(dependsOn.get(typeof c['bom-ref'] === 'string' ? c['bom-ref'] : '') ?? [])].sort(),
    });
  }
  return entries;
}

/** What a binary of the set says of itself. */
export type BinaryFacts =
  | { readable: true; goVersion: string; buildInfoRecorded: boolean; settings: Record<string, string>; stamps: Record<string, string>; modules: string[] }
  | { readable: false; why: string };

/** What is on disk for one name. */
export type FileFacts = { present: true; sha256: string; binary?: BinaryFacts } | { present: false; why: string };

export interface SetFacts {
  /** Every subject's name, and files given or found that the provenance may not name (plugins/*.so). */
  files: Map<string, FileFacts>;
  /** The SBOM beside the provenance, when there is one. */
  sbom?: SbomEntries;
}

export type ProvenanceMismatch =
  | { kind: 'digest'; file: string; expected: string; actual: string }
  | { kind: 'missing'; file: string; expected: string; why: string }
  | { kind: 'unlisted'; file: string; actual: string }
  /** What the binary's build information or stamps say, against the provenance: what is the setting, stamp, commit or Go version. */
  | { kind: 'build'; file: string; what: string; expected: string; actual: string }
  | { kind: 'sbom'; file: string; what: 'component' | 'sha256'; expected: string; actual: string }
  | { kind: 'sbom-modules'; file: string; missing: string[]; extra: string[] };

/** The role of a subject: the host, the loader check, or a plugin. */
function roleOf(name: string, attested: AttestedBuild): 'host' | 'loader-check' | 'plugin' | 'other' {
  if (name === attested.host) return 'host';
  if (name === `bin/${LOADCHECK_COMMAND}`) return 'loader-check';
  return name.startsWith('plugins/') ? 'plugin' : 'other';
}

/** The build settings the flags give, as Go records them in build information. */
function expectedSettings(a: AttestedBuild): Array<[string, string, (s: Record<string, string>) => string]> {
  const [goos, goarch] = a.platform.split('/');
  return [
    ['GOOS', goos ?? '', (s) => s.GOOS ?? ''],
    ['GOARCH', goarch ?? '', (s) => s.GOARCH ?? ''],
    ['CGO_ENABLED', a.flags.cgoEnabled ? '1' : '0', (s) => s.CGO_ENABLED ?? '0'],
    ['-trimpath', String(a.flags.trimpath), (s) => s['-trimpath'] ?? 'false'],
    ['-tags', a.flags.tags.join(','), (s) => s['-tags'] ?? ''],
    ['-gcflags', a.flags.gcflags, (s) => s['-gcflags'] ?? ''],
    ['-race', String(a.flags.race), (s) => s['-race'] ?? 'false'],
  ];
}

function checkBinary(file: string, role: ReturnType<typeof roleOf>, b: BinaryFacts, a: AttestedBuild): ProvenanceMismatch[] {
  if (!b.readable) return [{ kind: 'build', file, what: 'Go build information', expected: 'a Go binary', actual: b.why }];
  const out: ProvenanceMismatch[] = [];
  const differs = (what: string, expected: string, actual: string) => {
    if (expected !== actual) out.push({ kind: 'build', file, what, expected, actual });
  };
  if (a.goVersion !== undefined && b.goVersion !== 'unknown') differs('Go version', a.goVersion, b.goVersion);
  // A plugin of Go 1.20 or older records no settings: its flags can't be compared (verify says so too).
  if (b.buildInfoRecorded) for (const [key, expected, actual] of expectedSettings(a)) differs(key, expected, actual(b.settings));
  const stamps = role === 'host' ? a.stamps.host : role === 'plugin' ? a.stamps.plugins : {};
  for (const [key, expected] of Object.entries(stamps)) differs(`stamp ${key}`, expected, b.stamps[key] ?? '(not stamped)');
  // The stamp names the Dragonfly commit unless --build-commit gave another; a SHA-like stamp must be a prefix of it.
  const stamped = role === 'host' ? b.stamps['version.GitCommit'] : role === 'plugin' ? b.stamps['main.buildCommit'] : undefined;
  if (stamped !== undefined && /^[0-9a-f]{7,64}$/.test(stamped) && !a.commit.startsWith(stamped)) {
    out.push({ kind: 'build', file, what: 'Dragonfly commit', expected: a.commit, actual: stamped });
  }
  return out;
}

/**
 * Every way the set differs from its provenance: subjects missing or with another sha256, plugins
 * the provenance does not name, binaries whose build information, stamps or commit say otherwise,
 * and, with an SBOM, binaries it lists with another hash or other modules.
 */
export function checkProvenance(a: AttestedBuild, facts: SetFacts): ProvenanceMismatch[] {
  const out: ProvenanceMismatch[] = [];
  const listed = new Set(a.subjects.map((s) => s.name));
  for (const s of a.subjects) {
    const f = facts.files.get(s.name) ?? { present: false, why: 'was not looked for' };
    if (!f.present) {
      out.push({ kind: 'missing', file: s.name, expected: s.sha256, why: f.why });
      continue;
    }
    if (f.sha256 !== s.sha256) {
      out.push({ kind: 'digest', file: s.name, expected: s.sha256, actual: f.sha256 });
      continue; // not the bytes attested: what they say of themselves proves nothing
    }
    const role = roleOf(s.name, a);
    if (f.binary !== undefined) out.push(...checkBinary(s.name, role, f.binary, a));
    const bom = facts.sbom?.get(s.name);
    if (facts.sbom !== undefined && bom === undefined) out.push({ kind: 'sbom', file: s.name, what: 'component', expected: 'listed', actual: 'not listed' });
    if (bom === undefined) continue;
    if (bom.sha256 !== f.sha256) out.push({ kind: 'sbom', file: s.name, what: 'sha256', expected: bom.sha256, actual: f.sha256 });
    if (f.binary?.readable && f.binary.buildInfoRecorded) {
      const has = new Set(f.binary.modules);
      const says = new Set(bom.modules);
      const missing = bom.modules.filter((m) => !has.has(m));
      const extra = f.binary.modules.filter((m) => !says.has(m));
      if (missing.length > 0 || extra.length > 0) out.push({ kind: 'sbom-modules', file: s.name, missing, extra });
    }
  }
  for (const [name, f] of facts.files) {
    if (!listed.has(name) && f.present) out.push({ kind: 'unlisted', file: name, actual: f.sha256 });
  }
  for (const name of facts.sbom?.keys() ?? []) {
    if (!listed.has(name)) out.push({ kind: 'sbom', file: name, what: 'component', expected: 'not listed', actual: 'listed' });
  }
  return out;
}

/** One line per mismatch, as the CLI prints it. */
export function describeMismatch(m: ProvenanceMismatch): string {
  switch (m.kind) {
    case 'digest':
      return `${m.file}: sha256 ${m.actual}, but the provenance says ${m.expected}`;
    case 'missing':
      return `${m.file}: ${m.why}, but the provenance names it (sha256 ${m.expected})`;
    case 'unlisted':
      return `${m.file}: not named in the provenance (sha256 ${m.actual})`;
    case 'build':
      return `${m.file}: ${m.what} is ${JSON.stringify(m.actual)}, but the provenance says ${JSON.stringify(m.expected)}`;
    case 'sbom':
      return m.what === 'sha256'
        ? `${m.file}: sha256 ${m.actual}, but the SBOM says ${m.expected}`
        : `${m.file}: ${m.actual === 'listed' ? 'listed in the SBOM, but not named in the provenance' : 'named in the provenance, but not listed in the SBOM'}`;
    case 'sbom-modules':
      return `${m.file}: the SBOM's modules differ from its build information${m.missing.length ? `; not in the binary: ${m.missing.join(', ')}` : ''}${m.extra.length ? `; not in the SBOM: ${m.extra.join(', ')}` : ''}`;
  }
}
