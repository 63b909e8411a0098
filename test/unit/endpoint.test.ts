/**
 * resolveEndpoint: the docker CLI's precedence (DOCKER_HOST, DOCKER_CONTEXT, the current context of
 * config.json, the default socket, the rootless socket) over fake files, every refusal with its
 * message and hint, and the real file reader's bounds on real files.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MAX_ENDPOINT_FILE_BYTES, realFiles, resolveEndpoint, type Endpoint, type EndpointFiles } from '../../src/docker/endpoint';
import { UsageError } from '../../src/errors';

/** A fake file: its text, an errno the read fails with, something that is not a regular file, or a size. */
type FakeFile = string | { error: string } | { notRegular: true } | { size: number };

function fakeFiles(tree: Record<string, FakeFile>): EndpointFiles {
  return {
    read(file, limit) {
      const entry = tree[file];
      if (entry === undefined) throw Object.assign(new Error(`ENOENT: ${file}`), { code: 'ENOENT' });
      if (typeof entry === 'string') return Buffer.from(entry);
      if ('error' in entry) throw Object.assign(new Error(`${entry.error}: ${file}`), { code: entry.error });
      if ('notRegular' in entry) throw Object.assign(new Error(`${file} is not a regular file`), { code: 'ENOTREG' });
      return Buffer.alloc(Math.min(entry.size, limit + 1));
    },
    exists: (file) => tree[file] !== undefined,
  };
}

const HOME = '/home/me';
const sha = (name: string) => createHash('sha256').update(name).digest('hex');
const meta = (config: string, name: string) => path.join(config, 'contexts/meta', sha(name), 'meta.json');
const tls = (config: string, name: string, file: string) => path.join(config, 'contexts/tls', sha(name), 'docker', file);
const metaJson = (name: string, host: string, skipTlsVerify = false) =>
  JSON.stringify({ Name: name, Metadata: {}, Endpoints: { docker: { Host: host, SkipTLSVerify: skipTlsVerify } } });

/** A context named name at host in the configuration directory config, with TLS files when given. */
function context(config: string, name: string, host: string, options: { tls?: boolean; skipTlsVerify?: boolean } = {}): Record<string, FakeFile> {
  const files: Record<string, FakeFile> = { [meta(config, name)]: metaJson(name, host, options.skipTlsVerify) };
  if (options.tls) for (const f of ['ca', 'cert', 'key']) files[tls(config, name, `${f}.pem`)] = `${name} ${f}`;
  return files;
}

const defaultDir = `${HOME}/.docker`;
const socket = { '/var/run/docker.sock': { notRegular: true } } as const;

interface Case {
  name: string;
  env: Record<string, string>;
  files: Record<string, FakeFile>;
  source: Endpoint['source'];
  address: string;
  options: Record<string, unknown>;
}

