/**
 * How each option is named where it is set: its flag (--go-image), its library option (goImage),
 * its variable (D7Y_GO_IMAGE). The one table config.ts, the CLI and hints take the names from; a
 * hint names an option by hintOption, which the CLI reads as the flag and the library as the option
 * (errors.ts renders it). Imports nothing but errors.ts, so any module may name an option.
 */
import { optionToken } from './errors';

/** flag: false for an option only a variable or a config file sets (the library, too, has no option for it). */
interface Naming {
  flag?: false | string;
}

/** The build options, the keys of config.ts OPTIONS: each flag is --<kebab-case key>, each library option the key. */
export const BUILD_OPTION_NAMES = {
  commit: {},
  repo: {},
  type: {},
  name: {},
  pluginsDir: {},
  out: {},
  goImage: {},
  tags: {},
  gcflags: {},
  trimpath: {},
  race: {},
  buildCommit: {},
  keep: {},
  memory: {},
  cpus: {},
  timeout: {},
  maxContext: {},
  netrc: {},
  platform: {},
  registryAuth: {},
  image: {},
  push: {},
  cacheDir: { flag: false },
  pingTimeout: { flag: false },
  loadTimeout: { flag: false },
} as const satisfies Record<string, Naming>;

/** The options of other commands, and the build's own that are no setting, that hints name. */
const COMMAND_OPTION_NAMES = {
  host: {},
  buildTime: {},
  noCache: { flag: '--no-cache' },
  all: {},
  provenance: {},
} as const satisfies Record<string, Naming>;

export type NamedOption = keyof typeof BUILD_OPTION_NAMES | keyof typeof COMMAND_OPTION_NAMES;
const NAMES: Record<NamedOption, Naming> = { ...BUILD_OPTION_NAMES, ...COMMAND_OPTION_NAMES };
export const NAMED_OPTIONS = Object.keys(NAMES) as NamedOption[];

/** goImage → D7Y_GO_IMAGE */
export function envName(key: NamedOption): string {
  return `D7Y_${key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;
}

/** goImage → --go-image; undefined for options without a flag. */
export function flagName(key: NamedOption): string | undefined {
  const flag = NAMES[key].flag;
  if (flag === false) return undefined;
  return flag ?? `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}

/** How each reader sets it: the CLI by its flag, the library by its option; where either has none, by its variable. */
export function optionNames(key: NamedOption): { cli: string; library: string } {
  const flag = flagName(key);
  return { cli: flag ?? envName(key), library: flag === undefined ? envName(key) : key };
}

/**
 * An option in a hint, for either reader: hintOption('timeout') is --timeout in the CLI and
 * timeout in the library; with a value, hintOption('goImage', 'golang:1.23') is
 * `--go-image golang:1.23` and `goImage: "golang:1.23"`, or D7Y_X=value where a variable sets it.
 */
export function hintOption(key: NamedOption, value?: string): string {
  const names = optionNames(key);
  const as = (name: string) =>
    value === undefined ? name : name.startsWith('--') ? `${name} ${value}` : name === envName(key) ? `${name}=${value}` : `${name}: ${JSON.stringify(value)}`;
  return optionToken(as(names.cli), as(names.library));
}

/** The option a flag sets: --go-image → goImage, --no-trimpath → trimpath; undefined for another flag. */
export function optionOfFlag(flag: string): NamedOption | undefined {
  return NAMED_OPTIONS.find((key) => {
    const own = flagName(key);
    return own !== undefined && (own === flag || flag === `--no-${own.slice(2)}`);
  });
}
