/**
 * The config files: a plugin directory's d7y-plugin.yaml (or d7y-plugin.json), which says what the
 * plugin is and which Dragonfly it targets, and the user's config.yaml (--config, D7Y_CONFIG, else
 * $XDG_CONFIG_HOME/d7y-build/config.yaml, else ~/.config/d7y-build/config.yaml), which holds the
 * build settings of a machine or a CI job. Both are read whole, up to MAX_CONFIG_BYTES, as regular
 * files only, and validated against the option table (config.ts OPTIONS): an unknown key, a value
 * of the wrong type or outside its choices is a UsageError naming the file, the key and what it
 * takes. What the values mean is left to config.ts, which reads them with flags and variables.
 * Synchronous, as the command line is parsed.
 */
import os from 'node:os';
import path from 'node:path';
import type * as Yaml from 'yaml';
import { OPTION_KEYS, OPTIONS, type ConfigInputs, type OptionKey, type ValueKind } from './config';
import { UsageError } from './errors';
import { readRegularFileSync } from './files';
import type { FileScope } from './origin';
import { PLUGIN_TYPES } from './plugin';
import { urlSecrets } from './secrets';

/** A plugin directory's config file, by the names looked for, in this order. */
export const PLUGIN_CONFIG_NAMES = ['d7y-plugin.yaml', 'd7y-plugin.json'] as const;
export const USER_CONFIG_NAME = 'config.yaml';
/** A config file is a few lines: a larger one is not one. */
export const MAX_CONFIG_BYTES = 64 * 1024;

/** A value as a config file may hold it, once validated. */
export type FileValue = string | number | boolean | string[];

export interface ConfigFile {
  /** Absolute path: messages name it, and relative paths in it are taken from its directory. */
  path: string;
  scope: FileScope;
  values: Partial<Record<OptionKey, FileValue>>;
}

/** What a value of each kind must be, in words. */
const KIND_TEXT: Record<ValueKind, string> = {
  string: 'a string',
  boolean: 'true or false',
  size: 'a string or a number',
  list: 'a string or a list of strings',
  type: `one of ${PLUGIN_TYPES.join(', ')}`,
};

/** The keys a scope's files take, in the table's order. */
export function configKeys(scope: FileScope): OptionKey[] {
  return OPTION_KEYS.filter((key) => (OPTIONS[key].files as readonly FileScope[]).includes(scope));
}

/** Whether a value is of a kind, as a config file may write it. */
const IS_KIND: Record<ValueKind, (v: unknown) => boolean> = {
  string: (v) => typeof v === 'string',
  boolean: (v) => typeof v === 'boolean',
  size: (v) => typeof v === 'string' || typeof v === 'number',
  list: (v) => typeof v === 'string' || (Array.isArray(v) && v.every((item) => typeof item === 'string')),
  type: (v) => (PLUGIN_TYPES as readonly unknown[]).includes(v),
};

let yamlModule: typeof Yaml | undefined;

/**
 * yaml, loaded when a config file is there to read: loading it costs tens of milliseconds, which a
 * run without config files (and --help) does not pay. The bundle keeps a require() lazy; an import
 * would load it at start.
 */
function loadYaml(): typeof Yaml {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded on first use, see above
  yamlModule ??= require('yaml') as typeof Yaml;
  return yamlModule;
}

/** A value in a message: JSON, cut short. */
function shown(value: unknown): string {
  const json = JSON.stringify(value) ?? String(value);
  return json.length > 60 ? `${json.slice(0, 57)}...` : json;
}

/** One line per problem of the document: an unknown key, or a value not of its key's kind. */
function problems(data: Record<string, unknown>, scope: FileScope): Array<{ line: string; hint: string }> {
  const allowed = configKeys(scope);
  return Object.entries(data).flatMap(([key, value]) => {
    if (!(allowed as string[]).includes(key)) {
      return [{ line: `unknown key "${key}"`, hint: `${fileKind(scope)} takes ${allowed.join(', ')}` }];
    }
    const def = OPTIONS[key as OptionKey];
    if (IS_KIND[def.kind](value)) return [];
    return [
      {
        line: `${key}: ${shown(value)} is not ${KIND_TEXT[def.kind]}`,
        hint: `${key} takes ${def.what}, e.g. ${key}: ${def.examples[0]}`,
      },
    ];
  });
}

function fileKind(scope: FileScope): string {
  return scope === 'plugin' ? `a plugin's ${PLUGIN_CONFIG_NAMES[0]}` : `the user's ${USER_CONFIG_NAME}`;
}

