/**
 * Go's build information as the linker stores it in .go.buildinfo (see debug/buildinfo and
 * runtime/debug.ParseBuildInfo): the Go version, the main module, every dependency and the build
 * settings. Parsing is pure; findBuildInfo reads the section from an ElfFile.
 */
import { UnreadableFileError, type ElfFile } from '../elf/elf';
import { fileNumber } from '../elf/reader';
import { unquoteGo } from '../gostring';

export interface Module {
  path: string;
  version: string;
  sum?: string;
  replace?: Module;
}

export interface BuildInfo {
  goVersion: string;
  /** The main package path (command-line-arguments for files built by name). */
  path: string;
  main?: Module;
  deps: Module[];
  settings: Record<string, string>;
}

const MAGIC = Buffer.from('\xff Go buildinf:', 'latin1');
const HEADER_SIZE = 32;
const FLAG_BIG_ENDIAN = 0x1;
const FLAG_INLINE_STRINGS = 0x2;

/** Go's uvarint (encoding/binary): at most 10 bytes, the tenth at most 1, or it overflows 64 bits. */
function uvarint(buf: Buffer, at: number): [number, number] {
  let value = 0;
  let shift = 0;
  for (let i = at; i < buf.length && i < at + 10; i++) {
    const b = buf[i]!;
    if (i === at + 9 && b > 1) break;
    value += (b & 0x7f) * 2 ** shift;
    if (b < 0x80) return [value, i + 1];
    shift += 7;
  }
  throw new UnreadableFileError('truncated: malformed Go build info (a length that overflows 64 bits or never ends)');
}

function inlineString(buf: Buffer, at: number): [string, number] {
  const [length, start] = uvarint(buf, at);
  if (start + length > buf.length) throw new UnreadableFileError('truncated: malformed Go build info');
  return [buf.toString('utf8', start, start + length), start + length];
}

/** The text of runtime/debug's modinfo, without the 16-byte sentinels around it. */
export function stripModinfo(mod: string): string {
  if (mod.length >= 33 && mod[mod.length - 17] === '\n') return mod.slice(16, -16);
  return mod;
}

export function parseModinfo(goVersion: string, text: string): BuildInfo {
  const info: BuildInfo = { goVersion, path: '', deps: [], settings: {} };
  let last: Module | undefined;
  for (const line of text.split('\n')) {
    const [kind, ...fields] = line.split('\t');
    const module = (): Module => ({ path: fields[0] ?? '', version: fields[1] ?? '', ...(fields[2] ? { sum: fields[2] } : {}) });
    switch (kind) {
      case 'path':
        info.path = fields[0] ?? '';
        break;
      case 'mod':
        info.main = last = module();
        break;
      case 'dep':
        last = module();
        info.deps.push(last);
        break;
      case '=>':
        if (last) last.replace = module();
        break;
      case 'build': {
        const setting = fields.join('\t');
        const eq = setting.indexOf('=');
        // Values with spaces or quotes are written quoted (runtime/debug.BuildSetting).
        if (eq > 0) info.settings[setting.slice(0, eq)] = unquoteGo(setting.slice(eq + 1));
        break;
      }
    }
  }
  return info;
}

/** Reads and parses .go.buildinfo; undefined when the file has none (not a Go binary). */
export async function findBuildInfo(elf: ElfFile): Promise<BuildInfo | undefined> {
  const section = elf.section('.go.buildinfo');
  if (section === undefined) return undefined;
  const data = await elf.readSection(section);
  if (data.length < HEADER_SIZE || !data.subarray(0, MAGIC.length).equals(MAGIC)) return undefined;
  const ptrSize = data[14]!;
  const flags = data[15]!;
  if (flags & FLAG_BIG_ENDIAN) throw new UnreadableFileError('big-endian Go build info');

  let version: string;
  let mod: string;
  if (flags & FLAG_INLINE_STRINGS) {
    // Go 1.18 on: two varint-prefixed strings right after the header.
    const [v, next] = inlineString(data, HEADER_SIZE);
    version = v;
    [mod] = inlineString(data, next);
  } else {
    // Before Go 1.18: pointers to string headers (pointer, length).
    if (ptrSize !== 8) throw new UnreadableFileError(`Go build info with ${ptrSize}-byte pointers`);
    const readString = async (at: number): Promise<string> => {
      const header = await elf.readVirtual(data.readBigUInt64LE(at), 16);
      const length = fileNumber(header.readBigUInt64LE(8), 'the length of a Go build info string');
      if (length === 0) return '';
      return (await elf.readVirtual(header.readBigUInt64LE(0), length)).toString('utf8');
    };
    version = await readString(16);
    mod = await readString(16 + ptrSize);
  }
  return parseModinfo(version, stripModinfo(mod));
}

/** The module that provides pkg: the longest module path that prefixes it, or the standard library. */
export function moduleOf(info: BuildInfo, pkg: string): { path: string; version: string } {
  const candidates = [...(info.main ? [info.main] : []), ...info.deps];
  let best: Module | undefined;
  for (const m of candidates) {
    if ((pkg === m.path || pkg.startsWith(`${m.path}/`)) && (best === undefined || m.path.length > best.path.length)) best = m;
  }
  if (best === undefined) {
    const firstElement = pkg.split('/')[0] ?? '';
    return firstElement.includes('.') ? { path: pkg, version: 'unknown' } : { path: 'std', version: info.goVersion };
  }
  const effective = best.replace ?? best;
  const version = best.replace ? `${best.version} => ${effective.path} ${effective.version}`.trim() : best.version;
  return { path: best.path, version };
}
