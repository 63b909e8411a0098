/**
 * Builds small 64-bit ELF files byte by byte for the unit tests of src/elf and src/verify: a
 * header, the sections asked for, a .shstrtab and the section header table. Not a test file.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

export const SHT_PROGBITS = 1;
export const SHT_SYMTAB = 2;
export const SHT_STRTAB = 3;
export const SHT_NOBITS = 8;
export const SHT_DYNSYM = 11;
export const SHF_ALLOC = 0x2n;

export interface SectionSpec {
  name: string;
  type?: number;
  flags?: bigint;
  addr?: bigint;
  data?: Buffer;
  /** Recorded size; defaults to data.length. */
  size?: number | bigint;
  /** Recorded file offset; defaults to where the data is placed. */
  offset?: number | bigint;
  /** Index, or the name of another section. */
  link?: number | string;
  entsize?: number;
}

export interface ElfSpec {
  sections: SectionSpec[];
  /** EI_CLASS: 2 = 64-bit. */
  elfClass?: number;
  /** EI_DATA: 1 = little-endian. */
  elfData?: number;
  /** e_type: 3 = ET_DYN. */
  type?: number;
  /** e_machine: 62 = amd64, 183 = arm64. */
  machine?: number;
  /** Overrides of header fields, for malformed files. */
  shoff?: bigint;
  shnum?: number;
  shentsize?: number;
  shstrndx?: number;
}

const align8 = (n: number) => (n + 7) & ~7;

/** A 64-byte ELF header. */
export function elfHeader(fields: {
  elfClass?: number;
  elfData?: number;
  type?: number;
  machine?: number;
  shoff?: bigint;
  shentsize?: number;
  shnum?: number;
  shstrndx?: number;
}): Buffer {
  const h = Buffer.alloc(64);
  h.writeUInt32BE(0x7f454c46, 0);
  h[4] = fields.elfClass ?? 2;
  h[5] = fields.elfData ?? 1;
  h[6] = 1; // EI_VERSION
  h.writeUInt16LE(fields.type ?? 3, 16);
  h.writeUInt16LE(fields.machine ?? 62, 18);
  h.writeUInt32LE(1, 20); // e_version
  h.writeBigUInt64LE(fields.shoff ?? 0n, 40);
  h.writeUInt16LE(64, 52); // e_ehsize
  h.writeUInt16LE(fields.shentsize ?? 64, 58);
  h.writeUInt16LE(fields.shnum ?? 0, 60);
  h.writeUInt16LE(fields.shstrndx ?? 0, 62);
  return h;
}

/** A whole ELF file: null section, the given sections in order, then .shstrtab (the last index). */
export function buildElf(spec: ElfSpec): Buffer {
  const all: SectionSpec[] = [...spec.sections];
  const names: string[] = ['', ...all.map((s) => s.name), '.shstrtab'];
  const nameOffsets: number[] = [];
  let strtab = Buffer.alloc(0);
  for (const n of names) {
    nameOffsets.push(strtab.length);
    strtab = Buffer.concat([strtab, Buffer.from(`${n}\0`, 'latin1')]);
  }
  all.push({ name: '.shstrtab', type: SHT_STRTAB, data: strtab });

  const chunks: Buffer[] = [];
  let at = 64;
  const placed: number[] = [];
  for (const s of all) {
    at = align8(at);
    placed.push(at);
    const data = s.type === SHT_NOBITS ? Buffer.alloc(0) : (s.data ?? Buffer.alloc(0));
    chunks.push(data);
    at += data.length;
  }
  const shoff = align8(at);
  const shnum = all.length + 1;
  const index = (link: number | string | undefined): number => {
    if (link === undefined) return 0;
    if (typeof link === 'number') return link;
    const i = all.findIndex((s) => s.name === link);
    if (i < 0) throw new Error(`no section ${link}`);
    return i + 1;
  };

  const table = Buffer.alloc(shnum * 64); // entry 0 stays the null section
  all.forEach((s, i) => {
    const e = table.subarray((i + 1) * 64);
    e.writeUInt32LE(nameOffsets[i + 1]!, 0);
    e.writeUInt32LE(s.type ?? SHT_PROGBITS, 4);
    e.writeBigUInt64LE(s.flags ?? (s.addr ? SHF_ALLOC : 0n), 8);
    e.writeBigUInt64LE(s.addr ?? 0n, 16);
    e.writeBigUInt64LE(BigInt(s.offset ?? placed[i]!), 24);
    e.writeBigUInt64LE(BigInt(s.size ?? s.data?.length ?? 0), 32);
    e.writeUInt32LE(index(s.link), 40);
    e.writeBigUInt64LE(8n, 48); // sh_addralign
    e.writeBigUInt64LE(BigInt(s.entsize ?? 0), 56);
  });

  const file = Buffer.alloc(shoff + table.length);
  elfHeader({
    elfClass: spec.elfClass,
    elfData: spec.elfData,
    type: spec.type,
    machine: spec.machine,
    shoff: spec.shoff ?? BigInt(shoff),
    shentsize: spec.shentsize ?? 64,
    shnum: spec.shnum ?? shnum,
    shstrndx: spec.shstrndx ?? shnum - 1,
  }).copy(file, 0);
  chunks.forEach((c, i) => c.copy(file, placed[i]!));
  table.copy(file, shoff);
  return file;
}

