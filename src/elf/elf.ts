/**
 * A small reader for 64-bit little-endian ELF files (linux/amd64 and linux/arm64), reading only
 * the headers and the sections asked for, through a BoundedReader: a large binary is never loaded
 * whole, and no size, offset or count from the file is used before it was checked there. Malformed
 * input raises UnreadableFileError, never a RangeError from deep inside.
 */
import { BoundedReader, fileNumber, LIMITS, UnreadableFileError } from './reader';

export { UnreadableFileError } from './reader';

export const MACHINES: Record<number, string> = { 62: 'amd64', 183: 'arm64' };
export const SHT_NOBITS = 8;
export const SHF_COMPRESSED = 0x800n;
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

/** Symbol tables and relocations are read in chunks of this many bytes; names come from the string table. */
const CHUNK = 1 << 20;
/** Elf64_Sym and Elf64_Rela entries. */
const SYM_SIZE = 24;
const RELA_SIZE = 24;
const EHDR_SIZE = 64;
const SHDR_SIZE = 64;

export class ElfFile {
  private constructor(
    private readonly file: BoundedReader,
    readonly header: ElfHeader,
    readonly sections: Section[],
  ) {}

  get size(): number {
    return this.file.size;
  }

  static async open(path: string): Promise<ElfFile> {
    const file = await BoundedReader.open(path);
    try {
      const ident = await file.read(0, Math.min(EHDR_SIZE, file.size), 'the ELF header');
      if (ident.length < 4 || ident.readUInt32BE(0) !== 0x7f454c46) throw new UnreadableFileError('not an ELF file');
      if (ident.length >= 5 && ident[4] === 1) throw new UnreadableFileError('a 32-bit ELF file: only 64-bit Go binaries (amd64, arm64) are supported');
      if (ident.length < EHDR_SIZE) throw new UnreadableFileError('truncated ELF header');
      if (ident[4] !== 2) throw new UnreadableFileError(`an ELF file of unknown class ${ident[4]}`);
      if (ident[5] !== 1) throw new UnreadableFileError('a big-endian ELF file: only amd64 and arm64 are supported');
      const type = ident.readUInt16LE(16);
      const machine = ident.readUInt16LE(18);
      const arch = MACHINES[machine];
      if (arch === undefined) throw new UnreadableFileError(`an ELF file for machine ${machine}: only amd64 and arm64 are supported`);
      const shentsize = ident.readUInt16LE(58);
      const shnum = ident.readUInt16LE(60);
      const shstrndx = ident.readUInt16LE(62);
      if (shnum === 0 || shentsize < SHDR_SIZE) throw new UnreadableFileError('no section headers');
      // ELF64 section headers are 64 bytes; allow padding, not a table of gigabytes.
      if (shentsize > 1024) throw new UnreadableFileError(`section headers of ${shentsize} bytes: not an ELF64 file`);
      const shoff = ident.readBigUInt64LE(40);
      if (shoff + BigInt(shnum * shentsize) > BigInt(file.size)) throw new UnreadableFileError('truncated: the section headers lie past the end of the file');

      const table = await file.read(Number(shoff), shnum * shentsize, 'the section headers');
      const raw = Array.from({ length: shnum }, (_, i) => {
        const b = table.subarray(i * shentsize);
        return {
          nameOff: b.readUInt32LE(0),
          type: b.readUInt32LE(4),
          flags: b.readBigUInt64LE(8),
          addr: b.readBigUInt64LE(16),
          offset: b.readBigUInt64LE(24),
          size: b.readBigUInt64LE(32),
          link: b.readUInt32LE(40),
          entsize: b.readBigUInt64LE(56),
        };
      });
      const inFile = (s: { type: number; offset: bigint; size: bigint }) => s.type === SHT_NOBITS || s.offset + s.size <= BigInt(file.size);
      const names = raw[shstrndx];
      if (names === undefined || names.type === SHT_NOBITS || !inFile(names)) throw new UnreadableFileError('truncated: no section names');
      const strtab = await file.read(Number(names.offset), Number(names.size), 'the section names');
      const sections = raw.map((s): Section => {
        const name = cString(strtab, s.nameOff);
        if (!inFile(s)) throw new UnreadableFileError(`truncated: section ${name} lies past the end of the file`);
        const field = (value: bigint, what: string) => fileNumber(value, `the ${what} of section ${name}`);
        return { ...s, name, offset: field(s.offset, 'offset'), size: field(s.size, 'size'), entsize: field(s.entsize, 'entry size') };
      });
      return new ElfFile(file, { type, arch }, sections);
    } catch (err) {
      await file.close();
      throw err;
    }
  }

