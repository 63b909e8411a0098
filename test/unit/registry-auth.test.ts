/** Registry credentials: config.json parsed and looked up as the docker CLI does, helpers asked, secrets handed to the masking. */
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  credentialSecrets,
  helperCredential,
  isUnauthorized,
  lookup,
  nodeAuthIo,
  parseDockerConfig,
  readExplicitConfig,
  RegistryAuth,
  registryOf,
  registryOfKey,
  unauthorizedHint,
  userConfigFile,
  type AuthIo,
  type DockerConfig,
  type HelperAnswer,
} from '../../src/docker/registry-auth';
import { GoImageError, UsageError } from '../../src/errors';

const b64 = (text: string) => Buffer.from(text).toString('base64');
const config = (json: object, file = '/home/me/.docker/config.json'): DockerConfig => parseDockerConfig(JSON.stringify(json), file) as DockerConfig;
const fail = (message: string, hint: string) => new GoImageError(message, { hint });

describe('where a reference and a config key point', () => {
  it.each([
    ['golang:1.23.5-bookworm', 'docker.io'],
    ['library/golang', 'docker.io'],
    ['acme/golang:1', 'docker.io'],
    ['docker.io/library/golang:1', 'docker.io'],
    ['127.0.0.1:5000/golang:1', '127.0.0.1:5000'],
    ['localhost/d7y/x:1', 'localhost'],
    ['registry.example/d7y/x@sha256:abc', 'registry.example'],
  ])('%s is on %s', (ref, registry) => expect(registryOf(ref)).toBe(registry));

  it.each([
    ['https://index.docker.io/v1/', 'docker.io'],
    ['registry-1.docker.io', 'docker.io'],
    ['http://127.0.0.1:5000', '127.0.0.1:5000'],
    ['https://registry.example/v2/', 'registry.example'],
    ['registry.example:443', 'registry.example:443'],
  ])('config key %s is %s', (key, registry) => expect(registryOfKey(key)).toBe(registry));

  it("the user's config.json: $DOCKER_CONFIG/config.json, else ~/.docker/config.json", () => {
    expect(userConfigFile({ DOCKER_CONFIG: '/ci/docker', HOME: '/home/me' })).toBe('/ci/docker/config.json');
    expect(userConfigFile({ HOME: '/home/me' })).toBe('/home/me/.docker/config.json');
    expect(userConfigFile({ DOCKER_CONFIG: '', HOME: '/home/me' })).toBe('/home/me/.docker/config.json');
  });
});

describe('a config.json', () => {
  it('is refused with a message that names the file and not its text', () => {
    expect(parseDockerConfig('{"auths": {"r": {"auth": "c2VjcmV0"}', '/x/config.json')).toBe('/x/config.json is not JSON');
    expect(parseDockerConfig('[1]', '/x/config.json')).toBe('/x/config.json is not a JSON object');
  });

  it('gives an inline user and password, a registry key in any spelling', () => {
    const c = config({ auths: { 'http://127.0.0.1:5000/': { auth: b64('ci:pa:ss') } } });
    expect(lookup(c, '127.0.0.1:5000')).toEqual({ kind: 'inline', credential: { username: 'ci', password: 'pa:ss', serveraddress: '127.0.0.1:5000' } });
    expect(lookup(c, 'registry.example')).toEqual({ kind: 'none' });
  });

  it("gives Docker Hub's entry for docker.io, and an identity token ahead of a password", () => {
    const c = config({ auths: { 'https://index.docker.io/v1/': { auth: b64('me:pw'), identitytoken: 'refresh-token' } } });
    expect(lookup(c, 'docker.io')).toEqual({ kind: 'inline', credential: { identitytoken: 'refresh-token', serveraddress: 'https://index.docker.io/v1/' } });
  });

  it('sends to credHelpers.<registry> ahead of credsStore, and to credsStore ahead of auths, as docker does', () => {
    const c = config({ auths: { 'r.example': { auth: b64('a:b') } }, credHelpers: { 'gcr.io': 'gcloud' }, credsStore: 'pass' });
    expect(lookup(c, 'gcr.io')).toEqual({ kind: 'helper', helper: 'gcloud' });
    expect(lookup(c, 'r.example')).toEqual({ kind: 'helper', helper: 'pass' });
    expect(lookup(config({ auths: { 'r.example': { auth: b64('a:b') } } }), 'r.example').kind).toBe('inline');
  });

  it('an auth that is not user:password is invalid, and says where, not what', () => {
    const found = lookup(config({ auths: { 'r.example': { auth: b64('no-colon-here') } } }), 'r.example');
    expect(found).toEqual({ kind: 'invalid', why: 'auths."r.example".auth in /home/me/.docker/config.json is not base64 of user:password' });
  });
});

