import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { open, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ElfFile, MACHINES, UnreadableFileError } from '../../src/elf/elf';
import { buildElf, elfHeader, SHF_ALLOC, SHT_DYNSYM, SHT_NOBITS, SHT_STRTAB, symbolTable, tempDir, type ElfSpec } from './elf-builder';

const tmp = tempDir('d7y-elf-test-');
beforeAll(tmp.setup);
afterAll(tmp.teardown);

let counter = 0;
const writeTemp = (data: Buffer) => tmp.file(`f${counter++}`, data);

async function openError(data: Buffer): Promise<unknown> {
  const file = await writeTemp(data);
  return ElfFile.open(file).then(
    async (elf) => {
      await elf.close();
      return undefined;
    },
    (err: unknown) => err,
  );
}

const TEXT = Buffer.from('0123456789abcdefghijklmnopqrstuv');

/** A small valid shared object: .text (allocated), .data (allocated), .bss, .note (not allocated), .dynsym/.dynstr. */
function validSpec(): ElfSpec {
  const { symtab, strtab } = symbolTable([
    { name: 'go:link.pkghashbytes.fmt', value: 0x2000n, size: 8, bind: 1, shndx: 2 },
    { name: 'main.unrelated', value: 0x2008n, size: 4, bind: 2, shndx: 2 },
  ]);
  return {
    sections: [
      { name: '.text', addr: 0x1000n, data: TEXT },
      { name: '.data', addr: 0x2000n, data: Buffer.from('0011223344556677aabbccdd', 'hex') },
      { name: '.bss', type: SHT_NOBITS, addr: 0x3000n, size: 64, flags: SHF_ALLOC | 0x1n },
      { name: '.note', data: Buffer.from('not loaded') },
      { name: '.dynsym', type: SHT_DYNSYM, data: symtab, link: '.dynstr', entsize: 24, addr: 0x4000n },
      { name: '.dynstr', type: SHT_STRTAB, data: strtab, addr: 0x5000n },
    ],
  };
}

