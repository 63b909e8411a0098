/**
 * Private Go modules through credentials given at run time only: a module proxy on this machine
 * that demands a token, reached from the build container over HTTPS. The token must work, and
 * appear in no image layer, log line, --json outcome or manifest.
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { docker, examples, leftoverContainers, runCli, tempDir, writePlugin } from './helpers';

const run = promisify(execFile);
// New paths each run: the Go module cache volume outlives runs, and must not serve them without
// credentials. One module per way of giving them, so each test proves its own download.
const RUN = randomBytes(4).toString('hex');
const MODULES = { netrc: `private.d7y.test/netrclib${RUN}`, token: `private.d7y.test/tokenlib${RUN}` };
const VERSION = 'v1.0.0';
const TOKEN = `tok-${randomBytes(16).toString('hex')}`;
const goModOf = (module: string) => `module ${module}\n\ngo 1.21\n`;
const LIB =
  'package secretlib\n\n// Greeting proves the private module was fetched and linked.\nfunc Greeting() string { return "hello from a private module" }\n';

let work: { path: string } & AsyncDisposable;
let server: https.Server;
let proxyUrl: string;
let goImage: string;
const authorized: string[] = [];
const refused: string[] = [];

const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest();

/** dirhash.Hash1, as go.sum records it. */
function hash1(files: Array<[string, string]>): string {
  const summary = [...files]
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([name, content]) => `${sha256(content).toString('hex')}  ${name}\n`)
    .join('');
  return `h1:${sha256(summary).toString('base64')}`;
}

/**
 * The address containers on the default bridge reach this machine at. The engine records it in the
 * network's IPAM config only when it chose it itself: a dockerd started again over an existing
 * docker0 leaves it out, and the bridge interface's own address is the answer.
 */
async function bridgeGateway(): Promise<string> {
  const recorded = await docker('network', 'inspect', 'bridge', '-f', '{{(index .IPAM.Config 0).Gateway}}');
  if (/^\d+\.\d+\.\d+\.\d+$/.test(recorded)) return recorded;
  const name = await docker('network', 'inspect', 'bridge', '-f', '{{index .Options "com.docker.network.bridge.name"}}');
  const address = os.networkInterfaces()[/^[\w.-]+$/.test(name) ? name : 'docker0']?.find((a) => a.family === 'IPv4')?.address;
  if (address === undefined) throw new Error(`the default bridge has no gateway address (IPAM says ${JSON.stringify(recorded)})`);
  return address;
}

