/**
 * Which Docker engine to talk to, found the way the docker CLI finds it: DOCKER_HOST (with
 * DOCKER_TLS_VERIFY and DOCKER_CERT_PATH), else the context DOCKER_CONTEXT names, else the
 * `currentContext` of $DOCKER_CONFIG/config.json, else the default socket, or the rootless one when
 * only that exists. Every bad setting is a UsageError naming the variable or file, before anything
 * connects. Files are read through a seam (bounded, regular files only), so the precedence is tested
 * over fake files.
 */
import { createHash } from 'node:crypto';
import { closeSync, constants, fstatSync, openSync, readSync, statSync } from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import type Docker from 'dockerode';
import { UsageError } from '../errors';

export type EndpointSource = 'DOCKER_HOST' | `context ${string}` | 'rootless socket' | 'default socket';

/** dockerode's options, and the agent docker-modem also takes (its typings leave it out). */
export type DockerodeOptions = Docker.DockerOptions & { agent?: https.Agent };

export interface Endpoint {
  /** What dockerode is constructed with. */
  options: DockerodeOptions;
  /** Where the engine is, for messages: the address dialled, and the source unless it is DOCKER_HOST (which the hints name). */
  address: string;
  source: EndpointSource;
  hints: EndpointHints;
}

/** How to fix what can go wrong on the first request, in the words of the endpoint's source. */
export interface EndpointHints {
  /** Nothing listens there. */
  unreachable: string;
  /** Something listens but does not answer in time. */
  slow: string;
  /** Something answers, but not as a Docker engine. */
  notEngine: string;
  /** The TLS handshake fails. */
  tls: string;
}

/** The files the resolver reads, as a seam. */
export interface EndpointFiles {
  /**
   * At most limit + 1 bytes of a regular file (symbolic links followed): more than limit means too
   * large. Throws the errno error (code ENOENT, EACCES, …), or one with code ENOTREG for anything
   * but a regular file.
   */
  read(file: string, limit: number): Buffer;
  /** Whether anything (a socket, say) is at file. */
  exists(file: string): boolean;
}

/** Certificates, keys, meta.json and config.json are small: a larger one is a mistake, not read on. */
export const MAX_ENDPOINT_FILE_BYTES = 1024 * 1024;

export const DEFAULT_SOCKET = '/var/run/docker.sock';

/** The context that means "no context": the default socket (or DOCKER_HOST, which is looked at first). */
const DEFAULT_CONTEXT = 'default';

const DOCKER_HOST_HINT = 'set DOCKER_HOST to an engine address like unix:///var/run/docker.sock, tcp://host:2375 or ssh://user@host, or unset it';
const PING_TIMEOUT_HINT = 'D7Y_PING_TIMEOUT sets how long to wait (e.g. 60s)';
const CERT_PATH_HINT = "point DOCKER_CERT_PATH at the directory holding the engine's ca.pem, cert.pem and key.pem, or unset it";

/** For DOCKER_HOST, the default sockets, and explicit options. */
export const ENV_HINTS: EndpointHints = {
  unreachable: 'start Docker (e.g. `sudo systemctl start docker`), or point DOCKER_HOST at a running engine',
  slow: `check that DOCKER_HOST names a running Docker engine; ${PING_TIMEOUT_HINT}`,
  notEngine: DOCKER_HOST_HINT,
  tls: "check DOCKER_TLS_VERIFY and DOCKER_CERT_PATH (ca.pem, cert.pem, key.pem) against the engine's TLS settings, and the port (2376 is TLS)",
};

function contextHints(name: string, tlsDir: string): EndpointHints {
  const other = 'or choose another context (DOCKER_CONTEXT, `docker context use`)';
  return {
    unreachable: `start the engine of Docker context "${name}", ${other}`,
    slow: `check that Docker context "${name}" names a running Docker engine (\`docker context inspect ${name}\`); ${PING_TIMEOUT_HINT}`,
    notEngine: `point Docker context "${name}" at a Docker engine (\`docker context update ${name} --docker host=…\`), ${other}`,
    tls: `check the TLS files of Docker context "${name}" (${tlsDir}: ca.pem, cert.pem, key.pem) against the engine's TLS settings`,
  };
}

