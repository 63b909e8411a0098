/**
 * A multi-platform image from per-platform images already pushed: an image index (OCI) or manifest
 * list (Docker) put at repository:tag through the registry's HTTP API v2, not through the engine,
 * which has no call for it. Each platform's manifest is fetched for its media type and size; the
 * registry's challenge (401 with WWW-Authenticate) is answered with the same credentials the engine
 * pushes with: Basic directly, Bearer through the token endpoint it names. Pure, but for
 * pushImageIndex and its client.
 */
import { createHash } from 'node:crypto';
import { PushError } from '../errors';
import type { RegistryCredential } from './engine';
import { registryOf } from './registry-auth';

export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
export const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';

/** An image pushed for one platform: its manifest's digest and its os/arch. */
export interface PlatformImage {
  digest: string;
  os: string;
  architecture: string;
  /** e.g. v8 for arm64, v7 for arm. */
  variant?: string;
}

/** A platform's manifest as the index lists it. */
export interface IndexEntry extends PlatformImage {
  mediaType: string;
  size: number;
}

/**
 * The index document, sorted by platform so the same images give the same bytes. Docker manifests
 * go in a Docker manifest list (registries and engines that predate OCI read it); OCI manifests, or
 * a mix, in an OCI index.
 */
export function imageIndex(entries: IndexEntry[]): { mediaType: string; body: string } {
  const mediaType = entries.every((e) => e.mediaType === DOCKER_MANIFEST) ? DOCKER_LIST : OCI_INDEX;
  const sorted = [...entries].sort((a, b) => platformOf(a).localeCompare(platformOf(b)));
  const manifests = sorted.map((e) => ({
    mediaType: e.mediaType,
    digest: e.digest,
    size: e.size,
    platform: { architecture: e.architecture, os: e.os, ...(e.variant !== undefined ? { variant: e.variant } : {}) },
  }));
  return { mediaType, body: JSON.stringify({ schemaVersion: 2, mediaType, manifests }, null, 2) };
}

export function platformOf(p: PlatformImage): string {
  return [p.os, p.architecture, ...(p.variant !== undefined ? [p.variant] : [])].join('/');
}

/** A WWW-Authenticate challenge: its scheme (lower case) and parameters. */
export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/** Parses `Bearer realm="https://auth.example/token",service="registry",scope="repository:a:pull,push"`; undefined when empty. */
export function parseChallenge(header: string | null): Challenge | undefined {
  const match = /^\s*([A-Za-z][\w-]*)\s*(.*)$/s.exec(header ?? '');
  if (match === null) return undefined;
  const params: Record<string, string> = {};
  // key=value or key="quoted, with \"escapes\"", separated by commas.
  for (const [, key = '', quoted, bare] of match[2]!.matchAll(/([\w-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))/g)) {
    params[key.toLowerCase()] = quoted !== undefined ? quoted.replace(/\\(.)/g, '$1') : (bare ?? '');
  }
  return { scheme: match[1]!.toLowerCase(), params };
}

