/**
 * The only code that talks to the Docker engine. A small interface with what d7y-build needs and one
 * dockerode implementation behind it. Engine quirks stay here: a failed image build or pull still
 * answers HTTP 200, so every progress event is checked for an error; an exec's result is taken from
 * its inspect, after both output halves were read; 404 on remove means already gone.
 */
import Docker from 'dockerode';
import type { Readable } from 'node:stream';
import { DockerUnavailableError } from '../errors';
import { FrameDecoder, LineCollector, type StreamName } from './streams';

export interface EngineInfo {
  serverVersion: string;
  apiVersion: string;
  os: string;
  arch: string;
  /** Where the engine was reached, for messages. */
  address: string;
}

export interface ImageInfo {
  id: string;
  env: Record<string, string>;
  labels: Record<string, string>;
  arch: string;
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
}

export interface ContainerSpec {
  image: string;
  labels: Record<string, string>;
  /** Named volumes only: d7y-build never mounts a path of the machine it runs on. */
  volumes: Array<{ name: string; target: string }>;
  env: Record<string, string>;
  workdir: string;
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
  /** Kills and removes the container; already gone is fine. */
  remove(): Promise<void>;
}

export interface Engine {
  ping(): Promise<EngineInfo>;
  inspectImage(ref: string): Promise<ImageInfo | undefined>;
  pullImage(ref: string, onProgress?: (status: string) => void, signal?: AbortSignal): Promise<void>;
  buildImage(
    context: Readable,
    options: { tag: string; dockerfile: string; buildArgs: Record<string, string>; labels: Record<string, string> },
    onOutput?: (line: string) => void,
    signal?: AbortSignal,
  ): Promise<void>;
  ensureVolume(name: string, labels: Record<string, string>): Promise<void>;
  createContainer(spec: ContainerSpec): Promise<BuildContainer>;
  /** Containers, running or not, that carry all these labels (a label given as '' need only exist). */
  listContainers(labels: Record<string, string>): Promise<ContainerSummary[]>;
  /** Kills and removes a container by id; already gone is fine. */
  removeContainer(id: string): Promise<void>;
}

