/**
 * Dragonfly's plugin contract, as upstream's internal/dfplugin and the hosts define it: plugin
 * types, the host binary that loads each, the names each type allows and the file name.
 */
import { UsageError } from './errors';
import type { PluginMeta } from './plugin-meta';

export const PLUGIN_TYPES = ['resource', 'scheduler', 'manager'] as const;
export type PluginType = (typeof PLUGIN_TYPES)[number];

/** The name part of `d7y-<type>-plugin-<name>.so`, as upstream's PluginFormatExpr matches it. */
export const PLUGIN_NAME = /^[a-z0-9]+$/;

/** The function Dragonfly loads a plugin type with, which asserts the type's interface. */
export interface LoaderRule {
  /** The loader's package directories, in the layouts of successive releases: `<dir>/plugin.go` defines LoadPlugin. */
  dirs: string[];
  /** The interface, in that package, that the plugin's value must implement. */
  iface: string;
  /** Metadata keys, besides type and name, whose value the loader compares with the plugin's name. */
  nameKeys: string[];
}

interface TypeRule {
  /** The Dragonfly command that loads this type, built from `cmd/<host>`. */
  host: 'dfget' | 'scheduler' | 'manager';
  /** The only name the host loads, when it allows just one. */
  fixedName?: string;
  loader: LoaderRule;
}

const RULES: Record<PluginType, TypeRule> = {
  // source.LoadPlugin refuses a plugin whose metadata "scheme" is not its name.
  resource: { host: 'dfget', loader: { dirs: ['pkg/source'], iface: 'ResourceClient', nameKeys: ['scheme'] } },
  scheduler: {
    host: 'scheduler',
    fixedName: 'evaluator',
    // v2.0.1–v2.0.8 kept the scheduler's evaluator under scheduler/core.
    loader: { dirs: ['scheduler/scheduling/evaluator', 'scheduler/core/evaluator'], iface: 'Evaluator', nameKeys: [] },
  },
  manager: { host: 'manager', fixedName: 'searcher', loader: { dirs: ['manager/searcher'], iface: 'Searcher', nameKeys: [] } },
};

export function isPluginType(value: string): value is PluginType {
  return (PLUGIN_TYPES as readonly string[]).includes(value);
}

export function hostFor(type: PluginType): TypeRule['host'] {
  return RULES[type].host;
}

export function loaderRule(type: PluginType): LoaderRule {
  return RULES[type].loader;
}

/** The only name the host loads for this type, when it allows just one. */
export function fixedName(type: PluginType): string | undefined {
  return RULES[type].fixedName;
}

/** The metadata DragonflyPluginInit must return for the loader to accept the plugin: type, name, and the name keys. */
export function loaderMetadata(type: PluginType, name: string): Record<string, string> {
  return { type, name, ...Object.fromEntries(RULES[type].loader.nameKeys.map((key) => [key, name])) };
}

export function pluginFileName(type: PluginType, name: string): string {
  return `d7y-${type}-plugin-${name}.so`;
}

/** The type and name in a plugin file name, or undefined when Dragonfly would not load the file. */
export function parsePluginFileName(file: string): { type: PluginType; name: string } | undefined {
  const m = /^d7y-(resource|scheduler|manager)-plugin-([a-z0-9]+)\.so$/.exec(file);
  return m ? { type: m[1] as PluginType, name: m[2]! } : undefined;
}

/**
 * The plugin's name: `--name` when given, else the type's fixed name, else the name its sources
 * give (DragonflyPluginInit's metadata literal), else the directory's name. Throws UsageError when
 * the result is not one the host would load, or when the sources, the flags and the type disagree:
 * Dragonfly would refuse such a plugin, after the whole compile.
 */
export function pluginName(type: PluginType, dirName: string, explicit?: string, meta: PluginMeta = {}, several = false): string {
  if (meta.type !== undefined && meta.type !== type) {
    throw new UsageError(`the plugin in ${dirName} declares "type": "${meta.type}" in DragonflyPluginInit, but is built as a ${type} plugin`, {
      hint: isPluginType(meta.type) ? `pass --type ${meta.type}, or change "type" in DragonflyPluginInit to "${type}"` : `change "type" in DragonflyPluginInit to "${type}"`,
    });
  }
  const fixed = fixedName(type);
  const declared = meta.name === undefined ? '' : ` (DragonflyPluginInit says "name": "${meta.name}")`;
  if (fixed !== undefined) {
    if (explicit !== undefined && explicit !== fixed) {
      throw new UsageError(`a ${type} plugin must be named "${fixed}", not "${explicit}"`, {
        hint: `Dragonfly's ${hostFor(type)} loads only d7y-${type}-plugin-${fixed}.so: drop --name or pass --name ${fixed}`,
      });
    }
    if (meta.name !== undefined && meta.name !== fixed) {
      throw new UsageError(`a ${type} plugin must be named "${fixed}"${declared}`, {
        hint: `Dragonfly's ${hostFor(type)} loads only d7y-${type}-plugin-${fixed}.so: return "name": "${fixed}" from DragonflyPluginInit`,
      });
    }
    return fixed;
  }
  if (explicit !== undefined && !PLUGIN_NAME.test(explicit)) {
    throw new UsageError(`--name "${explicit}" is not a valid plugin name`, { hint: 'plugin names are [a-z0-9]+: use lower-case letters and digits only' });
  }
  if (explicit !== undefined && meta.name !== undefined && explicit !== meta.name) {
    throw new UsageError(`--name ${explicit} disagrees with the plugin's own name${declared}`, {
      hint: `Dragonfly refuses a plugin whose file name and metadata differ ("plugin name not match"): drop --name, or change "name" in DragonflyPluginInit`,
    });
  }
  const name = explicit ?? meta.name ?? dirName;
  if (!PLUGIN_NAME.test(name)) {
    const origin = explicit !== undefined ? `--name "${name}"` : meta.name !== undefined ? `the name "${name}" in DragonflyPluginInit` : `the directory name "${dirName}"`;
    const fix =
      explicit === undefined && meta.name === undefined
        ? several
          ? 'return "name": "<name>" from DragonflyPluginInit, or rename the directory'
          : 'pass --name, e.g. --name myfs, or return "name" from DragonflyPluginInit'
        : `use lower-case letters and digits only`;
    throw new UsageError(`${origin} is not a valid plugin name`, { hint: `plugin names are [a-z0-9]+: ${fix}` });
  }
  if (type === 'resource' && meta.scheme !== undefined && meta.scheme !== name) {
    throw new UsageError(`resource plugin ${name} declares "scheme": "${meta.scheme}" in DragonflyPluginInit`, {
      hint: `Dragonfly's source.LoadPlugin loads a resource plugin only when its scheme equals its name: return "scheme": "${name}"${meta.name === undefined ? `, or name the plugin ${meta.scheme}` : ''}`,
    });
  }
  return name;
}
