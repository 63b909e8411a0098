/** manifest.json: what was built from what, with which toolchain, and the proof that it loads. Pure. */
import type { LoadedPlugin } from '../validate/plugin-output';
import type { VerifyReport } from '../verify';

export interface ManifestArtifact {
  /** loader-check: d7y-loadcheck, the program that loads plugins through the host's own LoadPlugin. */
  kind: 'host' | 'loader-check' | 'plugin';
  /** The host command (dfget, scheduler, manager), d7y-loadcheck, or the plugin's name. */
  name: string;
  /** For plugins: resource, scheduler or manager. */
  type?: string;
  /** Relative to the manifest's directory. */
  path: string;
  sha256: string;
  size: number;
}

export interface Manifest {
  schemaVersion: 1;
  tool: { name: 'd7y-build'; version: string };
  /** The os/arch the images were pulled and the container created for. */
  platform: string;
  dragonfly: { repo: string; ref: string; commit: string; shortCommit: string; goModGo?: string; goModToolchain?: string };
  /** imageReason: why that image, "--go-image" or the go.mod line it was chosen by (see chooseGoImage). */
  go: { version: string; platform: string; image: string; imageReason: string; imageId: string };
  builderImage: { tag: string; id: string };
  flags: { cgoEnabled: true; trimpath: boolean; tags: string[]; gcflags: string; race: boolean; goArgs: string[] };
  buildCommit: string;
  buildTime: string;
  /** Why that build time: "committer date of a9b2adb", "SOURCE_DATE_EPOCH=…", "--build-time …". */
  buildTimeReason: string;
  artifacts: ManifestArtifact[];
  validation: {
    command: string;
    stdout: string;
    stderr: string;
    plugins: LoadedPlugin[];
    /** The loader check: the interface each plugin's value implements, as the loader asserted it. */
    loader?: Array<{ file: string; interface: string; ok: boolean }>;
  };
  /** `d7y-build verify` on the same files: the static verdict, or why it could not tell. */
  verify: VerifyReport | { error: string };
}

export function serializeManifest(manifest: Manifest): string {
  return `${JSON.stringify(manifest, null, 2)}\n`;
}
