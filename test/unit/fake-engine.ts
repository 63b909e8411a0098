/**
 * An Engine in memory, for unit tests of the steps that drive one: it records what it was asked
 * (containers with their spec, execs, archives put, removals, pulls, builds) and answers from what
 * the test set up (images, a registry to pull from, exec results by argv, archives to hand out).
 */
import { posix } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tarStream from 'tar-stream';
import type {
  BuildContainer,
  ContainerSpec,
  ContainerSummary,
  Engine,
  EngineInfo,
  ExecOptions,
  ExecResult,
  ImageInfo,
  ImageSummary,
  RegistryCredential,
  VolumeInfo,
} from '../../src/docker/engine';

export interface ExecCall {
  container: string;
  cmd: string[];
  env?: Record<string, string>;
  stdin?: string;
}

/** A scripted answer: fixed, or computed from the call (at once, or when its promise settles). */
type ExecAnswer = Partial<ExecResult> | ((call: ExecCall) => Partial<ExecResult> | Promise<Partial<ExecResult>>);

/** File name → content, or the target of a symbolic link: what an archive holds. */
export type FileMap = Record<string, string | Buffer | { link: string }>;

export interface PutArchiveCall {
  container: string;
  dir: string;
  /** Regular files by entry name, as text. */
  files: Record<string, string>;
  /** Symbolic links by entry name, with their targets; absent when there are none. */
  links?: Record<string, string>;
}

export class FakeEngine implements Engine {
  info: EngineInfo = {
    serverVersion: '27.0.0',
    apiVersion: '1.46',
    os: 'linux',
    arch: 'x86_64',
    cpus: 4,
    memoryBytes: 8 * 1024 ** 3,
    address: 'unix:///fake.sock',
    rootless: false,
    rootDir: '/var/lib/docker',
    // An engine elsewhere: its rootDir is no path of the machine the tests run on.
    local: false,
  };
  /** Images the engine has, by reference. */
  readonly images = new Map<string, ImageInfo>();
  /** Images a pull finds, by reference; a pull of anything else fails. */
  readonly registry = new Map<string, ImageInfo>();
  /** Volumes by name, with their labels. */
  readonly volumes = new Map<string, Record<string, string>>();
  /** What the disk usage report says a volume holds, by name; absent: unknown. */
  readonly volumeSizes = new Map<string, number>();
  /** Names of removed volumes, in order. */
  readonly removedVolumes: string[] = [];
  readonly pulls: Array<{ ref: string; platform: string; auth?: RegistryCredential }> = [];
  /** Image builds, with the regular files of their context as text. */
  readonly builds: Array<{
    tag: string;
    dockerfile: string;
    buildArgs: Record<string, string>;
    platform?: string;
    labels: Record<string, string>;
    files: Record<string, string>;
    signal?: AbortSignal;
  }> = [];
  /** Set: an image build does not end until its signal aborts it. */
  holdBuilds = false;
  /** Set: each image build fails with it, after reading its context. */
  buildError: Error | undefined;
  /** The lines a build prints before it ends (or fails with buildError). */
  buildOutput: string[] = [];
  readonly containers: Array<{ id: string; spec: ContainerSpec }> = [];
  readonly execs: ExecCall[] = [];
  readonly puts: PutArchiveCall[] = [];
  /** Ids of removed containers, in order. */
  readonly removed: string[] = [];
  /** Pushes, in order; pushError set: each push fails with it. */
  readonly pushes: Array<{ repository: string; tag: string; auth?: RegistryCredential }> = [];
  pushError: Error | undefined;
  /** Refs removed by removeImage, in order. */
  readonly removedImages: string[] = [];
  /** What the image listing says an image holds, by id; absent: 0. */
  readonly imageSizes = new Map<string, number>();
  /** The refs each saveImages was asked for, and each loadImages's tags, in order. */
  readonly saves: string[][] = [];
  readonly loads: string[][] = [];
  /** Set: each image load fails with it, after reading its stream. */
  loadError: Error | undefined;
  /** Containers run to their end by runToEnd, with their spec; what they answer, by default exit 0, silent. */
  readonly runs: ContainerSpec[] = [];
  runAnswer: Partial<ExecResult & { timedOut: boolean }> = {};
  /** What getArchive(path) returns: entries named from path's base name, e.g. out/bin/dfget for /work/out. */
  readonly archives = new Map<string, FileMap>();
  /** The paths getArchive was asked for, in order. */
  readonly archiveReads: string[] = [];
  private readonly scripts: Array<{ prefix: string[]; answer: ExecAnswer }> = [];

  /** Answers execs whose argv starts with prefix; a later script wins over an earlier one. Unscripted execs exit 0, silent. */
  onExec(prefix: string[], answer: ExecAnswer): this {
    this.scripts.unshift({ prefix, answer });
    return this;
  }

  /** The execs whose argv starts with prefix. */
  execsOf(prefix: string[]): ExecCall[] {
    return this.execs.filter((e) => startsWith(e.cmd, prefix));
  }