const cases: Case[] = [
  {
    name: 'nothing set: the default socket',
    env: {},
    files: socket,
    source: 'default socket',
    address: 'unix:///var/run/docker.sock (default socket)',
    options: { socketPath: '/var/run/docker.sock' },
  },
  {
    name: 'no default socket, a rootless one: the rootless socket',
    env: { XDG_RUNTIME_DIR: '/run/user/1000' },
    files: { '/run/user/1000/docker.sock': { notRegular: true } },
    source: 'rootless socket',
    address: 'unix:///run/user/1000/docker.sock (rootless socket)',
    options: { socketPath: '/run/user/1000/docker.sock' },
  },
  {
    name: 'both sockets: the default one',
    env: { XDG_RUNTIME_DIR: '/run/user/1000' },
    files: { ...socket, '/run/user/1000/docker.sock': { notRegular: true } },
    source: 'default socket',
    address: 'unix:///var/run/docker.sock (default socket)',
    options: { socketPath: '/var/run/docker.sock' },
  },
  {
    name: 'neither socket: the default one, to fail on',
    env: { XDG_RUNTIME_DIR: '/run/user/1000' },
    files: {},
    source: 'default socket',
    address: 'unix:///var/run/docker.sock (default socket)',
    options: { socketPath: '/var/run/docker.sock' },
  },
  {
    name: 'a relative XDG_RUNTIME_DIR is ignored',
    env: { XDG_RUNTIME_DIR: 'run' },
    files: { 'run/docker.sock': { notRegular: true } },
    source: 'default socket',
    address: 'unix:///var/run/docker.sock (default socket)',
    options: { socketPath: '/var/run/docker.sock' },
  },
  {
    name: 'DOCKER_HOST beats DOCKER_CONTEXT and the current context',
    env: { DOCKER_HOST: 'unix:///srv/docker.sock', DOCKER_CONTEXT: 'ci' },
    files: { ...context(defaultDir, 'ci', 'tcp://ci:2376'), [`${defaultDir}/config.json`]: '{"currentContext":"ci"}' },
    source: 'DOCKER_HOST',
    address: 'unix:///srv/docker.sock',
    options: { socketPath: '/srv/docker.sock' },
  },
  {
    name: 'DOCKER_HOST unix:// without a path: the default socket',
    env: { DOCKER_HOST: 'unix://' },
    files: {},
    source: 'DOCKER_HOST',
    address: 'unix:///var/run/docker.sock',
    options: { socketPath: '/var/run/docker.sock' },
  },
  {
    name: 'DOCKER_HOST tcp without TLS',
    env: { DOCKER_HOST: 'tcp://10.0.0.5:2375' },
    files: {},
    source: 'DOCKER_HOST',
    address: 'http://10.0.0.5:2375',
    options: { protocol: 'http', host: '10.0.0.5', port: '2375' },
  },
  {
    name: 'DOCKER_HOST without a scheme is tcp',
    env: { DOCKER_HOST: 'docker.example:2375' },
    files: {},
    source: 'DOCKER_HOST',
    address: 'http://docker.example:2375',
    options: { protocol: 'http', host: 'docker.example', port: '2375' },
  },
  {
    name: 'DOCKER_HOST with DOCKER_TLS_VERIFY and DOCKER_CERT_PATH',
    env: { DOCKER_HOST: 'tcp://10.0.0.5:2376', DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: '/certs' },
    files: { '/certs/ca.pem': 'CA', '/certs/cert.pem': 'CERT', '/certs/key.pem': 'KEY' },
    source: 'DOCKER_HOST',
    address: 'https://10.0.0.5:2376',
    options: { protocol: 'https', host: '10.0.0.5', port: '2376', ca: Buffer.from('CA'), cert: Buffer.from('CERT'), key: Buffer.from('KEY') },
  },
  {
    name: 'DOCKER_TLS_VERIFY (any value) without DOCKER_CERT_PATH: the certificates in ~/.docker',
    env: { DOCKER_HOST: 'tcp://10.0.0.5:2376', DOCKER_TLS_VERIFY: 'yes', HOME },
    files: { [`${defaultDir}/ca.pem`]: 'CA', [`${defaultDir}/cert.pem`]: 'CERT', [`${defaultDir}/key.pem`]: 'KEY' },
    source: 'DOCKER_HOST',
    address: 'https://10.0.0.5:2376',
    options: { protocol: 'https', ca: Buffer.from('CA'), cert: Buffer.from('CERT'), key: Buffer.from('KEY') },
  },
  {
    name: 'DOCKER_TLS_VERIFY without DOCKER_CERT_PATH: the certificates in $DOCKER_CONFIG',
    env: { DOCKER_HOST: 'tcp://10.0.0.5:2376', DOCKER_TLS_VERIFY: '1', HOME, DOCKER_CONFIG: '/etc/d' },
    files: { '/etc/d/ca.pem': 'CA', [`${defaultDir}/ca.pem`]: 'not this one' },
    source: 'DOCKER_HOST',
    address: 'https://10.0.0.5:2376',
    options: { protocol: 'https', ca: Buffer.from('CA'), cert: undefined, key: undefined },
  },
  {
    name: 'DOCKER_TLS_VERIFY with no certificates anywhere: the system CAs',
    env: { DOCKER_HOST: 'tcp://10.0.0.5:8443', DOCKER_TLS_VERIFY: '1', HOME },
    files: {},
    source: 'DOCKER_HOST',
    address: 'https://10.0.0.5:8443',
    options: { protocol: 'https', ca: undefined, cert: undefined, key: undefined },
  },
  {
    name: 'DOCKER_TLS_VERIFY empty is unset',
    env: { DOCKER_HOST: 'tcp://10.0.0.5:2375', DOCKER_TLS_VERIFY: '' },
    files: {},
    source: 'DOCKER_HOST',
    address: 'http://10.0.0.5:2375',
    options: { protocol: 'http' },
  },
  {
    name: 'port 2376 is TLS, as dockerode takes it',
    env: { DOCKER_HOST: 'tcp://10.0.0.5:2376' },
    files: {},
    source: 'DOCKER_HOST',
    address: 'https://10.0.0.5:2376',
    options: { protocol: 'https' },
  },
  {
    name: 'DOCKER_HOST ssh:// through the ssh agent',
    env: { DOCKER_HOST: 'ssh://me@build.example:2222', SSH_AUTH_SOCK: '/tmp/agent.sock' },
    files: {},
    source: 'DOCKER_HOST',
    address: 'ssh://me@build.example:2222',
    options: { protocol: 'ssh', host: 'build.example', port: '2222', username: 'me', sshOptions: { agent: '/tmp/agent.sock' } },
  },
  {
    name: 'DOCKER_CONTEXT with TLS files',
    env: { DOCKER_CONTEXT: 'ci', HOME },
    files: context(defaultDir, 'ci', 'tcp://127.0.0.1:2376', { tls: true }),
    source: 'context ci',
    address: 'https://127.0.0.1:2376 (context ci)',
    options: { protocol: 'https', host: '127.0.0.1', port: '2376', ca: Buffer.from('ci ca'), cert: Buffer.from('ci cert'), key: Buffer.from('ci key') },
  },
  {
    name: 'DOCKER_CONTEXT beats the current context',
    env: { DOCKER_CONTEXT: 'ci', HOME },
    files: {
      ...context(defaultDir, 'ci', 'tcp://ci:2375'),
      ...context(defaultDir, 'other', 'tcp://other:2375'),
      [`${defaultDir}/config.json`]: '{"currentContext":"other"}',
    },
    source: 'context ci',
    address: 'http://ci:2375 (context ci)',
    options: { protocol: 'http', host: 'ci', port: '2375' },
  },
  {
    name: 'the current context of $DOCKER_CONFIG/config.json',
    env: { DOCKER_CONFIG: '/etc/d', HOME },
    files: { ...socket, ...context('/etc/d', 'remote', 'tcp://remote:2375'), '/etc/d/config.json': '{"auths":{},"currentContext":"remote"}' },
    source: 'context remote',
    address: 'http://remote:2375 (context remote)',
    options: { protocol: 'http', host: 'remote' },
  },
  {
    name: 'the current context of ~/.docker/config.json',
    env: { HOME },
    files: { ...socket, ...context(defaultDir, 'remote', 'tcp://remote:2375'), [`${defaultDir}/config.json`]: '{"currentContext":"remote"}' },
    source: 'context remote',
    address: 'http://remote:2375 (context remote)',
    options: { protocol: 'http', host: 'remote' },
  },
  {
    name: 'DOCKER_CONTEXT=default: the default socket, whatever config.json says',
    env: { DOCKER_CONTEXT: 'default', HOME },
    files: { ...socket, ...context(defaultDir, 'remote', 'tcp://remote:2375'), [`${defaultDir}/config.json`]: '{"currentContext":"remote"}' },
    source: 'default socket',
    address: 'unix:///var/run/docker.sock (default socket)',
    options: { socketPath: '/var/run/docker.sock' },
  },
  {
    name: 'currentContext "default": the default socket',
    env: { HOME },
    files: { ...socket, [`${defaultDir}/config.json`]: '{"currentContext":"default"}' },
    source: 'default socket',
    address: 'unix:///var/run/docker.sock (default socket)',
    options: { socketPath: '/var/run/docker.sock' },
  },
  {
    name: 'config.json without currentContext: the default socket',
    env: { HOME },
    files: { ...socket, [`${defaultDir}/config.json`]: '{"auths":{}}' },
    source: 'default socket',
    address: 'unix:///var/run/docker.sock (default socket)',
    options: { socketPath: '/var/run/docker.sock' },
  },
  {
    name: 'a context without TLS files: plain tcp',
    env: { DOCKER_CONTEXT: 'lan', HOME },
    files: context(defaultDir, 'lan', 'tcp://10.1.1.1:2375'),
    source: 'context lan',
    address: 'http://10.1.1.1:2375 (context lan)',
    options: { protocol: 'http', host: '10.1.1.1', port: '2375' },
  },
  {
    name: 'a context with SkipTLSVerify: TLS without checking the engine',
    env: { DOCKER_CONTEXT: 'lax', HOME },
    files: context(defaultDir, 'lax', 'tcp://10.1.1.1:2376', { skipTlsVerify: true }),
    source: 'context lax',
    address: 'https://10.1.1.1:2376 (context lax)',
    options: { protocol: 'https', ca: undefined },
  },
  {
    name: 'a context over ssh',
    env: { DOCKER_CONTEXT: 'far', HOME, SSH_AUTH_SOCK: '/tmp/agent.sock' },
    files: context(defaultDir, 'far', 'ssh://deploy@far.example'),
    source: 'context far',
    address: 'ssh://deploy@far.example (context far)',
    options: { protocol: 'ssh', host: 'far.example', port: undefined, username: 'deploy', sshOptions: { agent: '/tmp/agent.sock' } },
  },
  {
    name: 'a context on a unix socket (rootless, as `docker context create rootless` makes it)',
    env: { DOCKER_CONTEXT: 'rootless', HOME },
    files: context(defaultDir, 'rootless', 'unix:///run/user/1000/docker.sock'),
    source: 'context rootless',
    address: 'unix:///run/user/1000/docker.sock (context rootless)',
    options: { socketPath: '/run/user/1000/docker.sock' },
  },
];

