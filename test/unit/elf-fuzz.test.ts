/**
 * Fuzzing verify and inspect with mutations of real Go binaries: a host that links package plugin
 * and a -buildmode=plugin .so, built with the local Go toolchain ($D7Y_GO, else `go` on PATH, else
 * /usr/local/go/bin/go; gcc for cgo) and cached in the temp dir per Go version. Each case mutates
 * one of them, at random or by structure (ELF header, section headers, symbol entries, build info,
 * the plugin's package table, relocations, DWARF, truncation), and must end in a verdict or an
 * UnverifiableError, allocate no Buffer above a fixed cap and not hang.
 *
 * D7Y_FUZZ_CASES (default 200) and D7Y_FUZZ_SEED (default 0x5eed) choose the run; a failing case
 * is written to the temp dir so it can be run again with `d7y-build inspect`.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ElfFile } from '../../src/elf/elf';
import { UnverifiableError } from '../../src/errors';
import { inspectFile, verifyFiles } from '../../src/verify';
import { withAllocationCap } from './alloc-guard';
import { SH, SYM, tempDir } from './elf-builder';

const run = promisify(execFile);
const CASES = Number(process.env.D7Y_FUZZ_CASES ?? 200);
const SEED = Number(process.env.D7Y_FUZZ_SEED ?? 0x5eed);
/** No Buffer above this, whatever a mutation claims; the corpus files are smaller than it. */
const CAP = 8 * 1024 * 1024;
/** A case that takes longer has hung on something the file claims (a hang bound, not a speed target). */
const HANG_MS = 10_000;

function goTool(): string {
  if (process.env.D7Y_GO) return process.env.D7Y_GO;
  const onPath = (process.env.PATH ?? '')
    .split(path.delimiter)
    .map((d) => path.join(d, 'go'))
    .find((p) => existsSync(p));
  return onPath ?? '/usr/local/go/bin/go';
}

const HOST_GO = `package main

import (
	"fmt"
	"os"
	"plugin"
)

var GitCommit = "fuzz"

func main() {
	p, err := plugin.Open(os.Args[1])
	fmt.Println(GitCommit, p, err)
}
`;
const PLUGIN_GO = `package main

import "fmt"

var buildCommit = "fuzz"

func Hello(name string) string { return fmt.Sprintf("hello %s from %s", name, buildCommit) }
`;

/** Builds (once per Go version, kept in the temp dir) the real host and plugin the cases mutate. */
async function realBinaries(): Promise<{ host: string; plugin: string }> {
  const go = goTool();
  const env = { ...process.env, CGO_ENABLED: '1', GOTOOLCHAIN: 'local', GOFLAGS: '', GO111MODULE: 'on' };
  const version = (
    await run(go, ['env', 'GOVERSION'], { env }).catch((err: Error) => {
      throw new Error(`the ELF fuzz test builds real Go binaries and needs a Go toolchain with gcc (set D7Y_GO): ${err.message}`);
    })
  ).stdout.trim();
  const dir = path.join(os.tmpdir(), `d7y-build-fuzz-corpus-${version}`);
  const host = path.join(dir, 'host');
  const plugin = path.join(dir, 'plugin.so');
  if (existsSync(host) && existsSync(plugin)) return { host, plugin };

  const src = `${dir}.src-${process.pid}`;
  try {
    await mkdir(path.join(src, 'host'), { recursive: true });
    await mkdir(path.join(src, 'plugin'), { recursive: true });
    await writeFile(path.join(src, 'go.mod'), 'module example.com/fuzz\n\ngo 1.20\n');
    await writeFile(path.join(src, 'host/main.go'), HOST_GO);
    await writeFile(path.join(src, 'plugin/main.go'), PLUGIN_GO);
    await run(go, ['build', '-trimpath', '-o', 'out/host', './host'], { cwd: src, env });
    await run(go, ['build', '-trimpath', '-buildmode=plugin', '-o', 'out/plugin.so', './plugin'], { cwd: src, env });
    // Renamed into place whole, so a concurrent run sees both files or neither.
    await rename(path.join(src, 'out'), dir).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOTEMPTY' && err.code !== 'EEXIST') throw err;
    });
  } finally {
    await rm(src, { recursive: true, force: true });
  }
  return { host, plugin };
}

