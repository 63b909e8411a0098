/**
 * The Engine over dockerode: the only code that talks to the Docker engine. Engine quirks stay here:
 * a failed image build or pull still answers HTTP 200, so every progress event is checked for an
 * error; an exec's result is taken from its inspect, after both output halves were read; 404 on
 * remove means already gone. Every request goes through one place that turns a lost connection
 * into DockerUnavailableError.
 */
import Docker from 'dockerode';
import type { Readable } from 'node:stream';
import { DEFAULT_PING_TIMEOUT_MS } from '../config';
import { DockerUnavailableError } from '../errors';
import { ENV_HINTS, resolveEndpoint, type EndpointHints } from './endpoint';
import {
  engineMessage,
  type BuildContainer,
  type ContainerSpec,
  type ContainerSummary,
  type Engine,
  type EngineInfo,
  type ExecOptions,
  type ExecResult,
  type ImageInfo,
  type ImageSummary,
  type RegistryCredential,
  type VolumeInfo,
} from './engine';
import { FrameDecoder, LineCollector } from './streams';

const CONNECTION_ERRORS = new Set(['ECONNREFUSED', 'ENOENT', 'EACCES', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTFOUND']);

interface ErrnoLike {
  code?: string;
  statusCode?: number;
}

function asErrno(err: unknown): ErrnoLike {
  return typeof err === 'object' && err !== null ? (err as ErrnoLike) : {};
}

function statusOf(err: unknown): number | undefined {
  return asErrno(err).statusCode;
}

/** The request's answer, or undefined when the engine answered one of these statuses (404: no such object). */
async function unless<T>(request: Promise<T>, ...statuses: number[]): Promise<T | undefined> {
  try {
    return await request;
  } catch (err) {
    const status = statusOf(err);
    if (status !== undefined && statuses.includes(status)) return undefined;
    throw err;
  }
}

/** The engine's refusal of a request to a container that is no longer running. */
function containerStopped(err: unknown): boolean {
  const status = statusOf(err);
  return (status === 409 || status === 500) && /is not running/.test(err instanceof Error ? err.message : '');
}

/** How long an engine that refused a stopped container's request may take to stop answering, when it is shutting down. */
const STOPPING_ENGINE_MS = 5000;

/** Runs engine requests; a lost connection becomes DockerUnavailableError, other errors pass through. */
type Call = <T>(request: () => Promise<T>) => Promise<T>;

/** Where dockerode connects when given explicit options, the way the docker CLI would say it. */
function addressOf(docker: Docker): string {
  const modem = docker.modem as unknown as { socketPath?: unknown; host?: string; port?: number | string; protocol?: string };
  if (typeof modem.socketPath === 'string') return `unix://${modem.socketPath}`;
  return `${modem.protocol ?? 'http'}://${modem.host}${modem.port ? `:${modem.port}` : ''}`;
}

/** Whether dockerode reaches the engine through a socket of this machine. */
function isLocal(docker: Docker): boolean {
  return typeof (docker.modem as unknown as { socketPath?: unknown }).socketPath === 'string';
}

export interface EngineOptions {
  /** How long ping waits for the engine to answer (default DEFAULT_PING_TIMEOUT_MS). */
  pingTimeoutMs?: number;
}

/** The client and what messages say about where it connects. */
interface Connection {
  docker: Docker;
  address: string;
  hints: EndpointHints;
}

export class DockerEngine implements Engine {
  private connection: Connection | undefined;

  /**
   * With no Docker options the engine is found as the docker CLI finds it (resolveEndpoint: DOCKER_HOST,
   * DOCKER_CONTEXT, the current context, the default or rootless socket), on first use.
   */
  constructor(
    private readonly dockerOptions?: Docker.DockerOptions,
    private readonly options: EngineOptions = {},
  ) {}

  private get connected(): Connection {
    if (this.connection === undefined) {
      if (this.dockerOptions === undefined) {
        const endpoint = resolveEndpoint(process.env);
        this.connection = { docker: new Docker(endpoint.options), address: endpoint.address, hints: endpoint.hints };
      } else {
        const docker = new Docker(this.dockerOptions);
        this.connection = { docker, address: addressOf(docker), hints: ENV_HINTS };
      }
    }
    return this.connection;
  }

  private get docker(): Docker {
    return this.connected.docker;
  }

  private unavailable(err: unknown, why: string): never {
    const { address, hints } = this.connected;
    throw new DockerUnavailableError(`no Docker engine answers at ${address} (${why})`, { hint: hints.unreachable, cause: err });
  }

  /**
   * The one place a request's failure is looked at: a lost connection means no engine; so does a
   * container found stopped when the engine stops answering right after (a daemon shutting down
   * stops its containers first, and refuses what is asked of them meanwhile). The rest passes through.
   */
  private readonly call: Call = async (request) => {
    try {
      return await request();
    } catch (err) {
      const code = asErrno(err).code;
      if (code !== undefined && CONNECTION_ERRORS.has(code)) this.unavailable(err, code);
      if (containerStopped(err) && (await this.stopsAnswering())) this.unavailable(err, 'it stopped while the build ran');
      throw err;
    }
  };

  /** Whether the engine stops answering within a few seconds: asked every quarter of a second. */
  private async stopsAnswering(): Promise<boolean> {
    for (let waited = 0; waited < STOPPING_ENGINE_MS; waited += 250) {
      try {
        // The typings omit the options version takes.
        await (this.docker as unknown as { version(o: object): Promise<unknown> }).version({ abortSignal: AbortSignal.timeout(1000) });
      } catch {
        return true;
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    return false;
  }

  /**
   * The first request of a run: anything but a Docker engine's answer in time means there is no
   * engine there. An address that accepts connections and never answers is given up on after the
   * ping timeout; the caller's signal ends the wait at once.
   */
  async ping(signal?: AbortSignal): Promise<EngineInfo> {
    const { docker, address, hints } = this.connected;
    const timeoutMs = this.options.pingTimeoutMs ?? DEFAULT_PING_TIMEOUT_MS;
    const timeout = AbortSignal.timeout(timeoutMs);
    const abortSignal = signal === undefined ? timeout : AbortSignal.any([signal, timeout]);
    type Answer = Partial<Record<'Version' | 'ApiVersion' | 'Os' | 'Arch' | 'NCPU' | 'MemTotal' | 'SecurityOptions' | 'DockerRootDir' | 'SystemTime', unknown>>;
    let v: Answer;
    let info: Answer;
    try {
      // The typings omit the options these methods take.
      const request = docker as unknown as { version(o: object): Promise<Answer>; info(o: object): Promise<Answer> };
      [v, info] = await Promise.all([request.version({ abortSignal }), request.info({ abortSignal })]);
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      if (timeout.aborted) {
        throw new DockerUnavailableError(`no Docker engine answers at ${address}: it took more than ${timeoutMs / 1000} s to answer`, {
          hint: hints.slow,
          cause: err,
        });
      }
      const status = statusOf(err);
      if (status !== undefined) {
        throw new DockerUnavailableError(`${address} answers HTTP ${status}, but is not a Docker engine`, { hint: hints.notEngine, cause: err });
      }
      const code = asErrno(err).code ?? engineMessage(err);
      if (/SSL|CERT|EPROTO|SELF_SIGNED|UNABLE_TO_VERIFY/.test(code)) {
        throw new DockerUnavailableError(`no Docker engine answers at ${address} over TLS (${code})`, { hint: hints.tls, cause: err });
      }
      return this.unavailable(err, code);
    }
    if (typeof v?.Version !== 'string' || typeof v.ApiVersion !== 'string' || typeof info?.NCPU !== 'number' || typeof info.MemTotal !== 'number') {
      throw new DockerUnavailableError(`${address} answers, but not as a Docker engine`, { hint: hints.notEngine });
    }
    return {
      serverVersion: v.Version,
      apiVersion: v.ApiVersion,
      os: String(v.Os),
      arch: String(v.Arch),
      cpus: info.NCPU,
      memoryBytes: info.MemTotal,
      address,
      // e.g. ["name=seccomp,profile=builtin", "name=rootless", "name=cgroupns"]
      rootless: Array.isArray(info.SecurityOptions) ? info.SecurityOptions.some((o) => String(o).split(',').includes('name=rootless')) : undefined,
      rootDir: typeof info.DockerRootDir === 'string' ? info.DockerRootDir : undefined,
      local: isLocal(docker),
      systemTime: typeof info.SystemTime === 'string' ? info.SystemTime : undefined,
    };
  }

  inspectImage(ref: string): Promise<ImageInfo | undefined> {
    return this.call(async () => {
      const info = await unless(this.docker.getImage(ref).inspect(), 404);
      if (info === undefined) return undefined;
      const env = Object.fromEntries(
        (info.Config?.Env ?? []).map((kv) => {
          const i = kv.indexOf('=');
          return [kv.slice(0, i), kv.slice(i + 1)];
        }),
      );
      const layers = info.RootFS?.Layers;
      return { id: info.Id, env, labels: info.Config?.Labels ?? {}, arch: info.Architecture, ...(layers !== undefined ? { layers } : {}) };
    });
  }

  removeImage(ref: string): Promise<'removed' | 'gone'> {
    return this.call(async () => ((await unless(this.docker.getImage(ref).remove(), 404)) === undefined ? 'gone' : 'removed'));
  }

  listImages(labels: Record<string, string>): Promise<ImageSummary[]> {
    return this.call(async () => {
      const found = await this.docker.listImages({ filters: { label: labelFilters(labels) } });
      return found.map((i) => ({ id: i.Id, tags: (i.RepoTags ?? []).filter((t) => t !== '<none>:<none>'), labels: i.Labels ?? {}, sizeBytes: i.Size }));
    });
  }

  saveImages(refs: string[], signal?: AbortSignal): Promise<Readable> {
    // The typings omit this request.
    const request = this.docker as unknown as { getImages(o: { names: string[]; abortSignal?: AbortSignal }): Promise<Readable> };
    return this.call(() => request.getImages({ names: refs, abortSignal: signal }));
  }

  loadImages(tar: Readable, signal?: AbortSignal): Promise<void> {
    return this.call(async () => {
      // Without quiet, the engine reports each layer as progress events, an error among them.
      const stream = (await this.docker.loadImage(tar, { quiet: false, abortSignal: signal } as object)) as NodeJS.ReadableStream;
      await this.follow(stream, () => {});
    });
  }

  pushImage(
    repository: string,
    tag: string,
    { auth, onProgress, signal }: { auth?: RegistryCredential; onProgress?: (status: string) => void; signal?: AbortSignal },
  ): Promise<{ digest?: string }> {
    return this.call(async () => {
      // Without credentials an empty X-Registry-Auth: engines before API 1.44 refuse a push without the header.
      const stream = (await this.docker
        .getImage(repository)
        .push({ tag, authconfig: auth ?? {}, abortSignal: signal } as Docker.ImagePushOptions)) as NodeJS.ReadableStream;
      let digest: string | undefined;
      await this.follow(stream, (event) => {
        const aux = event.aux as { Digest?: unknown } | undefined;
        if (typeof aux?.Digest === 'string') digest = aux.Digest;
        if (typeof event.status === 'string') onProgress?.(`${event.id ? `${String(event.id)}: ` : ''}${event.status}`);
      });
      return digest === undefined ? {} : { digest };
    });
  }

  async runToEnd(spec: ContainerSpec, { timeoutMs, signal }: { timeoutMs: number; signal?: AbortSignal }): Promise<ExecResult & { timedOut: boolean }> {
    const handle = await this.createContainer({ ...spec, start: false });
    const onAbort = () => void handle.remove().catch(() => {});
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      return await this.call(async () => {
        const container = this.docker.getContainer(handle.id);
        await container.start();
        let timedOut = false;
        const timer = setTimeout(() => {
          timedOut = true;
          void unless(container.kill(), 404, 409).catch(() => {});
        }, timeoutMs);
        let status: { StatusCode?: number };
        try {
          status = (await container.wait()) as { StatusCode?: number };
        } finally {
          clearTimeout(timer);
        }
        // Without a terminal the log is framed, stdout and stderr apart.
        const log = (await container.logs({ stdout: true, stderr: true, follow: false })) as unknown as Buffer;
        const out: string[] = [];
        const err: string[] = [];
        for (const frame of new FrameDecoder().push(Buffer.from(log))) (frame.stream === 'stderr' ? err : out).push(frame.data.toString('utf8'));
        return { exitCode: status.StatusCode ?? -1, stdout: out.join(''), stderr: err.join(''), timedOut };
      });
    } finally {
      signal?.removeEventListener('abort', onAbort);
      await handle.remove();
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

  pullImage(
    ref: string,
    { platform, auth, onProgress, signal }: { platform: string; auth?: RegistryCredential; onProgress?: (status: string) => void; signal?: AbortSignal },
  ): Promise<void> {
    return this.call(async () => {
      // dockerode sends authconfig as X-Registry-Auth, not as a query parameter.
      const stream = await this.docker.pull(ref, { abortSignal: signal, platform, ...(auth !== undefined ? { authconfig: auth } : {}) });
      await this.follow(stream, (event) => {
        if (typeof event.status === 'string') onProgress?.(`${event.id ? `${String(event.id)}: ` : ''}${event.status}`);
      });
    });
  }

  buildImage(
    context: Readable,
    options: { tag: string; dockerfile: string; buildArgs: Record<string, string>; labels: Record<string, string>; platform?: string },
    onOutput?: (line: string) => void,
    signal?: AbortSignal,
  ): Promise<void> {
    return this.call(async () => {
      const stream = await this.docker.buildImage(context, {
        abortSignal: signal,
        t: options.tag,
        dockerfile: options.dockerfile,
        buildargs: options.buildArgs,
        labels: options.labels,
        ...(options.platform !== undefined ? { platform: options.platform } : {}),
        rm: true,
        forcerm: true,
      });
      await this.follow(stream, (event) => {
        if (typeof event.stream === 'string') {
          for (const line of event.stream.split('\n')) if (line.trim() !== '') onOutput?.(line);
        }
      });
    });
  }

  ensureVolume(name: string, labels: Record<string, string>): Promise<void> {
    return this.call(async () => {
      if ((await unless(this.docker.getVolume(name).inspect(), 404)) !== undefined) return;
      // Creating an existing volume is a no-op, so two builds racing here both succeed.
      await this.docker.createVolume({ Name: name, Labels: labels });
    });
  }

  listVolumes(options: { usage?: boolean } = {}): Promise<VolumeInfo[]> {
    return this.call(async () => {
      type Listed = { Name: string; Labels?: Record<string, string> | null; CreatedAt?: string; UsageData?: { Size?: number } | null };
      // Sizes come only with the disk usage report, which measures every volume; -1 means unknown.
      const volumes: Listed[] = options.usage
        ? (((await this.docker.df()) as { Volumes?: Listed[] | null }).Volumes ?? [])
        : (((await this.docker.listVolumes()).Volumes as Listed[] | null) ?? []);
      return volumes.map((v) => {
        const size = v.UsageData?.Size;
        return {
          name: v.Name,
          labels: v.Labels ?? {},
          ...(v.CreatedAt ? { createdAt: v.CreatedAt } : {}),
          ...(typeof size === 'number' && size >= 0 ? { sizeBytes: size } : {}),
        };
      });
    });
  }

  removeVolume(name: string): Promise<'removed' | 'in-use' | 'gone'> {
    return this.call(async () => {
      try {
        await this.docker.getVolume(name).remove();
        return 'removed';
      } catch (err) {
        if (statusOf(err) === 404) return 'gone';
        if (statusOf(err) === 409) return 'in-use';
        throw err;
      }
    });
  }

  createContainer(spec: ContainerSpec): Promise<BuildContainer> {
    return this.call(async () => {
      const container = await this.docker.createContainer({
        // dockerode sends each option as a query parameter too: the engine reads `platform` from there.
        ...(spec.platform !== undefined ? { platform: spec.platform } : {}),
        Image: spec.image,
        Cmd: spec.cmd ?? ['sleep', 'infinity'],
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
      const handle = new DockerBuildContainer(container, this.call);
      if (spec.start === false) return handle;
      try {
        await container.start();
      } catch (err) {
        await handle.remove();
        throw err;
      }
      return handle;
    });
  }

  listContainers(labels: Record<string, string>): Promise<ContainerSummary[]> {
    return this.call(async () => {
      const found = await this.docker.listContainers({
        all: true,
        filters: { label: labelFilters(labels) },
      });
      return found.map((c) => ({
        id: c.Id,
        labels: c.Labels ?? {},
        state: c.State,
        volumes: (c.Mounts ?? []).flatMap((m) => (m.Type === 'volume' && m.Name ? [m.Name] : [])),
      }));
    });
  }

  removeContainer(id: string): Promise<void> {
    return this.call(() => removeQuietly(this.docker.getContainer(id)));
  }
}

/** The engine's label filter: key=value, or key alone for a label given as ''. */
function labelFilters(labels: Record<string, string>): string[] {
  return Object.entries(labels).map(([k, v]) => (v === '' ? k : `${k}=${v}`));
}

/** Force-removes a container with its anonymous volumes; 404 (gone) and 409 (being removed) are fine. */
async function removeQuietly(container: Docker.Container): Promise<void> {
  await unless(container.remove({ force: true, v: true }), 404, 409);
}

class DockerBuildContainer implements BuildContainer {
  readonly id: string;

  constructor(
    private readonly container: Docker.Container,
    private readonly call: Call,
  ) {
    this.id = container.id;
  }

  exec(cmd: string[], options: ExecOptions = {}): Promise<ExecResult> {
    return this.call(async () => {
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
    });
  }

  putArchive(tar: Readable, dir: string): Promise<void> {
    return this.call(async () => {
      await this.container.putArchive(tar, { path: dir });
    });
  }

  getArchive(path: string): Promise<Readable> {
    return this.call(async () => (await this.container.getArchive({ path })) as unknown as Readable);
  }

  remove(): Promise<void> {
    return this.call(() => removeQuietly(this.container));
  }
}