beforeAll(async () => {
  work = await tempDir('secrets-');
  const gateway = await bridgeGateway();

  // A CA and a server certificate for the gateway address the container reaches this machine at.
  const tls = path.join(work.path, 'tls');
  await mkdir(tls);
  const openssl = (...args: string[]) => run('openssl', args, { cwd: tls });
  await openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=d7y-build test CA');
  await openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', `/CN=${gateway}`);
  await writeFile(path.join(tls, 'san.ext'), `subjectAltName=IP:${gateway}\n`);
  await openssl(
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.crt',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    'server.crt',
    '-days',
    '2',
    '-extfile',
    'san.ext',
  );

  // The Go image of a company whose module proxy has its own CA: the offline image plus that CA.
  const context = path.join(work.path, 'image');
  await mkdir(context);
  await writeFile(path.join(context, 'ca.crt'), await readFile(path.join(tls, 'ca.crt')));
  await writeFile(
    path.join(context, 'Dockerfile'),
    `FROM ${inject('goImage')}\nCOPY ca.crt /tmp/ca.crt\nUSER root\nRUN cat /tmp/ca.crt >> /etc/ssl/certs/ca-certificates.crt && rm /tmp/ca.crt\n`,
  );
  goImage = `d7y-build-test/golang-private-ca:${createHash('sha256')
    .update(await readFile(path.join(tls, 'ca.crt')))
    .digest('hex')
    .slice(0, 12)}`;
  await docker('build', '-q', '-t', goImage, context);

  // The module proxy: each module's .zip via python's zipfile, everything behind the token.
  const files: Record<string, Buffer | string> = {};
  for (const module of Object.values(MODULES)) {
    const moduleDir = path.join(work.path, 'modules');
    const prefix = `${module}@${VERSION}`;
    await writePlugin(path.join(moduleDir, prefix), { 'go.mod': goModOf(module), 'lib.go': LIB });
    const zip = path.join(work.path, `${path.basename(module)}.zip`);
    await run(
      'python3',
      [
        '-c',
        `import zipfile,sys\nz=zipfile.ZipFile(sys.argv[1],'w')\nfor n in sys.argv[2:]: z.write(n)\nz.close()`,
        zip,
        `${prefix}/go.mod`,
        `${prefix}/lib.go`,
      ],
      { cwd: moduleDir },
    );
    files[`/${module}/@v/list`] = `${VERSION}\n`;
    files[`/${module}/@v/${VERSION}.info`] = JSON.stringify({ Version: VERSION, Time: '2024-01-01T00:00:00Z' });
    files[`/${module}/@v/${VERSION}.mod`] = goModOf(module);
    files[`/${module}/@v/${VERSION}.zip`] = await readFile(zip);
  }
  server = https.createServer({ key: await readFile(path.join(tls, 'server.key')), cert: await readFile(path.join(tls, 'server.crt')) }, (req, res) => {
    const body = files[req.url ?? ''];
    if (body === undefined) return void res.writeHead(404).end('not here');
    const [, password] = Buffer.from((req.headers.authorization ?? '').replace(/^Basic /, ''), 'base64')
      .toString()
      .split(':');
    if (password !== TOKEN) {
      refused.push(req.url ?? '');
      return void res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="private"' }).end('token required');
    }
    authorized.push(req.url ?? '');
    res.writeHead(200).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '0.0.0.0', resolve));
  proxyUrl = `https://${gateway}:${(server.address() as AddressInfo).port}`;
  // Go matches a netrc machine against host:port when the URL has a port.
  await writeFile(path.join(work.path, 'netrc'), `machine ${new URL(proxyUrl).host} login d7y password ${TOKEN}\n`);

  const example = await readFile(path.join(examples, 'd7yfs/d7yfs.go'), 'utf8');
  for (const [via, module] of Object.entries(MODULES)) {
    const prefix = `${module}@${VERSION}`;
    const name = `${via}fs`;
    await writePlugin(path.join(work.path, name), {
      'go.mod': `module example.com/${name}\n\ngo 1.23.0\n\nrequire ${module} ${VERSION}\n`,
      'go.sum': `${module} ${VERSION} ${hash1([
        [`${prefix}/go.mod`, goModOf(module)],
        [`${prefix}/lib.go`, LIB],
      ])}\n${module} ${VERSION}/go.mod ${hash1([['go.mod', goModOf(module)]])}\n`,
      [`${name}.go`]: example
        .replaceAll('d7yfs', name)
        .replace('"io"\n', `"io"\n\n\tsecretlib "${module}"\n`)
        .replace('"buildTime":   buildTime,', '"buildTime":   buildTime,\n\t\t"greeting":    secretlib.Greeting(),'),
    });
  }
});

afterAll(async () => {
  server?.close();
  if (goImage) {
    // The test's Go image, and the builder image made on it.
    const builders = (await docker('images', '--filter', `label=io.d7y-build.go-image=${goImage}`, '-q')).split('\n').filter(Boolean);
    await docker('rmi', '-f', goImage, ...builders).catch(() => '');
  }
  await work?.[Symbol.asyncDispose]();
});

function buildArgs(dir: string, extra: string[], plugin: keyof typeof MODULES = 'netrc'): string[] {
  return [
    '--commit',
    'v2.1.1',
    '--repo',
    inject('fixtureRepo'),
    '--go-image',
    goImage,
    '--out',
    path.join(work.path, dir, 'out'),
    '--plugins-dir',
    path.join(work.path, dir, 'plugins'),
    '--json',
    '--verbose',
    ...extra,
    path.join(work.path, `${plugin}fs`),
  ];
}