describe('ElfFile.open rejects what it cannot read', () => {
  const header = (fields: Parameters<typeof elfHeader>[0]) => elfHeader({ shnum: 1, ...fields });
  const validFile = buildElf(validSpec());
  const cases: Array<{ name: string; bytes: Buffer; message: RegExp }> = [
    { name: 'an empty file', bytes: Buffer.alloc(0), message: /not an ELF file/ },
    { name: 'random bytes', bytes: Buffer.concat([Buffer.from('MZ'), randomBytes(4094)]), message: /not an ELF file/ },
    { name: 'three bytes of the magic', bytes: Buffer.from([0x7f, 0x45, 0x4c]), message: /not an ELF file/ },
    { name: 'the ELF magic only', bytes: Buffer.from([0x7f, 0x45, 0x4c, 0x46]), message: /truncated ELF header/ },
    { name: 'a header cut at 40 bytes', bytes: header({}).subarray(0, 40), message: /truncated ELF header/ },
    { name: 'a 32-bit header (EI_CLASS=1)', bytes: header({ elfClass: 1 }), message: /32-bit/ },
    { name: 'a 32-bit ident cut after EI_CLASS', bytes: header({ elfClass: 1 }).subarray(0, 5), message: /32-bit/ },
    { name: 'an unknown class (EI_CLASS=3)', bytes: header({ elfClass: 3 }), message: /unknown class 3/ },
    { name: 'a big-endian header (EI_DATA=2)', bytes: header({ elfData: 2 }), message: /big-endian/ },
    { name: 'machine 8 (MIPS)', bytes: header({ machine: 8 }), message: /machine 8: only amd64 and arm64/ },
    { name: 'machine 3 (i386) in a 64-bit header', bytes: header({ machine: 3 }), message: /machine 3/ },
    { name: 'no section headers (e_shnum=0)', bytes: header({ shnum: 0, shoff: 64n }), message: /no section headers/ },
    { name: 'e_shentsize below 64', bytes: header({ shnum: 1, shoff: 64n, shentsize: 40 }), message: /no section headers/ },
    {
      name: 'section headers past the end of the file',
      bytes: buildElf({ ...validSpec(), shoff: BigInt(validFile.length - 64) }),
      message: /section headers lie past the end/,
    },
    {
      name: 'a section header table cut short',
      bytes: validFile.subarray(0, validFile.length - 10),
      message: /section headers lie past the end/,
    },
    {
      name: 'e_shoff near 2^64',
      bytes: buildElf({ ...validSpec(), shoff: 0xffff_ffff_ffff_ff00n }),
      message: /section headers lie past the end/,
    },
    {
      name: 'e_shstrndx out of range',
      bytes: buildElf({ ...validSpec(), shstrndx: 200 }),
      message: /no section names/,
    },
    {
      name: 'a section whose data lies past the end',
      bytes: buildElf({ sections: [{ name: '.text', addr: 0x1000n, data: TEXT, size: 1 << 20 }] }),
      message: /section \.text lies past the end/,
    },
    {
      name: 'a section whose offset is near 2^64',
      bytes: buildElf({ sections: [{ name: '.rodata', data: TEXT, offset: 0xffff_ffff_ffff_fff0n }] }),
      message: /section \.rodata lies past the end/,
    },
  ];

  it.each(cases)('$name', async ({ bytes, message }) => {
    const err = await openError(bytes);
    expect(err).toBeInstanceOf(UnreadableFileError);
    expect((err as Error).message).toMatch(message);
  });

  it('rejects a missing file with the fs error, not UnreadableFileError', async () => {
    const err = await ElfFile.open(path.join(tmp.dir(), 'no-such-file')).catch((e: unknown) => e);
    expect(err).not.toBeInstanceOf(UnreadableFileError);
    expect((err as NodeJS.ErrnoException).code).toBe('ENOENT');
  });

  it('closes the file handle of every file it rejects', async () => {
    const fds = () => readdirSync('/proc/self/fd').length;
    // Warm up anything lazily opened by the first call.
    await openError(header({ machine: 8 }));
    const before = fds();
    for (const c of cases) await openError(c.bytes);
    expect(fds()).toBe(before);
  });

  it('accepts a NOBITS section whose size runs past the end of the file', async () => {
    const file = await writeTemp(buildElf({ sections: [{ name: '.bss', type: SHT_NOBITS, addr: 0x9000n, size: 1 << 30 }] }));
    const elf = await ElfFile.open(file);
    try {
      expect(elf.section('.bss')?.size).toBe(1 << 30);
    } finally {
      await elf.close();
    }
  });

  it('rejects a sparse 4 GiB file whose section headers lie past its end, without reading it', async () => {
    const file = path.join(tmp.dir(), 'sparse-4g');
    const GiB = 1024 ** 3;
    await writeFile(file, elfHeader({ shoff: BigInt(5 * GiB), shnum: 30, shstrndx: 29 }));
    await truncate(file, 4 * GiB);
    const handle = await open(file, 'r');
    expect((await handle.stat()).size).toBe(4 * GiB);
    await handle.close();

    const rssBefore = process.memoryUsage().rss;
    const started = performance.now();
    const err = await ElfFile.open(file).catch((e: unknown) => e);
    const elapsed = performance.now() - started;
    const rssGrowth = process.memoryUsage().rss - rssBefore;

    expect(err).toBeInstanceOf(UnreadableFileError);
    expect((err as Error).message).toMatch(/section headers lie past the end/);
    expect(elapsed).toBeLessThan(2_000);
    expect(rssGrowth).toBeLessThan(100 * 1024 * 1024);
  });
});

