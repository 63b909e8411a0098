/**
 * A small reader for 64-bit little-endian ELF files (linux/amd64 and linux/arm64), reading only
 * the headers and the sections asked for, through a file handle: a large binary is never loaded
 * whole. Malformed input raises UnreadableFileError, never a RangeError from deep inside.
 */
import { open, type FileHandle } from 'node:fs/promises';

export class UnreadableFileError extends Error {}

export const MACHINES: Record<number, string> = { 62: 'amd64', 183: 'arm64' };
const SHT_NOBITS = 8;
const SHT_RELA = 4;
const SHT_SYMTAB = 2;
const SHT_DYNSYM = 11;
/** Dynamic relocations that store an address: RELATIVE (base + addend) and ABS64 (symbol + addend). */
const R_RELATIVE: Record<string, number> = { amd64: 8, arm64: 1027 };
const R_ABS64: Record<string, number> = { amd64: 1, arm64: 257 };

export interface Section {
  name: string;
  type: number;
  flags: bigint;
  addr: bigint;
  offset: number;
  size: number;
  link: number;
  entsize: number;
}

export interface ElfSymbol {
  name: string;
  value: bigint;
  size: number;
  /** STB_LOCAL 0, STB_GLOBAL 1, STB_WEAK 2 */
  bind: number;
  /** Section index; 0 for undefined symbols. */
  shndx: number;
}

export interface ElfHeader {
  /** ET_EXEC 2, ET_DYN 3 */
  type: number;
  arch: string;
}

/** Symbol tables are read in chunks of this many bytes; names come from the string table. */
const CHUNK = 1 << 20;

export class ElfFile {
  private constructor(
    private readonly handle: FileHandle,
    readonly size: number,
    readonly header: ElfHeader,
    readonly sections: Section[],
  ) {}

  static async open(path: string): Promise<ElfFile> {
    const handle = await open(path, 'r');
    try {
      const { size } = await handle.stat();
      const ident = Buffer.alloc(64);
      const { bytesRead } = await handle.read(ident, 0, 64, 0);
      if (bytesRead < 4 || ident.readUInt32BE(0) !== 0x7f454c46) throw new UnreadableFileError('not an ELF file');
      if (bytesRead >= 5 && ident[4] === 1) throw new UnreadableFileError('a 32-bit ELF file: only 64-bit Go binaries (amd64, arm64) are supported');
      if (bytesRead < 64) throw new UnreadableFileError('truncated ELF header');
      if (ident[4] !== 2) throw new UnreadableFileError(`an ELF file of unknown class ${ident[4]}`);
      if (ident[5] !== 1) throw new UnreadableFileError('a big-endian ELF file: only amd64 and arm64 are supported');
      const type = ident.readUInt16LE(16);
      const machine = ident.readUInt16LE(18);
      const arch = MACHINES[machine];
      if (arch === undefined) throw new UnreadableFileError(`an ELF file for machine ${machine}: only amd64 and arm64 are supported`);
      const shoff = Number(ident.readBigUInt64LE(40));
      const shentsize = ident.readUInt16LE(58);
      const shnum = ident.readUInt16LE(60);
      const shstrndx = ident.readUInt16LE(62);
      if (shnum === 0 || shentsize < 64) throw new UnreadableFileError('no section headers');
      // ELF64 section headers are 64 bytes; allow padding, not a table of gigabytes.
      if (shentsize > 1024) throw new UnreadableFileError(`section headers of ${shentsize} bytes: not an ELF64 file`);
      if (shoff + shnum * shentsize > size) throw new UnreadableFileError('truncated: the section headers lie past the end of the file');

      const table = Buffer.alloc(shnum * shentsize);
      await handle.read(table, 0, table.length, shoff);
      const raw = Array.from({ length: shnum }, (_, i) => {
        const b = table.subarray(i * shentsize);
        return {
          nameOff: b.readUInt32LE(0),
          type: b.readUInt32LE(4),
          flags: b.readBigUInt64LE(8),
          addr: b.readBigUInt64LE(16),
          offset: Number(b.readBigUInt64LE(24)),
          size: Number(b.readBigUInt64LE(32)),
          link: b.readUInt32LE(40),
          entsize: Number(b.readBigUInt64LE(56)),
        };
      });
      const names = raw[shstrndx];
      if (names === undefined || names.offset + names.size > size) throw new UnreadableFileError('truncated: no section names');
      const strtab = Buffer.alloc(names.size);
      await handle.read(strtab, 0, names.size, names.offset);
      const sections = raw.map((s) => ({ ...s, name: cString(strtab, s.nameOff) }));
      for (const s of sections) {
        if (s.type !== SHT_NOBITS && s.offset + s.size > size) {
          throw new UnreadableFileError(`truncated: section ${s.name} lies past the end of the file`);
        }
      }
      return new ElfFile(handle, size, { type, arch }, sections);
    } catch (err) {
      await handle.close();
      throw err;
    }
  }

