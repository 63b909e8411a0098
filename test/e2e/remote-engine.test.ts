/**
 * A second Docker engine, started for this file: dockerd on a loopback TCP port with TLS (its own CA,
 * server and client certificates from openssl). d7y-build reaches it through DOCKER_HOST with
 * DOCKER_TLS_VERIFY and DOCKER_CERT_PATH and through a Docker context, refuses it with a wrong CA,
 * and builds a plugin on it. The engine has its own data root, exec root, containerd and bridge, and
 * touches no iptables rule, sysctl or the shared engine's docker0, so the shared engine goes on as
 * it was; it is stopped by its pid and its directories are removed afterwards.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import https from 'node:https';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { CACHE_VOLUMES } from '../../src/session/cache';
import { CONTAINER } from '../../src/session/layout';
import { examples, exists, fixtureArgs, leftoverContainers, root, runCli } from './helpers';

const run = promisify(execFile);

let dir: string;
let port: number;
let bridge: string;
let dockerd: ChildProcess | undefined;
let dockerdExit: Promise<unknown>;
/** The environment that points d7y-build and the docker CLI at the second engine. */
let tlsEnv: Record<string, string | undefined>;
/** The Go image and the module cache on the second engine: started at once, awaited by the build. */
let preloaded: Promise<void>;

/** A port nobody listens on at the moment. */
async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const openssl = (...args: string[]) => run('openssl', args, { cwd: dir });

/** A CA's certificate and key as <name>.pem and <name>-key.pem. */
async function makeCa(name: string): Promise<void> {
  await openssl(
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-days',
    '1',
    '-subj',
    `/CN=d7y-build test ${name}`,
    '-keyout',
    `${name}-key.pem`,
    '-out',
    `${name}.pem`,
  );
}

/** A certificate signed by the CA, with the extensions given, as <name>.pem and <name>-key.pem. */
async function makeCert(name: string, ca: string, extensions: string): Promise<void> {
  await writeFile(path.join(dir, `${name}.ext`), extensions);
  await openssl(
    'req',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-subj',
    `/CN=${name}`,
    '-keyout',
    `${name}-key.pem`,
    '-out',
    `${name}.csr`,
  );
  await openssl(
    'x509',
    '-req',
    '-in',
    `${name}.csr`,
    '-CA',
    `${ca}.pem`,
    '-CAkey',
    `${ca}-key.pem`,
    '-set_serial',
    `0x${createHash('sha256').update(name).digest('hex').slice(0, 16)}`,
    '-days',
    '1',
    '-extfile',
    `${name}.ext`,
    '-out',
    `${name}.pem`,
  );
}

/** A directory of ca.pem, cert.pem and key.pem, as DOCKER_CERT_PATH wants it. */
async function certDir(name: string, ca: string): Promise<string> {
  const target = path.join(dir, name);
  await mkdir(target);
  await writeFile(path.join(target, 'ca.pem'), await readFile(path.join(dir, `${ca}.pem`)));
  await writeFile(path.join(target, 'cert.pem'), await readFile(path.join(dir, 'client.pem')));
  await writeFile(path.join(target, 'key.pem'), await readFile(path.join(dir, 'client-key.pem')));
  return target;
}

/** Whether the engine answers /_ping over TLS with the client certificate. */
async function answers(client: string): Promise<boolean> {
  const [ca, cert, key] = await Promise.all(['ca.pem', 'cert.pem', 'key.pem'].map((f) => readFile(path.join(client, f))));
  return new Promise((resolve) => {
    const req = https.get({ host: '127.0.0.1', port, path: '/_ping', ca, cert, key, timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
  });
}

/** `docker args...` against the second engine. */
function remoteDocker(...args: string[]): Promise<{ stdout: string }> {
  return run('docker', args, { env: { ...process.env, ...tlsEnv } as NodeJS.ProcessEnv, maxBuffer: 16 * 1024 * 1024 });
}

/** Runs a | b, each a docker command with its own environment; rejects with the stderr of the one that failed. */
function pipe(a: { args: string[]; env: NodeJS.ProcessEnv }, b: { args: string[]; env: NodeJS.ProcessEnv }): Promise<void> {
  const left = spawn('docker', a.args, { env: a.env, stdio: ['ignore', 'pipe', 'pipe'] });
  const right = spawn('docker', b.args, { env: b.env, stdio: ['pipe', 'ignore', 'pipe'] });
  left.stdout.pipe(right.stdin);
  // A side that fails is reported by its exit status, not by the other's broken pipe.
  right.stdin.on('error', () => undefined);
  const done = (child: ChildProcess, args: string[]) =>
    new Promise<void>((resolve, reject) => {
      let stderr = '';
      child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('error', reject);
      child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`docker ${args.join(' ')} exited ${code}: ${stderr}`))));
    });
  return Promise.all([done(left, a.args), done(right, b.args)]).then(() => undefined);
}

