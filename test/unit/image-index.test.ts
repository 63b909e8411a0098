/** The image index: its document, the registry's challenge, and the API conversation over a fake HTTP client. */
import { describe, expect, it } from 'vitest';
import {
  contentDigest,
  DOCKER_LIST,
  DOCKER_MANIFEST,
  imageIndex,
  isLoopback,
  OCI_INDEX,
  OCI_MANIFEST,
  parseChallenge,
  pushImageIndex,
  repositoryName,
} from '../../src/docker/image-index';
import { PushError } from '../../src/errors';

describe('the index document', () => {
  const arm64 = { digest: `sha256:${'a'.repeat(64)}`, os: 'linux', architecture: 'arm64', variant: 'v8', mediaType: DOCKER_MANIFEST, size: 528 };
  const amd64 = { digest: `sha256:${'b'.repeat(64)}`, os: 'linux', architecture: 'amd64', mediaType: DOCKER_MANIFEST, size: 527 };

  it('lists Docker manifests in a manifest list, sorted by platform, whatever the order given', () => {
    const index = imageIndex([arm64, amd64]);
    expect(index.mediaType).toBe(DOCKER_LIST);
    expect(JSON.parse(index.body)).toEqual({
      schemaVersion: 2,
      mediaType: DOCKER_LIST,
      manifests: [
        { mediaType: DOCKER_MANIFEST, digest: amd64.digest, size: 527, platform: { architecture: 'amd64', os: 'linux' } },
        { mediaType: DOCKER_MANIFEST, digest: arm64.digest, size: 528, platform: { architecture: 'arm64', os: 'linux', variant: 'v8' } },
      ],
    });
    expect(imageIndex([amd64, arm64]).body).toBe(index.body);
  });

  it('is an OCI index when an OCI manifest is among them', () => {
    expect(imageIndex([amd64, { ...arm64, mediaType: OCI_MANIFEST }]).mediaType).toBe(OCI_INDEX);
  });
});

describe("the registry's challenge", () => {
  it('reads Bearer parameters, commas inside quotes kept', () => {
    expect(parseChallenge('Bearer realm="https://auth.example/token",service="registry.example",scope="repository:d7y/multi:pull,push"')).toEqual({
      scheme: 'bearer',
      params: { realm: 'https://auth.example/token', service: 'registry.example', scope: 'repository:d7y/multi:pull,push' },
    });
  });

  it('reads Basic, bare values and escapes', () => {
    expect(parseChallenge('Basic realm="d7y \\"test\\""')).toEqual({ scheme: 'basic', params: { realm: 'd7y "test"' } });
    expect(parseChallenge('bearer realm=https://a/t, service=s')).toEqual({ scheme: 'bearer', params: { realm: 'https://a/t', service: 's' } });
    expect(parseChallenge(null)).toBeUndefined();
    expect(parseChallenge('')).toBeUndefined();
  });

  it('names repositories as the API does, and speaks plain HTTP to loopback only', () => {
    expect(repositoryName('127.0.0.1:5000/d7y/multi')).toEqual({ registry: '127.0.0.1:5000', name: 'd7y/multi' });
    expect(repositoryName('golang')).toEqual({ registry: 'docker.io', name: 'library/golang' });
    expect(repositoryName('docker.io/acme/x')).toEqual({ registry: 'docker.io', name: 'acme/x' });
    expect([
      isLoopback('127.0.0.1:5000'),
      isLoopback('localhost'),
      isLoopback('[::1]:5000'),
      isLoopback('registry.example'),
      isLoopback('10.0.0.1:5000'),
    ]).toEqual([true, true, true, false, false]);
  });
});

/** A fetch answering from a handler, recording each request's method, URL and Authorization. */
function fakeFetch(handler: (method: string, url: URL, headers: Headers, body?: string) => Response): typeof fetch & { seen: string[] } {
  const seen: string[] = [];
  const f = (async (input: string | URL | Request, init: RequestInit = {}) => {
    const url = new URL(String(input));
    const headers = new Headers(init.headers);
    const method = init.method ?? 'GET';
    seen.push(`${method} ${url.href}${headers.has('authorization') ? ` [${headers.get('authorization')}]` : ''}`);
    return handler(method, url, headers, init.body as string | undefined);
  }) as typeof fetch & { seen: string[] };
  f.seen = seen;
  return f;
}

