/**
 * What `verify` and `inspect` read from a Go binary: build info, the per-package link hashes that
 * plugin.Open compares (go:link.pkghashbytes.<pkg>, "go.link." before Go 1.20), the plugin's own
 * list of them in the order the runtime checks (go:link.pkghashes), and the strings the builds
 * stamp. Only headers, symbol tables and the bytes those symbols point at are read.
 *
 * Go 1.20 and older write no build information into plugins: such a plugin is recognised by its
 * package hash table, its Go version comes from its DWARF, and its build settings are unknown.
 */
import { ElfFile, UnreadableFileError, type ElfSymbol } from '../elf/elf';
import { boundedCount } from '../elf/reader';
import { findBuildInfo, type BuildInfo } from './buildinfo';
import { producerGoVersion } from './producer';

export class NotGoBinaryError extends Error {}

export interface GoBinary {
  path: string;
  size: number;
  arch: string;
  kind: 'plugin' | 'executable';
  buildInfo: BuildInfo;
  /**
   * Whether the file records its build information. When not (plugins of Go 1.20 and older),
   * buildInfo holds only the Go version, from the DWARF, or "unknown"; no module, no settings.
   */
  buildInfoRecorded: boolean;
  /** Whether a full symbol table (.symtab) is present; `-s` or strip removes it. */
  hasSymtab: boolean;
  /** Package → link hash (hex), as exported in .dynsym: what the dynamic linker resolves. */
  exportedHashes: Map<string, string>;
  /** For plugins: the packages the runtime checks, in its order, with the hash the plugin was linked with. */
  pluginHashes?: Array<{ pkg: string; hash: string }>;
  /** Whether pluginHashes is in the runtime's order (it needs .symtab), or sorted by name. */
  orderKnown: boolean;
  /** Stamped strings: main.buildCommit and main.buildTime (plugins), version.* (Dragonfly hosts). */
  stamps: Record<string, string>;
}

const HASH_BYTES = /^go[.:]link\.pkghashbytes\.(.+)$/;
const PKGHASHES = /^go[.:]link\.pkghashes$/;
const VERSION_VARS = ['GitVersion', 'GitCommit', 'BuildTime', 'GoVersion', 'Gotags', 'Gogcflags'];
const PLUGIN_VARS = ['buildCommit', 'buildTime'];
const PKGHASH_ENTRY = 40; // modulename string, linktimehash string, runtimehash *string
const ET_DYN = 3;
/** The Go version of a binary that records none and has no DWARF. */
export const UNKNOWN_GO_VERSION = 'unknown';

async function readHashes(elf: ElfFile, symbols: ElfSymbol[]): Promise<Map<string, string>> {
  const withHash = symbols.flatMap((s) => {
    const m = HASH_BYTES.exec(s.name);
    return m && s.shndx !== 0 && s.size > 0 ? [{ pkg: m[1]!, addr: s.value, size: s.size }] : [];
  });
  const bytes = await elf.readRanges(withHash);
  return new Map(withHash.map((h, i) => [h.pkg, bytes[i]!.toString('hex')]));
}

/** Go strings, as bytes: (pointer, length) headers at the given addresses. */
async function readGoStrings(elf: ElfFile, headers: bigint[]): Promise<Buffer[]> {
  const pointers = await elf.readPointers(headers);
  const lengths = (await elf.readRanges(headers.map((h) => ({ addr: h + 8n, size: 8 })))).map((b) => Number(b.readBigUInt64LE(0)));
  if (lengths.some((l) => l > 1 << 20)) throw new UnreadableFileError('a Go string longer than 1 MiB: not what the linker writes');
  const data = await elf.readRanges(pointers.map((p, i) => ({ addr: p, size: lengths[i]! })).filter((r) => r.size > 0));
  let k = 0;
  return lengths.map((l) => (l === 0 ? Buffer.alloc(0) : data[k++]!));
}

