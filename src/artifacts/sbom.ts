/**
 * sbom.cdx.json: a CycloneDX 1.5 SBOM of the files a build wrote, one component per binary with its
 * sha256, and the Go modules each binary records in its own build information, as pkg:golang purls.
 * The serial number is derived from the content, and the timestamp is SOURCE_DATE_EPOCH when set, so
 * reproducible builds write identical SBOMs. Pure.
 */
import { createHash } from 'node:crypto';

/** Its name in --out, beside manifest.json. */
export const SBOM_FILE = 'sbom.cdx.json';

export interface SbomModule {
  path: string;
  version: string;
  /** A replace directive: a module (with a version) or a directory (version empty). */
  replace?: { path: string; version: string };
}

export interface SbomBinary {
  kind: 'host' | 'loader-check' | 'plugin';
  /** The command (dfget, d7y-loadcheck) or the plugin's name. */
  name: string;
  /** Relative to --out: bin/dfget, plugins/<file>. */
  path: string;
  sha256: string;
  /** From the binary's build information; undefined when it records none. */
  buildInfo?: { goVersion: string; main?: SbomModule; deps: SbomModule[] };
  /** Why buildInfo is missing (a plugin of Go 1.20 or older records none). */
  buildInfoMissing?: string;
}

export interface SbomInput {
  version: string;
  binaries: SbomBinary[];
  /** RFC 3339: SOURCE_DATE_EPOCH when set, else when the SBOM was written. */
  timestamp: string;
}

/** purl's percent-encoding: everything but unreserved characters (RFC 3986), in each segment. */
function purlSegment(text: string): string {
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

export function golangPurl(module: string, version: string): string {
  return `pkg:golang/${module.split('/').map(purlSegment).join('/')}@${purlSegment(version)}`;
}

/**
 * The module whose code the binary holds: the replacement when it names a module version; a
 * directory replacement is code of no release, "(devel)" as Go says of its main module.
 */
function effective(m: SbomModule): { path: string; version: string } {
  if (m.replace === undefined) return { path: m.path, version: m.version };
  return m.replace.version !== '' ? { path: m.replace.path, version: m.replace.version } : { path: m.path, version: '(devel)' };
}

/** A content-derived UUID (RFC 9562 version 8): the same document, the same serial number. */
function contentUuid(text: string): string {
  const b = createHash('sha256').update(text).digest().subarray(0, 16);
  b[6] = (b[6]! & 0x0f) | 0x80;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const hex = b.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** The modules a binary's build information names, by purl: main module, dependencies and the standard library. */
export function binaryModules(info: NonNullable<SbomBinary['buildInfo']>): Map<string, { path: string; version: string }> {
  const all = [...(info.main ? [info.main] : []), ...info.deps].map(effective);
  // The standard library is linked in too, at the Go release that built the binary.
  return new Map([...all, { path: 'stdlib', version: info.goVersion }].map((m) => [golangPurl(m.path, m.version), m]));
}

export function cycloneDx(input: SbomInput): object {
  const modules = new Map<string, { path: string; version: string }>();
  const dependencies = input.binaries.map((b) => {
    const used = b.buildInfo === undefined ? new Map<string, { path: string; version: string }>() : binaryModules(b.buildInfo);
    for (const [purl, m] of used) modules.set(purl, m);
    return { ref: `file:${b.path}`, dependsOn: [...used.keys()].sort() };
  });
  const binaries = input.binaries.map((b) => ({
    type: b.kind === 'plugin' ? 'library' : 'application',
    'bom-ref': `file:${b.path}`,
    name: b.name,
    hashes: [{ alg: 'SHA-256', content: b.sha256 }],
    properties: [
      { name: 'd7y-build:kind', value: b.kind },
      { name: 'd7y-build:path', value: b.path },
      ...(b.buildInfo ? [{ name: 'd7y-build:goVersion', value: b.buildInfo.goVersion }] : []),
      ...(b.buildInfoMissing ? [{ name: 'd7y-build:modulesUnknown', value: b.buildInfoMissing }] : []),
    ],
  }));
  const moduleComponents = [...modules]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([purl, m]) => ({ type: 'library', 'bom-ref': purl, name: m.path, version: m.version, purl }));
  const body = {
    metadata: {
      timestamp: input.timestamp,
      tools: { components: [{ type: 'application', name: 'd7y-build', version: input.version }] },
    },
    components: [...binaries, ...moduleComponents],
    dependencies,
  };
  return {
    bomFormat: 'CycloneDX',
    specVersion: '1.5',
    serialNumber: `urn:uuid:${contentUuid(JSON.stringify(body))}`,
    version: 1,
    ...body,
  };
}

export function serializeSbom(input: SbomInput): string {
  return `${JSON.stringify(cycloneDx(input), null, 2)}\n`;
}