const privateEnv = () => ({ GOPROXY: `${proxyUrl},https://proxy.golang.org`, GONOSUMDB: 'private.d7y.test' });

describe('private modules with run-time credentials', () => {
  it('without the credentials the private module is refused', async () => {
    const result = await runCli(buildArgs('without', []), { env: privateEnv() });
    expect(result.exitCode).toBe(6);
    expect(result.stderr).toMatch(/401 Unauthorized|token required/);
    expect(refused.length).toBeGreaterThan(0);
    expect(authorized).toEqual([]);
  });

  it('with --netrc it builds, and the token is nowhere to be found afterwards', async () => {
    const result = await runCli(buildArgs('with', ['--netrc', path.join(work.path, 'netrc')]), { env: privateEnv() });
    expect(result.stderr.split('\n').filter((l) => /^(error|hint):/.test(l))).toEqual([]);
    expect(result.exitCode).toBe(0);
    expect(authorized).toContain(`/${MODULES.netrc}/@v/${VERSION}.zip`);
    const outcome = JSON.parse(result.stdout);
    expect(outcome.validation.plugins[0].attribute.greeting).toBe('hello from a private module');

    const manifest = await readFile(path.join(work.path, 'with/out/manifest.json'), 'utf8');
    const history = await docker('history', '--no-trunc', outcome.builderImage);
    const builderConfig = await docker('image', 'inspect', outcome.builderImage);
    for (const [where, text] of Object.entries({ stdout: result.stdout, stderr: result.stderr, manifest, history, builderConfig })) {
      expect(text.includes(TOKEN), `the token leaked into ${where}`).toBe(false);
    }
    expect(await leftoverContainers()).toEqual([]);
  });

  it('GIT_AUTH_TOKEN reaches the private hosts GONOSUMDB names', async () => {
    const proxyHost = new URL(proxyUrl).host;
    const result = await runCli(buildArgs('token', [], 'token'), {
      env: { GOPROXY: `${proxyUrl},https://proxy.golang.org`, GONOSUMDB: `private.d7y.test,${proxyHost}`, GIT_AUTH_TOKEN: TOKEN },
    });
    expect(result.stderr.split('\n').filter((l) => /^(error|hint):/.test(l))).toEqual([]);
    expect(result.exitCode).toBe(0);
    expect(authorized).toContain(`/${MODULES.token}/@v/${VERSION}.zip`);
    expect(JSON.parse(result.stdout).validation.plugins[0].attribute.greeting).toBe('hello from a private module');
    for (const text of [result.stdout, result.stderr, await readFile(path.join(work.path, 'token/out/manifest.json'), 'utf8')]) {
      expect(text.includes(TOKEN)).toBe(false);
    }
  });

  it('the token is masked even where it is echoed back', async () => {
    // A go.mod that names the token as a module path makes go print it in its error.
    const dir = await writePlugin(path.join(work.path, 'src', 'echo'), {
      'go.mod': `module example.com/echo\n\ngo 1.23.0\n\nrequire private.d7y.test/${TOKEN} v1.0.0\n`,
      'echo.go': `package main\n\nimport _ "private.d7y.test/${TOKEN}"\n\nfunc DragonflyPluginInit(option map[string]string) (any, map[string]string, error) { return nil, nil, nil }\n`,
    });
    const args = buildArgs('echo', ['--netrc', path.join(work.path, 'netrc')]);
    args[args.length - 1] = dir;
    const result = await runCli(args, { env: privateEnv() });
    expect(result.exitCode, result.stderr).toBe(6);
    expect(result.stderr).toContain('private.d7y.test/***');
    expect(result.stderr.includes(TOKEN)).toBe(false);
    expect(result.stdout.includes(TOKEN)).toBe(false);
  });
});
