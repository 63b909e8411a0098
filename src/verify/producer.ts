/**
 * The Go release that compiled a binary, from its DWARF: every Go compile unit names its compiler
 * (DW_AT_producer "Go cmd/compile go1.20.14; -shared -dynlink regabi"), and the first one sits at
 * the start of .debug_info. This is what a plugin carries when the linker wrote no build
 * information into it (Go 1.20 and older); `-w` or strip removes it.
 */
import { constants, inflateSync } from 'node:zlib';
import { SHF_COMPRESSED, SHT_NOBITS, type ElfFile } from '../elf/elf';

/** Compressed bytes read: the first compile unit's header is in the first few hundred bytes out. */
const HEAD = 4096;
/** Inflated bytes kept at most: a crafted stream may not make more of those 4 KiB. */
const MAX_INFLATED = 1 << 20;
const ELFCOMPRESS_ZLIB = 1;
const PRODUCER = /Go cmd\/compile (go1[0-9.]*[0-9]|devel [^\s;\0]+)/;

function inflateHead(data: Buffer): Buffer | undefined {
  try {
    // A prefix of the stream: flush what it decodes to instead of asking for its end.
    return inflateSync(data, { finishFlush: constants.Z_SYNC_FLUSH, maxOutputLength: MAX_INFLATED });
  } catch {
    return undefined; // not zlib, or more than MAX_INFLATED: no version to be had from it
  }
}

export async function producerGoVersion(elf: ElfFile): Promise<string | undefined> {
  const section = elf.section('.debug_info') ?? elf.section('.zdebug_info');
  if (section === undefined || section.type === SHT_NOBITS) return undefined;
  const head = await elf.readSectionHead(section, HEAD);
  let text: Buffer | undefined = head;
  if (section.flags & SHF_COMPRESSED) {
    // Elf64_Chdr: ch_type, ch_reserved, ch_size, ch_addralign, then the zlib stream.
    text = head.length >= 24 && head.readUInt32LE(0) === ELFCOMPRESS_ZLIB ? inflateHead(head.subarray(24)) : undefined;
  } else if (head.subarray(0, 4).toString('latin1') === 'ZLIB') {
    // .zdebug_*: "ZLIB", the inflated size (8 bytes, big-endian), then the zlib stream.
    text = inflateHead(head.subarray(12));
  }
  return text === undefined ? undefined : PRODUCER.exec(text.toString('latin1'))?.[1];
}
