/**
 * Registry credentials, found as the docker CLI finds them: in a Docker config.json, an entry's
 * `credHelpers.<registry>`, else its `credsStore`, else `auths.<registry>` (`auth`, base64
 * user:password, or `identitytoken`). A --registry-auth file is looked in first, then the user's
 * ($DOCKER_CONFIG/config.json, else ~/.docker/config.json). Every value found is handed to the
 * masking before it is used. Pure, but for the AuthIo at the end.
 */
import { spawn } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { UsageError, type D7yError } from '../errors';
import { readRegularFile } from '../files';
import type { RegistryCredential } from './engine';

/** Docker Hub, as references and config.json keys name it. */
const HUB = 'docker.io';
const HUB_SERVER = 'https://index.docker.io/v1/';
/** A credential helper that has not answered by then is given up on. */
export const HELPER_TIMEOUT_MS = 10_000;
/** A config.json is a few entries. */
const MAX_CONFIG = 1024 * 1024;
/** What a credential helper may print: a credential is a few hundred bytes. */
const MAX_HELPER_OUTPUT = 1024 * 1024;
const HELPER_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

interface AuthEntry {
  auth?: string;
  username?: string;
  password?: string;
  identitytoken?: string;
}

/** What of a Docker config.json says where credentials are. */
export interface DockerConfig {
  file: string;
  auths: Record<string, AuthEntry>;
  credHelpers: Record<string, string>;
  credsStore?: string;
}

/** A typed failure made by the caller (the push's or the pull's error), from a message and a hint. */
export type Fail = (message: string, hint: string, cause?: unknown) => D7yError;

/** The registry an image reference names: its first component when it has a dot or a port or is localhost, else Docker Hub. */
export function registryOf(ref: string): string {
  const slash = ref.indexOf('/');
  if (slash < 0) return HUB;
  const first = ref.slice(0, slash);
  return /[.:]/.test(first) || first === 'localhost' ? first : HUB;
}

/** A config.json key as a registry: no scheme, no path, Docker Hub's aliases as docker.io. */
export function registryOfKey(key: string): string {
  const host = key.replace(/^[a-z]+:\/\//i, '').split('/')[0]!;
  return ['index.docker.io', 'registry-1.docker.io', HUB].includes(host) ? HUB : host;
}

/** The server address a credential helper is asked about, and the engine is told. */
export function serverAddressOf(registry: string): string {
  return registry === HUB ? HUB_SERVER : registry;
}

const strings = (value: unknown): Record<string, string> =>
  typeof value === 'object' && value !== null ? Object.fromEntries(Object.entries(value).filter((e): e is [string, string] => typeof e[1] === 'string')) : {};

/** Parses a config.json: a message (never the file's text) when it is not one. */
export function parseDockerConfig(text: string, file: string): DockerConfig | string {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return `${file} is not JSON`;
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return `${file} is not a JSON object`;
  const { auths, credHelpers, credsStore } = json as Record<string, unknown>;
  const entries = typeof auths === 'object' && auths !== null ? Object.entries(auths) : [];
  return {
    file,
    auths: Object.fromEntries(entries.map(([key, entry]) => [registryOfKey(key), strings(entry) as AuthEntry])),
    credHelpers: Object.fromEntries(Object.entries(strings(credHelpers)).map(([key, helper]) => [registryOfKey(key), helper])),
    ...(typeof credsStore === 'string' && credsStore !== '' ? { credsStore } : {}),
  };
}

/** Where a config says the registry's credentials are: inline, with a helper, or nowhere. A message when an inline one is malformed. */
export type Lookup =
  { kind: 'inline'; credential: RegistryCredential } | { kind: 'helper'; helper: string } | { kind: 'none' } | { kind: 'invalid'; why: string };

export function lookup(config: DockerConfig, registry: string): Lookup {
  const helper = config.credHelpers[registry] ?? config.credsStore;
  if (helper !== undefined) return { kind: 'helper', helper };
  const entry = config.auths[registry];
  if (entry === undefined) return { kind: 'none' };
  const serveraddress = serverAddressOf(registry);
  if (entry.identitytoken) return { kind: 'inline', credential: { identitytoken: entry.identitytoken, serveraddress } };
  if (entry.auth) {
    const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon <= 0) return { kind: 'invalid', why: `auths."${registry}".auth in ${config.file} is not base64 of user:password` };
    return { kind: 'inline', credential: { username: decoded.slice(0, colon), password: decoded.slice(colon + 1), serveraddress } };
  }
  if (entry.username && entry.password) return { kind: 'inline', credential: { username: entry.username, password: entry.password, serveraddress } };
  return { kind: 'none' };
}

