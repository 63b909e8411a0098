/**
 * Where an option's value came from (a flag, its D7Y_* variable, a key of a config file, the
 * default) and how messages name it there, so that an error about a value points at the place to
 * fix it: `--memory 3x`, `D7Y_MEMORY="3x"`, `/ci/config.yaml: memory: "3x"`. Pure.
 */

import { hintOption, optionOfFlag } from './option-names';

export type FileScope = 'plugin' | 'user';

/** A flag in a hint, with a value or not: the option's token where the flag sets one (config.ts hintOption), so that the library names its option. */
function flagInHint(flag: string, value?: string): string {
  const key = optionOfFlag(flag);
  if (key === undefined) return value === undefined ? flag : `${flag} ${value}`;
  return hintOption(key, value);
}

export type Origin =
  | { kind: 'flag'; name: string }
  | { kind: 'env'; name: string }
  | { kind: 'file'; path: string; key: string; scope: FileScope }
  /** from: the variable a computed default was taken from (XDG_CACHE_HOME, HOME). */
  | { kind: 'default'; from?: string };

/** The setting, as a message names it: --memory, D7Y_MEMORY, /ci/config.yaml: memory. */
export function settingName(at: Origin): string {
  switch (at.kind) {
    case 'flag':
    case 'env':
      return at.name;
    case 'file':
      return `${at.path}: ${at.key}`;
    case 'default':
      return `the default${at.from === undefined ? '' : ` (from ${at.from})`}`;
  }
}

/** The setting with its value: --memory 3x (--go-image "x" when quoted), D7Y_MEMORY="3x", /ci/config.yaml: memory: "3x". */
export function settingValue(at: Origin, value: string, quoted = false): string {
  switch (at.kind) {
    case 'flag':
      return `${at.name} ${quoted ? `"${value}"` : value}`;
    case 'env':
      return `${at.name}="${value}"`;
    case 'file':
      return `${settingName(at)}: ${JSON.stringify(value)}`;
    case 'default':
      return `${settingName(at)} "${value}"`;
  }
}

/** How to give it a good value: "pass a size like --memory 2g or --memory 512m", "set D7Y_MEMORY to a size like 2g or 512m, or unset it". */
export function setHint(at: Origin, what: string, examples: string[]): string {
  switch (at.kind) {
    case 'flag':
      return `pass ${what} like ${examples.map((e) => flagInHint(at.name, e)).join(' or ')}`;
    case 'env':
      return `set ${at.name} to ${what} like ${examples.join(' or ')}, or unset it`;
    case 'file':
      return `set ${at.key} in ${at.path} to ${what} like ${examples.join(' or ')}, or remove it`;
    case 'default':
      return `give ${what} like ${examples.join(' or ')}`;
  }
}

/** How to give it one value: "pass --name evaluator", "set D7Y_NAME=evaluator", "set name: evaluator in /p/d7y-plugin.yaml". */
export function setToHint(at: Origin, value: string): string {
  switch (at.kind) {
    case 'flag':
      return `pass ${flagInHint(at.name, value)}`;
    case 'env':
      return `set ${at.name}=${value}`;
    case 'file':
      return `set ${at.key}: ${value} in ${at.path}`;
    case 'default':
      return `give ${value}`;
  }
}

/** How to stop giving it: "drop --name", "unset D7Y_NAME", "remove name from /p/d7y-plugin.yaml". */
export function dropHint(at: Origin): string {
  switch (at.kind) {
    case 'flag':
      return `drop ${flagInHint(at.name)}`;
    case 'env':
      return `unset ${at.name}`;
    case 'file':
      return `remove ${at.key} from ${at.path}`;
    case 'default':
      return 'leave it out';
  }
}

/** Where a value came from, as `d7y-build config` shows it: flag --memory, env D7Y_MEMORY, /ci/config.yaml, default. */
export function sourceText(at: Origin): string {
  switch (at.kind) {
    case 'flag':
      return `flag ${at.name}`;
    case 'env':
      return `env ${at.name}`;
    case 'file':
      return at.path;
    case 'default':
      return at.from === undefined ? 'default' : `default (${at.from})`;
  }
}
