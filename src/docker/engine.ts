/**
 * What d7y-build needs of a Docker engine, as an interface: the dockerode implementation is in
 * dockerode.ts, loaded only by the commands that reach an engine, and tests use an in-memory one.
 */
import type { Readable } from 'node:stream';
import type { StreamName } from './streams';

export interface EngineInfo {
  serverVersion: string;
  apiVersion: string;
  os: string;
  arch: string;
  /** What the engine's machine has: the most a container can be given. */
  cpus: number;
  memoryBytes: number;
  /** Where the engine was reached, for messages. */
  address: string;
  /** Whether the engine runs rootless (its security options name rootless); undefined when it did not say. */
  rootless?: boolean;
  /** Where the engine keeps images, containers and volumes (DockerRootDir), as the engine's machine names it. */
  rootDir?: string;
  /** Reached through a local socket: rootDir is a path on this machine (unless the engine runs in a VM). */
  local?: boolean;
  /** The engine's clock when it answered, RFC 3339 (SystemTime). */
  systemTime?: string;
}

export interface ImageInfo {
  id: string;
  env: Record<string, string>;
  labels: Record<string, string>;
  arch: string;
  /** Its layers' diff ids, lowest first, when the engine said. */
  layers?: string[];
}

/** An image as listed: its id, the references that name it, its labels and size. */
export interface ImageSummary {
  id: string;
  tags: string[];
  labels: Record<string, string>;
  sizeBytes: number;
}

/** Credentials for a registry, as the engine takes them (X-Registry-Auth): a user and password, or an identity token. */
export interface RegistryCredential {
  username?: string;
  password?: string;
  identitytoken?: string;
  /** The registry they are for (Docker Hub: https://index.docker.io/v1/). */
  serveraddress: string;
}

export interface ExecOptions {
  env?: Record<string, string>;
  /** Fed to the command's standard input, then closed: how secrets enter without a trace. */
  stdin?: string;
  workdir?: string;
  /** Each complete output line, as it arrives. */
  onLine?: (stream: StreamName, line: string) => void;
}

export interface ExecResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export interface ContainerSummary {
  id: string;
  labels: Record<string, string>;
  state: string;
  /** The named volumes it mounts. */
  volumes: string[];
}

export interface VolumeInfo {
  name: string;
  labels: Record<string, string>;
  /** When the engine created it (RFC 3339), when it says. */
  createdAt?: string;
  /** What it holds, in bytes: only when listed with usage, and the engine could tell. */
  sizeBytes?: number;
}

export interface ContainerSpec {
  image: string;
  /** The command; a build container sleeps until removed. */
  cmd?: string[];
  /** false: created, not started, for the archive API alone (default: started). */
  start?: boolean;
  labels: Record<string, string>;
  /** Named volumes only: d7y-build never mounts a path of the machine it runs on. */
  volumes: Array<{ name: string; target: string }>;
  env: Record<string, string>;
  workdir: string;
  /** The os/arch of the image to run, e.g. linux/amd64: the engine refuses an image of another. */
  platform?: string;
  /** Memory limit in bytes (swap included: none beyond it) and CPUs in 1e-9 units. */
  memoryBytes?: number;
  nanoCpus?: number;
  /** In-memory mounts: path → mount options. */
  tmpfs?: Record<string, string>;
}

export interface BuildContainer {
  readonly id: string;
  exec(cmd: string[], options?: ExecOptions): Promise<ExecResult>;
  /** Unpacks a tar stream into dir, which must exist in the container. */
  putArchive(tar: Readable, dir: string): Promise<void>;
  /** A tar stream of path, whose entries start with path's base name. */
  getArchive(path: string): Promise<Readable>;
  /** Kills and removes the container; already gone (404) or being removed by another call (409) is fine. */
  remove(): Promise<void>;
}

export interface Engine {
  /** The engine's version and size; fails within the ping timeout, or at once on abort. */
  ping(signal?: AbortSignal): Promise<EngineInfo>;
  inspectImage(ref: string): Promise<ImageInfo | undefined>;
  /** Pulls ref's image for the platform (os/arch, e.g. linux/amd64), with the registry's credentials when given. */
  pullImage(ref: string, options: { platform: string; auth?: RegistryCredential; onProgress?: (status: string) => void; signal?: AbortSignal }): Promise<void>;
  /** Builds context's Dockerfile into tag; for platform (os/arch) when given, else the engine's own. */
  buildImage(
    context: Readable,
    options: { tag: string; dockerfile: string; buildArgs: Record<string, string>; labels: Record<string, string>; platform?: string },
    onOutput?: (line: string) => void,
    signal?: AbortSignal,
  ): Promise<void>;
  ensureVolume(name: string, labels: Record<string, string>): Promise<void>;
  /** Every volume; with usage, also their sizes (the engine measures them all: slower). */
  listVolumes(options?: { usage?: boolean }): Promise<VolumeInfo[]>;
  /** Removes a volume: 'in-use' when a container still has it (nothing removed), 'gone' when there was none. */
  removeVolume(name: string): Promise<'removed' | 'in-use' | 'gone'>;
  createContainer(spec: ContainerSpec): Promise<BuildContainer>;
  /** Containers, running or not, that carry all these labels (a label given as '' need only exist; none: every container). */
  listContainers(labels: Record<string, string>): Promise<ContainerSummary[]>;
  /** Kills and removes a container by id; already gone is fine. */
  removeContainer(id: string): Promise<void>;
  /**
   * Creates a container from spec (its cmd the arguments of the image's entrypoint), starts it,
   * waits for its end and removes it: its output and exit code. After timeoutMs it is killed and
   * timedOut is set; an abort removes it at once.
   */
  runToEnd(spec: ContainerSpec, options: { timeoutMs: number; signal?: AbortSignal }): Promise<ExecResult & { timedOut: boolean }>;
  /** Pushes repository:tag to its registry, with its credentials when given; the digest the registry gave it, when it said. */
  pushImage(
    repository: string,
    tag: string,
    options: { auth?: RegistryCredential; onProgress?: (status: string) => void; signal?: AbortSignal },
  ): Promise<{ digest?: string }>;
  /** Untags ref and removes the image when no other tag holds it; 'gone' when there was none. */
  removeImage(ref: string): Promise<'removed' | 'gone'>;
  /** The images that carry all these labels (a label given as '' need only exist). */
  listImages(labels: Record<string, string>): Promise<ImageSummary[]>;
  /** The images refs name, with their layers and tags, as the tar stream `docker save` writes; read as it comes. */
  saveImages(refs: string[], signal?: AbortSignal): Promise<Readable>;
  /** Loads a tar stream of saveImages into the engine (`docker load`), tags included; fails when the engine refuses it. */
  loadImages(tar: Readable, signal?: AbortSignal): Promise<void>;
}

/** The engine's own message for an HTTP error, without dockerode's "(HTTP code 500) ..." wrapper. */
export function engineMessage(err: unknown): string {
  const e = (typeof err === 'object' && err !== null ? err : {}) as { message?: string; json?: { message?: string } };
  return e.json?.message ?? e.message ?? String(err);
}