export interface SymbolSpec {
  name: string;
  value: bigint;
  size: number;
  /** STB_LOCAL 0, STB_GLOBAL 1, STB_WEAK 2 */
  bind?: number;
  shndx?: number;
}

/** The bytes of a symbol table (with its leading null symbol) and of its string table. */
export function symbolTable(symbols: SymbolSpec[]): { symtab: Buffer; strtab: Buffer } {
  let strtab = Buffer.from('\0');
  const symtab = Buffer.alloc((symbols.length + 1) * 24);
  symbols.forEach((s, i) => {
    const e = symtab.subarray((i + 1) * 24);
    e.writeUInt32LE(strtab.length, 0);
    strtab = Buffer.concat([strtab, Buffer.from(`${s.name}\0`, 'latin1')]);
    e[4] = ((s.bind ?? 1) << 4) | 1; // STT_OBJECT
    e.writeUInt16LE(s.shndx ?? 1, 6);
    e.writeBigUInt64LE(s.value, 8);
    e.writeBigUInt64LE(BigInt(s.size), 16);
  });
  return { symtab, strtab };
}

/** Go's uvarint encoding. */
export function uvarint(n: number): Buffer {
  const out: number[] = [];
  let v = n;
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
  return Buffer.from(out);
}

/** The 16-byte sentinels the Go linker puts around modinfo (cmd/go/internal/modload). */
export const INFO_START = Buffer.from('3077af0c9274080241e1c107e6d618e6', 'hex');
export const INFO_END = Buffer.from('f932433186182072008242104116d8f2', 'hex');

/** Contents of a Go 1.18+ .go.buildinfo section: header, then two varint-prefixed strings. */
export function goBuildinfo(version: string | Buffer, modinfo: string | Buffer, opts: { flags?: number; ptrSize?: number } = {}): Buffer {
  const header = Buffer.alloc(32);
  Buffer.from('\xff Go buildinf:', 'latin1').copy(header, 0);
  header[14] = opts.ptrSize ?? 8;
  header[15] = opts.flags ?? 0x2;
  const v = typeof version === 'string' ? Buffer.from(version) : version;
  const m = typeof modinfo === 'string' ? Buffer.from(modinfo) : modinfo;
  return Buffer.concat([header, uvarint(v.length), v, uvarint(m.length), m]);
}

/** modinfo text framed by Go's sentinels. */
export function framedModinfo(text: string, start: Buffer = INFO_START, end: Buffer = INFO_END): Buffer {
  return Buffer.concat([start, Buffer.from(text), end]);
}

/** A temporary directory for the duration of a describe block. */
export function tempDir(prefix: string): {
  dir: () => string;
  file: (name: string, data: Buffer) => Promise<string>;
  setup: () => Promise<void>;
  teardown: () => Promise<void>;
} {
  let dir: string | undefined;
  return {
    dir: () => {
      if (dir === undefined) throw new Error('tempDir used before setup');
      return dir;
    },
    file: async (name, data) => {
      if (dir === undefined) throw new Error('tempDir used before setup');
      const p = path.join(dir, name);
      await writeFile(p, data);
      return p;
    },
    setup: async () => {
      dir = await mkdtemp(path.join(os.tmpdir(), prefix));
    },
    teardown: async () => {
      if (dir !== undefined) await rm(dir, { recursive: true, force: true });
      dir = undefined;
    },
  };
}

/** Where the section header fields and Elf64_Sym fields are, for tests that corrupt them. */
export const SH = { type: 4, addr: 16, offset: 24, size: 32, link: 40, entsize: 56 } as const;
export const SYM = { name: 0, info: 4, shndx: 6, value: 8, size: 16 } as const;

/** The file offset of the header of the section called `name`. */
export function sectionHeaderAt(file: Buffer, name: string): number {
  const shoff = Number(file.readBigUInt64LE(40));
  const shnum = file.readUInt16LE(60);
  const names = shoff + file.readUInt16LE(62) * 64;
  const strtab = Number(file.readBigUInt64LE(names + 24));
  for (let i = 0; i < shnum; i++) {
    const at = shoff + i * 64;
    const start = strtab + file.readUInt32LE(at);
    if (file.toString('latin1', start, file.indexOf(0, start)) === name) return at;
  }
  throw new Error(`no section ${name}`);
}

/** The file offset of the symbol called `name` in `table` (.symtab or .dynsym). */
export function symbolAt(file: Buffer, table: string, name: string): number {
  const header = sectionHeaderAt(file, table);
  const offset = Number(file.readBigUInt64LE(header + SH.offset));
  const size = Number(file.readBigUInt64LE(header + SH.size));
  const link = file.readUInt32LE(header + SH.link);
  const shoff = Number(file.readBigUInt64LE(40));
  const strtab = Number(file.readBigUInt64LE(shoff + link * 64 + SH.offset));
  for (let at = offset; at < offset + size; at += 24) {
    const start = strtab + file.readUInt32LE(at);
    if (file.toString('latin1', start, file.indexOf(0, start)) === name) return at;
  }
  throw new Error(`no symbol ${name} in ${table}`);
}

