/**
 * A real container registry on loopback for the tests: Debian's docker-registry (installed by
 * test/env/tools.sh), its storage in a temp dir. The engine treats 127.0.0.0/8 registries as
 * insecure (plain HTTP) by default, so it pushes there without any daemon configuration. Given a
 * user, it wants that user's password (htpasswd auth, bcrypt as the registry requires, made by
 * `htpasswd -B`, also from test/env/tools.sh).
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

/** A port nothing listens on right now: bound by the kernel's choice, then closed. */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export interface Registry {
  /** host:port, as image references name it. */
  address: string;
  /** Where it keeps blobs and manifests: another registry given it serves the same repositories. */
  storage: string;
  stop(): Promise<void>;
}

export interface RegistryUser {
  username: string;
  password: string;
}

/** An htpasswd file with the user's bcrypt hash; the password goes on stdin, not the command line. */
async function writeHtpasswd(file: string, user: RegistryUser): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const child = execFile('htpasswd', ['-B', '-i', '-c', file, user.username], (err) => (err ? reject(err) : resolve()));
    child.stdin!.end(user.password);
  });
}

/**
 * A registry on a free port; given `storage` (another registry's), it serves what that one holds, so
 * a large image pushed once is in both. The registry that made a storage removes it when stopped.
 */
export async function startRegistry(user?: RegistryUser, storage?: string): Promise<Registry> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'd7y-registry-'));
  const data = storage ?? path.join(dir, 'data');
  const port = await freePort();
  const config = path.join(dir, 'config.yml');
  const htpasswd = path.join(dir, 'htpasswd');
  if (user !== undefined) await writeHtpasswd(htpasswd, user);
  await writeFile(
    config,
    [
      'version: 0.1',
      'log:',
      '  level: warn',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${data}`,
      'http:',
      `  addr: 127.0.0.1:${port}`,
      ...(user !== undefined ? ['auth:', '  htpasswd:', '    realm: d7y-test', `    path: ${htpasswd}`] : []),
      '',
    ].join('\n'),
  );
  const child: ChildProcess = spawn('docker-registry', ['serve', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null) {
      child.kill('SIGTERM');
      await exited;
    }
    await rm(dir, { recursive: true, force: true });
  };
  // Up when /v2/ answers (the API's version check): 200, or 401 when it wants a user.
  for (let i = 0; ; i++) {
    const ok = await fetch(`http://127.0.0.1:${port}/v2/`).then(
      (r) => r.ok || (user !== undefined && r.status === 401),
      () => false,
    );
    if (ok) break;
    if (child.exitCode !== null || i >= 100) {
      await stop();
      throw new Error(`docker-registry did not start on 127.0.0.1:${port}: ${log}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { address: `127.0.0.1:${port}`, storage: data, stop };
}

/** Where seedGoImage leaves the test's Go image in a registry: repository and tag. */
export const SEEDED_GO_IMAGE = 'golang:e2e';

/**
 * The test's Go image in the registry every e2e file shares (global-setup.ts starts it), for the
 * tests that pull a missing --go-image: pushed (1.2 GB) by the first file that asks, found there by
 * the others, and by a registry started with the same storage.
 */
export async function seedGoImage(registry: Pick<Registry, 'address'>, goImage: string): Promise<void> {
  const [repository, tag] = SEEDED_GO_IMAGE.split(':') as [string, string];
  const present = await fetch(`http://${registry.address}/v2/${repository}/manifests/${tag}`, {
    method: 'HEAD',
    headers: { Accept: 'application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json' },
  });
  if (present.status === 200) return;
  const seeded = `${registry.address}/${SEEDED_GO_IMAGE}`;
  for (const args of [
    ['tag', goImage, seeded],
    ['push', seeded],
    ['image', 'rm', seeded],
  ])
    execFileSync('docker', args, { stdio: 'ignore' });
}
