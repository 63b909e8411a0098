/**
 * provenance.intoto.json: an in-toto Statement v1 with a SLSA Provenance v1 predicate, saying which
 * files a build wrote, from what (the Dragonfly commit, the Go image, each plugin's sources) and with
 * which parameters. Everything but runDetails.metadata follows from the build's inputs, so two builds
 * with the same inputs (and a pinned build time) write the same bytes there. Pure.
 */
import { pathToFileURL } from 'node:url';
import { redactUrl } from '../secrets';

/** Its name in --out, beside manifest.json. */
export const PROVENANCE_FILE = 'provenance.intoto.json';

/** What d7y-build's builds are, for `buildDefinition.buildType`: the README documents its parameters. */
export const BUILD_TYPE = 'https://d7y.io/d7y-build/build/v1';
export const STATEMENT_TYPE = 'https://in-toto.io/Statement/v1';
export const PROVENANCE_TYPE = 'https://slsa.dev/provenance/v1';

export interface ProvenanceInput {
  /** d7y-build's version: the builder's id names it. */
  version: string;
  /** Each file written, named relative to --out (bin/dfget, plugins/<file>). */
  subjects: Array<{ name: string; sha256: string }>;
  /** The repository as given (credentials are dropped here), the ref as given, and the full SHA it resolved to. */
  dragonfly: { repo: string; ref: string; commit: string };
  /** Each plugin in build order, with the sha256 of the sources sent (see sourcesDigest) and its directory. */
  plugins: Array<{ type: string; name: string; dir: string; sourcesSha256: string }>;
  platform: string;
  flags: { trimpath: boolean; tags: string[]; gcflags: string; race: boolean };
  /** The -ldflags the host and the plugins were built with: their version stamps. */
  ldflags: { host: string; plugins: string };
  buildCommit: string;
  buildTime: { time: string; reason: string };
  /** id: the engine's image id, sha256:<hex>. reason: why that image (--go-image, a go.mod line). */
  goImage: { reference: string; id: string; reason: string };
  builderImage: { reference: string; id: string };
  run: { id: string; startedOn: Date; finishedOn: Date };
}

/** An image id (sha256:<hex>) as an in-toto digest set. */
function imageDigest(id: string): Record<string, string> {
  const colon = id.indexOf(':');
  return colon < 0 ? { sha256: id } : { [id.slice(0, colon)]: id.slice(colon + 1) };
}

/**
 * The repository as a URI for resolvedDependencies: git+<url>, git+file://<path> for a local
 * repository; an scp-like address (git@host:path) as it is, having no URI form of its own.
 */
function repoUri(repo: string): string {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(repo)) return `git+${repo}`;
  if (repo.startsWith('/')) return `git+${pathToFileURL(repo).href}`;
  return repo;
}

/** RFC 3339 UTC with second precision, like every other time d7y-build writes. */
function timestamp(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** The Statement, its keys in a fixed order. */
export function provenanceStatement(input: ProvenanceInput): object {
  const repo = redactUrl(input.dragonfly.repo);
  return {
    _type: STATEMENT_TYPE,
    subject: input.subjects.map((s) => ({ name: s.name, digest: { sha256: s.sha256 } })),
    predicateType: PROVENANCE_TYPE,
    predicate: {
      buildDefinition: {
        buildType: BUILD_TYPE,
        externalParameters: {
          repository: repo,
          ref: input.dragonfly.ref,
          plugins: input.plugins.map((p) => ({ type: p.type, name: p.name })),
          platform: input.platform,
          flags: {
            cgoEnabled: true,
            trimpath: input.flags.trimpath,
            tags: input.flags.tags,
            gcflags: input.flags.gcflags,
            race: input.flags.race,
            ldflags: { host: input.ldflags.host, plugins: input.ldflags.plugins },
          },
          buildCommit: input.buildCommit,
          buildTime: input.buildTime.time,
          buildTimeReason: input.buildTime.reason,
        },
        internalParameters: {
          goImage: { reference: input.goImage.reference, reason: input.goImage.reason },
          builderImage: { reference: input.builderImage.reference, id: input.builderImage.id },
        },
        resolvedDependencies: [
          { name: 'dragonfly', uri: repoUri(repo), digest: { gitCommit: input.dragonfly.commit }, annotations: { ref: input.dragonfly.ref } },
          { name: input.goImage.reference, digest: imageDigest(input.goImage.id) },
          ...input.plugins.map((p) => ({ name: `plugin/${p.name}`, uri: pathToFileURL(p.dir).href, digest: { sha256: p.sourcesSha256 } })),
        ],
      },
      runDetails: {
        builder: { id: `https://d7y.io/d7y-build@${input.version}` },
        metadata: { invocationId: input.run.id, startedOn: timestamp(input.run.startedOn), finishedOn: timestamp(input.run.finishedOn) },
      },
    },
  };
}

export function serializeProvenance(input: ProvenanceInput): string {
  return `${JSON.stringify(provenanceStatement(input), null, 2)}\n`;
}