  async ping(): Promise<EngineInfo> {
    return this.info;
  }

  async inspectImage(ref: string): Promise<ImageInfo | undefined> {
    return this.images.get(ref);
  }

  async pullImage(ref: string, options: { platform: string; auth?: RegistryCredential }): Promise<void> {
    this.pulls.push({ ref, platform: options.platform, ...(options.auth !== undefined ? { auth: options.auth } : {}) });
    const found = this.registry.get(ref);
    if (found === undefined) throw new Error(`pull access denied for ${ref}`);
    this.images.set(ref, found);
  }

  async buildImage(
    context: Readable,
    options: { tag: string; dockerfile: string; buildArgs: Record<string, string>; labels: Record<string, string>; platform?: string },
    onOutput?: (line: string) => void,
    signal?: AbortSignal,
  ): Promise<void> {
    const files = await readTar(context);
    for (const line of this.buildOutput) onOutput?.(line);
    this.builds.push({
      tag: options.tag,
      dockerfile: options.dockerfile,
      buildArgs: options.buildArgs,
      labels: options.labels,
      ...(options.platform !== undefined ? { platform: options.platform } : {}),
      files,
      signal,
    });
    if (this.holdBuilds) {
      await new Promise((_resolve, reject) => signal?.addEventListener('abort', () => reject(new Error('the build was cancelled')), { once: true }));
    }
    if (this.buildError !== undefined) throw this.buildError;
    this.images.set(options.tag, { id: `sha256:built-${this.builds.length}`, env: {}, labels: options.labels, arch: 'amd64' });
  }

  async ensureVolume(name: string, labels: Record<string, string>): Promise<void> {
    if (!this.volumes.has(name)) this.volumes.set(name, labels);
  }

  async listVolumes(options: { usage?: boolean } = {}): Promise<VolumeInfo[]> {
    return [...this.volumes].map(([name, labels]) => {
      const size = this.volumeSizes.get(name);
      return { name, labels, ...(options.usage && size !== undefined ? { sizeBytes: size } : {}) };
    });
  }

  async removeVolume(name: string): Promise<'removed' | 'in-use' | 'gone'> {
    if (!this.volumes.has(name)) return 'gone';
    if (this.containers.some((c) => !this.removed.includes(c.id) && c.spec.volumes.some((v) => v.name === name))) return 'in-use';
    this.volumes.delete(name);
    this.removedVolumes.push(name);
    return 'removed';
  }

  async createContainer(spec: ContainerSpec): Promise<BuildContainer> {
    const id = `fake${String(this.containers.length + 1).padStart(60, '0')}`;
    this.containers.push({ id, spec });
    return new FakeContainer(id, this);
  }

  async listContainers(labels: Record<string, string>): Promise<ContainerSummary[]> {
    return this.containers
      .filter((c) => !this.removed.includes(c.id))
      .filter((c) => Object.entries(labels).every(([k, v]) => k in c.spec.labels && (v === '' || c.spec.labels[k] === v)))
      .map((c) => ({ id: c.id, labels: c.spec.labels, state: c.spec.start === false ? 'created' : 'running', volumes: c.spec.volumes.map((v) => v.name) }));
  }

  async removeContainer(id: string): Promise<void> {
    if (!this.removed.includes(id)) this.removed.push(id);
  }

  async runToEnd(spec: ContainerSpec): Promise<ExecResult & { timedOut: boolean }> {
    this.runs.push(spec);
    return { exitCode: 0, stdout: '', stderr: '', timedOut: false, ...this.runAnswer };
  }

  async pushImage(repository: string, tag: string, options: { auth?: RegistryCredential } = {}): Promise<{ digest?: string }> {
    this.pushes.push({ repository, tag, ...(options.auth !== undefined ? { auth: options.auth } : {}) });
    if (this.pushError !== undefined) throw this.pushError;
    return { digest: `sha256:${'d'.repeat(64)}` };
  }

  async removeImage(ref: string): Promise<'removed' | 'gone'> {
    this.removedImages.push(ref);
    return this.images.delete(ref) ? 'removed' : 'gone';
  }

  async listImages(labels: Record<string, string>): Promise<ImageSummary[]> {
    const byId = new Map<string, ImageSummary>();
    for (const [ref, info] of this.images) {
      if (!Object.entries(labels).every(([k, v]) => k in info.labels && (v === '' || info.labels[k] === v))) continue;
      const summary = byId.get(info.id) ?? { id: info.id, tags: [], labels: info.labels, sizeBytes: this.imageSizes.get(info.id) ?? 0 };
      summary.tags.push(ref);
      byId.set(info.id, summary);
    }
    return [...byId.values()];
  }