/** The plugin's go:link.pkghashes table: the packages the runtime checks, in its order. */
async function readPluginTable(elf: ElfFile, table: ElfSymbol): Promise<Array<{ pkg: string; hash: string }>> {
  elf.sectionAt(table.value, table.size); // the whole table lies in the file before its entries are counted
  const entries = boundedCount(Math.floor(table.size / PKGHASH_ENTRY), "the plugin's package hash table");
  const at = (i: number, field: number) => table.value + BigInt(i * PKGHASH_ENTRY + field);
  const fields = await readGoStrings(elf, Array.from({ length: entries }, (_, i) => [at(i, 0), at(i, 16)]).flat());
  return Array.from({ length: entries }, (_, i) => ({ pkg: fields[2 * i]!.toString('utf8'), hash: fields[2 * i + 1]!.toString('hex') }));
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

export async function readGoBinary(path: string): Promise<GoBinary> {
  const elf = await ElfFile.open(path);
  try {
    const recorded = await findBuildInfo(elf);
    const buildInfoRecorded = recorded !== undefined;
    const kind = !buildInfoRecorded || recorded.settings['-buildmode'] === 'plugin' ? 'plugin' : 'executable';
    const buildInfo = recorded ?? { goVersion: (await producerGoVersion(elf)) ?? UNKNOWN_GO_VERSION, path: '', deps: [], settings: {} };
    const hasSymtab = elf.hasSection('.symtab');

    // The main package's symbols: plugins built from files are "plugin/unnamed-<hash>" (and, with
    // no build information to tell, taken to be).
    const fromFiles = kind === 'plugin' && (!buildInfoRecorded || buildInfo.path === 'command-line-arguments');
    const mainPkg = fromFiles ? 'plugin/unnamed-[0-9a-f]+' : escapeRegExp(buildInfo.path);
    const stampVar = new RegExp(
      kind === 'plugin' ? `^(?:${mainPkg}|main)\\.(${PLUGIN_VARS.join('|')})$` : `^d7y\\.io/dragonfly/v2/version\\.(${VERSION_VARS.join('|')})$`,
    );
    const prefixes = [
      'go:link.pkghash',
      'go.link.pkghash',
      ...(kind === 'plugin' ? [fromFiles ? 'plugin/unnamed-' : `${buildInfo.path}.`, 'main.'] : ['d7y.io/dragonfly/v2/version.']),
    ];
    const wanted = (s: ElfSymbol) => HASH_BYTES.test(s.name) || stampVar.test(s.name) || PKGHASHES.test(s.name);

    const dynamic = (await elf.symbols('.dynsym', prefixes)).filter(wanted);
    // An executable exports what is needed; a plugin's check table is a local symbol, in .symtab only.
    const needsSymtab = kind === 'plugin' || !dynamic.some((s) => stampVar.test(s.name));
    const full = hasSymtab && needsSymtab ? (await elf.symbols('.symtab', prefixes)).filter(wanted) : [];
    const exportedHashes = await readHashes(
      elf,
      dynamic.filter((s) => s.bind !== 0),
    );

    // Without build information, only a shared object with a plugin's package hashes is a Go plugin.
    if (!buildInfoRecorded && (elf.header.type !== ET_DYN || ![...dynamic, ...full].some((s) => HASH_BYTES.test(s.name) || PKGHASHES.test(s.name)))) {
      throw new NotGoBinaryError('not a Go binary: it has no Go build information');
    }

    let pluginHashes: GoBinary['pluginHashes'];
    let orderKnown = false;
    if (kind === 'plugin') {
      const table = full.find((s) => PKGHASHES.test(s.name));
      if (table !== undefined) {
        pluginHashes = await readPluginTable(elf, table);
        orderKnown = true;
      } else {
        const own = exportedHashes.size > 0 ? exportedHashes : await readHashes(elf, full);
        pluginHashes = [...own].map(([pkg, hash]) => ({ pkg, hash })).sort((a, b) => a.pkg.localeCompare(b.pkg));
      }
    }

    const stampSymbols = new Map<string, ElfSymbol>();
    for (const s of [...dynamic, ...full]) {
      const m = stampVar.exec(s.name);
      const key = m ? (kind === 'plugin' ? `main.${m[1]}` : `version.${m[1]}`) : undefined;
      if (key !== undefined && !stampSymbols.has(key) && s.shndx !== 0 && s.size >= 16) stampSymbols.set(key, s);
    }
    const values = await readGoStrings(
      elf,
      [...stampSymbols.values()].map((s) => s.value),
    );
    const stamps = Object.fromEntries([...stampSymbols.keys()].map((k, i) => [k, values[i]!.toString('utf8')]));

    return { path, size: elf.size, arch: elf.header.arch, kind, buildInfo, buildInfoRecorded, hasSymtab, exportedHashes, pluginHashes, orderKnown, stamps };
  } finally {
    await elf.close();
  }
}
