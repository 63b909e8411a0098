/**
 * Crafted files against verify and inspect: whatever sizes, offsets and counts a file claims, the
 * answer is an UnverifiableError (exit 12, with a hint) and no allocation larger than a small fixed
 * cap, whatever the file claims.
 */
import { execFile } from 'node:child_process';
import { mkdir, symlink, truncate } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LIMITS } from '../../src/elf/reader';
import { UnverifiableError, UsageError } from '../../src/errors';
import { inspectFile, verifyFiles } from '../../src/verify';
import { withAllocationCap } from './alloc-guard';
import { goBinary, goBuildinfo, SH, sectionHeaderAt, SHT_NOBITS, SYM, symbolAt, tempDir } from './elf-builder';

const tmp = tempDir('d7y-crafted-test-');
beforeAll(tmp.setup);
afterAll(tmp.teardown);

/** The files are a few KiB: anything above this was sized by a claim of the file, not by its bytes. */
const CAP = 2 * 1024 * 1024;
const PACKAGES = { runtime: '0102030405060708', fmt: '1112131415161718', 'd7y.io/dragonfly/v2/pkg/source': '2122232425262728' };
const plugin = () => goBinary({ kind: 'plugin', packages: PACKAGES });
const host = () => goBinary({ kind: 'executable', packages: PACKAGES });

let n = 0;
const file = (data: Buffer) => tmp.file(`f${n++}`, data);

function patch(bytes: Buffer, at: number, value: bigint, width: 2 | 4 | 8 = 8): Buffer {
  const out = Buffer.from(bytes);
  if (width === 8) out.writeBigUInt64LE(BigInt.asUintN(64, value), at);
  else if (width === 4) out.writeUInt32LE(Number(BigInt.asUintN(32, value)), at);
  else out.writeUInt16LE(Number(value), at);
  return out;
}
const section = (b: Buffer, name: string, field: keyof typeof SH, value: bigint) =>
  patch(b, sectionHeaderAt(b, name) + SH[field], value, field === 'type' || field === 'link' ? 4 : 8);
const symbol = (b: Buffer, table: string, name: string, field: 'value' | 'size', value: bigint) => patch(b, symbolAt(b, table, name) + SYM[field], value);
/** The bytes of .go.buildinfo replaced (same length or shorter, zero-padded). */
function buildinfo(b: Buffer, data: Buffer): Buffer {
  const header = sectionHeaderAt(b, '.go.buildinfo');
  const offset = Number(b.readBigUInt64LE(header + SH.offset));
  const size = Number(b.readBigUInt64LE(header + SH.size));
  const out = Buffer.from(b);
  out.fill(0, offset, offset + size);
  data.copy(out, offset, 0, Math.min(size, data.length));
  return out;
}

it('the crafted files start from a plugin and a host that verify reads and accepts', async () => {
  const report = await verifyFiles(await file(host()), [await file(plugin())]);
  expect(report.loads).toBe(true);
  expect(report.plugins[0]).toMatchObject({ goVersion: 'go1.23.5', buildCommit: 'abc1234', orderKnown: true });
});