describe('resolveEndpoint: which engine', () => {
  it.each(cases)('$name', ({ env, files, source, address, options }) => {
    const endpoint = resolveEndpoint(env, fakeFiles(files));
    expect(endpoint.source).toBe(source);
    expect(endpoint.address).toBe(address);
    expect(endpoint.options).toMatchObject(options);
  });

  it('skips the verification of the engine certificate only for a context that asks so', () => {
    const lax = resolveEndpoint({ DOCKER_CONTEXT: 'lax', HOME }, fakeFiles(context(defaultDir, 'lax', 'tcp://h:2376', { skipTlsVerify: true, tls: true })));
    expect((lax.options.agent as https.Agent | undefined)?.options.rejectUnauthorized).toBe(false);
    expect(lax.options.ca).toEqual(Buffer.from('lax ca'));
    const strict = resolveEndpoint({ DOCKER_CONTEXT: 'ci', HOME }, fakeFiles(context(defaultDir, 'ci', 'tcp://h:2376', { tls: true })));
    expect(strict.options.agent).toBeUndefined();
  });

  it('names the context in the hints, and DOCKER_HOST otherwise', () => {
    const ci = resolveEndpoint({ DOCKER_CONTEXT: 'ci', HOME }, fakeFiles(context(defaultDir, 'ci', 'tcp://h:2376', { tls: true })));
    expect(ci.hints.unreachable).toMatch(/engine of Docker context "ci"/);
    expect(ci.hints.tls).toContain(path.dirname(tls(defaultDir, 'ci', 'ca.pem')));
    expect(ci.hints.slow).toMatch(/D7Y_PING_TIMEOUT/);
    const env = resolveEndpoint({ DOCKER_HOST: 'tcp://h:2376' }, fakeFiles({}));
    expect(env.hints.tls).toMatch(/DOCKER_TLS_VERIFY and DOCKER_CERT_PATH/);
    expect(env.hints.unreachable).toMatch(/DOCKER_HOST/);
  });

  it('reads no file for DOCKER_HOST without TLS', () => {
    const reads: string[] = [];
    const files = fakeFiles({});
    resolveEndpoint(
      { DOCKER_HOST: 'tcp://h:2375', DOCKER_CONTEXT: 'ci', HOME },
      { read: (f, l) => (reads.push(f), files.read(f, l)), exists: (f) => (reads.push(f), files.exists(f)) },
    );
    expect(reads).toEqual([]);
  });
});