  /**
   * A tar like `docker save`'s: a file per layer (<diff id hex>/layer.tar), then manifest.json naming
   * each image's tags, id, labels and layer files.
   */
  async saveImages(refs: string[]): Promise<Readable> {
    this.saves.push(refs);
    const manifest = refs.map((ref) => {
      const info = this.images.get(ref);
      if (info === undefined) throw Object.assign(new Error(`reference does not exist: ${ref}`), { statusCode: 404 });
      return { RepoTags: [ref], Id: info.id, Labels: info.labels, Layers: (info.layers ?? []).map(layerFile) };
    });
    return tarOf({
      ...Object.fromEntries(manifest.flatMap((m) => m.Layers.map((file) => [file, `layer ${file}`]))),
      'manifest.json': JSON.stringify(manifest),
    });
  }

  /** As `docker load`: a layer the engine has needs no file. */
  async loadImages(tar: Readable): Promise<void> {
    const files = await readTar(tar);
    if (this.loadError !== undefined) throw this.loadError;
    if (files['manifest.json'] === undefined) throw new Error('open /var/lib/docker/tmp/docker-import/manifest.json: no such file or directory');
    const manifest = JSON.parse(files['manifest.json']) as Array<{ RepoTags: string[]; Id: string; Labels: Record<string, string>; Layers: string[] }>;
    const held = new Set([...this.images.values()].flatMap((i) => (i.layers ?? []).map(layerFile)));
    for (const file of manifest.flatMap((m) => m.Layers)) {
      if (files[file] === undefined && !held.has(file)) throw new Error(`open /var/lib/docker/tmp/docker-import/${file}: no such file or directory`);
    }
    this.loads.push(manifest.flatMap((m) => m.RepoTags));
    for (const m of manifest) {
      const layers = m.Layers.map((f) => `sha256:${f.split('/')[0]}`);
      for (const tag of m.RepoTags) this.images.set(tag, { id: m.Id, env: {}, labels: m.Labels, arch: 'amd64', layers });
    }
  }

  /** What the container answers to cmd: the latest script whose prefix matches. */
  async answer(call: ExecCall): Promise<ExecResult> {
    this.execs.push(call);
    const script = this.scripts.find((s) => startsWith(call.cmd, s.prefix));
    const answer = typeof script?.answer === 'function' ? await script.answer(call) : script?.answer;
    return { exitCode: 0, stdout: '', stderr: '', ...answer };
  }
}

/** Where the fake `docker save` puts a layer. */
const layerFile = (diffId: string): string => `${diffId.replace('sha256:', '')}/layer.tar`;

function startsWith(cmd: string[], prefix: string[]): boolean {
  return prefix.every((part, i) => cmd[i] === part);
}

class FakeContainer implements BuildContainer {
  constructor(
    readonly id: string,
    private readonly engine: FakeEngine,
  ) {}

  async exec(cmd: string[], options: ExecOptions = {}): Promise<ExecResult> {
    return this.engine.answer({ container: this.id, cmd, env: options.env, stdin: options.stdin });
  }

  async putArchive(tar: Readable, dir: string): Promise<void> {
    const links: Record<string, string> = {};
    const files = await readTar(tar, links);
    this.engine.puts.push({ container: this.id, dir, files, ...(Object.keys(links).length > 0 ? { links } : {}) });
  }

  async getArchive(path: string): Promise<Readable> {
    this.engine.archiveReads.push(path);
    const files = this.engine.archives.get(path) ?? this.subArchive(path);
    if (files === undefined) throw new Error(`no such file or directory: ${path}`);
    return tarOf(files);
  }

  /** A directory inside one of the archives: its entries, named from its own base name on. */
  private subArchive(dir: string): FileMap | undefined {
    for (const [root, files] of this.engine.archives) {
      if (!dir.startsWith(`${root}/`)) continue;
      const rel = posix.relative(posix.dirname(root), dir);
      const strip = posix.dirname(rel).length + 1;
      const inside = Object.entries(files).filter(([name]) => name.startsWith(`${rel}/`));
      if (inside.length > 0) return Object.fromEntries(inside.map(([name, content]) => [name.slice(strip), content]));
    }
    return undefined;
  }

  async remove(): Promise<void> {
    await this.engine.removeContainer(this.id);
  }
}

/** The regular files of a tar stream, by entry name, as text; its symbolic links go into links. */
export async function readTar(tar: Readable, links: Record<string, string> = {}): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  const extract = tarStream.extract();
  // A stream destroyed with an error fails the read, as it fails the engine's request.
  pipeline(tar, extract).catch(() => {});
  for await (const entry of extract) {
    const chunks: Buffer[] = [];
    for await (const chunk of entry) chunks.push(chunk as Buffer);
    if (entry.header.type === 'file') files[entry.header.name] = Buffer.concat(chunks).toString('utf8');
    if (entry.header.type === 'symlink') links[entry.header.name] = entry.header.linkname;
  }
  return files;
}

/** A tar stream of these files (executable) and links, in the given order. */
export function tarOf(files: FileMap): Readable {
  const pack = tarStream.pack();
  for (const [name, content] of Object.entries(files)) {
    if (typeof content === 'object' && 'link' in content) pack.entry({ name, type: 'symlink', linkname: content.link, mode: 0o777 });
    else pack.entry({ name, mode: 0o755 }, content);
  }
  pack.finalize();
  return Readable.from(pack);
}