export interface GoBinarySpec {
  kind: 'plugin' | 'executable';
  /** Package → 8-byte link hash (hex). */
  packages: Record<string, string>;
  goVersion?: string;
  /** Build settings besides -buildmode; CGO_ENABLED=1 by default. */
  settings?: Record<string, string>;
  /** Leave out .go.buildinfo, as Go 1.20 and older do for plugins. */
  noBuildInfo?: boolean;
  /** main.buildCommit (plugin) or version.GitCommit (host). */
  commit?: string;
}

const RODATA = 0x10000n;
const DATA_REL_RO = 0x20000n;
const DATA = 0x30000n;
const PLUGIN_MAIN = 'plugin/unnamed-0123456789abcdef';

/**
 * A small Go binary as verify reads it: the package hashes (.rodata, exported in .dynsym), for a
 * plugin its go:link.pkghashes table (.data.rel.ro, in .symtab) and main.buildCommit, for a host
 * version.GitCommit, and .go.buildinfo. Pointers are stored in place (no .rela.dyn).
 */
export function goBinary(spec: GoBinarySpec): Buffer {
  const packages = Object.entries(spec.packages);
  const plugin = spec.kind === 'plugin';
  const commit = Buffer.from(spec.commit ?? 'abc1234');
  const names = Buffer.concat(packages.map(([pkg]) => Buffer.from(pkg)));
  const rodata = Buffer.concat([...packages.map(([, hash]) => Buffer.from(hash, 'hex')), names, commit]);
  const namesAt = RODATA + BigInt(packages.length * 8);
  const commitAt = namesAt + BigInt(names.length);

  const table = Buffer.alloc(packages.length * 40);
  let nameOff = 0n;
  packages.forEach(([pkg], i) => {
    table.writeBigUInt64LE(namesAt + nameOff, i * 40);
    table.writeBigUInt64LE(BigInt(pkg.length), i * 40 + 8);
    table.writeBigUInt64LE(RODATA + BigInt(i * 8), i * 40 + 16);
    table.writeBigUInt64LE(8n, i * 40 + 24);
    table.writeBigUInt64LE(DATA, i * 40 + 32);
    nameOff += BigInt(pkg.length);
  });
  const data = Buffer.alloc(16);
  data.writeBigUInt64LE(commitAt, 0);
  data.writeBigUInt64LE(BigInt(commit.length), 8);

  const settings = { '-buildmode': plugin ? 'plugin' : 'exe', CGO_ENABLED: '1', GOARCH: 'amd64', GOOS: 'linux', ...spec.settings };
  const modinfo = [
    `path\t${plugin ? 'command-line-arguments' : 'd7y.io/dragonfly/v2/cmd/dfget'}`,
    'mod\td7y.io/dragonfly/v2\t(devel)\t',
    ...Object.entries(settings).map(([k, v]) => `build\t${k}=${v}`),
    '',
  ].join('\n');

  const hashSymbols = (bind: number): SymbolSpec[] =>
    packages.map(([pkg], i) => ({ name: `go:link.pkghashbytes.${pkg}`, value: RODATA + BigInt(i * 8), size: 8, bind, shndx: 1 }));
  const stamp: SymbolSpec = { name: plugin ? `${PLUGIN_MAIN}.buildCommit` : 'd7y.io/dragonfly/v2/version.GitCommit', value: DATA, size: 16, shndx: 3 };
  const dyn = symbolTable([...hashSymbols(1), ...(plugin ? [] : [stamp])]);
  const full = symbolTable([{ name: 'go:link.pkghashes', value: DATA_REL_RO, size: table.length, bind: 0, shndx: 2 }, ...hashSymbols(1), stamp]);
  return buildElf({
    type: plugin ? 3 : 2,
    sections: [
      { name: '.rodata', addr: RODATA, data: rodata },
      { name: '.data.rel.ro', addr: DATA_REL_RO, data: table },
      { name: '.data', addr: DATA, data },
      ...(spec.noBuildInfo ? [] : [{ name: '.go.buildinfo', addr: 0x40000n, data: goBuildinfo(spec.goVersion ?? 'go1.23.5', framedModinfo(modinfo)) }]),
      { name: '.dynsym', type: SHT_DYNSYM, data: dyn.symtab, link: '.dynstr', entsize: 24, addr: 0x50000n },
      { name: '.dynstr', type: SHT_STRTAB, data: dyn.strtab, addr: 0x60000n },
      ...(plugin
        ? [
            { name: '.symtab', type: SHT_SYMTAB, data: full.symtab, link: '.strtab', entsize: 24 },
            { name: '.strtab', type: SHT_STRTAB, data: full.strtab },
          ]
        : []),
    ],
  });
}
