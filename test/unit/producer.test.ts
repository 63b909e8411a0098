import { deflateSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ElfFile } from '../../src/elf/elf';
import { producerGoVersion } from '../../src/verify/producer';
import { buildElf, SHT_NOBITS, tempDir, type SectionSpec } from './elf-builder';

const tmp = tempDir('d7y-producer-test-');
beforeAll(tmp.setup);
afterAll(tmp.teardown);

/** The start of a Go compile unit: a header, then DW_AT_name and DW_AT_producer inline. */
const CU = Buffer.concat([
  Buffer.alloc(11, 1),
  Buffer.from('fmt\0'),
  Buffer.from('Go cmd/compile go1.20.14; -shared -dynlink regabi\0'),
  Buffer.alloc(4096, 7),
]);
const SHF_COMPRESSED = 0x800n;

function chdr(data: Buffer, type = 1): Buffer {
  const h = Buffer.alloc(24);
  h.writeUInt32LE(type, 0);
  h.writeBigUInt64LE(BigInt(data.length), 8);
  h.writeBigUInt64LE(1n, 16);
  return Buffer.concat([h, deflateSync(data)]);
}
const zdebug = (data: Buffer) => {
  const size = Buffer.alloc(8);
  size.writeBigUInt64BE(BigInt(data.length));
  return Buffer.concat([Buffer.from('ZLIB'), size, deflateSync(data)]);
};

let n = 0;
async function version(section: SectionSpec): Promise<string | undefined> {
  const elf = await ElfFile.open(await tmp.file(`f${n++}`, buildElf({ sections: [section] })));
  try {
    return await producerGoVersion(elf);
  } finally {
    await elf.close();
  }
}

describe('producerGoVersion: the Go release from the first compile unit of the DWARF', () => {
  it.each([
    { what: 'SHF_COMPRESSED .debug_info (Go 1.20)', section: { name: '.debug_info', flags: SHF_COMPRESSED, data: chdr(CU) } },
    { what: 'uncompressed .debug_info', section: { name: '.debug_info', data: CU } },
    { what: '.zdebug_info (before Go 1.20)', section: { name: '.zdebug_info', data: zdebug(CU) } },
  ])('reads $what', async ({ section }) => {
    expect(await version(section)).toBe('go1.20.14');
  });

  it.each([
    { what: 'no DWARF (-w)', section: { name: '.text', data: CU } },
    { what: 'a NOBITS .debug_info', section: { name: '.debug_info', type: SHT_NOBITS, size: 1 << 20 } },
    { what: 'a compression type other than zlib', section: { name: '.debug_info', flags: SHF_COMPRESSED, data: chdr(CU, 2) } },
    {
      what: 'a zlib stream that is garbage',
      section: { name: '.debug_info', flags: SHF_COMPRESSED, data: Buffer.concat([chdr(CU).subarray(0, 24), Buffer.alloc(64, 0xff)]) },
    },
    {
      what: 'a stream that inflates past the limit before the producer',
      section: { name: '.debug_info', flags: SHF_COMPRESSED, data: chdr(Buffer.concat([Buffer.alloc(8 << 20), CU])) },
    },
    { what: 'no Go producer', section: { name: '.debug_info', data: Buffer.from('GNU C17 12.2.0\0') } },
  ])('is undefined for $what', async ({ section }) => {
    expect(await version(section as SectionSpec)).toBeUndefined();
  });
});