function refusal(env: Record<string, string>, files: Record<string, FakeFile>): UsageError {
  try {
    resolveEndpoint(env, fakeFiles(files));
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    return err as UsageError;
  }
  throw new Error('expected a UsageError, but the endpoint resolved');
}

const ciMeta = meta(defaultDir, 'ci');
const errorCases: Array<{ name: string; env: Record<string, string>; files: Record<string, FakeFile>; message: string | RegExp; hint: RegExp }> = [
  {
    name: 'an unknown context in DOCKER_CONTEXT',
    env: { DOCKER_CONTEXT: 'nope', HOME },
    files: {},
    message: 'no Docker context named "nope" (DOCKER_CONTEXT)',
    hint: /`docker context ls` lists them/,
  },
  {
    name: 'an unknown current context',
    env: { HOME },
    files: { [`${defaultDir}/config.json`]: '{"currentContext":"gone"}' },
    message: `no Docker context named "gone" (currentContext in ${defaultDir}/config.json)`,
    hint: /docker context use default/,
  },
  {
    name: 'a meta.json that is not JSON',
    env: { DOCKER_CONTEXT: 'ci', HOME },
    files: { [ciMeta]: '{"Name":' },
    message: new RegExp(`^the Docker context "ci" is malformed: ${ciMeta} is not valid JSON \\(`),
    hint: /docker context rm ci/,
  },
  {
    name: 'a meta.json without a docker endpoint',
    env: { DOCKER_CONTEXT: 'ci', HOME },
    files: { [ciMeta]: '{"Name":"ci","Endpoints":{}}' },
    message: `the Docker context "ci" is malformed: ${ciMeta} has no Endpoints.docker.Host`,
    hint: /docker context create ci/,
  },
  {
    name: 'a meta.json that is an array',
    env: { DOCKER_CONTEXT: 'ci', HOME },
    files: { [ciMeta]: '[]' },
    message: `the Docker context "ci" is malformed: ${ciMeta} has no Endpoints.docker.Host`,
    hint: /recreate it/,
  },
  {
    name: 'a meta.json whose host is no engine address',
    env: { DOCKER_CONTEXT: 'ci', HOME },
    files: { [ciMeta]: metaJson('ci', 'fd://3') },
    message: 'the Docker context "ci" has Host "fd://3", which is not a Docker engine address',
    hint: /docker context update ci/,
  },
  {
    name: 'an oversized meta.json',
    env: { DOCKER_CONTEXT: 'ci', HOME },
    files: { [ciMeta]: { size: MAX_ENDPOINT_FILE_BYTES + 1 } },
    message: `the Docker context "ci" is malformed: ${ciMeta} is larger than 1 MiB`,
    hint: /recreate it/,
  },
  {
    name: 'an unreadable meta.json',
    env: { DOCKER_CONTEXT: 'ci', HOME },
    files: { [ciMeta]: { error: 'EACCES' } },
    message: `the Docker context "ci" is malformed: ${ciMeta} cannot be read (EACCES)`,
    hint: /recreate it/,
  },
  {
    name: "a context's TLS file that is not a regular file",
    env: { DOCKER_CONTEXT: 'ci', HOME },
    files: { [ciMeta]: metaJson('ci', 'tcp://h:2376'), [tls(defaultDir, 'ci', 'key.pem')]: { notRegular: true } },
    message: `the Docker context "ci": ${tls(defaultDir, 'ci', 'key.pem')} is not a regular file`,
    hint: /recreate it/,
  },
  {
    name: 'an oversized TLS file of a context',
    env: { DOCKER_CONTEXT: 'ci', HOME },
    files: { [ciMeta]: metaJson('ci', 'tcp://h:2376'), [tls(defaultDir, 'ci', 'ca.pem')]: { size: 2 * MAX_ENDPOINT_FILE_BYTES } },
    message: `the Docker context "ci": ${tls(defaultDir, 'ci', 'ca.pem')} is larger than 1 MiB`,
    hint: /recreate it/,
  },
  {
    name: 'a config.json that is not JSON',
    env: { HOME },
    files: { [`${defaultDir}/config.json`]: 'currentContext=ci' },
    message: new RegExp(`^the Docker configuration ${defaultDir}/config.json is not valid JSON`),
    hint: /DOCKER_CONFIG/,
  },
  {
    name: 'a config.json that is not an object',
    env: { HOME },
    files: { [`${defaultDir}/config.json`]: '"ci"' },
    message: `the Docker configuration ${defaultDir}/config.json is not a JSON object`,
    hint: /fix or remove it/,
  },
  {
    name: 'a currentContext that is not a string',
    env: { HOME },
    files: { [`${defaultDir}/config.json`]: '{"currentContext":7}' },
    message: `the Docker configuration ${defaultDir}/config.json has a currentContext that is not a string`,
    hint: /fix or remove it/,
  },
  {
    name: 'an oversized config.json',
    env: { DOCKER_CONFIG: '/etc/d' },
    files: { '/etc/d/config.json': { size: MAX_ENDPOINT_FILE_BYTES + 1 } },
    message: 'the Docker configuration /etc/d/config.json is larger than 1 MiB',
    hint: /DOCKER_CONFIG/,
  },
  {
    name: 'an oversized certificate in DOCKER_CERT_PATH',
    env: { DOCKER_HOST: 'tcp://h:2376', DOCKER_CERT_PATH: '/certs' },
    files: { '/certs/ca.pem': 'CA', '/certs/cert.pem': { size: MAX_ENDPOINT_FILE_BYTES + 1 }, '/certs/key.pem': 'KEY' },
    message: 'DOCKER_CERT_PATH=/certs: /certs/cert.pem is larger than 1 MiB',
    hint: /ca\.pem, cert\.pem and key\.pem/,
  },
  {
    name: 'a key in DOCKER_CERT_PATH that is not a regular file',
    env: { DOCKER_HOST: 'tcp://h:2376', DOCKER_CERT_PATH: '/certs' },
    files: { '/certs/ca.pem': 'CA', '/certs/cert.pem': 'CERT', '/certs/key.pem': { notRegular: true } },
    message: 'DOCKER_CERT_PATH=/certs: /certs/key.pem is not a regular file',
    hint: /DOCKER_CERT_PATH/,
  },
  {
    name: 'an unreadable certificate in ~/.docker for DOCKER_TLS_VERIFY',
    env: { DOCKER_HOST: 'tcp://h:2376', DOCKER_TLS_VERIFY: '1', HOME },
    files: { [`${defaultDir}/ca.pem`]: { error: 'EACCES' } },
    message: `DOCKER_TLS_VERIFY is set without DOCKER_CERT_PATH, and ${defaultDir}/ca.pem cannot be read (EACCES)`,
    hint: /point DOCKER_CERT_PATH at their directory/,
  },
];