const CHUNK = 64 * 1024;

/** The real files: opened without blocking (a FIFO is refused, not waited on), typed from the open file. */
export const realFiles: EndpointFiles = {
  read(file, limit) {
    const fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
    try {
      if (!fstatSync(fd).isFile()) throw Object.assign(new Error(`${file} is not a regular file`), { code: 'ENOTREG' });
      const chunks: Buffer[] = [];
      let length = 0;
      while (length <= limit) {
        const chunk = Buffer.alloc(Math.min(CHUNK, limit + 1 - length));
        const n = readSync(fd, chunk, 0, chunk.length, null);
        if (n === 0) break;
        chunks.push(chunk.subarray(0, n));
        length += n;
      }
      return Buffer.concat(chunks);
    } finally {
      closeSync(fd);
    }
  },
  exists: (file) => statSync(file, { throwIfNoEntry: false }) !== undefined,
};

/**
 * A small regular file's content, or refuse(why) with why in words that follow the file's name;
 * undefined when it does not exist and is optional.
 */
function readSmall(files: EndpointFiles, file: string, refuse: (why: string) => UsageError, optional = false): Buffer | undefined {
  let content: Buffer;
  try {
    content = files.read(file, MAX_ENDPOINT_FILE_BYTES);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && optional) return undefined;
    throw refuse(code === 'ENOTREG' ? 'is not a regular file' : `cannot be read (${code ?? String(err)})`);
  }
  if (content.length > MAX_ENDPOINT_FILE_BYTES) throw refuse('is larger than 1 MiB');
  return content;
}

function readJson(files: EndpointFiles, file: string, refuse: (why: string) => UsageError, optional = false): unknown {
  const content = readSmall(files, file, refuse, optional);
  if (content === undefined) return undefined;
  try {
    return JSON.parse(content.toString('utf8'));
  } catch (err) {
    throw refuse(`is not valid JSON (${(err as Error).message})`);
  }
}

type Target = { kind: 'socket'; path: string } | { kind: 'tcp'; url: URL } | { kind: 'ssh'; url: URL };

/** An engine address as the docker CLI and dockerode take it; undefined when it is none. */
function parseHost(host: string): Target | undefined {
  if (host.startsWith('unix://')) return { kind: 'socket', path: host.slice('unix://'.length) || DEFAULT_SOCKET };
  if (host.startsWith('npipe://')) return { kind: 'socket', path: host.slice('npipe://'.length) || '//./pipe/docker_engine' };
  let url: URL;
  try {
    url = new URL(host.includes('//') ? host : `tcp://${host}`);
  } catch {
    return undefined;
  }
  if (!['tcp:', 'http:', 'https:', 'ssh:'].includes(url.protocol) || url.hostname === '' || (url.pathname !== '' && url.pathname !== '/')) return undefined;
  return url.protocol === 'ssh:' ? { kind: 'ssh', url } : { kind: 'tcp', url };
}

interface Tls {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  /** Whether the engine's certificate is checked (a context's SkipTLSVerify turns it off). */
  verify: boolean;
}

/** dockerode's options for a target, and its address as the engine is dialled. */
function optionsFor(target: Target, env: Record<string, string | undefined>, tls: Tls | undefined): { options: DockerodeOptions; address: string } {
  if (target.kind === 'socket') return { options: { socketPath: target.path }, address: `unix://${target.path}` };
  const { url } = target;
  const port = url.port === '' ? undefined : url.port;
  const at = `${url.hostname}${port === undefined ? '' : `:${port}`}`;
  if (target.kind === 'ssh') {
    // docker-modem dials with ssh2 through the user's ssh agent and runs `docker system dial-stdio` there.
    const username = url.username === '' ? undefined : decodeURIComponent(url.username);
    return {
      options: { protocol: 'ssh', host: url.hostname, port, username, sshOptions: { agent: env.SSH_AUTH_SOCK } },
      address: `ssh://${username === undefined ? '' : `${username}@`}${at}`,
    };
  }
  if (tls === undefined) return { options: { protocol: 'http', host: url.hostname, port }, address: `http://${at}` };
  const options: DockerodeOptions = { protocol: 'https', host: url.hostname, port, ca: tls.ca, cert: tls.cert, key: tls.key };
  // dockerode has no switch for this; an agent's options win over the request's.
  if (!tls.verify) options.agent = new https.Agent({ rejectUnauthorized: false });
  return { options, address: `https://${at}` };
}