describe('ElfFile on a valid minimal file', () => {
  let elf: ElfFile;
  beforeAll(async () => {
    elf = await ElfFile.open(await writeTemp(buildElf(validSpec())));
  });
  afterAll(async () => {
    await elf.close();
  });

  it('reads the header: type and architecture', () => {
    expect(elf.header).toEqual({ type: 3, arch: 'amd64' });
    expect(MACHINES[62]).toBe('amd64');
  });

  it('lists every section, the null section first and .shstrtab last', () => {
    expect(elf.sections.map((s) => s.name)).toEqual(['', '.text', '.data', '.bss', '.note', '.dynsym', '.dynstr', '.shstrtab']);
    expect(elf.sections[0]).toMatchObject({ type: 0, addr: 0n, size: 0 });
  });

  it('finds a section by name with its header fields', () => {
    const text = elf.section('.text');
    expect(text).toMatchObject({ name: '.text', type: 1, addr: 0x1000n, size: TEXT.length, flags: SHF_ALLOC });
    expect(elf.section('.dynsym')).toMatchObject({ type: SHT_DYNSYM, entsize: 24, link: 6 });
    expect(elf.section('.nope')).toBeUndefined();
    expect(elf.hasSection('.bss')).toBe(true);
    expect(elf.hasSection('.symtab')).toBe(false);
  });

  it('reads a section whole', async () => {
    expect((await elf.readSection(elf.section('.text')!)).equals(TEXT)).toBe(true);
    expect((await elf.readSection(elf.section('.bss')!)).equals(Buffer.alloc(64))).toBe(true);
  });

  it.each([
    { at: '0x1000', length: 4, expected: Buffer.from('0123') },
    { at: '0x1004', length: 6, expected: Buffer.from('456789') },
    { at: '0x101e', length: 2, expected: Buffer.from('uv') },
    { at: '0x2008', length: 4, expected: Buffer.from('aabbccdd', 'hex') },
    { at: '0x3010', length: 8, expected: Buffer.alloc(8) },
  ])('readVirtual($at, $length) reads inside a section', async ({ at, length, expected }) => {
    expect((await elf.readVirtual(BigInt(at), length)).equals(expected)).toBe(true);
  });

  it.each([
    { what: 'below every section', addr: 0x10n, length: 4 },
    { what: 'between sections', addr: 0x1800n, length: 4 },
    { what: 'across the end of .text', addr: 0x1000n + BigInt(TEXT.length) - 2n, length: 4 },
    { what: 'at address 0 (unallocated sections)', addr: 0n, length: 1 },
    { what: 'far beyond every section', addr: 0xffff_ffff_0000n, length: 8 },
  ])('readVirtual $what raises UnreadableFileError', async ({ addr, length }) => {
    await expect(elf.readVirtual(addr, length)).rejects.toThrow(UnreadableFileError);
    await expect(elf.readVirtual(addr, length)).rejects.toThrow(/is in no section/);
  });

  it.each([
    { offset: -1, length: 4 },
    { offset: 0, length: -1 },
    { offset: 0, length: 1 << 20 },
  ])('readAt($offset, $length) outside the file raises UnreadableFileError', async ({ offset, length }) => {
    await expect(elf.readAt(offset, length)).rejects.toThrow(UnreadableFileError);
  });

  it('symbols() returns only the .dynsym entries whose names start with a prefix asked for, with their fields', async () => {
    expect(await elf.symbols('.dynsym', ['go:link.'])).toEqual([{ name: 'go:link.pkghashbytes.fmt', value: 0x2000n, size: 8, bind: 1, shndx: 2 }]);
  });

  it('symbols() gives the weak binding and value of the other symbol when asked for it', async () => {
    expect(await elf.symbols('.dynsym', ['main.'])).toEqual([{ name: 'main.unrelated', value: 0x2008n, size: 4, bind: 2, shndx: 2 }]);
  });

  it.each([
    { prefixes: ['go:link.', 'main.'], names: ['go:link.pkghashbytes.fmt', 'main.unrelated'] },
    { prefixes: ['main.', 'go:link.pkghashbytes.fmt'], names: ['go:link.pkghashbytes.fmt', 'main.unrelated'] },
    { prefixes: ['go:link.pkghashbytes.fmtX'], names: [] },
    { prefixes: ['go.link.'], names: [] },
    { prefixes: ['unrelated'], names: [] },
    { prefixes: [], names: [] },
  ])('symbols() with prefixes $prefixes → $names', async ({ prefixes, names }) => {
    expect((await elf.symbols('.dynsym', prefixes)).map((s) => s.name)).toEqual(names);
  });

  it('symbols() of a table the file does not have is empty', async () => {
    expect(await elf.symbols('.symtab', ['go:link.', 'main.'])).toEqual([]);
  });

  it('readRanges() returns the bytes of each range in the order asked, across sections', async () => {
    const got = await elf.readRanges([
      { addr: 0x2008n, size: 4 },
      { addr: 0x1000n, size: 4 },
      { addr: 0x3000n, size: 8 },
      { addr: 0x1002n, size: 4 },
    ]);
    expect(got.map((b) => b.toString('hex'))).toEqual(['aabbccdd', '30313233', '0000000000000000', '32333435']);
  });

  it('readRanges() raises UnreadableFileError for a range in no section', async () => {
    await expect(
      elf.readRanges([
        { addr: 0x1000n, size: 4 },
        { addr: 0x1800n, size: 4 },
      ]),
    ).rejects.toThrow(UnreadableFileError);
  });

  it('readPointers() reads pointers in place when there are no dynamic relocations', async () => {
    expect(await elf.readPointers([0x2000n, 0x1008n])).toEqual([0x7766554433221100n, 0x6665646362613938n]);
  });
});

