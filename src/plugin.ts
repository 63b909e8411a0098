/**
 * Dragonfly's plugin contract, as upstream's internal/dfplugin and the hosts define it: plugin
 * types, the host binary that loads each, the names each type allows and the file name. TYPES is
 * the one table of per-type facts: everything else that depends on the type derives from it.
 */
import path from 'node:path';
import { UsageError } from './errors';
import { dropHint, setToHint, settingName, type Origin } from './origin';
import type { PluginMeta } from './plugin-meta';
import { hintOption } from './option-names';

/** The function Dragonfly loads a plugin type with, which asserts the type's interface. */
export interface LoaderRule {
  /** The loader's package directories, in the layouts of successive releases: `<dir>/plugin.go` defines LoadPlugin. */
  dirs: readonly string[];
  /** The interface, in that package, that the plugin's value must implement. */
  iface: string;
  /** Metadata keys, besides type and name, whose value the loader compares with the plugin's name. */
  nameKeys: readonly string[];
  /** What the loader's error says when a name key differs from the name (source.LoadPlugin: "support schema not match"). */
  nameKeyError?: RegExp;
}

interface TypeRule {
  /** The Dragonfly command that loads this type, built from `cmd/<host>`. */
  host: string;
  /** The only name the host loads, when it allows just one. */
  fixedName?: string;
  loader: LoaderRule;
  /** The release whose tree no longer has cmd/<host>, and the last release before it. */
  hostGone?: { release: string; lastWith: string };
}

const TYPES = {
  // source.LoadPlugin refuses a plugin whose metadata "scheme" is not its name.
  resource: {
    host: 'dfget',
    loader: { dirs: ['pkg/source'], iface: 'ResourceClient', nameKeys: ['scheme'], nameKeyError: /schem/ },
    hostGone: { release: 'v2.4.0', lastWith: 'v2.3.4' },
  },
  scheduler: {
    host: 'scheduler',
    fixedName: 'evaluator',
    // v2.0.1–v2.0.8 kept the scheduler's evaluator under scheduler/core.
    loader: { dirs: ['scheduler/scheduling/evaluator', 'scheduler/core/evaluator'], iface: 'Evaluator', nameKeys: [] },
  },
  manager: { host: 'manager', fixedName: 'searcher', loader: { dirs: ['manager/searcher'], iface: 'Searcher', nameKeys: [] } },
} as const satisfies Record<string, TypeRule>;

export type PluginType = keyof typeof TYPES;
/** The plugin types, in the table's order. */
export const PLUGIN_TYPES = Object.keys(TYPES) as readonly PluginType[];
/** A Dragonfly command that loads plugins. */
export type HostName = (typeof TYPES)[PluginType]['host'];
/** The metadata keys some type's loader compares with the plugin's name ("scheme"). */
export type NameKey = (typeof TYPES)[PluginType]['loader']['nameKeys'][number];
export const NAME_KEYS = [...new Set(PLUGIN_TYPES.flatMap((t): readonly NameKey[] => TYPES[t].loader.nameKeys))];

/** The name part of `d7y-<type>-plugin-<name>.so`, as upstream's PluginFormatExpr matches it. */
export const PLUGIN_NAME_CHARS = '[a-z0-9]+';
export const PLUGIN_NAME = new RegExp(`^${PLUGIN_NAME_CHARS}$`);

/** "a, b or c" */
function orList(items: readonly string[]): string {
  return items.length < 2 ? items.join('') : `${items.slice(0, -1).join(', ')} or ${items.at(-1)}`;
}

/** The hosts, for messages: "dfget, scheduler or manager". */
export const HOST_LIST = orList(PLUGIN_TYPES.map(hostFor));

/** The types that allow one name only, for messages: "evaluator/searcher for scheduler/manager". */
export const FIXED_NAMES = (() => {
  const fixed = PLUGIN_TYPES.filter((t) => fixedName(t) !== undefined);
  return `${fixed.map((t) => fixedName(t)).join('/')} for ${fixed.join('/')}`;
})();