const GiB = 2n ** 30n;
const cases: Record<string, Array<{ name: string; bytes: () => Buffer; message: RegExp }>> = {
  'huge section sizes': [
    { name: '.symtab claims 2^40 bytes', bytes: () => section(plugin(), '.symtab', 'size', 2n ** 40n), message: /section \.symtab lies past the end/ },
    {
      name: '.go.buildinfo claims 2^62 bytes',
      bytes: () => section(plugin(), '.go.buildinfo', 'size', 2n ** 62n),
      message: /section \.go\.buildinfo lies past the end/,
    },
    {
      name: '.go.buildinfo as NOBITS of 3 GiB',
      bytes: () => section(section(plugin(), '.go.buildinfo', 'type', BigInt(SHT_NOBITS)), '.go.buildinfo', 'size', 3n * GiB),
      message: /claims 3221225472 bytes of a section with no data/,
    },
    {
      name: '.rodata as NOBITS of 2^60 bytes',
      bytes: () => section(section(plugin(), '.rodata', 'type', BigInt(SHT_NOBITS)), '.rodata', 'size', 2n ** 60n),
      message: /size of section \.rodata is 0x1000000000000000/,
    },
    { name: '.dynsym size 2^64-1', bytes: () => section(plugin(), '.dynsym', 'size', -1n), message: /section \.dynsym lies past the end/ },
  ],
  'huge symbol and entry counts': [
    {
      name: 'go:link.pkghashes claims 2^40 bytes',
      bytes: () => symbol(plugin(), '.symtab', 'go:link.pkghashes', 'size', 2n ** 40n),
      message: /is in no section/,
    },
    {
      name: 'go:link.pkghashes in a 3 GiB .bss claims 4 million packages',
      bytes: () =>
        symbol(
          section(section(plugin(), '.data.rel.ro', 'type', BigInt(SHT_NOBITS)), '.data.rel.ro', 'size', 3n * GiB),
          '.symtab',
          'go:link.pkghashes',
          'size',
          160_000_000n,
        ),
      message: /package hash table: 4000000 entries, more than any Go binary has/,
    },
    { name: '.symtab entries of 1 byte', bytes: () => section(plugin(), '.symtab', 'entsize', 1n), message: /\.symtab has 1-byte entries, not 24/ },
    {
      name: '.dynsym entries of 2^40 bytes',
      bytes: () => section(plugin(), '.dynsym', 'entsize', 2n ** 40n),
      message: /\.dynsym has 1099511627776-byte entries/,
    },
    { name: 'e_shnum 65535 with the table past the end', bytes: () => patch(plugin(), 60, 65535n, 2), message: /section headers lie past the end/ },
  ],
  'offsets past the end of the file': [
    { name: 'e_shoff 2^64-64', bytes: () => patch(plugin(), 40, -64n), message: /section headers lie past the end/ },
    { name: '.strtab offset 2^63', bytes: () => section(plugin(), '.strtab', 'offset', 2n ** 63n), message: /section \.strtab lies past the end/ },
    {
      name: '.dynstr offset one past the end',
      bytes: () => {
        const b = plugin();
        return section(b, '.dynstr', 'offset', BigInt(b.length - 1));
      },
      message: /section \.dynstr lies past the end/,
    },
    {
      name: 'a package hash symbol at an address in no section',
      bytes: () => symbol(plugin(), '.dynsym', 'go:link.pkghashbytes.fmt', 'value', 0x7fff_0000n),
      message: /is in no section/,
    },
    {
      name: 'the build commit string pointing past every section',
      bytes: () => {
        const b = plugin();
        const at = sectionHeaderAt(b, '.data');
        return patch(b, Number(b.readBigUInt64LE(at + SH.offset)), 0x9999_0000n);
      },
      message: /is in no section/,
    },
  ],
  'values that look negative': [
    {
      name: 'a symbol size of 2^64-1',
      bytes: () => symbol(plugin(), '.dynsym', 'go:link.pkghashbytes.fmt', 'size', -1n),
      message: /size of symbol go:link\.pkghashbytes\.fmt is 0xffffffffffffffff/,
    },
    { name: 'a section offset of 2^64-1', bytes: () => section(plugin(), '.data', 'offset', -1n), message: /section \.data lies past the end/ },
    {
      name: 'a package hash table at address 2^64-8',
      bytes: () => symbol(plugin(), '.symtab', 'go:link.pkghashes', 'value', -8n),
      message: /is in no section/,
    },
    {
      name: 'a Go string length of 2^64-1 in the package table',
      bytes: () => {
        const b = plugin();
        const at = sectionHeaderAt(b, '.data.rel.ro');
        return patch(b, Number(b.readBigUInt64LE(at + SH.offset)) + 8, -1n);
      },
      message: /a Go string longer than 1 MiB/,
    },
    { name: '.strtab linked to section 2^32-1', bytes: () => section(plugin(), '.symtab', 'link', 0xffff_ffffn), message: /\.symtab has no string table/ },
  ],
  'huge string tables': [
    {
      name: '.strtab as NOBITS of 1 GiB',
      bytes: () => section(section(plugin(), '.strtab', 'type', BigInt(SHT_NOBITS)), '.strtab', 'size', GiB),
      message: /claims 1073741824 bytes of a section with no data/,
    },
    {
      name: '.dynstr claims the whole address space',
      bytes: () => section(plugin(), '.dynstr', 'size', 2n ** 63n),
      message: /section \.dynstr lies past the end/,
    },
    {
      name: '.shstrtab claims 2^50 bytes',
      bytes: () => {
        const b = plugin();
        const at = Number(b.readBigUInt64LE(40)) + b.readUInt16LE(62) * 64;
        return patch(b, at + SH.size, 2n ** 50n);
      },
      message: /no section names/,
    },
  ],
  'truncated build info': [
    {
      name: 'a modinfo length past the section',
      bytes: () =>
        buildinfo(plugin(), Buffer.concat([goBuildinfo('go1.23.5', '').subarray(0, 32), Buffer.from([8]), Buffer.from('go1.23.5'), Buffer.from([0xff, 0x7f])])),
      message: /malformed Go build info/,
    },
    {
      name: 'a version length of 2^62',
      bytes: () =>
        buildinfo(plugin(), Buffer.concat([goBuildinfo('', '').subarray(0, 32), Buffer.from([0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x40])])),
      message: /malformed Go build info/,
    },
    {
      name: 'the file cut inside .go.buildinfo',
      bytes: () => {
        const b = plugin();
        return b.subarray(0, Number(b.readBigUInt64LE(sectionHeaderAt(b, '.go.buildinfo') + SH.offset)) + 40);
      },
      message: /truncated/,
    },
  ],
  'varint overflow in build info': [
    {
      name: 'a ten-byte varint whose last byte is 0x7f',
      bytes: () => buildinfo(plugin(), Buffer.concat([goBuildinfo('', '').subarray(0, 32), Buffer.from([...Array(9).fill(0xff), 0x7f])])),
      message: /overflows 64 bits/,
    },
    {
      name: 'a varint that runs on for eleven bytes',
      bytes: () => buildinfo(plugin(), Buffer.concat([goBuildinfo('', '').subarray(0, 32), Buffer.alloc(11, 0x80), Buffer.from([1])])),
      message: /overflows 64 bits/,
    },
  ],
};