/** A helper's answer to `get` ({ServerURL, Username, Secret}); a Username of <token> means Secret is an identity token. */
export function helperCredential(stdout: string, registry: string): RegistryCredential | undefined {
  let answer: { Username?: unknown; Secret?: unknown };
  try {
    answer = JSON.parse(stdout) as typeof answer;
  } catch {
    return undefined;
  }
  if (typeof answer?.Secret !== 'string' || answer.Secret === '') return undefined;
  const serveraddress = serverAddressOf(registry);
  if (answer.Username === '<token>') return { identitytoken: answer.Secret, serveraddress };
  return { username: typeof answer.Username === 'string' ? answer.Username : '', password: answer.Secret, serveraddress };
}

/** The secret values of a credential, as given and as they travel (base64 user:password). */
export function credentialSecrets(credential: RegistryCredential): string[] {
  const values = [credential.password, credential.identitytoken].filter((v): v is string => v !== undefined && v !== '');
  if (credential.password !== undefined) values.push(Buffer.from(`${credential.username ?? ''}:${credential.password}`).toString('base64'));
  return values;
}

/** What a helper run gave: its output, or that the binary is missing, failed or took too long. */
export type HelperAnswer = { kind: 'ok'; stdout: string } | { kind: 'missing' } | { kind: 'failed'; exitCode: number; output: string } | { kind: 'timeout' };

/** The file and process access the lookup needs, so the rest is tested without them. */
export interface AuthIo {
  /** A config file's text; undefined when there is none. */
  readConfig(file: string): Promise<string | undefined>;
  /** Runs docker-credential-<helper> get with server on stdin. */
  runHelper(helper: string, server: string, timeoutMs: number): Promise<HelperAnswer>;
}

/** The credentials found for a registry (none: undefined), and the files looked in, for hints. */
export interface Found {
  credential?: RegistryCredential;
  /** Where the credential came from: "<file>" or "docker-credential-<helper> (<file>)". */
  source?: string;
  looked: string[];
}

/** The user's config.json: $DOCKER_CONFIG/config.json, else ~/.docker/config.json. */
export function userConfigFile(env: Record<string, string | undefined>): string {
  return path.join(env.DOCKER_CONFIG || path.join(env.HOME || os.homedir(), '.docker'), 'config.json');
}

/** A helper's "not found" (exit 1, "credentials not found in native keychain"): no credentials, not a failure. */
const NOT_FOUND = /credentials not found/i;

export class RegistryAuth {
  constructor(
    private readonly options: {
      /** The --registry-auth config, read already. */
      explicit?: DockerConfig;
      userFile: string;
      io: AuthIo;
      /** Takes every secret value found, to mask it. */
      redact: (values: string[]) => void;
    },
  ) {}

  /** The registry's credentials from --registry-auth, else the user's config.json; fail makes the error of a broken config or helper. */
  async credentialsFor(registry: string, fail: Fail): Promise<Found> {
    const { explicit, userFile, io } = this.options;
    const looked = explicit === undefined ? [] : [explicit.file];
    const configs: DockerConfig[] = explicit === undefined ? [] : [explicit];
    const text = await io.readConfig(userFile).catch((err: unknown) => {
      throw fail(`cannot read the credentials in ${userFile}: ${(err as Error).message}`, 'make it readable, or point DOCKER_CONFIG elsewhere', err);
    });
    looked.push(text === undefined ? `${userFile} (not there)` : userFile);
    if (text !== undefined) {
      const parsed = parseDockerConfig(text, userFile);
      if (typeof parsed === 'string')
        throw fail(`cannot read the credentials in ${userFile}: ${parsed}`, `fix or remove ${userFile} (docker login rewrites it)`);
      configs.push(parsed);
    }
    for (const config of configs) {
      const found = lookup(config, registry);
      if (found.kind === 'invalid')
        throw fail(`cannot read the credentials for ${registry}: ${found.why}`, `log in again with docker login ${registry}, or fix ${config.file}`);
      if (found.kind === 'inline') return this.use(found.credential, config.file, looked);
      if (found.kind === 'helper') {
        const credential = await this.ask(found.helper, registry, config.file, fail);
        if (credential !== undefined) return this.use(credential, `docker-credential-${found.helper} (${config.file})`, looked);
      }
    }
    return { looked };
  }

  private use(credential: RegistryCredential, source: string, looked: string[]): Found {
    this.options.redact(credentialSecrets(credential));
    return { credential, source, looked };
  }