/** A type's row, as the general shape (TYPES itself keeps its literal types). */
function rule(type: PluginType): TypeRule {
  return TYPES[type];
}

export function isPluginType(value: string): value is PluginType {
  return Object.hasOwn(TYPES, value);
}

export function hostFor(type: PluginType): HostName {
  return TYPES[type].host;
}

export function loaderRule(type: PluginType): LoaderRule {
  return TYPES[type].loader;
}

/** The only name the host loads for this type, when it allows just one. */
export function fixedName(type: PluginType): string | undefined {
  return rule(type).fixedName;
}

/** The loader function by its package's name, as Go code calls it: source.LoadPlugin. */
export function loaderFunction(type: PluginType): string {
  return `${path.posix.basename(TYPES[type].loader.dirs[0])}.LoadPlugin`;
}

/** The metadata DragonflyPluginInit must return for the loader to accept the plugin: type, name, and the name keys. */
export function loaderMetadata(type: PluginType, name: string): Record<string, string> {
  return { type, name, ...Object.fromEntries(TYPES[type].loader.nameKeys.map((key) => [key, name])) };
}

/** The fix for a loader error about a name key ("; a resource plugin's metadata "scheme" must equal its name, …"); '' for other errors. */
export function nameKeyHint(type: PluginType, name: string, loaderError: string): string {
  const { nameKeys, nameKeyError } = rule(type).loader;
  if (nameKeyError === undefined || !nameKeyError.test(loaderError)) return '';
  return nameKeys.map((key) => `; a ${type} plugin's metadata "${key}" must equal its name, "${name}"`).join('');
}

/** What becomes of a plugin its loader refuses: a named plugin adds something the host then lacks, a fixed one replaces a default the host keeps. */
export function refusalEffect(type: PluginType): string {
  const { host, fixedName, loader } = rule(type);
  return fixedName === undefined ? `${host} does not know the ${loader.nameKeys.join(' or ')}` : `Dragonfly silently falls back to its default ${fixedName}`;
}

/** The hint for a commit without cmd/<host>: an earlier release, or another type, when the host left the tree; undefined when it never did. */
export function hostGoneHint(type: PluginType): string | undefined {
  const { host, hostGone } = rule(type);
  if (hostGone === undefined) return undefined;
  const others = PLUGIN_TYPES.filter((t) => rule(t).hostGone === undefined);
  return `${host} left the Go tree in ${hostGone.release}: build ${type} plugins against an earlier commit (e.g. ${hintOption('commit', hostGone.lastWith)}), or build a ${orList(others)} plugin`;
}

/** Upstream's PluginFormat: `d7y-<type>-plugin-<name>.so`. */
function fileName(type: string, name: string): string {
  return `d7y-${type}-plugin-${name}.so`;
}

export function pluginFileName(type: PluginType, name: string): string {
  return fileName(type, name);
}

/** The file name as a format for Go's fmt.Sprintf, type and name as %s. */
export const PLUGIN_FILE_FORMAT = fileName('%s', '%s');

/** The file names Dragonfly loads, for messages: d7y-<resource|scheduler|manager>-plugin-<[a-z0-9]+>.so */
export const PLUGIN_FILE_PATTERN = fileName(`<${PLUGIN_TYPES.join('|')}>`, `<${PLUGIN_NAME_CHARS}>`);

const PLUGIN_FILE = new RegExp(
  `^${fileName('TYPE', 'NAME')
    .replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
    .replace('TYPE', `(${PLUGIN_TYPES.join('|')})`)
    .replace('NAME', `(${PLUGIN_NAME_CHARS})`)}$`,
);

/** The type and name in a plugin file name, or undefined when Dragonfly would not load the file. */
export function parsePluginFileName(file: string): { type: PluginType; name: string } | undefined {
  const m = PLUGIN_FILE.exec(file);
  return m ? { type: m[1] as PluginType, name: m[2]! } : undefined;
}

const NAME_FLAG: Origin = { kind: 'flag', name: '--name' };