describe("a credential helper's answer", () => {
  it('is a user and secret, or with Username <token> an identity token', () => {
    expect(helperCredential('{"ServerURL":"r.example","Username":"ci","Secret":"s3cret"}', 'r.example')).toEqual({
      username: 'ci',
      password: 's3cret',
      serveraddress: 'r.example',
    });
    expect(helperCredential('{"Username":"<token>","Secret":"tok"}', 'docker.io')).toEqual({
      identitytoken: 'tok',
      serveraddress: 'https://index.docker.io/v1/',
    });
    expect(helperCredential('not json', 'r.example')).toBeUndefined();
    expect(helperCredential('{"Username":"ci","Secret":""}', 'r.example')).toBeUndefined();
  });

  it('secrets: the password, the token, and user:password as it travels in base64', () => {
    expect(credentialSecrets({ username: 'ci', password: 'pw-1234', serveraddress: 'r' })).toEqual(['pw-1234', b64('ci:pw-1234')]);
    expect(credentialSecrets({ identitytoken: 'tok-1234', serveraddress: 'r' })).toEqual(['tok-1234']);
  });
});

/** AuthIo over texts by file and helper answers by name, recording what it was asked. */
function fakeIo(files: Record<string, string>, helpers: Record<string, HelperAnswer> = {}): AuthIo & { asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    readConfig: async (file) => files[file],
    runHelper: async (helper, server) => {
      asked.push(`${helper} ${server}`);
      return helpers[helper] ?? { kind: 'missing' };
    },
  };
}

describe('RegistryAuth', () => {
  const userFile = '/home/me/.docker/config.json';

  it('takes --registry-auth ahead of the user config, and hands the secrets to the masking', async () => {
    const redacted: string[] = [];
    const io = fakeIo({ [userFile]: JSON.stringify({ auths: { 'r.example': { auth: b64('me:user-pw') } } }) });
    const explicit = config({ auths: { 'r.example': { auth: b64('ci:file-pw') } } }, '/run/auth.json');
    const auth = new RegistryAuth({ explicit, userFile, io, redact: (v) => redacted.push(...v) });
    expect(await auth.credentialsFor('r.example', fail)).toEqual({
      credential: { username: 'ci', password: 'file-pw', serveraddress: 'r.example' },
      source: '/run/auth.json',
      looked: ['/run/auth.json', userFile],
    });
    expect(redacted).toEqual(['file-pw', b64('ci:file-pw')]);
    // A registry the file does not name: the user's.
    const other = new RegistryAuth({ explicit: config({ auths: {} }, '/run/auth.json'), userFile, io, redact: () => {} });
    expect((await other.credentialsFor('r.example', fail)).source).toBe(userFile);
  });

  it('no config at all: no credentials, and the hint says where it looked', async () => {
    const auth = new RegistryAuth({ userFile, io: fakeIo({}), redact: () => {} });
    const found = await auth.credentialsFor('127.0.0.1:5000', fail);
    expect(found).toEqual({ looked: [`${userFile} (not there)`] });
    expect(unauthorizedHint('127.0.0.1:5000', found)).toBe(
      `127.0.0.1:5000 wants credentials and none were found for it (looked in ${userFile} (not there)): log in with docker login 127.0.0.1:5000 (DOCKER_CONFIG says where it writes), or pass --registry-auth <config.json>`,
    );
  });

  it('asks the helper with the server on stdin; "not found" is no credentials; a missing helper is the caller\'s typed error', async () => {
    const io = fakeIo(
      { [userFile]: JSON.stringify({ credsStore: 'pass', credHelpers: { 'gone.example': 'ecr-login' } }) },
      {
        pass: { kind: 'failed', exitCode: 1, output: 'credentials not found in native keychain' },
      },
    );
    const auth = new RegistryAuth({ userFile, io, redact: () => {} });
    expect(await auth.credentialsFor('docker.io', fail)).toEqual({ looked: [userFile] });
    expect(io.asked).toEqual(['pass https://index.docker.io/v1/']);
    const err = await auth.credentialsFor('gone.example', fail).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GoImageError);
    expect(err).toMatchObject({
      message: `${userFile} says the credentials for gone.example are kept by docker-credential-ecr-login, which is not installed here (not on PATH)`,
      hint: `install docker-credential-ecr-login, or pass --registry-auth a config.json with auths."gone.example".auth, or remove it from ${userFile} and docker login gone.example again`,
    });
  });

  it('a helper name that is a path is refused before anything runs', async () => {
    for (const name of ['../../tmp/x', '/bin/sh', '-rf']) {
      const io = fakeIo({ [userFile]: JSON.stringify({ credsStore: name }) });
      const auth = new RegistryAuth({ userFile, io, redact: () => {} });
      await expect(auth.credentialsFor('r.example', fail)).rejects.toMatchObject({
        exitCode: 5,
        message: `${userFile} names ${JSON.stringify(name)} as the credential helper for r.example, which is no helper name`,
      });
      expect(io.asked).toEqual([]);
    }
  });

  it("a broken user config is the caller's typed error naming the file", async () => {
    const auth = new RegistryAuth({ userFile, io: fakeIo({ [userFile]: '{' }), redact: () => {} });
    await expect(auth.credentialsFor('r.example', fail)).rejects.toMatchObject({
      exitCode: 5,
      message: `cannot read the credentials in ${userFile}: ${userFile} is not JSON`,
    });
  });

  it('refused credentials: the hint names where they came from', () => {
    const hint = unauthorizedHint('r.example', {
      credential: { username: 'a', password: 'b', serveraddress: 'r.example' },
      source: '/run/auth.json',
      looked: [],
    });
    expect(hint).toMatch(/^r\.example refused the credentials from \/run\/auth\.json: log in again with docker login r\.example/);
  });

  it.each([
    ['no basic auth credentials', true],
    ['unauthorized: authentication required', true],
    ['Head "http://127.0.0.1:5000/v2/golang/manifests/x": unauthorized', true],
    ['dial tcp 127.0.0.1:5000: connect: connection refused', false],
    ['manifest unknown', false],
  ])('%s is a refusal for want of credentials: %s', (message, expected) => expect(isUnauthorized(message)).toBe(expected));
});

