/**
 * A real container registry on loopback for the tests: Debian's docker-registry (installed by
 * test/env/tools.sh), its storage in a temp dir. The engine treats 127.0.0.0/8 registries as
 * insecure (plain HTTP) by default, so it pushes there without any daemon configuration. Given a
 * user, it wants that user's password (htpasswd auth, bcrypt as the registry requires, made by
 * `htpasswd -B`, also from test/env/tools.sh).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
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

export async function startRegistry(user?: RegistryUser): Promise<Registry> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'd7y-registry-'));
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
      `    rootdirectory: ${path.join(dir, 'data')}`,
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
  return { address: `127.0.0.1:${port}`, stop };
}
