/**
 * What `verify` and `inspect` read from a Go binary: build info, the per-package link hashes that
 * plugin.Open compares (go:link.pkghashbytes.<pkg>, "go.link." before Go 1.20), the plugin's own
 * list of them in the order the runtime checks (go:link.pkghashes), and the strings the builds
 * stamp. Only headers, symbol tables and the bytes those symbols point at are read.
 */
import { ElfFile, type ElfSymbol } from '../elf/elf';
import { findBuildInfo, type BuildInfo } from './buildinfo';

export class NotGoBinaryError extends Error {}

export interface GoBinary {
  path: string;
  size: number;
  arch: string;
  kind: 'plugin' | 'executable';
  buildInfo: BuildInfo;
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

async function readHashes(elf: ElfFile, symbols: ElfSymbol[]): Promise<Map<string, string>> {
  const hashes = new Map<string, string>();
  for (const s of symbols) {
    const m = HASH_BYTES.exec(s.name);
    if (m && s.shndx !== 0 && s.size > 0) hashes.set(m[1]!, (await elf.readVirtual(s.value, s.size)).toString('hex'));
  }
  return hashes;
}

/** A Go string variable: a (pointer, length) header at the symbol's address. */
async function readGoString(elf: ElfFile, symbol: ElfSymbol): Promise<string | undefined> {
  if (symbol.shndx === 0 || symbol.size < 16) return undefined;
  const ptr = await elf.readPointer(symbol.value);
  const length = Number((await elf.readVirtual(symbol.value + 8n, 8)).readBigUInt64LE(0));
  if (length === 0) return '';
  if (length > 1 << 20) return undefined;
  return (await elf.readVirtual(ptr, length)).toString('utf8');
}

/** The plugin's go:link.pkghashes table: the packages the runtime checks, in its order. */
async function readPluginTable(elf: ElfFile, table: ElfSymbol): Promise<Array<{ pkg: string; hash: string }>> {
  const entries: Array<{ pkg: string; hash: string }> = [];
  for (let at = table.value; at + BigInt(PKGHASH_ENTRY) <= table.value + BigInt(table.size); at += BigInt(PKGHASH_ENTRY)) {
    const header = await elf.readVirtual(at, 32);
    const pkgLen = Number(header.readBigUInt64LE(8));
    const hashLen = Number(header.readBigUInt64LE(24));
    const pkg = (await elf.readVirtual(await elf.readPointer(at), pkgLen)).toString('utf8');
    const hash = (await elf.readVirtual(await elf.readPointer(at + 16n), hashLen)).toString('hex');
    entries.push({ pkg, hash });
  }
  return entries;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

export async function readGoBinary(path: string): Promise<GoBinary> {
  const elf = await ElfFile.open(path);
  try {
    const buildInfo = await findBuildInfo(elf);
    if (buildInfo === undefined) throw new NotGoBinaryError('not a Go binary: it has no Go build information');
    const kind = buildInfo.settings['-buildmode'] === 'plugin' ? 'plugin' : 'executable';
    const hasSymtab = elf.hasSection('.symtab');

    // The main package's symbols: plugins built from files are "plugin/unnamed-<hash>".
    const mainPkg = kind === 'plugin' && buildInfo.path === 'command-line-arguments' ? 'plugin/unnamed-[0-9a-f]+' : escapeRegExp(buildInfo.path);
    const stampVar = new RegExp(
      kind === 'plugin'
        ? `^(?:${mainPkg}|main)\\.(${PLUGIN_VARS.join('|')})$`
        : `^d7y\\.io/dragonfly/v2/version\\.(${VERSION_VARS.join('|')})$`,
    );
    const wanted = (name: string) => HASH_BYTES.test(name) || stampVar.test(name) || PKGHASHES.test(name);

    const dynamic = await elf.symbols('.dynsym', wanted);
    const full = hasSymtab ? await elf.symbols('.symtab', wanted) : [];
    const exportedHashes = await readHashes(elf, dynamic.filter((s) => s.bind !== 0));

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

    const stamps: Record<string, string> = {};
    for (const s of [...dynamic, ...full]) {
      const m = stampVar.exec(s.name);
      if (!m) continue;
      const key = kind === 'plugin' ? `main.${m[1]}` : `version.${m[1]}`;
      if (stamps[key] !== undefined) continue;
      const value = await readGoString(elf, s);
      if (value !== undefined) stamps[key] = value;
    }

    return { path, size: elf.size, arch: elf.header.arch, kind, buildInfo, hasSymtab, exportedHashes, pluginHashes, orderKnown, stamps };
  } finally {
    await elf.close();
  }
}