describe('on this machine', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'd7y-registry-auth-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('runs docker-credential-<name> get from PATH with the server on stdin; a missing one is missing', async () => {
    const helper = path.join(dir, 'docker-credential-d7ytest');
    await writeFile(helper, '#!/bin/sh\nread server\nprintf \'{"ServerURL":"%s","Username":"ci","Secret":"from-helper"}\' "$server"\n');
    await chmod(helper, 0o755);
    const saved = process.env.PATH;
    process.env.PATH = `${dir}:${saved}`;
    try {
      const answer = await nodeAuthIo.runHelper('d7ytest', 'r.example', 5000);
      expect(answer).toEqual({ kind: 'ok', stdout: '{"ServerURL":"r.example","Username":"ci","Secret":"from-helper"}' });
      expect(await nodeAuthIo.runHelper('d7y-none-such', 'r.example', 5000)).toEqual({ kind: 'missing' });
    } finally {
      process.env.PATH = saved;
    }
  });

  it('a helper that prints without end is stopped at 1 MiB', async () => {
    const helper = path.join(dir, 'docker-credential-d7yloud');
    await writeFile(helper, '#!/bin/sh\nexec yes\n');
    await chmod(helper, 0o755);
    const saved = process.env.PATH;
    process.env.PATH = `${dir}:${saved}`;
    try {
      expect(await nodeAuthIo.runHelper('d7yloud', 'r.example', 5000)).toEqual({ kind: 'failed', exitCode: -1, output: 'printed more than 1 MiB' });
    } finally {
      process.env.PATH = saved;
    }
  });

  it('a helper that does not answer in time is given up on', async () => {
    const helper = path.join(dir, 'docker-credential-d7yslow');
    await writeFile(helper, '#!/bin/sh\nexec sleep 30\n');
    await chmod(helper, 0o755);
    const saved = process.env.PATH;
    process.env.PATH = `${dir}:${saved}`;
    try {
      expect(await nodeAuthIo.runHelper('d7yslow', 'r.example', 300)).toEqual({ kind: 'timeout' });
    } finally {
      process.env.PATH = saved;
    }
  });

  it('--registry-auth that is missing or not a config.json is a usage error', async () => {
    await expect(readExplicitConfig(path.join(dir, 'none.json'))).rejects.toBeInstanceOf(UsageError);
    await writeFile(path.join(dir, 'bad.json'), 'user:password');
    await expect(readExplicitConfig(path.join(dir, 'bad.json'))).rejects.toMatchObject({
      exitCode: 2,
      message: `cannot read --registry-auth: ${path.join(dir, 'bad.json')} is not JSON`,
    });
  });
});