/** The docker CLI's configuration directory: $DOCKER_CONFIG, else ~/.docker. */
function configDir(env: Record<string, string | undefined>): string {
  return env.DOCKER_CONFIG?.trim() || path.join(env.HOME?.trim() || os.homedir(), '.docker');
}

/** DOCKER_HOST, with DOCKER_TLS_VERIFY (any non-empty value, as docker takes it) and DOCKER_CERT_PATH. */
function fromDockerHost(host: string, env: Record<string, string | undefined>, files: EndpointFiles): Endpoint {
  const target = parseHost(host);
  if (target === undefined) throw new UsageError(`DOCKER_HOST="${host}" is not a Docker engine address`, { hint: DOCKER_HOST_HINT });
  const hints = ENV_HINTS;
  if (target.kind === 'socket') return { ...optionsFor(target, env, undefined), source: 'DOCKER_HOST', hints };

  const verify = (env.DOCKER_TLS_VERIFY ?? '') !== '';
  const certPath = env.DOCKER_CERT_PATH?.trim();
  let tls: Tls | undefined;
  if (certPath) {
    // dockerode reads all three itself whenever DOCKER_CERT_PATH is set: each must be there.
    const read = (name: string) =>
      readSmall(
        files,
        path.join(certPath, name),
        (why) => new UsageError(`DOCKER_CERT_PATH=${certPath}: ${path.join(certPath, name)} ${why}`, { hint: CERT_PATH_HINT }),
      )!;
    tls = { ca: read('ca.pem'), cert: read('cert.pem'), key: read('key.pem'), verify: true };
  } else if (verify) {
    // Like docker: the certificates in the configuration directory. Those absent are left out: the
    // engine's certificate is then checked against the system's CAs.
    const dir = configDir(env);
    const read = (name: string) =>
      readSmall(
        files,
        path.join(dir, name),
        (why) =>
          new UsageError(`DOCKER_TLS_VERIFY is set without DOCKER_CERT_PATH, and ${path.join(dir, name)} ${why}`, {
            hint: `put the engine's ca.pem (and your cert.pem and key.pem) in ${dir}, or point DOCKER_CERT_PATH at their directory`,
          }),
        true,
      );
    tls = { ca: read('ca.pem'), cert: read('cert.pem'), key: read('key.pem'), verify: true };
  }
  // dockerode's rule, kept: TLS also for https:// and the TLS port.
  const useTls = target.kind === 'tcp' && (verify || target.url.protocol === 'https:' || target.url.port === '2376');
  return { ...optionsFor(target, env, useTls ? (tls ?? { verify: true }) : undefined), source: 'DOCKER_HOST', hints };
}

/** The context's name and what chose it (for messages), or undefined for the default context. */
function contextName(env: Record<string, string | undefined>, files: EndpointFiles): { name: string; chosenBy: string } | undefined {
  const fromEnv = env.DOCKER_CONTEXT?.trim();
  if (fromEnv) return fromEnv === DEFAULT_CONTEXT ? undefined : { name: fromEnv, chosenBy: 'DOCKER_CONTEXT' };
  const file = path.join(configDir(env), 'config.json');
  const refuse = (why: string) =>
    new UsageError(`the Docker configuration ${file} ${why}`, {
      hint: 'fix or remove it (`docker context use default` rewrites currentContext), or point DOCKER_CONFIG at another directory',
    });
  const config = readJson(files, file, refuse, true);
  if (config === undefined) return undefined;
  if (typeof config !== 'object' || config === null || Array.isArray(config)) throw refuse('is not a JSON object');
  const current = (config as { currentContext?: unknown }).currentContext;
  if (current !== undefined && typeof current !== 'string') throw refuse('has a currentContext that is not a string');
  return current && current !== DEFAULT_CONTEXT ? { name: current, chosenBy: `currentContext in ${file}` } : undefined;
}