/** mulberry32: small, fast, and the same sequence for the same seed everywhere. */
function prng(seed: number): { int: (n: number) => number; pick: <T>(xs: readonly T[]) => T; chance: (p: number) => boolean } {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  return { int, pick: (xs) => xs[int(xs.length)]!, chance: (p) => next() < p };
}
type Rng = ReturnType<typeof prng>;

/** Where things are in an unmutated file: what the structure-aware mutations aim at. */
interface Layout {
  bytes: Buffer;
  shoff: number;
  sections: Array<{ name: string; header: number; offset: number; size: number; entsize: number }>;
  /** File offsets of the entries of the symbols verify reads, in .symtab and .dynsym. */
  symbols: number[];
}

async function layout(file: string): Promise<Layout> {
  const bytes = await readFile(file);
  const elf = await ElfFile.open(file);
  try {
    const shoff = Number(bytes.readBigUInt64LE(40));
    const sections = elf.sections.map((s, i) => ({ name: s.name, header: shoff + i * 64, offset: s.offset, size: s.size, entsize: s.entsize }));
    const symbols: number[] = [];
    for (const table of ['.symtab', '.dynsym'] as const) {
      const section = sections.find((s) => s.name === table);
      if (section === undefined) continue;
      const wanted = await elf.symbols(table, ['go:link.pkghash', 'go.link.pkghash', 'main.', 'plugin/unnamed-', 'runtime.buildVersion']);
      const raw = bytes.subarray(section.offset, section.offset + section.size);
      for (let at = 0; at + 24 <= raw.length; at += 24) {
        const value = raw.readBigUInt64LE(at + SYM.value);
        if (wanted.some((w) => w.value === value && BigInt(w.size) === raw.readBigUInt64LE(at + SYM.size))) symbols.push(section.offset + at);
      }
    }
    return { bytes, shoff, sections, symbols };
  } finally {
    await elf.close();
  }
}

function interesting(rng: Rng, original: bigint, fileSize: number): bigint {
  const size = BigInt(fileSize);
  const choices: Array<() => bigint> = [
    () => rng.pick([0n, 1n, 7n, 8n, 16n, 24n, 40n, 64n, 0x7fn, 0x80n, 0xffn, 0xffffn, 0x7fff_ffffn, 0x8000_0000n, 0xffff_ffffn, 1n << 32n]),
    () => rng.pick([(1n << 53n) - 1n, 1n << 53n, 1n << 62n, 1n << 63n, (1n << 64n) - 1n, (1n << 64n) - 8n, (1n << 64n) - 24n]),
    () => size + BigInt(rng.int(3)) - 1n,
    () => BigInt(rng.int(fileSize)),
    () => original + BigInt(rng.int(65)) - 32n,
    () => original << BigInt(1 + rng.int(40)),
    () => (BigInt(rng.int(2 ** 32)) << 32n) | BigInt(rng.int(2 ** 32)),
  ];
  return BigInt.asUintN(64, rng.pick(choices)());
}

function write(b: Buffer, at: number, width: number, value: bigint): void {
  if (at < 0 || at + width > b.length) return;
  if (width === 8) b.writeBigUInt64LE(BigInt.asUintN(64, value), at);
  else b.writeUIntLE(Number(BigInt.asUintN(width * 8, value)), at, width);
}
function read(b: Buffer, at: number, width: number): bigint {
  return width === 8 ? b.readBigUInt64LE(at) : BigInt(b.readUIntLE(at, width));
}

const INTERESTING_SECTIONS = [
  '.symtab',
  '.strtab',
  '.dynsym',
  '.dynstr',
  '.go.buildinfo',
  '.rela.dyn',
  '.data.rel.ro',
  '.rodata',
  '.noptrdata',
  '.data',
  '.bss',
  '.shstrtab',
  '.debug_info',
];

