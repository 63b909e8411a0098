/**
 * DockerEngine on the wire, against a small HTTP server on a unix socket that answers as the engine
 * would: what it asks for (the platform of pulls and containers), what a lost connection becomes,
 * and, constructed without options, that it finds the engine as the docker CLI does.
 */
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DockerEngine } from '../../src/docker/dockerode';
import { DockerUnavailableError, UsageError } from '../../src/errors';

let dir: string;
let server: http.Server;
let socketPath: string;
/** Method and URL of each request, in order. */
let requests: string[];
/** The X-Registry-Auth header of each request, decoded ('' when absent). */
let registryAuths: string[];
/** JSON answers by path, for the requests a test sets up. */
let answers: Record<string, unknown>;

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'd7y-dockerode-'));
  socketPath = path.join(dir, 'docker.sock');
  requests = [];
  registryAuths = [];
  answers = {};
  server = http.createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    registryAuths.push(Buffer.from(String(req.headers['x-registry-auth'] ?? ''), 'base64url').toString('utf8'));
    req.resume();
    const url = new URL(req.url ?? '/', 'http://engine');
    if (url.pathname in answers) {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(answers[url.pathname]));
    } else if (url.pathname === '/images/create') {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end('{"status":"Pulling from library/golang","id":"1.23.5-bookworm"}\n{"status":"Downloaded newer image"}\n');
    } else if (url.pathname === '/containers/create') {
      res.writeHead(201, { 'Content-Type': 'application/json' });
      res.end('{"Id":"c0ffee","Warnings":[]}');
    } else if (url.pathname === '/version') {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end('{"Version":"27.0.0","ApiVersion":"1.46","Os":"linux","Arch":"amd64"}');
    } else if (url.pathname === '/info') {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end('{"NCPU":2,"MemTotal":4294967296}');
    } else if (url.pathname === '/containers/c0ffee/exec') {
      // A daemon shutting down: it has stopped its containers, refuses this, and stops answering.
      res.writeHead(500, { 'Content-Type': 'application/json' });
      res.on('finish', () => {
        server.close();
        server.closeAllConnections();
      });
      res.end('{"message":"Container c0ffee is not running"}');
    } else if (url.pathname === '/containers/c0ffee/start') {
      res.writeHead(204);
      res.end();
    } else {
      res.writeHead(404, { 'Content-Type': 'application/json' });
      res.end('{"message":"not found"}');
    }
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
});

afterEach(async () => {
  vi.unstubAllEnvs();
  await new Promise((resolve) => server.close(resolve));
  await rm(dir, { recursive: true, force: true });
});

const query = (request: string) => new URL(request.split(' ')[1]!, 'http://engine').searchParams;

