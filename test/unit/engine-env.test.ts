import { describe, expect, it } from 'vitest';
import { checkEngineEnv } from '../../src/docker/dockerode';
import { UsageError } from '../../src/errors';

describe('checkEngineEnv', () => {
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
    expect(() => checkEngineEnv({ DOCKER_HOST: host })).not.toThrow();
  });

  it.each(['tcp://', 'tcp://host:99999', 'tcp://host:port', 'fd://3', 'ftp://host', 'docker.example:2375/v1.41', 'tcp://[::1'])('refuses DOCKER_HOST=%s', (host) => {
    let err: unknown;
    try {
      checkEngineEnv({ DOCKER_HOST: host });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).message).toBe(`DOCKER_HOST="${host}" is not a Docker engine address`);
    expect((err as UsageError).hint).toMatch(/unix:\/\/\/var\/run\/docker\.sock/);
  });

  it('refuses a DOCKER_CERT_PATH without certificates, naming the file', () => {
    expect(() => checkEngineEnv({ DOCKER_HOST: 'tcp://h:2376', DOCKER_CERT_PATH: '/nonexistent' })).toThrow(/DOCKER_CERT_PATH=\/nonexistent: \/nonexistent\/ca\.pem cannot be read \(ENOENT\)/);
    expect(() => checkEngineEnv({ DOCKER_HOST: 'tcp://h:2376', DOCKER_CERT_PATH: '/dev' })).toThrow(/\/dev\/ca\.pem cannot be read/);
  });

  it('ignores DOCKER_CERT_PATH for a unix socket, as dockerode does', () => {
    expect(() => checkEngineEnv({ DOCKER_HOST: 'unix:///var/run/docker.sock', DOCKER_CERT_PATH: '/nonexistent' })).not.toThrow();
  });
});