  private async ask(helper: string, registry: string, file: string, fail: Fail): Promise<RegistryCredential | undefined> {
    // The name becomes a program looked up on PATH: a "/" would make it a path, relative to anywhere.
    if (!HELPER_NAME.test(helper)) {
      throw fail(
        `${file} names ${JSON.stringify(helper.slice(0, 64))} as the credential helper for ${registry}, which is no helper name`,
        `a helper is named as docker-credential-<name> is, with letters, digits, ".", "_" and "-": fix credsStore or credHelpers in ${file}, or pass --registry-auth`,
      );
    }
    const binary = `docker-credential-${helper}`;
    const answer = await this.options.io.runHelper(helper, serverAddressOf(registry), HELPER_TIMEOUT_MS);
    const why = `${file} says the credentials for ${registry} are kept by ${binary}`;
    switch (answer.kind) {
      case 'ok':
        return helperCredential(answer.stdout, registry);
      case 'missing':
        throw fail(
          `${why}, which is not installed here (not on PATH)`,
          `install ${binary}, or pass --registry-auth a config.json with auths."${registry}".auth, or remove it from ${file} and docker login ${registry} again`,
        );
      case 'timeout':
        throw fail(
          `${why}, which did not answer within ${HELPER_TIMEOUT_MS / 1000} s`,
          `check that \`echo ${serverAddressOf(registry)} | ${binary} get\` answers (an unlocked keyring), or pass --registry-auth`,
        );
      case 'failed':
        if (NOT_FOUND.test(answer.output)) return undefined;
        throw fail(
          `${why}, which failed (exit ${answer.exitCode}): ${answer.output}`,
          `check that \`echo ${serverAddressOf(registry)} | ${binary} get\` answers, or pass --registry-auth`,
        );
    }
  }
}

/** Whether an engine's or registry's message says the registry wants (other) credentials. */
export function isUnauthorized(message: string): boolean {
  return /\bunauthorized\b|authentication required|no basic auth credentials|\b401\b/i.test(message);
}

/** The hint of a registry's refusal for want of credentials: what was sent or looked in, and how to log in. */
export function unauthorizedHint(registry: string, found: Found): string {
  const login = `docker login ${registry === HUB ? '' : registry}`.trim();
  if (found.credential !== undefined) {
    return `${registry} refused the credentials from ${found.source}: log in again with ${login}, or pass --registry-auth a config.json with valid auths."${registry}".auth`;
  }
  return `${registry} wants credentials and none were found for it (looked in ${found.looked.join(', ')}): log in with ${login} (DOCKER_CONFIG says where it writes), or pass --registry-auth <config.json>`;
}

/** Reads and parses a --registry-auth file up front: a usage error (exit 2) when it is missing or not a config.json. */
export async function readExplicitConfig(file: string): Promise<DockerConfig> {
  const hint = 'pass --registry-auth a Docker config.json, e.g. {"auths":{"registry.example":{"auth":"<base64 of user:password>"}}}';
  const text = await readRegularFile(file, { what: 'the --registry-auth file', hint, maxBytes: MAX_CONFIG });
  const parsed = parseDockerConfig(text, file);
  if (typeof parsed === 'string') throw new UsageError(`cannot read --registry-auth: ${parsed}`, { hint });
  return parsed;
}

/** AuthIo on this machine: the config file read as a regular file, a helper run from PATH. */
export const nodeAuthIo: AuthIo = {
  readConfig: (file) =>
    readRegularFile(file, { what: 'the Docker config', hint: 'make it readable, or point DOCKER_CONFIG elsewhere', maxBytes: MAX_CONFIG, optional: true }),
  runHelper: (helper, server, timeoutMs) =>
    new Promise((resolve) => {
      const child = spawn(`docker-credential-${helper}`, ['get'], { stdio: ['pipe', 'pipe', 'pipe'], timeout: timeoutMs });
      let stdout = '';
      let stderr = '';
      let overflowed = false;
      const take = (d: Buffer, into: 'stdout' | 'stderr') => {
        if (stdout.length + stderr.length + d.length > MAX_HELPER_OUTPUT) {
          overflowed = true;
          child.kill('SIGKILL');
        } else if (into === 'stdout') stdout += d.toString();
        else stderr += d.toString();
      };
      child.stdout.on('data', (d: Buffer) => take(d, 'stdout'));
      child.stderr.on('data', (d: Buffer) => take(d, 'stderr'));
      child.stdin.on('error', () => {}); // a helper that exits without reading
      child.on('error', (err: NodeJS.ErrnoException) =>
        resolve(err.code === 'ENOENT' ? { kind: 'missing' } : { kind: 'failed', exitCode: -1, output: err.message }),
      );
      child.on('close', (code, signal) => {
        if (overflowed) resolve({ kind: 'failed', exitCode: -1, output: `printed more than ${MAX_HELPER_OUTPUT / 1024 / 1024} MiB` });
        else if (signal !== null && child.killed) resolve({ kind: 'timeout' });
        else if (code === 0) resolve({ kind: 'ok', stdout });
        else resolve({ kind: 'failed', exitCode: code ?? -1, output: (stdout + stderr).trim().slice(0, 500) });
      });
      child.stdin.end(server);
    }),
};

/** The credentials of a run: the --registry-auth file (read now), then the user's config.json (read when a registry is asked about). */
export async function registryAuth(
  file: string | undefined,
  env: Record<string, string | undefined>,
  redact: (values: string[]) => void,
  io: AuthIo = nodeAuthIo,
): Promise<RegistryAuth> {
  const explicit = file === undefined ? undefined : await readExplicitConfig(file);
  return new RegistryAuth({ ...(explicit ? { explicit } : {}), userFile: userConfigFile(env), io, redact });
}