/**
 * The plugin's name: an explicit one (`--name`, D7Y_NAME or d7y-plugin.yaml's `name`) when given,
 * else the type's fixed name, else the name its sources give (DragonflyPluginInit's metadata
 * literal), else the directory's name. Throws UsageError when the result is not one the host would
 * load, or when the sources, the flags and the type disagree: Dragonfly would refuse such a plugin,
 * after the whole compile.
 */
export function pluginName(
  type: PluginType,
  dirName: string,
  explicit?: string,
  meta: PluginMeta = {},
  several = false,
  /** Where explicit came from: --name, D7Y_NAME or a plugin config file. */
  at: Origin = NAME_FLAG,
): string {
  if (meta.type !== undefined && meta.type !== type) {
    throw new UsageError(`the plugin in ${dirName} declares "type": "${meta.type}" in DragonflyPluginInit, but is built as a ${type} plugin`, {
      hint: isPluginType(meta.type)
        ? `pass ${hintOption('type', meta.type)}, or change "type" in DragonflyPluginInit to "${type}"`
        : `change "type" in DragonflyPluginInit to "${type}"`,
    });
  }
  const fixed = fixedName(type);
  const declared = meta.name === undefined ? '' : ` (DragonflyPluginInit says "name": "${meta.name}")`;
  if (fixed !== undefined) {
    const only = `Dragonfly's ${hostFor(type)} loads only ${pluginFileName(type, fixed)}`;
    if (explicit !== undefined && explicit !== fixed) {
      throw new UsageError(`a ${type} plugin must be named "${fixed}", not "${explicit}" (${settingName(at)})`, {
        hint: `${only}: ${dropHint(at)} or ${setToHint(at, fixed)}`,
      });
    }
    if (meta.name !== undefined && meta.name !== fixed) {
      throw new UsageError(`a ${type} plugin must be named "${fixed}"${declared}`, { hint: `${only}: return "name": "${fixed}" from DragonflyPluginInit` });
    }
    return fixed;
  }
  if (explicit !== undefined && !PLUGIN_NAME.test(explicit)) {
    throw new UsageError(`${settingName(at)} "${explicit}" is not a valid plugin name`, {
      hint: `plugin names are ${PLUGIN_NAME_CHARS}: use lower-case letters and digits only`,
    });
  }
  if (explicit !== undefined && meta.name !== undefined && explicit !== meta.name) {
    throw new UsageError(`${settingName(at)} ${explicit} disagrees with the plugin's own name${declared}`, {
      hint: `Dragonfly refuses a plugin whose file name and metadata differ ("plugin name not match"): ${dropHint(at)}, or change "name" in DragonflyPluginInit`,
    });
  }
  const name = explicit ?? meta.name ?? dirName;
  if (!PLUGIN_NAME.test(name)) {
    const origin =
      explicit !== undefined
        ? `${settingName(at)} "${name}"`
        : meta.name !== undefined
          ? `the name "${name}" in DragonflyPluginInit`
          : `the directory name "${dirName}"`;
    const fix =
      explicit === undefined && meta.name === undefined
        ? several
          ? 'return "name": "<name>" from DragonflyPluginInit, or rename the directory'
          : `pass ${hintOption('name')}, e.g. ${hintOption('name', 'myfs')}, or return "name" from DragonflyPluginInit`
        : `use lower-case letters and digits only`;
    throw new UsageError(`${origin} is not a valid plugin name`, { hint: `plugin names are ${PLUGIN_NAME_CHARS}: ${fix}` });
  }
  for (const key of TYPES[type].loader.nameKeys) {
    const value = meta[key];
    if (value !== undefined && value !== name) {
      throw new UsageError(`${type} plugin ${name} declares "${key}": "${value}" in DragonflyPluginInit`, {
        hint: `Dragonfly's ${loaderFunction(type)} loads a ${type} plugin only when its ${key} equals its name: return "${key}": "${name}"${meta.name === undefined ? `, or name the plugin ${value}` : ''}`,
      });
    }
  }
  return name;
}