/** A context from the docker CLI's store: meta.json names the host, tls/ holds its certificates. */
function fromContext(name: string, chosenBy: string, env: Record<string, string | undefined>, files: EndpointFiles): Endpoint {
  const id = createHash('sha256').update(name).digest('hex');
  const store = path.join(configDir(env), 'contexts');
  const metaFile = path.join(store, 'meta', id, 'meta.json');
  const recreate = `recreate it (\`docker context rm ${name}\`, then \`docker context create ${name} --docker host=…\`), or choose another context`;
  const malformed = (why: string) => new UsageError(`the Docker context "${name}" is malformed: ${metaFile} ${why}`, { hint: recreate });

  const meta = readJson(files, metaFile, malformed, true);
  if (meta === undefined) {
    throw new UsageError(`no Docker context named "${name}" (${chosenBy})`, {
      hint: `\`docker context ls\` lists them; choose one with DOCKER_CONTEXT or \`docker context use <name>\`, or \`docker context use ${DEFAULT_CONTEXT}\``,
    });
  }
  const endpoint = (meta as { Endpoints?: { docker?: { Host?: unknown; SkipTLSVerify?: unknown } } } | null)?.Endpoints?.docker;
  if (typeof endpoint?.Host !== 'string' || endpoint.Host === '') throw malformed('has no Endpoints.docker.Host');
  const target = parseHost(endpoint.Host);
  if (target === undefined) {
    throw new UsageError(`the Docker context "${name}" has Host "${endpoint.Host}", which is not a Docker engine address`, {
      hint: `\`docker context update ${name} --docker host=…\` with an address like tcp://host:2376 or ssh://user@host`,
    });
  }

  const tlsDir = path.join(store, 'tls', id, 'docker');
  const read = (file: string) =>
    readSmall(
      files,
      path.join(tlsDir, file),
      (why) => new UsageError(`the Docker context "${name}": ${path.join(tlsDir, file)} ${why}`, { hint: recreate }),
      true,
    );
  const ca = read('ca.pem');
  const cert = read('cert.pem');
  const key = read('key.pem');
  const skip = endpoint.SkipTLSVerify === true;
  // Like docker: TLS when the context has TLS material or asks to skip its verification.
  const tls = target.kind === 'tcp' && (ca !== undefined || cert !== undefined || key !== undefined || skip) ? { ca, cert, key, verify: !skip } : undefined;
  const { options, address } = optionsFor(target, env, tls);
  return {
    options,
    address: `${address} (context ${name})`,
    source: `context ${name}`,
    hints: contextHints(name, tlsDir),
  };
}

/** The system socket, else the rootless engine's socket when only that exists. */
function defaultSocket(env: Record<string, string | undefined>, files: EndpointFiles): Endpoint {
  const hints = ENV_HINTS;
  const runtimeDir = env.XDG_RUNTIME_DIR?.trim();
  if (!files.exists(DEFAULT_SOCKET) && runtimeDir && path.isAbsolute(runtimeDir)) {
    const rootless = path.join(runtimeDir, 'docker.sock');
    if (files.exists(rootless)) return { options: { socketPath: rootless }, address: `unix://${rootless} (rootless socket)`, source: 'rootless socket', hints };
  }
  return { options: { socketPath: DEFAULT_SOCKET }, address: `unix://${DEFAULT_SOCKET} (default socket)`, source: 'default socket', hints };
}

/** The engine the docker CLI would use in this environment. */
export function resolveEndpoint(env: Record<string, string | undefined>, files: EndpointFiles = realFiles): Endpoint {
  const host = env.DOCKER_HOST?.trim();
  if (host) return fromDockerHost(host, env, files);
  const context = contextName(env, files);
  return context === undefined ? defaultSocket(env, files) : fromContext(context.name, context.chosenBy, env, files);
}