/** A file's text as data: JSON when the name ends in .json, else YAML; a syntax error is a UsageError naming the line. Pure. */
export function parseDocument(text: string, file: string): unknown {
  const format = file.endsWith('.json') ? 'JSON' : 'YAML';
  const yaml = loadYaml();
  try {
    return format === 'JSON' ? JSON.parse(text) : yaml.parse(text);
  } catch (err) {
    const where = err instanceof yaml.YAMLParseError && err.linePos !== undefined ? `line ${err.linePos[0].line}, column ${err.linePos[0].col}: ` : '';
    const why = (err as Error).message.split('\n')[0];
    throw new UsageError(`${file} is not valid ${format}: ${where}${why}`, { hint: `fix the ${format} syntax of ${file}` });
  }
}

/** A config file's text to its values, validated; JSON when the name ends in .json, else YAML. Pure. */
export function parseConfigFile(text: string, file: string, scope: FileScope): ConfigFile {
  const data = parseDocument(text, file);
  // An empty file says nothing.
  if (data === null || data === undefined) return { path: file, scope, values: {} };
  if (typeof data !== 'object' || Array.isArray(data)) {
    throw new UsageError(`${file} holds ${Array.isArray(data) ? 'a list' : `a ${typeof data}`}, not keys and values`, {
      hint: `write one "key: value" per line; ${fileKind(scope)} takes ${configKeys(scope).join(', ')}`,
    });
  }
  const found = problems(data as Record<string, unknown>, scope);
  if (found.length > 0) {
    throw new UsageError(`${file}: ${found[0]!.line}`, {
      hint: found[0]!.hint,
      detail: found.length > 1 ? found.map((p) => p.line).join('\n') : undefined,
    });
  }
  return { path: file, scope, values: data as ConfigFile['values'] };
}

function readConfigFile(file: string, scope: FileScope, optional: boolean): ConfigFile | undefined {
  const text = readRegularFileSync(file, {
    what: scope === 'plugin' ? 'the plugin config file' : 'the config file',
    hint: `make it a regular file of at most ${MAX_CONFIG_BYTES / 1024} KiB`,
    maxBytes: MAX_CONFIG_BYTES,
    optional,
  });
  return text === undefined ? undefined : parseConfigFile(text, file, scope);
}

/** A plugin directory's d7y-plugin.yaml or d7y-plugin.json; both at once is ambiguous, and refused. */
export function readPluginConfig(dir: string): ConfigFile | undefined {
  const found = PLUGIN_CONFIG_NAMES.map((name) => readConfigFile(path.join(dir, name), 'plugin', true)).filter((f) => f !== undefined);
  if (found.length > 1) {
    throw new UsageError(`${dir} has both ${PLUGIN_CONFIG_NAMES.join(' and ')}`, { hint: 'keep one of them' });
  }
  return found[0];
}

type Env = Record<string, string | undefined>;

/**
 * Where the user's config file is: --config, else D7Y_CONFIG (both must exist), else
 * $XDG_CONFIG_HOME/d7y-build/config.yaml, else $HOME/.config/d7y-build/config.yaml (either may be
 * absent). A relative XDG_CONFIG_HOME is ignored, as the XDG spec says; with no absolute HOME
 * there is none.
 */
export function userConfigPath(flag: string | undefined, env: Env, cwd: string): { path: string; explicit: boolean } | undefined {
  const explicit = [flag, env.D7Y_CONFIG].map((v) => v?.trim()).find((v) => v !== undefined && v !== '');
  if (explicit !== undefined) return { path: path.resolve(cwd, explicit), explicit: true };
  const xdg = env.XDG_CONFIG_HOME?.trim();
  if (xdg !== undefined && path.isAbsolute(xdg)) return { path: path.join(xdg, 'd7y-build', USER_CONFIG_NAME), explicit: false };
  const home = env.HOME ?? os.homedir();
  return path.isAbsolute(home) ? { path: path.join(home, '.config', 'd7y-build', USER_CONFIG_NAME), explicit: false } : undefined;
}

/** The user's config file: where it is looked for and, when it is there, what it says. */
export function readUserConfig(flag: string | undefined, env: Env, cwd: string): { path: string; file?: ConfigFile } | undefined {
  const where = userConfigPath(flag, env, cwd);
  if (where === undefined) return undefined;
  return { path: where.path, file: readConfigFile(where.path, 'user', !where.explicit) };
}

/**
 * The config files a command reads: the user's (--config, else where userConfigPath says) now, each
 * plugin directory's when the spec asks; the URL credentials each one holds go to redact as it is read.
 */
export function configInputs(flag: string | undefined, env: Env, cwd: string, redact: (values: string[]) => void = () => {}): ConfigInputs {
  const seen = (file: ConfigFile | undefined) => {
    redact(Object.values(file?.values ?? {}).flatMap((v) => urlSecrets(String(v))));
    return file;
  };
  const user = readUserConfig(flag, env, cwd);
  seen(user?.file);
  return { user, readPluginConfig: (dir) => seen(readPluginConfig(dir)) };
}