/** `docker args...` with input on its standard input; rejects with its stderr when it fails. */
function feed(args: string[], env: NodeJS.ProcessEnv, input: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = execFile('docker', args, { env }, (err, _stdout, stderr) =>
      err ? reject(new Error(`docker ${args.join(' ')}: ${stderr}`, { cause: err })) : resolve(),
    );
    child.stdin!.on('error', () => undefined); // its exit status says what went wrong
    child.stdin!.end(input);
  });
}

/**
 * The Go image from the shared engine, and the modules the fixture requires, downloaded there at the
 * same time (the second engine's containers have no way out: its bridge has no NAT), into the second
 * engine's module cache volume, owned by the build user.
 */
async function preload(goImage: string): Promise<void> {
  const local = {
    ...process.env,
    DOCKER_HOST: undefined,
    DOCKER_TLS_VERIFY: undefined,
    DOCKER_CERT_PATH: undefined,
    DOCKER_CONTEXT: undefined,
  } as NodeJS.ProcessEnv;
  const remote = { ...process.env, ...tlsEnv } as NodeJS.ProcessEnv;
  const goMod = await readFile(path.join(root, 'test/fixtures/dragonfly/go.mod'), 'utf8');
  const modules = [...goMod.matchAll(/^\s*(?:require\s+)?([\w.-]+\.[\w./-]+)\s+(v\S+)/gm)].map(([, mod, version]) => `${mod}@${version}`);
  expect(modules.length).toBeGreaterThan(0);
  const goEnv = ['GOPROXY', 'GOSUMDB', 'GONOSUMDB', 'GOPRIVATE', 'GONOPROXY', 'GOINSECURE'].flatMap((name) => (process.env[name] ? ['-e', name] : []));
  const download = `go mod download ${modules.join(' ')} >&2 && tar -C /tmp/m -cf - cache/download`;
  const [, { stdout: modCacheTar }] = await Promise.all([
    pipe({ args: ['save', goImage], env: local }, { args: ['load', '--quiet'], env: remote }),
    run('docker', ['run', '--rm', ...goEnv, '-e', 'GOMODCACHE=/tmp/m', '-e', 'GOFLAGS=-modcacherw', goImage, 'sh', '-c', download], {
      env: local,
      encoding: 'buffer',
      maxBuffer: 256 * 1024 * 1024,
    }),
  ]);
  const modCache = CACHE_VOLUMES.find((v) => v.role === 'go-mod-cache')!.name;
  const { uid, gid } = CONTAINER.user;
  await feed(['run', '--rm', '-i', '-v', `${modCache}:/m`, goImage, 'sh', '-c', `tar -C /m -xf - && chown -R ${uid}:${gid} /m`], remote, modCacheTar);
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(inject('scratch'), 'remote-engine-'));
  port = await freePort();
  // Interface names are at most 15 bytes; the port keeps two runs on one machine apart.
  bridge = `d7yt${port}`;

  await makeCa('ca');
  await makeCa('wrong-ca');
  await makeCert('server', 'ca', 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  await makeCert('client', 'ca', 'extendedKeyUsage=clientAuth\n');
  const client = await certDir('client-certs', 'ca');
  tlsEnv = {
    DOCKER_HOST: `tcp://127.0.0.1:${port}`,
    DOCKER_TLS_VERIFY: '1',
    DOCKER_CERT_PATH: client,
    DOCKER_CONTEXT: undefined,
    DOCKER_CONFIG: path.join(dir, 'no-docker-config'),
  };

  // With --bridge=none dockerd deletes the interface docker0, which the shared engine's containers
  // use: this engine gets a bridge of its own instead, with an address from the benchmarking range.
  await run('ip', ['link', 'add', bridge, 'type', 'bridge']);
  await run('ip', ['addr', 'add', `198.18.${port % 256}.1/24`, 'dev', bridge]);
  await run('ip', ['link', 'set', bridge, 'up']);

  for (const sub of ['data', 'exec']) await mkdir(path.join(dir, sub));
  await writeFile(path.join(dir, 'daemon.json'), '{}');
  const log = await open(path.join(dir, 'dockerd.log'), 'w');
  const args = [
    `--config-file=${path.join(dir, 'daemon.json')}`,
    `--host=tcp://127.0.0.1:${port}`,
    '--tlsverify',
    `--tlscacert=${path.join(dir, 'ca.pem')}`,
    `--tlscert=${path.join(dir, 'server.pem')}`,
    `--tlskey=${path.join(dir, 'server-key.pem')}`,
    `--data-root=${path.join(dir, 'data')}`,
    `--exec-root=${path.join(dir, 'exec')}`,
    `--pidfile=${path.join(dir, 'dockerd.pid')}`,
    `--bridge=${bridge}`,
    '--iptables=false',
    '--ip6tables=false',
    '--ip-forward=false',
    '--ip-masq=false',
  ];
  // Descriptors beyond stdio close first: a lock the caller holds (flock) must not live on in dockerd.
  const closeInherited = 'for fd in /proc/self/fd/*; do fd=${fd##*/}; [ "$fd" -gt 2 ] && eval "exec $fd>&-"; done 2>/dev/null; exec dockerd "$@"';
  dockerd = spawn('bash', ['-c', closeInherited, 'dockerd', ...args], { stdio: ['ignore', log.fd, log.fd] });
  dockerdExit = new Promise((resolve) => dockerd!.on('exit', resolve));
  await log.close();

  for (let i = 0; !(await answers(client)); i++) {
    if (dockerd.exitCode !== null || i > 150) {
      throw new Error(`the second dockerd did not answer within 30 s; its log:\n${(await readFile(path.join(dir, 'dockerd.log'), 'utf8')).slice(-3000)}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  preloaded = preload(inject('goImage'));
  preloaded.catch(() => undefined); // awaited (and reported) by the build test
});

afterAll(async () => {
  if (dockerd?.pid !== undefined && dockerd.exitCode === null) {
    // The containerd that dockerd started stops with it; its pid is waited for too.
    const containerd = Number(await readFile(path.join(dir, 'exec/containerd/containerd.pid'), 'utf8').catch(() => ''));
    dockerd.kill('SIGTERM');
    const killed = setTimeout(() => dockerd!.kill('SIGKILL'), 30_000);
    await dockerdExit;
    clearTimeout(killed);
    for (let i = 0; containerd > 0 && i < 100 && alive(containerd); i++) await new Promise((r) => setTimeout(r, 100));
    if (containerd > 0 && alive(containerd)) process.kill(containerd, 'SIGKILL');
  }
  if (bridge !== undefined) await run('ip', ['link', 'del', bridge]).catch(() => undefined);
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** A Docker context named name, written as `docker context create` writes it, under a fresh DOCKER_CONFIG. */
async function writeContext(name: string, certs: string, currentContext = false): Promise<string> {
  const config = await mkdtemp(path.join(dir, 'docker-config-'));
  const id = createHash('sha256').update(name).digest('hex');
  await mkdir(path.join(config, 'contexts/meta', id), { recursive: true });
  await writeFile(
    path.join(config, 'contexts/meta', id, 'meta.json'),
    JSON.stringify({
      Name: name,
      Metadata: { Description: 'the second engine' },
      Endpoints: { docker: { Host: `tcp://127.0.0.1:${port}`, SkipTLSVerify: false } },
    }),
  );
  const tls = path.join(config, 'contexts/tls', id, 'docker');
  await mkdir(tls, { recursive: true });
  for (const f of ['ca.pem', 'cert.pem', 'key.pem']) await writeFile(path.join(tls, f), await readFile(path.join(certs, f)));
  if (currentContext) await writeFile(path.join(config, 'config.json'), JSON.stringify({ currentContext: name }));
  return config;
}