describe.each(Object.entries(cases))('%s', (_, list) => {
  it.each(list)('$name: exit 12 with a hint, no allocation above the cap', async ({ bytes, message }) => {
    const crafted = await file(bytes());
    const hostFile = await file(host());
    for (const run of [() => inspectFile(crafted), () => verifyFiles(hostFile, [crafted])] as Array<() => Promise<unknown>>) {
      const { error, largest } = await withAllocationCap(CAP, run);
      expect(error).toBeInstanceOf(UnverifiableError);
      expect((error as UnverifiableError).exitCode).toBe(12);
      expect((error as UnverifiableError).hint).toBeTruthy();
      expect((error as Error).message).toMatch(message);
      expect(largest).toBeLessThanOrEqual(CAP);
    }
  });
});

describe('sizes beyond the fixed limits in a large (sparse) file', () => {
  it('refuses a 100 MiB .strtab in a 200 MiB file without allocating it', async () => {
    const b = plugin();
    const big = section(section(b, '.strtab', 'offset', 100n * 2n ** 20n), '.strtab', 'size', 100n * 2n ** 20n);
    const crafted = await file(big);
    await truncate(crafted, 200 * 2 ** 20);
    const { error, largest } = await withAllocationCap(CAP, () => inspectFile(crafted));
    expect(error).toBeInstanceOf(UnverifiableError);
    expect((error as Error).message).toMatch(new RegExp(`section \\.strtab claims 104857600 bytes, more than d7y-build reads at once \\(${LIMITS.read}\\)`));
    expect(largest).toBeLessThanOrEqual(CAP);
  });

  it('refuses a 300 MiB .symtab in a 600 MiB file without scanning it', async () => {
    const b = plugin();
    const big = section(section(b, '.symtab', 'offset', 100n * 2n ** 20n), '.symtab', 'size', 300n * 2n ** 20n);
    const crafted = await file(big);
    await truncate(crafted, 600 * 2 ** 20);
    const { error, largest } = await withAllocationCap(CAP, () => inspectFile(crafted));
    expect(error).toBeInstanceOf(UnverifiableError);
    expect((error as Error).message).toMatch(new RegExp(`section \\.symtab claims 314572800 bytes, more than d7y-build scans \\(${LIMITS.table}\\)`));
    expect(largest).toBeLessThanOrEqual(CAP);
  });
});