  close(): Promise<void> {
    return this.file.close();
  }

  section(name: string): Section | undefined {
    return this.sections.find((s) => s.name === name);
  }

  async readSection(section: Section): Promise<Buffer> {
    const what = `section ${section.name}`;
    if (section.type === SHT_NOBITS) return this.file.zeros(section.size, what);
    return this.file.read(section.offset, section.size, what);
  }

  /** The first bytes of a section, at most `length`. */
  async readSectionHead(section: Section, length: number): Promise<Buffer> {
    return this.readSection({ ...section, size: Math.min(section.size, length) });
  }

  async readAt(offset: number, length: number): Promise<Buffer> {
    return this.file.read(offset, length, `${length} bytes at offset ${offset}`);
  }

  /** Bytes at a virtual address, from the allocated section that holds them. */
  async readVirtual(addr: bigint, length: number): Promise<Buffer> {
    const s = this.sectionAt(addr, length);
    const what = `${length} bytes at 0x${addr.toString(16)}`;
    if (s.type === SHT_NOBITS) return this.file.zeros(length, what);
    return this.file.read(s.offset + Number(addr - s.addr), length, what);
  }

  /**
   * Pointers stored at the given addresses. In a shared object the file holds 0 there and the
   * address in a dynamic relocation (.rela.dyn), which then wins. One pass over the relocations
   * serves all the addresses asked for.
   */
  async readPointers(addrs: bigint[]): Promise<bigint[]> {
    const wanted = new Map<bigint, number[]>();
    addrs.forEach((a, i) => wanted.set(a, [...(wanted.get(a) ?? []), i]));
    const out: Array<bigint | undefined> = new Array(addrs.length);
    const relative = R_RELATIVE[this.header.arch];
    const abs64 = R_ABS64[this.header.arch];
    for (const s of this.sections.filter((x) => x.type === SHT_RELA && x.name === '.rela.dyn')) {
      if (s.entsize !== RELA_SIZE) throw new UnreadableFileError(`.rela.dyn has ${s.entsize}-byte entries, not ${RELA_SIZE}`);
      const symtab = this.sections[s.link];
      for await (const chunk of this.entries(s)) {
        for (let i = 0; i + RELA_SIZE <= chunk.length; i += RELA_SIZE) {
          const slots = wanted.get(chunk.readBigUInt64LE(i));
          if (slots === undefined) continue;
          const type = chunk.readUInt32LE(i + 8);
          const addend = chunk.readBigInt64LE(i + 16);
          let target: bigint | undefined;
          if (type === relative) {
            target = addend;
          } else if (type === abs64 && symtab !== undefined) {
            const at = chunk.readUInt32LE(i + 12) * SYM_SIZE;
            if (at + SYM_SIZE > symtab.size) throw new UnreadableFileError('a relocation names a symbol past the end of its table');
            const entry = await this.readSection({ ...symtab, offset: symtab.offset + at, size: SYM_SIZE });
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

  /** A table section (symbols, relocations) in chunks of whole entries, at most CHUNK bytes each. */
  private async *entries(table: Section): AsyncGenerator<Buffer> {
    if (table.size > LIMITS.table)
      throw new UnreadableFileError(`section ${table.name} claims ${table.size} bytes, more than d7y-build scans (${LIMITS.table})`);
    const perChunk = Math.floor(CHUNK / table.entsize) * table.entsize;
    for (let off = 0; off < table.size; off += perChunk) {
      yield await this.readSection({ ...table, offset: table.offset + off, size: Math.min(perChunk, table.size - off) });
    }
  }

  /**
   * Symbols of .dynsym or .symtab whose names start with one of `prefixes`. The string table is read
   * once and names are compared as bytes, decoding only those that match; the symbol table is read
   * in chunks, so memory stays near the size of the string table.
   */
  async symbols(table: '.dynsym' | '.symtab', prefixes: string[]): Promise<ElfSymbol[]> {
    const symtab = this.sections.find((s) => s.name === table && (s.type === SHT_SYMTAB || s.type === SHT_DYNSYM));
    if (symtab === undefined) return [];
    if (symtab.entsize !== SYM_SIZE) throw new UnreadableFileError(`${table} has ${symtab.entsize}-byte entries, not ${SYM_SIZE}`);
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
    const found: ElfSymbol[] = [];
    for await (const chunk of this.entries(symtab)) {
      for (let i = 0; i + SYM_SIZE <= chunk.length; i += SYM_SIZE) {
        const nameOff = chunk.readUInt32LE(i);
        if (!matches(nameOff)) continue;
        const name = cString(names, nameOff);
        found.push({
          name,
          bind: chunk[i + 4]! >> 4,
          shndx: chunk.readUInt16LE(i + 6),
          value: chunk.readBigUInt64LE(i + 8),
          size: fileNumber(chunk.readBigUInt64LE(i + 16), `the size of symbol ${name}`),
        });
      }
    }
    return found;
  }

  /**
   * The bytes at many virtual addresses, read with as few system calls as the layout allows:
   * ranges in the same section closer than CHUNK are read together. Each range must lie inside one
   * section, so no range is larger than the file.
   */
  async readRanges(ranges: Array<{ addr: bigint; size: number }>): Promise<Buffer[]> {
    const order = ranges.map((r, i) => ({ ...r, i })).sort((a, b) => (a.addr < b.addr ? -1 : a.addr > b.addr ? 1 : 0));
    const out: Buffer[] = new Array(ranges.length);
    let k = 0;
    while (k < order.length) {
      const first = order[k]!;
      const section = this.sectionAt(first.addr, first.size);
      if (section.type === SHT_NOBITS) {
        out[first.i] = await this.readVirtual(first.addr, first.size);
        k++;
        continue;
      }
      let end = first.addr + BigInt(first.size);
      let j = k + 1;
      while (j < order.length) {
        const next = order[j]!;
        const nextEnd = next.addr + BigInt(next.size);
        if (next.addr - end > BigInt(CHUNK) || nextEnd - first.addr > BigInt(4 * CHUNK) || nextEnd > section.addr + BigInt(section.size)) break;
        if (nextEnd > end) end = nextEnd;
        j++;
      }
      const block = await this.readVirtual(first.addr, Number(end - first.addr));
      for (let x = k; x < j; x++) {
        const r = order[x]!;
        const at = Number(r.addr - first.addr);
        out[r.i] = block.subarray(at, at + r.size);
      }
      k = j;
    }
    return out;
  }

  /** The allocated section that holds `length` bytes at `addr`. */
  sectionAt(addr: bigint, length: number): Section {
    const s = this.sections.find((x) => x.addr !== 0n && addr >= x.addr && addr + BigInt(length) <= x.addr + BigInt(x.size));
    if (s === undefined) throw new UnreadableFileError(`address 0x${addr.toString(16)} is in no section`);
    return s;
  }

  hasSection(name: string): boolean {
    return this.section(name) !== undefined;
  }
}

function cString(buf: Buffer, offset: number): string {
  if (offset >= buf.length) return '';
  const end = buf.indexOf(0, offset);
  return buf.toString('latin1', offset, end < 0 ? buf.length : end);
}