/** The environment for a context: no DOCKER_HOST, so the context decides. */
const contextEnv = (config: string, name?: string) => ({
  DOCKER_HOST: undefined,
  DOCKER_TLS_VERIFY: undefined,
  DOCKER_CERT_PATH: undefined,
  DOCKER_CONFIG: config,
  DOCKER_CONTEXT: name,
});

interface VersionDoc {
  engine: { version?: string; address?: string; error?: string };
}

describe('a second engine over TCP with TLS', () => {
  it('is reached through DOCKER_HOST, DOCKER_TLS_VERIFY and DOCKER_CERT_PATH', async () => {
    const pruned = await runCli(['prune'], { env: tlsEnv });
    expect(pruned.stderr).toBe('');
    expect(pruned.exitCode).toBe(0);
    // prune also sweeps this machine's stale temporary files; that engine has no container to remove.
    expect(pruned.stdout).not.toMatch(/container/);

    const version = await runCli(['--version', '--json'], { env: tlsEnv });
    expect(version.exitCode).toBe(0);
    expect((JSON.parse(version.stdout) as VersionDoc).engine).toMatchObject({ address: `https://127.0.0.1:${port}`, version: expect.any(String) });
  });

  it('is reached through a Docker context, named by DOCKER_CONTEXT or by config.json', async () => {
    const client = path.join(dir, 'client-certs');
    const byEnv = await runCli(['prune'], { env: contextEnv(await writeContext('remote-ci', client), 'remote-ci') });
    expect(byEnv.stderr).toBe('');
    expect(byEnv.exitCode).toBe(0);

    const version = await runCli(['--version', '--json'], { env: contextEnv(await writeContext('remote-ci', client, true)) });
    expect(version.exitCode).toBe(0);
    expect((JSON.parse(version.stdout) as VersionDoc).engine).toMatchObject({ address: `https://127.0.0.1:${port} (context remote-ci)` });
  });

  it('is refused over TLS with a CA that did not sign it, naming what to check', async () => {
    const wrong = await certDir('wrong-certs', 'wrong-ca');
    const viaEnv = await runCli(['prune'], { env: { ...tlsEnv, DOCKER_CERT_PATH: wrong } });
    expect(viaEnv.exitCode).toBe(3);
    expect(viaEnv.stderr).toMatch(new RegExp(`no Docker engine answers at https://127\\.0\\.0\\.1:${port} over TLS \\([A-Z_]+\\)`));
    expect(viaEnv.stderr).toMatch(/DOCKER_TLS_VERIFY and DOCKER_CERT_PATH/);

    const config = await writeContext('wrong-ca', wrong);
    const viaContext = await runCli(['prune'], { env: contextEnv(config, 'wrong-ca') });
    expect(viaContext.exitCode).toBe(3);
    expect(viaContext.stderr).toMatch(new RegExp(`no Docker engine answers at https://127\\.0\\.0\\.1:${port} \\(context wrong-ca\\) over TLS \\([A-Z_]+\\)`));
    expect(viaContext.stderr).toContain(`check the TLS files of Docker context "wrong-ca" (${path.join(config, 'contexts/tls')}`);
  });

  it('builds, validates and installs a plugin on it, and leaves no container there', async () => {
    await preloaded;
    const work = await mkdtemp(path.join(dir, 'build-'));
    const plugins = path.join(work, 'plugins');
    const built = await runCli([...fixtureArgs('v2.1.0'), '--out', path.join(work, 'out'), '--plugins-dir', plugins, path.join(examples, 'd7yfs')], {
      env: tlsEnv,
    });
    expect(built.stderr).not.toMatch(/error:/);
    expect(built.exitCode).toBe(0);
    expect(built.stderr).toContain(`at https://127.0.0.1:${port}`);
    expect(built.stdout.trim()).toBe(path.join(plugins, 'd7y-resource-plugin-d7yfs.so'));
    expect(await exists(path.join(plugins, 'd7y-resource-plugin-d7yfs.so'))).toBe(true);

    const { stdout } = await remoteDocker('ps', '-aq', '--filter', 'label=io.d7y-build.run');
    expect(stdout.trim()).toBe('');
    // The build ran there, not on the shared engine.
    expect((await remoteDocker('images', '-q', 'd7y-build/builder')).stdout.trim()).not.toBe('');
    expect(await leftoverContainers()).toEqual([]);
  });
});