  close(): Promise<void> {
    return this.handle.close();
  }

  section(name: string): Section | undefined {
    return this.sections.find((s) => s.name === name);
  }

  async readSection(section: Section): Promise<Buffer> {
    if (section.type === SHT_NOBITS) return zeros(section.size);
    return this.readAt(section.offset, section.size);
  }

  async readAt(offset: number, length: number): Promise<Buffer> {
    if (offset < 0 || length < 0 || offset + length > this.size) throw new UnreadableFileError('truncated: a read past the end of the file');
    const buf = Buffer.alloc(length);
    await this.handle.read(buf, 0, length, offset);
    return buf;
  }

  /** Bytes at a virtual address, from the allocated section that holds them. */
  async readVirtual(addr: bigint, length: number): Promise<Buffer> {
    const s = this.sectionAt(addr, length);
    if (s.type === SHT_NOBITS) return zeros(length);
    return this.readAt(s.offset + Number(addr - s.addr), length);
  }

  /**
   * Pointers stored at the given addresses. In a shared object the file holds 0 there and the
   * address in a dynamic relocation (.rela.dyn), which then wins. One pass over the relocations
   * serves all the addresses asked for.
   */
  async readPointers(addrs: bigint[]): Promise<bigint[]> {
    const wanted = new Map<number, number[]>();
    addrs.forEach((a, i) => wanted.set(Number(a), [...(wanted.get(Number(a)) ?? []), i]));
    const out: Array<bigint | undefined> = new Array(addrs.length);
    const relative = R_RELATIVE[this.header.arch];
    const abs64 = R_ABS64[this.header.arch];
    const perChunk = Math.floor(CHUNK / 24) * 24;
    for (const s of this.sections.filter((x) => x.type === SHT_RELA && x.name === '.rela.dyn')) {
      const symtab = this.sections[s.link];
      for (let off = 0; off < s.size; off += perChunk) {
        const chunk = await this.readAt(s.offset + off, Math.min(perChunk, s.size - off));
        for (let i = 0; i + 24 <= chunk.length; i += 24) {
          const slots = wanted.get(chunk.readUInt32LE(i) + chunk.readUInt32LE(i + 4) * 2 ** 32);
          if (slots === undefined) continue;
          const type = chunk.readUInt32LE(i + 8);
          const addend = chunk.readBigInt64LE(i + 16);
          let target: bigint | undefined;
          if (type === relative) {
            target = addend;
          } else if (type === abs64 && symtab !== undefined) {
            const entry = await this.readAt(symtab.offset + chunk.readUInt32LE(i + 12) * 24, 24);
            if (entry.readUInt16LE(6) !== 0) target = entry.readBigUInt64LE(8) + addend;
          }
          for (const slot of slots) out[slot] = target;
        }
      }
    }
    const missing = addrs.map((a, i) => ({ addr: a, size: 8, i })).filter((r) => out[r.i] === undefined);
    const inPlace = await this.readRanges(missing);
    missing.forEach((r, k) => (out[r.i] = inPlace[k]!.readBigUInt64LE(0)));
    return out as bigint[];
  }