describe('DockerEngine', () => {
  it('pulls an image for the platform, and reports its progress', async () => {
    const progress: string[] = [];
    await new DockerEngine({ socketPath }).pullImage('golang:1.23.5-bookworm', { platform: 'linux/amd64', onProgress: (s) => progress.push(s) });
    expect(requests).toHaveLength(1);
    expect(requests[0]).toMatch(/^POST \/images\/create\?/);
    expect(Object.fromEntries(query(requests[0]!))).toMatchObject({ fromImage: 'golang', tag: '1.23.5-bookworm', platform: 'linux/amd64' });
    expect(progress).toEqual(['1.23.5-bookworm: Pulling from library/golang', 'Downloaded newer image']);
  });

  it('sends registry credentials as X-Registry-Auth, never in the URL, for pulls and pushes; a push without them sends {}', async () => {
    const auth = { username: 'ci', password: 's3cret/+pw', serveraddress: '127.0.0.1:5000' };
    const engine = new DockerEngine({ socketPath });
    await engine.pullImage('127.0.0.1:5000/golang:1', { platform: 'linux/amd64', auth });
    await engine.pushImage('127.0.0.1:5000/d7y/x', 't', { auth }).catch(() => undefined);
    await engine.pushImage('127.0.0.1:5000/d7y/x', 't', {}).catch(() => undefined);
    expect(requests.map((r) => r.split('?')[0])).toEqual([
      'POST /images/create',
      'POST /images/127.0.0.1:5000/d7y/x/push',
      'POST /images/127.0.0.1:5000/d7y/x/push',
    ]);
    expect(registryAuths.slice(0, 2).map((h) => JSON.parse(h) as unknown)).toEqual([auth, auth]);
    expect(registryAuths[2]).toBe('{}');
    expect(requests.join('\n')).not.toContain('s3cret');
  });

  it('creates a container for the platform, then starts it', async () => {
    const container = await new DockerEngine({ socketPath }).createContainer({
      image: 'sha256:builder',
      labels: { 'io.d7y-build': 'true' },
      volumes: [],
      env: {},
      workdir: '/work',
      platform: 'linux/amd64',
    });
    expect(container.id).toBe('c0ffee');
    expect(requests.map((r) => r.split('?')[0])).toEqual(['POST /containers/create', 'POST /containers/c0ffee/start']);
    expect(query(requests[0]!).get('platform')).toBe('linux/amd64');
  });

  it('turns a lost connection into DockerUnavailableError, for every request', async () => {
    const engine = new DockerEngine({ socketPath: path.join(dir, 'nothing.sock') });
    for (const request of [
      () => engine.inspectImage('golang:1.23.5-bookworm'),
      () => engine.pullImage('golang:1.23.5-bookworm', { platform: 'linux/amd64' }),
      () => engine.buildImage(Readable.from([]), { tag: 't', dockerfile: 'Dockerfile', buildArgs: {}, labels: {} }),
      () => engine.ensureVolume('v', {}),
      () => engine.listContainers({}),
      () => engine.removeContainer('c0ffee'),
      () => engine.listVolumes({ usage: true }),
    ]) {
      const err = await request().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DockerUnavailableError);
      expect((err as DockerUnavailableError).message).toBe(`no Docker engine answers at unix://${path.join(dir, 'nothing.sock')} (ENOENT)`);
    }
  });

  it('turns a stopped container into DockerUnavailableError when the engine stops answering after', async () => {
    const engine = new DockerEngine({ socketPath });
    const container = await engine.createContainer({ image: 'sha256:builder', labels: {}, volumes: [], env: {}, workdir: '/work' });
    const err = await container.exec(['go', 'version']).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DockerUnavailableError);
    expect((err as DockerUnavailableError).message).toBe(`no Docker engine answers at unix://${socketPath} (it stopped while the build ran)`);
  });

  it('takes 404 for an absent image and an already removed container', async () => {
    const engine = new DockerEngine({ socketPath });
    expect(await engine.inspectImage('golang:absent')).toBeUndefined();
    await expect(engine.removeContainer('gone')).resolves.toBeUndefined();
  });

  it('reads the version, size, rootless mode, data directory and clock from version and info', async () => {
    answers['/version'] = { Version: '27.0.0', ApiVersion: '1.46', Os: 'linux', Arch: 'amd64' };
    answers['/info'] = {
      NCPU: 4,
      MemTotal: 8 * 1024 ** 3,
      SecurityOptions: ['name=seccomp,profile=builtin', 'name=rootless', 'name=cgroupns'],
      DockerRootDir: '/home/me/.local/share/docker',
      SystemTime: '2024-01-02T03:04:05.123456789Z',
    };
    expect(await new DockerEngine({ socketPath }).ping()).toEqual({
      serverVersion: '27.0.0',
      apiVersion: '1.46',
      os: 'linux',
      arch: 'amd64',
      cpus: 4,
      memoryBytes: 8 * 1024 ** 3,
      address: `unix://${socketPath}`,
      rootless: true,
      rootDir: '/home/me/.local/share/docker',
      local: true,
      systemTime: '2024-01-02T03:04:05.123456789Z',
    });
    answers['/info'] = { NCPU: 4, MemTotal: 1, SecurityOptions: ['name=seccomp,profile=builtin'] };
    expect(await new DockerEngine({ socketPath }).ping()).toMatchObject({ rootless: false, rootDir: undefined, systemTime: undefined });
  });

  it("takes the volumes' sizes from the engine's disk usage, where it measured them", async () => {
    answers['/system/df'] = {
      Volumes: [
        { Name: 'd7y-build-go-mod', UsageData: { Size: 1234, RefCount: 0 } },
        { Name: 'unmeasured', UsageData: { Size: -1, RefCount: -1 } },
        { Name: 'no-usage', UsageData: null },
      ],
    };
    expect(await new DockerEngine({ socketPath }).listVolumes({ usage: true })).toEqual([
      { name: 'd7y-build-go-mod', labels: {}, sizeBytes: 1234 },
      { name: 'unmeasured', labels: {} },
      { name: 'no-usage', labels: {} },
    ]);
  });
});

describe('DockerEngine without options', () => {
  /** A Docker context named name whose host is the unix socket at socket, in a fresh DOCKER_CONFIG; DOCKER_HOST unset. */
  async function useContext(name: string, socket: string, how: 'DOCKER_CONTEXT' | 'config.json'): Promise<void> {
    const config = path.join(dir, 'docker-config');
    const metaDir = path.join(config, 'contexts/meta', createHash('sha256').update(name).digest('hex'));
    await mkdir(metaDir, { recursive: true });
    await writeFile(
      path.join(metaDir, 'meta.json'),
      JSON.stringify({ Name: name, Metadata: {}, Endpoints: { docker: { Host: `unix://${socket}`, SkipTLSVerify: false } } }),
    );
    if (how === 'config.json') await writeFile(path.join(config, 'config.json'), JSON.stringify({ currentContext: name }));
    vi.stubEnv('DOCKER_HOST', undefined);
    vi.stubEnv('DOCKER_CONTEXT', how === 'DOCKER_CONTEXT' ? name : undefined);
    vi.stubEnv('DOCKER_CONFIG', config);
  }

  it('reaches the engine of the context DOCKER_CONTEXT names, and says so', async () => {
    await useContext('unit', socketPath, 'DOCKER_CONTEXT');
    const info = await new DockerEngine().ping();
    expect(info).toMatchObject({ serverVersion: '27.0.0', cpus: 2, address: `unix://${socketPath} (context unit)` });
    expect(requests.map((r) => r.split('?')[0]).sort()).toEqual(['GET /info', 'GET /version']);
  });

  it('names the current context when its engine does not answer, and how to choose another', async () => {
    const absent = path.join(dir, 'nothing.sock');
    await useContext('gone', absent, 'config.json');
    const err = await new DockerEngine().listContainers({}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DockerUnavailableError);
    expect((err as DockerUnavailableError).message).toBe(`no Docker engine answers at unix://${absent} (context gone) (ENOENT)`);
    expect((err as DockerUnavailableError).hint).toMatch(/engine of Docker context "gone".*docker context use/);
  });

  it('refuses an unknown context before connecting', async () => {
    await useContext('unit', socketPath, 'DOCKER_CONTEXT');
    vi.stubEnv('DOCKER_CONTEXT', 'nope');
    const err = await new DockerEngine().ping().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).message).toBe('no Docker context named "nope" (DOCKER_CONTEXT)');
    expect(requests).toEqual([]);
  });
});