const CONNECTION_ERRORS = new Set(['ECONNREFUSED', 'ENOENT', 'EACCES', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTFOUND']);

interface ErrnoLike {
  code?: string;
  statusCode?: number;
  message?: string;
  json?: { message?: string };
}

function asErrno(err: unknown): ErrnoLike {
  return typeof err === 'object' && err !== null ? (err as ErrnoLike) : {};
}

/** The engine's own message for an HTTP error, without dockerode's "(HTTP code 500) ..." wrapper. */
export function engineMessage(err: unknown): string {
  const e = asErrno(err);
  return e.json?.message ?? e.message ?? String(err);
}

function statusOf(err: unknown): number | undefined {
  return asErrno(err).statusCode;
}

/** Where dockerode connects, the way the docker CLI would say it. */
function addressOf(docker: Docker): string {
  const modem = docker.modem as unknown as { socketPath?: unknown; host?: string; port?: number | string; protocol?: string };
  if (typeof modem.socketPath === 'string') return `unix://${modem.socketPath}`;
  if (modem.host) return `${modem.protocol ?? 'http'}://${modem.host}${modem.port ? `:${modem.port}` : ''}`;
  // dockerode picks the socket lazily (the user's rootless socket, else the system one)
  return process.env.DOCKER_HOST ?? 'the default Docker socket';
}

export class DockerEngine implements Engine {
  private readonly docker: Docker;

  /** With no options dockerode reads DOCKER_HOST, DOCKER_TLS_VERIFY and DOCKER_CERT_PATH. */
  constructor(options?: Docker.DockerOptions) {
    this.docker = new Docker(options);
  }

  /** Turns a lost connection into DockerUnavailableError; other errors pass through. */
  private unreachable(err: unknown): never {
    const code = asErrno(err).code;
    if (code !== undefined && CONNECTION_ERRORS.has(code)) {
      throw new DockerUnavailableError(`no Docker engine answers at ${addressOf(this.docker)} (${code})`, {
        hint: 'start Docker (e.g. `sudo systemctl start docker`), or point DOCKER_HOST at a running engine',
        cause: err,
      });
    }
    throw err;
  }

  async ping(): Promise<EngineInfo> {
    try {
      const v = await this.docker.version();
      return {
        serverVersion: v.Version,
        apiVersion: v.ApiVersion,
        os: v.Os,
        arch: v.Arch,
        address: addressOf(this.docker),
      };
    } catch (err) {
      return this.unreachable(err);
    }
  }

  async inspectImage(ref: string): Promise<ImageInfo | undefined> {
    try {
      const info = await this.docker.getImage(ref).inspect();
      const env = Object.fromEntries(
        (info.Config?.Env ?? []).map((kv) => {
          const i = kv.indexOf('=');
          return [kv.slice(0, i), kv.slice(i + 1)];
        }),
      );
      return { id: info.Id, env, labels: info.Config?.Labels ?? {}, arch: info.Architecture };
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      return this.unreachable(err);
    }
  }

  /** Follows a progress stream to its end; rejects on the first event that carries an error. */
  private follow(stream: NodeJS.ReadableStream, onEvent: (event: Record<string, unknown>) => void): Promise<void> {
    return new Promise((resolve, reject) => {
      let failure: Error | undefined;
      this.docker.modem.followProgress(
        stream,
        (err: Error | null) => (err ? reject(err) : failure ? reject(failure) : resolve()),
        (event: Record<string, unknown>) => {
          const detail = event.errorDetail as { message?: string } | undefined;
          if (failure === undefined && (event.error !== undefined || detail !== undefined)) {
            failure = new Error(String(detail?.message ?? event.error));
          }
          onEvent(event);
        },
      );
    });
  }

  async pullImage(ref: string, onProgress?: (status: string) => void, signal?: AbortSignal): Promise<void> {
    try {
      const stream = await this.docker.pull(ref, { abortSignal: signal });
      await this.follow(stream, (event) => {
        if (typeof event.status === 'string') onProgress?.(`${event.id ? `${String(event.id)}: ` : ''}${event.status}`);
      });
    } catch (err) {
      return this.unreachable(err);
    }
  }

  async buildImage(
    context: Readable,
    options: { tag: string; dockerfile: string; buildArgs: Record<string, string>; labels: Record<string, string> },
    onOutput?: (line: string) => void,
    signal?: AbortSignal,
  ): Promise<void> {
    try {
      const stream = await this.docker.buildImage(context, {
        abortSignal: signal,
        t: options.tag,
        dockerfile: options.dockerfile,
        buildargs: options.buildArgs,
        labels: options.labels,
        rm: true,
        forcerm: true,
      });
      await this.follow(stream, (event) => {
        if (typeof event.stream === 'string') {
          for (const line of event.stream.split('\n')) if (line.trim() !== '') onOutput?.(line);
        }
      });
    } catch (err) {
      return this.unreachable(err);
    }
  }

  async ensureVolume(name: string, labels: Record<string, string>): Promise<void> {
    try {
      await this.docker.getVolume(name).inspect();
    } catch (err) {
      if (statusOf(err) !== 404) return this.unreachable(err);
      // Creating an existing volume is a no-op, so two builds racing here both succeed.
      await this.docker.createVolume({ Name: name, Labels: labels }).catch((e: unknown) => this.unreachable(e));
    }
  }

  async createContainer(spec: ContainerSpec): Promise<BuildContainer> {
    try {
      const container = await this.docker.createContainer({
        Image: spec.image,
        Cmd: ['sleep', 'infinity'],
        Labels: spec.labels,
        Env: Object.entries(spec.env).map(([k, v]) => `${k}=${v}`),
        WorkingDir: spec.workdir,
        HostConfig: {
          Init: true,
          Mounts: spec.volumes.map((v) => ({ Type: 'volume' as const, Source: v.name, Target: v.target })),
          ...(spec.memoryBytes !== undefined ? { Memory: spec.memoryBytes, MemorySwap: spec.memoryBytes } : {}),
          ...(spec.nanoCpus !== undefined ? { NanoCpus: spec.nanoCpus } : {}),
          ...(spec.tmpfs !== undefined ? { Tmpfs: spec.tmpfs } : {}),
        },
      });
      const handle = new DockerBuildContainer(container, (err) => this.unreachable(err));
      try {
        await container.start();
      } catch (err) {
        await handle.remove();
        throw err;
      }
      return handle;
    } catch (err) {
      return this.unreachable(err);
    }
  }

  async listContainers(labels: Record<string, string>): Promise<ContainerSummary[]> {
    try {
      const found = await this.docker.listContainers({
        all: true,
        filters: { label: Object.entries(labels).map(([k, v]) => (v === '' ? k : `${k}=${v}`)) },
      });
      return found.map((c) => ({ id: c.Id, labels: c.Labels ?? {}, state: c.State }));
    } catch (err) {
      return this.unreachable(err);
    }
  }

  async removeContainer(id: string): Promise<void> {
    await removeQuietly(this.docker.getContainer(id), (err) => this.unreachable(err));
  }
}

/** Force-removes a container with its anonymous volumes; 404 (gone) and 409 (being removed) are fine. */
async function removeQuietly(container: Docker.Container, unreachable: (err: unknown) => never): Promise<void> {
  try {
    await container.remove({ force: true, v: true });
  } catch (err) {
    const status = statusOf(err);
    if (status === 404 || status === 409) return;
    unreachable(err);
  }
}

class DockerBuildContainer implements BuildContainer {
  readonly id: string;

  constructor(
    private readonly container: Docker.Container,
    private readonly unreachable: (err: unknown) => never,
  ) {
    this.id = container.id;
  }

  async exec(cmd: string[], options: ExecOptions = {}): Promise<ExecResult> {
    try {
      const exec = await this.container.exec({
        Cmd: cmd,
        Env: Object.entries(options.env ?? {}).map(([k, v]) => `${k}=${v}`),
        WorkingDir: options.workdir,
        AttachStdin: options.stdin !== undefined,
        AttachStdout: true,
        AttachStderr: true,
      });
      const stream = await exec.start({ hijack: true, stdin: options.stdin !== undefined });
      if (options.stdin !== undefined) stream.end(options.stdin);
      const decoder = new FrameDecoder();
      const out = new LineCollector((line) => options.onLine?.('stdout', line));
      const err = new LineCollector((line) => options.onLine?.('stderr', line));
      await new Promise<void>((resolve, reject) => {
        stream.on('data', (chunk: Buffer) => {
          for (const frame of decoder.push(chunk)) (frame.stream === 'stderr' ? err : out).write(frame.data.toString('utf8'));
        });
        stream.on('end', resolve);
        stream.on('close', resolve);
        stream.on('error', reject);
      });
      // The stream can end a moment before the engine records the exit code.
      let info = await exec.inspect();
      for (let i = 0; info.Running && i < 50; i++) {
        await new Promise((r) => setTimeout(r, 100));
        info = await exec.inspect();
      }
      return { exitCode: info.ExitCode ?? -1, stdout: out.end(), stderr: err.end() };
    } catch (err) {
      return this.unreachable(err);
    }
  }

  async putArchive(tar: Readable, dir: string): Promise<void> {
    try {
      await this.container.putArchive(tar, { path: dir });
    } catch (err) {
      return this.unreachable(err);
    }
  }

  async getArchive(path: string): Promise<Readable> {
    try {
      return (await this.container.getArchive({ path })) as unknown as Readable;
    } catch (err) {
      return this.unreachable(err);
    }
  }

  remove(): Promise<void> {
    return removeQuietly(this.container, this.unreachable);
  }
}
