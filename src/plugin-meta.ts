/**
 * The metadata a plugin's DragonflyPluginInit returns, when its sources spell it out: `"name":
 * "myfs"`, or a constant defined as a string literal. Dragonfly refuses a plugin whose metadata
 * disagrees with its file name or type ("plugin name not match", "support schema not match"), so
 * what the sources say settles the default name and is checked against the flags before anything
 * is compiled. What is computed at run time stays unknown here; the loader check sees it later.
 */
import { closeSync, constants, fstatSync, openSync, readdirSync, readSync, statSync } from 'node:fs';
import path from 'node:path';
import { NAME_KEYS, type NameKey } from './plugin';

/** type, name, and the keys a loader compares with the name (scheme). */
export type PluginMeta = { type?: string; name?: string } & { [K in NameKey]?: string };

const KEYS = ['type', 'name', ...NAME_KEYS] as const;

/**
 * Comments and raw strings blanked out (same length), and interpreted strings too unless
 * keepQuoted: braces and keys in them do not count.
 */
function code(source: string, keepQuoted = false): string {
  return source.replace(/\/\/[^\n]*|\/\*[\s\S]*?\*\/|"(?:[^"\\\n]|\\.)*"|`[^`]*`/g, (m) => {
    if (m.startsWith('"')) return keepQuoted ? m : `"${' '.repeat(m.length - 2)}"`;
    if (m.startsWith('`')) return `\`${' '.repeat(m.length - 2)}\``;
    return ' '.repeat(m.length);
  });
}

/** The text of DragonflyPluginInit's body, or undefined when this source does not define it. */
function initBody(source: string): string | undefined {
  const blank = code(source);
  const m = /^func\s+DragonflyPluginInit\s*\(/m.exec(blank);
  if (m === null) return undefined;
  const open = blank.indexOf('{', blank.indexOf(')', blank.indexOf(')', m.index) + 1));
  if (open < 0) return undefined;
  let depth = 0;
  for (let i = open; i < blank.length; i++) {
    if (blank[i] === '{') depth++;
    else if (blank[i] === '}' && --depth === 0) return code(source, true).slice(open, i + 1);
  }
  return undefined;
}

/** String constants and package-level variables initialised with a literal: NAME → value. */
function stringConstants(sources: string[]): Map<string, string | null> {
  const found = new Map<string, string | null>();
  for (const source of sources) {
    for (const m of code(source).matchAll(/(?:^|[;{])\s*(?:(?:const|var)\s+)?([A-Za-z_]\w*)\s*(?:string\s*)?:?=\s*"/gm)) {
      // The literal, read from the source itself (code() blanked its contents).
      const literal = /^"((?:[^"\\\n]|\\.)*)"/.exec(source.slice(m.index + m[0].length - 1));
      if (literal === null) continue;
      const name = m[1]!;
      const value = /\\/.test(literal[1]!) ? null : literal[1]!;
      // The same name bound twice (in different scopes, say): unknown.
      found.set(name, found.has(name) && found.get(name) !== value ? null : value);
    }
  }
  return found;
}

/** What the metadata literal in DragonflyPluginInit says of type, name and scheme. Pure. */
export function literalMeta(sources: string[]): PluginMeta {
  const bodies = sources.map(initBody).filter((b): b is string => b !== undefined);
  if (bodies.length !== 1) return {};
  const constants = stringConstants(sources);
  const meta: PluginMeta = {};
  for (const key of KEYS) {
    const values = new Set<string | null>();
    const entry = new RegExp(`"${key}"\\s*:\\s*(?:"((?:[^"\\\\\\n]|\\\\.)*)"|([A-Za-z_]\\w*)\\s*[,}\\n])`, 'g');
    for (const m of bodies[0]!.matchAll(entry)) {
      values.add(m[1] !== undefined ? (/\\/.test(m[1]) ? null : m[1]) : (constants.get(m[2]!) ?? null));
    }
    const [only] = values;
    if (values.size === 1 && only !== null && only !== undefined) meta[key] = only;
  }
  return meta;
}

/** Files larger than this are not read for metadata: no plugin's init file is that big. */
const MAX_SOURCE_BYTES = 4 * 1024 * 1024;

/**
 * literalMeta of a plugin directory's .go files (tests excluded). Only regular files are opened, and
 * only up to MAX_SOURCE_BYTES: a FIFO, a device or a huge file is skipped here and refused by
 * check-inputs with its own error. A directory that can't be read yields no metadata.
 */
export function readPluginMeta(dir: string): PluginMeta {
  let names: string[];
  try {
    names = readdirSync(dir).filter((f) => f.endsWith('.go') && !f.endsWith('_test.go'));
  } catch {
    return {};
  }
  const sources: string[] = [];
  for (const name of names) {
    const file = path.join(dir, name);
    try {
      const info = statSync(file);
      if (!info.isFile() || info.size > MAX_SOURCE_BYTES) continue;
      // O_NONBLOCK: a file swapped for a FIFO after the stat still does not block the open.
      const fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
      try {
        if (!fstatSync(fd).isFile()) continue;
        const buf = Buffer.alloc(Math.min(info.size, MAX_SOURCE_BYTES));
        const n = readSync(fd, buf, 0, buf.length, 0);
        sources.push(buf.subarray(0, n).toString('utf8'));
      } finally {
        closeSync(fd);
      }
    } catch {
      continue;
    }
  }
  return literalMeta(sources);
}