  /**
   * Symbols of .dynsym or .symtab whose names start with one of `prefixes`. The string table is read
   * once and names are compared as bytes, decoding only those that match; the symbol table is read
   * in chunks, so memory stays near the size of the string table.
   */
  async symbols(table: '.dynsym' | '.symtab', prefixes: string[]): Promise<ElfSymbol[]> {
    const symtab = this.sections.find((s) => s.name === table && (s.type === SHT_SYMTAB || s.type === SHT_DYNSYM));
    if (symtab === undefined) return [];
    const strings = this.sections[symtab.link];
    if (strings === undefined) throw new UnreadableFileError(`${table} has no string table`);
    const names = await this.readSection(strings);
    const wanted = prefixes.map((p) => Buffer.from(p, 'latin1'));
    const firstBytes = new Set(wanted.map((w) => w[0]!));
    const matches = (at: number): boolean => {
      if (at >= names.length || !firstBytes.has(names[at]!)) return false;
      return wanted.some((w) => {
        if (at + w.length > names.length) return false;
        for (let i = 1; i < w.length; i++) if (names[at + i] !== w[i]) return false;
        return true;
      });
    };
    const entsize = symtab.entsize || 24;
    const found: ElfSymbol[] = [];
    const perChunk = Math.max(1, Math.floor(CHUNK / entsize)) * entsize;
    for (let off = 0; off < symtab.size; off += perChunk) {
      const chunk = await this.readAt(symtab.offset + off, Math.min(perChunk, symtab.size - off));
      for (let i = 0; i + 24 <= chunk.length; i += entsize) {
        const nameOff = chunk.readUInt32LE(i);
        if (!matches(nameOff)) continue;
        found.push({
          name: cString(names, nameOff),
          bind: chunk[i + 4]! >> 4,
          shndx: chunk.readUInt16LE(i + 6),
          value: chunk.readBigUInt64LE(i + 8),
          size: Number(chunk.readBigUInt64LE(i + 16)),
        });
      }
    }
    return found;
  }

  /**
   * The bytes at many virtual addresses, read with as few system calls as the layout allows:
   * ranges in the same section closer than CHUNK are read together.
   */
  async readRanges(ranges: Array<{ addr: bigint; size: number }>): Promise<Buffer[]> {
    const order = ranges.map((r, i) => ({ ...r, i })).sort((a, b) => (a.addr < b.addr ? -1 : a.addr > b.addr ? 1 : 0));
    const out: Buffer[] = new Array(ranges.length);
    let k = 0;
    while (k < order.length) {
      const first = order[k]!;
      const section = this.sectionAt(first.addr, first.size);
      let end = first.addr + BigInt(first.size);
      let j = k + 1;
      while (j < order.length) {
        const next = order[j]!;
        const nextEnd = next.addr + BigInt(next.size);
        if (next.addr - end > BigInt(CHUNK) || nextEnd - first.addr > BigInt(4 * CHUNK) || nextEnd > section.addr + BigInt(section.size)) break;
        if (nextEnd > end) end = nextEnd;
        j++;
      }
      const block = section.type === SHT_NOBITS
        ? zeros(Number(end - first.addr))
        : await this.readAt(section.offset + Number(first.addr - section.addr), Number(end - first.addr));
      for (let x = k; x < j; x++) {
        const r = order[x]!;
        const at = Number(r.addr - first.addr);
        out[r.i] = block.subarray(at, at + r.size);
      }
      k = j;
    }
    return out;
  }

  private sectionAt(addr: bigint, length: number): Section {
    const s = this.sections.find((x) => x.addr !== 0n && addr >= x.addr && addr + BigInt(length) <= x.addr + BigInt(x.size));
    if (s === undefined) throw new UnreadableFileError(`address 0x${addr.toString(16)} is in no section`);
    return s;
  }

  hasSection(name: string): boolean {
    return this.section(name) !== undefined;
  }
}

/**
 * The contents of a section with no file data (.bss): zeros, as the loader would map them. Nothing
 * d7y-build reads is that large; a huge size is a malformed file, not a reason to allocate it.
 */
function zeros(length: number): Buffer {
  if (length > 1 << 26) throw new UnreadableFileError(`a read of ${length} bytes from a section with no data in the file`);
  return Buffer.alloc(length);
}

function cString(buf: Buffer, offset: number): string {
  if (offset >= buf.length) return '';
  const end = buf.indexOf(0, offset);
  return buf.toString('latin1', offset, end < 0 ? buf.length : end);
}