describe('ElfFile.readPointers with .rela.dyn', () => {
  it('prefers an R_X86_64_RELATIVE relocation to the bytes in the file', async () => {
    const rela = Buffer.alloc(24);
    rela.writeBigUInt64LE(0x2000n, 0); // r_offset
    rela.writeBigUInt64LE(8n, 8); // r_info: R_X86_64_RELATIVE, no symbol
    rela.writeBigInt64LE(0x1004n, 16); // r_addend
    const spec = validSpec();
    const elf = await ElfFile.open(
      await writeTemp(buildElf({ sections: [...spec.sections, { name: '.rela.dyn', type: 4, data: rela, link: '.dynsym', entsize: 24 }] })),
    );
    try {
      expect(await elf.readPointers([0x2000n, 0x1008n])).toEqual([0x1004n, 0x6665646362613938n]);
    } finally {
      await elf.close();
    }
  });
});

describe('ElfFile on arm64 and on odd section tables', () => {
  it('reports arm64 for e_machine 183', async () => {
    const elf = await ElfFile.open(await writeTemp(buildElf({ ...validSpec(), machine: 183, type: 2 })));
    try {
      expect(elf.header).toEqual({ type: 2, arch: 'arm64' });
    } finally {
      await elf.close();
    }
  });

  it('reads section headers larger than 64 bytes with their stride', async () => {
    // Re-lay the table with 80-byte entries.
    const base = buildElf(validSpec());
    const shoff = Number(base.readBigUInt64LE(40));
    const shnum = base.readUInt16LE(60);
    const wide = Buffer.alloc(shoff + shnum * 80);
    base.copy(wide, 0, 0, shoff);
    for (let i = 0; i < shnum; i++) base.copy(wide, shoff + i * 80, shoff + i * 64, shoff + (i + 1) * 64);
    wide.writeUInt16LE(80, 58);
    const elf = await ElfFile.open(await writeTemp(wide));
    try {
      expect(elf.sections.map((s) => s.name)).toContain('.dynsym');
      expect((await elf.readVirtual(0x1000n, 4)).toString()).toBe('0123');
    } finally {
      await elf.close();
    }
  });

  it('symbols() raises UnreadableFileError when the table links to no section', async () => {
    const { symtab } = symbolTable([{ name: 'x', value: 1n, size: 1 }]);
    const elf = await ElfFile.open(await writeTemp(buildElf({ sections: [{ name: '.dynsym', type: SHT_DYNSYM, data: symtab, link: 99, entsize: 24 }] })));
    try {
      await expect(elf.symbols('.dynsym', ['x'])).rejects.toThrow(UnreadableFileError);
    } finally {
      await elf.close();
    }
  });

  it('refuses a NOBITS section whose size no address space holds when the file is opened', async () => {
    const err = await openError(buildElf({ sections: [{ name: '.go.buildinfo', type: SHT_NOBITS, addr: 0x8000n, size: 1n << 62n }] }));
    expect(err).toBeInstanceOf(UnreadableFileError);
    expect((err as Error).message).toMatch(/size of section \.go\.buildinfo is 0x4000000000000000/);
  });

  it('refuses to hand out more zeros of a NOBITS section than LIMITS.zeros', async () => {
    const elf = await ElfFile.open(await writeTemp(buildElf({ sections: [{ name: '.go.buildinfo', type: SHT_NOBITS, addr: 0x8000n, size: 3 * 1024 ** 3 }] })));
    try {
      await expect(elf.readSection(elf.section('.go.buildinfo')!)).rejects.toThrow(/claims 3221225472 bytes of a section with no data/);
    } finally {
      await elf.close();
    }
  });
});
