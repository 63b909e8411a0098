/** What the build's steps find out, each for the next, over the session they share. */
import type { ExtractedFile } from '../../artifacts/archive';
import type { FileState } from '../../artifacts/place';
import type { PluginSources } from '../../artifacts/plugin-sources';
import type { BuildSpec } from '../../config';
import type { BuildContainer, EngineInfo } from '../../docker/engine';
import type { Background } from '../../session/background';
import type { SessionContext, SourceState, ToolchainFacts, ValidationFacts } from '../../session/session';
import type { VerifyReport } from '../../verify';
import type { HostCacheOutcome } from './host-cache';

export interface BuildState extends SourceState {
  engine?: EngineInfo;
  /** Per plugin name: what of its directory goes to the container. */
  pluginSources?: Map<string, PluginSources>;
  container?: BuildContainer;
  /** The commit's source-tree volume, the loader check program in its tree, and whether upload-sources found the tree there. */
  sourceTree?: { volume: string; program: string; reused?: boolean };
  toolchain?: ToolchainFacts;
  /** Per plugin name: the sha256 of the sources upload-sources sent (see sourcesDigest). */
  sourcesSha256?: Map<string, string>;
  /** The host's compile, when it runs beside the plugins' (see overlap.ts). */
  hostBuild?: Background<void>;
  /** What compile-plugins stamped into main.buildCommit. */
  buildCommit?: string;
  /** The -ldflags the plugins and the host were built with, for the provenance. */
  ldflags?: { plugins?: string; host?: string };
  /** Whether the host came from the host cache (looked up by compile-plugins when the host compiles beside the plugins, else by compile-host). */
  hostCache?: HostCacheOutcome;
  /** On a host cache hit: the sha256 of each command it put in place, by command (a copy this machine holds is not transferred again). */
  hostSums?: Map<string, string>;
  /** Plugins (by name) that carry their own go.mod. */
  modulePlugins?: string[];
  validation?: ValidationFacts;
  /** The artifacts' collection and their static check, started beside validate (see overlap.ts). */
  artifacts?: { collected: Background<void>; verified: Background<void> };
  /** The static verdict of `verify` on the artifacts (an error message when it could not tell). */
  verification?: VerifyReport | { error: string };
  /** Artifacts as extracted from the container into a staging directory: the host, its loader check, and the plugins in spec order. */
  staged?: { host: ExtractedFile; loadcheck: ExtractedFile; plugins: ExtractedFile[] };
  /** The plugins directory's target files as they were before the build: installs must find them so. */
  pluginsBefore?: Map<string, FileState>;
  /** The runtime image (--image): its reference, its id, and the digest the registry gave it (--push). */
  runtimeImage?: { ref: string; id: string; digest?: string };
  /** Paths written, in --out and --plugins-dir. */
  outputs?: { host: string; loadcheck: string; plugins: string[]; manifest: string; provenance: string; sbom: string; installed: string[] };
}

export interface BuildContext extends SessionContext {
  spec: BuildSpec;
  state: BuildState;
}