describe('pushImageIndex', () => {
  const manifest = JSON.stringify({ schemaVersion: 2, mediaType: DOCKER_MANIFEST, config: {}, layers: [] });
  const digest = contentDigest(Buffer.from(manifest));
  const credential = { username: 'ci', password: 'pw', serveraddress: 'registry.example' };

  it('answers a Bearer challenge through the token endpoint with the user, then gets the manifest and puts the index', async () => {
    let put: { type: string | null; body?: string } | undefined;
    const f = fakeFetch((method, url, headers, body) => {
      if (url.origin === 'https://auth.example') return Response.json({ token: 'tok' });
      if (headers.get('authorization') !== 'Bearer tok') {
        return new Response('{}', { status: 401, headers: { 'WWW-Authenticate': 'Bearer realm="https://auth.example/token",service="registry.example"' } });
      }
      if (method === 'GET') return new Response(manifest, { headers: { 'Content-Type': DOCKER_MANIFEST } });
      put = { type: headers.get('content-type'), body };
      return new Response(null, { status: 201 });
    });
    const result = await pushImageIndex('registry.example/d7y/multi', 'v1', [{ digest, os: 'linux', architecture: 'arm64' }], { credential, fetch: f });
    expect(f.seen).toEqual([
      `GET https://registry.example/v2/d7y/multi/manifests/${digest}`,
      `GET https://auth.example/token?service=registry.example&scope=repository%3Ad7y%2Fmulti%3Apull%2Cpush [Basic ${Buffer.from('ci:pw').toString('base64')}]`,
      `GET https://registry.example/v2/d7y/multi/manifests/${digest} [Bearer tok]`,
      'PUT https://registry.example/v2/d7y/multi/manifests/v1 [Bearer tok]',
    ]);
    expect(put!.type).toBe(DOCKER_LIST);
    expect(JSON.parse(put!.body!).manifests).toEqual([
      { mediaType: DOCKER_MANIFEST, digest, size: manifest.length, platform: { architecture: 'arm64', os: 'linux' } },
    ]);
    expect(result).toEqual({ digest: contentDigest(Buffer.from(put!.body!)), mediaType: DOCKER_LIST });
  });

  it('answers a Basic challenge with the user and password, over plain HTTP on loopback', async () => {
    const f = fakeFetch((method, _url, headers) => {
      if (headers.get('authorization') === null) return new Response('', { status: 401, headers: { 'WWW-Authenticate': 'Basic realm="r"' } });
      return method === 'GET' ? new Response(manifest, { headers: { 'Content-Type': DOCKER_MANIFEST } }) : new Response(null, { status: 201 });
    });
    await pushImageIndex('127.0.0.1:5000/d7y/multi', 'v1', [{ digest, os: 'linux', architecture: 'amd64' }], { credential, fetch: f });
    expect(f.seen.at(-1)).toBe(`PUT http://127.0.0.1:5000/v2/d7y/multi/manifests/v1 [Basic ${Buffer.from('ci:pw').toString('base64')}]`);
  });

  it('a Basic challenge without credentials, a refused token, or content that is not the digest: PushError', async () => {
    const basic = fakeFetch(() => new Response('', { status: 401, headers: { 'WWW-Authenticate': 'Basic realm="r"' } }));
    const err = await pushImageIndex('127.0.0.1:5000/d7y/multi', 'v1', [{ digest, os: 'linux', architecture: 'amd64' }], { fetch: basic }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(PushError);
    expect((err as PushError).hint).toContain('docker login 127.0.0.1:5000');

    const refused = fakeFetch((_m, url) =>
      url.origin === 'https://auth.example'
        ? new Response('', { status: 401 })
        : new Response('', { status: 401, headers: { 'WWW-Authenticate': 'Bearer realm="https://auth.example/token"' } }),
    );
    await expect(
      pushImageIndex('registry.example/d7y/multi', 'v1', [{ digest, os: 'linux', architecture: 'amd64' }], { credential, fetch: refused }),
    ).rejects.toThrow(/token endpoint https:\/\/auth\.example answered 401/);

    const other = fakeFetch(() => new Response('{"other":1}', { headers: { 'Content-Type': DOCKER_MANIFEST } }));
    await expect(pushImageIndex('127.0.0.1:5000/d7y/multi', 'v1', [{ digest, os: 'linux', architecture: 'amd64' }], { fetch: other })).rejects.toThrow(
      `answered ${digest} with other content`,
    );
  });

  it('a manifest the registry does not have: PushError whose hint says to push the platform images first', async () => {
    const missing = fakeFetch(() => new Response('{"errors":[{"code":"MANIFEST_UNKNOWN"}]}', { status: 404 }));
    const err = await pushImageIndex('127.0.0.1:5000/d7y/multi', 'v1', [{ digest, os: 'linux', architecture: 'amd64' }], { fetch: missing }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(PushError);
    expect((err as PushError).message).toMatch(/the linux\/amd64 manifest sha256:[0-9a-f]{64}: 404 .*MANIFEST_UNKNOWN/);
    expect((err as PushError).hint).toMatch(/^push each platform image first/);
  });
});
