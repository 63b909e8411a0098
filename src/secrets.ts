/**
 * Credentials for private Go modules, given at run time only: a netrc file (--netrc / D7Y_NETRC) and
 * GIT_AUTH_TOKEN, which becomes a netrc entry for each host GOPRIVATE, GONOPROXY or GONOSUMDB names.
 * They reach the container on a tmpfs, never an image layer or the container's environment, and
 * every value is masked in what d7y-build prints or writes, as are credentials in URLs
 * (https://user:token@host/…). Pure, but for loadSecrets.
 */
import { UsageError } from './errors';
import { readRegularFile } from './files';
import { hintOption } from './option-names';

export interface Secrets {
  /** The netrc text to put in the container; empty for none. */
  netrc: string;
  /** Every secret value, to mask wherever text leaves d7y-build. */
  values: string[];
}

export const NO_SECRETS: Secrets = { netrc: '', values: [] };

/** The container's tmpfs for credentials holds 64 KiB; a netrc is a few lines. */
const MAX_NETRC = 32 * 1024;

/** The hosts of module path patterns: "corp.example/*,github.com/acme" → corp.example, github.com. */
export function privateHosts(env: Record<string, string | undefined>): string[] {
  const patterns = ['GOPRIVATE', 'GONOPROXY', 'GONOSUMDB'].flatMap((k) => (env[k] ?? '').split(','));
  const hosts = patterns.map((p) => p.trim().split('/')[0] ?? '').filter((h) => h !== '' && !/[*?[\]]/.test(h));
  return [...new Set(hosts)];
}

export function netrcForToken(token: string, hosts: string[]): string {
  return hosts.map((h) => `machine ${h} login x-access-token password ${token}\n`).join('');
}

/** The passwords of a netrc text. */
export function netrcValues(netrc: string): string[] {
  const words = netrc.split(/\s+/);
  return words.flatMap((w, i) => (words[i - 1] === 'password' && w !== '' ? [w] : []));
}

/** The userinfo of URLs (scheme://<userinfo>@host): up to the last @ before the path. */
const URL_USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)([^\s/?#]*)@/gi;

/** A URL, or any text, without the credentials its URLs carry (https://user:token@host/... → https://host/...). */
export function redactUrl(text: string): string {
  return text.replace(URL_USERINFO, '$1');
}

/**
 * What git is given for an http(s) repository URL with a password: the URL without credentials, and
 * the environment that carries them as an Authorization header (git's GIT_CONFIG_COUNT settings), so
 * the password is never a command-line argument that `ps` shows. Other URLs go as they are.
 */
export function gitRemote(repo: string): { url: string; env: Record<string, string> } {
  let url: URL;
  try {
    url = new URL(repo);
  } catch {
    return { url: repo, env: {} };
  }
  if (!/^https?:$/.test(url.protocol) || url.password === '') return { url: repo, env: {} };
  const basic = Buffer.from(`${decoded(url.username)}:${decoded(url.password)}`).toString('base64');
  url.username = '';
  url.password = '';
  return {
    url: url.toString(),
    env: { GIT_CONFIG_COUNT: '1', GIT_CONFIG_KEY_0: 'http.extraHeader', GIT_CONFIG_VALUE_0: `Authorization: Basic ${basic}` },
  };
}

function decoded(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

/**
 * The secrets in the URLs of a text (a --repo, an argument list), as written and percent-decoded,
 * to be masked wherever a tool prints them in another form: passwords, and the user of an HTTP URL
 * that has no password (https://<token>@github.com/…). ssh users (git@) are names, not secrets.
 */
export function urlSecrets(text: string): string[] {
  return [...text.matchAll(URL_USERINFO)].flatMap(([, scheme = '', userinfo = '']) => {
    const colon = userinfo.indexOf(':');
    const secret = colon >= 0 ? userinfo.slice(colon + 1) : /^(https?|ftps?):/i.test(scheme) ? userinfo : '';
    return secret === '' ? [] : [...new Set([secret, decoded(secret)])];
  });
}

/**
 * The secret values known before a run reads any file: the credentials of the URLs in the texts
 * given (the arguments, a library caller's options) and in the environment (D7Y_REPO, GOPROXY,
 * proxies), and GIT_AUTH_TOKEN.
 */
export function knownSecrets(texts: string[], env: Record<string, string | undefined>): string[] {
  const values = [...texts, ...Object.values(env)].flatMap((text) => urlSecrets(text ?? ''));
  const token = env.GIT_AUTH_TOKEN?.trim();
  return token ? [...values, token] : values;
}

/**
 * Replaces every secret value (of 4 characters or more: shorter ones would mask noise) with ***,
 * and drops the credentials of every URL in the text.
 */
export function maskSecrets(text: string, values: string[]): string {
  let out = text;
  for (const v of values) if (v.length >= 4) out = out.split(v).join('***');
  return redactUrl(out);
}

export async function loadSecrets(netrcFile: string | undefined, env: Record<string, string | undefined>): Promise<Secrets> {
  let netrc =
    netrcFile === undefined
      ? ''
      : await readRegularFile(netrcFile, {
          what: 'the netrc file',
          hint: `pass ${hintOption('netrc')} a readable file with "machine <host> login <user> password <token>" lines`,
          maxBytes: MAX_NETRC,
        });
  const token = env.GIT_AUTH_TOKEN?.trim();
  if (token) {
    const hosts = privateHosts(env);
    if (hosts.length === 0) {
      throw new UsageError('GIT_AUTH_TOKEN is set, but no GOPRIVATE, GONOPROXY or GONOSUMDB host says where it may go', {
        hint: 'set GOPRIVATE to your private module hosts, e.g. GOPRIVATE=github.com/acme; the token is sent to those hosts only',
      });
    }
    netrc += netrcForToken(token, hosts);
  }
  const values = [...new Set([...netrcValues(netrc), ...(token ? [token] : [])])];
  return { netrc, values };
}