/** The sha256 digest of bytes, as registries name content. */
export function contentDigest(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** A repository as the registry API names it: Docker Hub's own repositories are library/<name>. */
export function repositoryName(repository: string): { registry: string; name: string } {
  const registry = registryOf(repository);
  if (registry !== 'docker.io') return { registry, name: repository.slice(registry.length + 1) };
  const name = repository.replace(/^docker\.io\//, '');
  return { registry, name: name.includes('/') ? name : `library/${name}` };
}

/** Loopback registries are spoken to over plain HTTP, as the engine does by default (127.0.0.0/8 is insecure). */
export function isLoopback(registry: string): boolean {
  const host = registry.replace(/:\d+$/, '');
  return host === 'localhost' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

export interface IndexOptions {
  /** The registry's credentials, as for the engine's push (RegistryAuth.credentialsFor). */
  credential?: RegistryCredential;
  /** http instead of https; by default for loopback registries only. */
  plainHttp?: boolean;
  signal?: AbortSignal;
  /** The HTTP client (tests pass a fake one). */
  fetch?: typeof fetch;
}

/** Registry API requests for one repository, answering its challenge once and keeping the answer. */
class RegistryClient {
  private authorization: string | undefined;
  private readonly base: string;

  constructor(
    private readonly registry: string,
    private readonly name: string,
    private readonly options: IndexOptions,
  ) {
    const host = registry === 'docker.io' ? 'registry-1.docker.io' : registry;
    this.base = `${(options.plainHttp ?? isLoopback(registry)) ? 'http' : 'https'}://${host}/v2/${name}`;
  }

  private get fetch(): typeof fetch {
    return this.options.fetch ?? fetch;
  }

  async request(method: string, path: string, headers: Record<string, string>, body?: string): Promise<Response> {
    const send = () =>
      this.fetch(`${this.base}${path}`, {
        method,
        headers: { ...headers, ...(this.authorization !== undefined ? { Authorization: this.authorization } : {}) },
        body,
        signal: this.options.signal,
      });
    const first = await send();
    if (first.status !== 401) return first;
    await first.arrayBuffer();
    this.authorization = await this.answer(parseChallenge(first.headers.get('www-authenticate')));
    return send();
  }

  private refused(why: string): PushError {
    return new PushError(`cannot put the image index on ${this.registry}/${this.name}: ${why}`, {
      hint: `log in with docker login ${this.registry} or pass --registry-auth a config.json with auths."${this.registry}".auth, as for the per-platform pushes`,
    });
  }

  /** The Authorization header that answers the challenge. */
  private async answer(challenge: Challenge | undefined): Promise<string> {
    const { credential } = this.options;
    if (challenge?.scheme === 'basic') {
      if (credential?.password === undefined) throw this.refused('the registry wants a user and password, and none were given');
      return `Basic ${Buffer.from(`${credential.username ?? ''}:${credential.password}`).toString('base64')}`;
    }
    if (challenge?.scheme !== 'bearer' || challenge.params.realm === undefined) throw this.refused('the registry answered 401 without a challenge to answer');
    const { realm, service } = challenge.params;
    const scope = `repository:${this.name}:pull,push`;
    let response: Response;
    if (credential?.identitytoken !== undefined) {
      // An identity token is an OAuth2 refresh token: exchanged at the realm by POST.
      const form = new URLSearchParams({
        grant_type: 'refresh_token',
        refresh_token: credential.identitytoken,
        client_id: 'd7y-build',
        scope,
        ...(service ? { service } : {}),
      });
      response = await this.fetch(realm, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: form.toString(),
        signal: this.options.signal,
      });
    } else {
      const url = new URL(realm);
      if (service) url.searchParams.set('service', service);
      url.searchParams.set('scope', scope);
      const basic =
        credential?.password !== undefined
          ? { Authorization: `Basic ${Buffer.from(`${credential.username ?? ''}:${credential.password}`).toString('base64')}` }
          : undefined;
      response = await this.fetch(url, { headers: basic, signal: this.options.signal });
    }
    if (!response.ok) throw this.refused(`its token endpoint ${new URL(realm).origin} answered ${response.status}`);
    const token = (await response.json()) as { token?: unknown; access_token?: unknown };
    const value = typeof token.token === 'string' ? token.token : token.access_token;
    if (typeof value !== 'string' || value === '') throw this.refused(`its token endpoint ${new URL(realm).origin} gave no token`);
    return `Bearer ${value}`;
  }

  async fail(response: Response, what: string): Promise<never> {
    const text = (await response.text()).trim().slice(0, 300);
    if (response.status === 401 || response.status === 403) throw this.refused(`${what}: ${response.status} ${text}`);
    throw new PushError(`cannot put the image index on ${this.registry}/${this.name}: ${what}: ${response.status} ${text}`, {
      hint: 'push each platform image first (their digests must be in this repository), then create the index',
    });
  }
}

/**
 * Puts an index of these platform images (already pushed to this repository, by digest) at
 * repository:tag; the index's digest. The registry refusing, or not reached, is a PushError.
 */
export async function pushImageIndex(
  repository: string,
  tag: string,
  images: PlatformImage[],
  options: IndexOptions = {},
): Promise<{ digest: string; mediaType: string }> {
  const { registry, name } = repositoryName(repository);
  const client = new RegistryClient(registry, name, options);
  try {
    const entries: IndexEntry[] = [];
    for (const image of images) {
      const got = await client.request('GET', `/manifests/${image.digest}`, { Accept: [DOCKER_MANIFEST, OCI_MANIFEST].join(', ') });
      if (!got.ok) await client.fail(got, `the ${platformOf(image)} manifest ${image.digest}`);
      const bytes = new Uint8Array(await got.arrayBuffer());
      if (contentDigest(bytes) !== image.digest) throw new PushError(`${registry}/${name} answered ${image.digest} with other content`);
      const mediaType =
        (got.headers.get('content-type') ?? '').split(';')[0]!.trim() ||
        (JSON.parse(Buffer.from(bytes).toString('utf8')) as { mediaType?: string }).mediaType ||
        OCI_MANIFEST;
      entries.push({ ...image, mediaType, size: bytes.length });
    }
    const index = imageIndex(entries);
    const put = await client.request('PUT', `/manifests/${tag}`, { 'Content-Type': index.mediaType }, index.body);
    if (put.status !== 201) await client.fail(put, `the index for ${tag}`);
    return { digest: contentDigest(Buffer.from(index.body)), mediaType: index.mediaType };
  } catch (err) {
    if (err instanceof PushError || options.signal?.aborted) throw err;
    throw new PushError(`cannot put the image index on ${registry}/${name}: ${(err as Error).message}`, {
      hint: `check that ${registry} is reachable from here (it was reached by the engine for the per-platform pushes)`,
      cause: err,
    });
  }
}