/** One mutation of `b` (in place); returns what it did, for the failure report. */
function mutate(rng: Rng, L: Layout, b: Buffer): string {
  const section = (name: string) => L.sections.find((s) => s.name === name);
  const field = (at: number, width: number, what: string) => {
    const value = interesting(rng, read(b, at, width), b.length);
    write(b, at, width, value);
    return `${what} = 0x${value.toString(16)}`;
  };
  const kinds: Array<() => string> = [
    // ELF header fields
    () => {
      const [at, width, name] = rng.pick([
        [16, 2, 'e_type'],
        [18, 2, 'e_machine'],
        [40, 8, 'e_shoff'],
        [58, 2, 'e_shentsize'],
        [60, 2, 'e_shnum'],
        [62, 2, 'e_shstrndx'],
        [4, 1, 'EI_CLASS'],
        [5, 1, 'EI_DATA'],
      ] as const);
      return field(at, width, name);
    },
    // section header fields, mostly of the sections verify reads
    () => {
      const s = rng.chance(0.8) ? (section(rng.pick(INTERESTING_SECTIONS)) ?? rng.pick(L.sections)) : rng.pick(L.sections);
      const [at, width, name] = rng.pick([
        [SH.type, 4, 'type'],
        [8, 8, 'flags'],
        [SH.addr, 8, 'addr'],
        [SH.offset, 8, 'offset'],
        [SH.size, 8, 'size'],
        [SH.link, 4, 'link'],
        [SH.entsize, 8, 'entsize'],
        [0, 4, 'name'],
      ] as const);
      return field(s.header + at, width, `section ${s.name} ${name}`);
    },
    // a section with no bytes in the file (SHT_NOBITS) that claims a size
    () => {
      const s = section(rng.pick(INTERESTING_SECTIONS)) ?? rng.pick(L.sections);
      write(b, s.header + SH.type, 4, 8n);
      return `section ${s.name} made NOBITS, ${field(s.header + SH.size, 8, 'size')}`;
    },
    // symbol entries verify reads
    () => {
      if (L.symbols.length === 0) return 'no symbols';
      const entry = rng.pick(L.symbols);
      const [at, width, name] = rng.pick([
        [SYM.name, 4, 'name'],
        [SYM.info, 1, 'info'],
        [SYM.shndx, 2, 'shndx'],
        [SYM.value, 8, 'value'],
        [SYM.size, 8, 'size'],
      ] as const);
      return field(entry + at, width, `symbol at ${entry} ${name}`);
    },
    // build info bytes: header flags, varints, modinfo text
    () => {
      const s = section('.go.buildinfo');
      if (s === undefined) return 'no build info';
      const at = s.offset + (rng.chance(0.6) ? 14 + rng.int(40) : rng.int(s.size));
      const value = rng.pick([0x00, 0x01, 0x02, 0x03, 0x7f, 0x80, 0xff, rng.int(256)]);
      const run = rng.chance(0.3) ? 1 + rng.int(12) : 1;
      for (let i = 0; i < run; i++) write(b, at + i, 1, BigInt(value));
      return `build info byte ${at - s.offset} (x${run}) = 0x${value.toString(16)}`;
    },
    // the plugin's package table (pointers, lengths) and the Go strings it points at
    () => {
      const s = section('.data.rel.ro') ?? section('.rodata');
      if (s === undefined) return 'no table section';
      const at = s.offset + 8 * rng.int(Math.floor(s.size / 8));
      return field(at, 8, `${s.name} word at ${at - s.offset}`);
    },
    // dynamic relocations
    () => {
      const s = section('.rela.dyn');
      if (s === undefined || s.size < 24) return 'no relocations';
      const at = s.offset + 24 * rng.int(Math.floor(s.size / 24)) + rng.pick([0, 8, 12, 16]);
      return field(at, at % 24 === 12 ? 4 : 8, `.rela.dyn at ${at - s.offset}`);
    },
    // no build information: the Go 1.20 path (DWARF, package table alone)
    () => {
      const s = section('.go.buildinfo');
      if (s === undefined) return 'no build info';
      const names = section('.shstrtab')!;
      const at = names.offset + b.readUInt32LE(s.header);
      write(b, at + 1, 1, BigInt('X'.charCodeAt(0)));
      return 'build info section renamed';
    },
    // DWARF head, read when there is no build information
    () => {
      const s = section('.debug_info');
      if (s === undefined) return 'no DWARF';
      const at = s.offset + rng.int(Math.min(s.size, 256));
      write(b, at, 1, BigInt(rng.int(256)));
      return `.debug_info byte ${at - s.offset}`;
    },
    // random bytes anywhere
    () => {
      const count = 1 + rng.int(64);
      for (let i = 0; i < count; i++) b[rng.int(b.length)] = rng.int(256);
      return `${count} random bytes`;
    },
  ];
  return rng.pick(kinds)();
}