describe('files that are not regular files are refused by type, never opened', () => {
  const cases: Array<{ name: string; make: (p: string) => Promise<string>; message: (p: string) => string }> = [
    { name: 'a directory', make: async (p) => (await mkdir(p), p), message: (p) => `${p} is a directory, not a file` },
    { name: 'a FIFO', make: async (p) => (await promisify(execFile)('mkfifo', [p]), p), message: (p) => `${p} is a FIFO (named pipe), not a file` },
    { name: '/dev/zero', make: async () => '/dev/zero', message: () => '/dev/zero is a character device, not a file' },
    {
      name: 'a symbolic link to /dev/zero',
      make: async (p) => (await symlink('/dev/zero', p), p),
      message: (p) => `${p} (a symbolic link to /dev/zero) is a character device, not a file`,
    },
    {
      name: 'a dangling symbolic link',
      make: async (p) => (await symlink('/nowhere/at/all', p), p),
      message: (p) => `${p} is a symbolic link to /nowhere/at/all, which does not exist`,
    },
    { name: 'a missing file', make: async (p) => p, message: (p) => `${p} does not exist` },
  ];

  it.each(cases)('$name, as host, plugin or file to inspect: exit 2 naming what it is', async ({ make, message }) => {
    const p = await make(path.join(tmp.dir(), `odd-${n++}`));
    const goodPlugin = await file(plugin());
    const goodHost = await file(host());
    for (const run of [() => inspectFile(p), () => verifyFiles(p, [goodPlugin]), () => verifyFiles(goodHost, [p])] as Array<() => Promise<unknown>>) {
      const error = await run().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(UsageError);
      expect((error as UsageError).exitCode).toBe(2);
      expect((error as Error).message).toBe(message(p));
    }
  });
});

describe('labels', () => {
  it('names files by their label in errors and reports, never by the path read', async () => {
    const good = await file(host());
    const bad = await file(Buffer.from('not an ELF file at all'));
    const labelOf = (f: string) => (f === good ? 'bin/dfget' : `plugins/${path.basename(f)}.so`);
    const error = await verifyFiles(good, [bad], labelOf).catch((e: unknown) => e);
    expect((error as Error).message).toBe(`cannot tell from plugins/${path.basename(bad)}.so: not an ELF file`);
    expect((error as Error).message).not.toContain(tmp.dir());

    const ok = await file(plugin());
    const report = await verifyFiles(good, [ok], labelOf);
    expect(report.host.path).toBe('bin/dfget');
    expect(report.plugins[0]!.file).toBe(`plugins/${path.basename(ok)}.so`);
  });
});

describe('a plugin without build information (Go 1.20)', () => {
  it('gets a verdict from its package hashes, with the settings it does not record named', async () => {
    const legacy = await file(goBinary({ kind: 'plugin', packages: PACKAGES, noBuildInfo: true }));
    const report = await verifyFiles(await file(host()), [legacy]);
    expect(report.loads).toBe(true);
    expect(report.plugins[0]).toMatchObject({
      goVersion: 'unknown',
      buildCommit: 'abc1234',
      notCompared: {
        what: ['Go version', 'CGO_ENABLED', '-trimpath', '-tags', '-gcflags', '-race', '-asan', '-msan'],
        why: expect.stringMatching(/^not recorded in a plugin without Go build information or DWARF/),
      },
    });

    const other = await file(goBinary({ kind: 'plugin', packages: { ...PACKAGES, fmt: 'ffffffffffffffff' }, noBuildInfo: true }));
    const refused = await verifyFiles(await file(host()), [other]);
    expect(refused.loads).toBe(false);
    expect(refused.plugins[0]!.goError).toBe('plugin was built with a different version of package fmt');
  });

  it('is refused as a host, and an executable without build information is not a Go binary', async () => {
    const legacy = await file(goBinary({ kind: 'plugin', packages: PACKAGES, noBuildInfo: true }));
    await expect(verifyFiles(legacy, [legacy])).rejects.toThrow(/is a Go plugin, not a host executable/);
    const exe = await file(goBinary({ kind: 'executable', packages: PACKAGES, noBuildInfo: true }));
    await expect(inspectFile(exe)).rejects.toThrow(/not a Go binary: it has no Go build information/);
  });
});