describe('resolveEndpoint: refusals', () => {
  it.each(errorCases)('$name', ({ env, files, message, hint }) => {
    const err = refusal(env, files);
    if (typeof message === 'string') expect(err.message).toBe(message);
    else expect(err.message).toMatch(message);
    expect(err.hint).toMatch(hint);
    expect(err.exitCode).toBe(2);
  });
});

describe('resolveEndpoint: DOCKER_HOST and DOCKER_CERT_PATH', () => {
  it.each([
    undefined,
    '',
    'unix:///var/run/docker.sock',
    'unix://',
    'npipe:////./pipe/docker_engine',
    'tcp://127.0.0.1:2375',
    'tcp://docker.example',
    'http://docker.example:2375/',
    'https://docker.example:2376',
    'ssh://me@docker.example',
    'docker.example:2375',
  ])('takes DOCKER_HOST=%s', (host) => {
    expect(() => resolveEndpoint({ DOCKER_HOST: host })).not.toThrow();
  });

  it.each(['tcp://', 'tcp://host:99999', 'tcp://host:port', 'fd://3', 'ftp://host', 'docker.example:2375/v1.41', 'tcp://[::1'])(
    'refuses DOCKER_HOST=%s',
    (host) => {
      let err: unknown;
      try {
        resolveEndpoint({ DOCKER_HOST: host });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(UsageError);
      expect((err as UsageError).message).toBe(`DOCKER_HOST="${host}" is not a Docker engine address`);
      expect((err as UsageError).hint).toMatch(/unix:\/\/\/var\/run\/docker\.sock/);
    },
  );

  it('refuses a DOCKER_CERT_PATH without certificates, naming the file', () => {
    expect(() => resolveEndpoint({ DOCKER_HOST: 'tcp://h:2376', DOCKER_CERT_PATH: '/nonexistent' })).toThrow(
      /DOCKER_CERT_PATH=\/nonexistent: \/nonexistent\/ca\.pem cannot be read \(ENOENT\)/,
    );
    expect(() => resolveEndpoint({ DOCKER_HOST: 'tcp://h:2376', DOCKER_CERT_PATH: '/dev' })).toThrow(/\/dev\/ca\.pem cannot be read/);
  });

  it('ignores DOCKER_CERT_PATH for a unix socket, as dockerode does', () => {
    expect(() => resolveEndpoint({ DOCKER_HOST: 'unix:///var/run/docker.sock', DOCKER_CERT_PATH: '/nonexistent' })).not.toThrow();
  });
});

describe('realFiles', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'd7y-endpoint-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads a regular file, and at most one byte beyond the limit', async () => {
    await writeFile(path.join(dir, 'small'), 'abc');
    await writeFile(path.join(dir, 'big'), Buffer.alloc(200_000));
    expect(realFiles.read(path.join(dir, 'small'), 10).toString()).toBe('abc');
    expect(realFiles.read(path.join(dir, 'big'), 100_000)).toHaveLength(100_001);
  });

  it('refuses a FIFO without waiting for a writer, and a device without reading it', () => {
    execFileSync('mkfifo', [path.join(dir, 'fifo')]);
    expect(() => realFiles.read(path.join(dir, 'fifo'), 10)).toThrow(expect.objectContaining({ code: 'ENOTREG' }));
    expect(() => realFiles.read('/dev/zero', 10)).toThrow(expect.objectContaining({ code: 'ENOTREG' }));
    expect(() => realFiles.read(path.join(dir, 'absent'), 10)).toThrow(expect.objectContaining({ code: 'ENOENT' }));
  });

  it('tells whether a path exists', () => {
    expect(realFiles.exists(dir)).toBe(true);
    expect(realFiles.exists(path.join(dir, 'absent'))).toBe(false);
  });
});