const tmp = tempDir('d7y-elf-fuzz-');
let corpus: { host: Layout; plugin: Layout; hostPath: string; pluginPath: string };

beforeAll(async () => {
  await tmp.setup();
  const real = await realBinaries();
  corpus = { host: await layout(real.host), plugin: await layout(real.plugin), hostPath: real.host, pluginPath: real.plugin };
}, 300_000);
afterAll(tmp.teardown);

it('the corpus is a real host and plugin that verify accepts, and smaller than the allocation cap', async () => {
  const report = await verifyFiles(corpus.hostPath, [corpus.pluginPath]);
  expect(report.loads).toBe(true);
  expect(report.plugins[0]!.orderKnown).toBe(true);
  expect(corpus.plugin.symbols.length).toBeGreaterThan(10);
  expect(Math.max(corpus.host.bytes.length, corpus.plugin.bytes.length)).toBeLessThan(CAP);
});

it(`${CASES} mutated binaries (seed ${SEED}): a verdict or exit 12, no Buffer above ${CAP} bytes, no hang`, async () => {
  const rng = prng(SEED);
  const failures: string[] = [];
  const outcomes = { verdict: 0, unverifiable: 0 };
  for (let i = 0; i < CASES; i++) {
    const target = rng.chance(0.6) ? 'plugin' : 'host';
    const L = corpus[target];
    let bytes = Buffer.from(L.bytes);
    const done = Array.from({ length: 1 + rng.int(3) }, () => mutate(rng, L, bytes));
    if (rng.chance(0.05)) {
      const cut = rng.int(bytes.length);
      bytes = bytes.subarray(0, cut);
      done.push(`cut at ${cut}`);
    }
    const file = await tmp.file(`case-${i}`, bytes);
    const checks: Array<[string, () => Promise<unknown>]> = [
      ['inspect', () => inspectFile(file)],
      ['verify', () => (target === 'plugin' ? verifyFiles(corpus.hostPath, [file]) : verifyFiles(file, [corpus.pluginPath]))],
    ];
    for (const [what, check] of checks) {
      const started = performance.now();
      const { error, largest } = await withAllocationCap(CAP, check);
      const elapsed = performance.now() - started;
      const problem =
        error !== undefined && !(error instanceof UnverifiableError)
          ? `threw ${(error as Error)?.stack ?? String(error)}`
          : largest > CAP
            ? `allocated ${largest} bytes`
            : elapsed > HANG_MS
              ? `took ${Math.round(elapsed)} ms`
              : undefined;
      if (problem !== undefined) {
        const kept = path.join(os.tmpdir(), `d7y-build-fuzz-failure-${SEED}-${i}-${target}`);
        await writeFile(kept, bytes);
        failures.push(`case ${i} (${target}; ${done.join('; ')}), ${what}: ${problem} [kept as ${kept}]`);
      } else if (error === undefined) outcomes.verdict++;
      else outcomes.unverifiable++;
    }
    await rm(file); // thousands of cases of a few MiB each
  }
  expect(failures).toEqual([]);
  // The mutations reach both ways out: some files still give an answer, most are refused.
  expect(outcomes.verdict).toBeGreaterThan(0);
  expect(outcomes.unverifiable).toBeGreaterThan(0);
}, 120_000);
