/** The runtime image's file system: what ldd output names, and the root tar's layout. Pure. */
import { describe, expect, it } from 'vitest';
import { parseLdd, rootTar } from '../../src/commands/build/runtime-root';
import { ImageError, InternalError } from '../../src/errors';

describe('parseLdd', () => {
  it('takes the libraries of every binary once, sorted, and the loader; the vDSO and headers are no files', () => {
    const out = [
      '/work/out/bin/dfget:',
      '\tlinux-vdso.so.1 (0x00007ffc1b9f5000)',
      '\tlibresolv.so.2 => /lib/x86_64-linux-gnu/libresolv.so.2 (0x00007f4a1c600000)',
      '\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f4a1c000000)',
      '\t/lib64/ld-linux-x86-64.so.2 (0x00007f4a1c400000)',
      '/work/out/plugins/d7y-resource-plugin-a.so:',
      '\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f4a1c000000)',
    ].join('\n');
    expect(parseLdd(out)).toEqual({
      libraries: ['/lib/x86_64-linux-gnu/libc.so.6', '/lib/x86_64-linux-gnu/libresolv.so.2', '/lib64/ld-linux-x86-64.so.2'],
      missing: [],
    });
  });

  it("reads musl's ldd too", () => {
    const out = '\t/lib/ld-musl-x86_64.so.1 (0x7f0b2c5d1000)\n\tlibc.musl-x86_64.so.1 => /lib/ld-musl-x86_64.so.1 (0x7f0b2c5d1000)\n';
    expect(parseLdd(out)).toEqual({ libraries: ['/lib/ld-musl-x86_64.so.1'], missing: [] });
  });

  it('names what is not found, and ignores what is statically linked', () => {
    const out = '/a:\n\tlibfoo.so.1 => not found\n/b:\n\tstatically linked\n\tnot a dynamic executable\n';
    expect(parseLdd(out)).toEqual({ libraries: [], missing: ['libfoo.so.1'] });
  });

  it.each([
    ['a parent directory', '\tlibc.so.6 => /lib/../../etc/shadow (0x00007f4a1c000000)'],
    ['a current directory', '\tlibc.so.6 => /lib/./libc.so.6 (0x00007f4a1c000000)'],
    ['shell characters', '\tlibc.so.6 => /lib/x$(id) (0x00007f4a1c000000)'],
    ['a doubled slash', '\t//lib/libc.so.6 (0x00007f4a1c000000)'],
  ])('refuses a library path with %s', (_what, line) => {
    expect(() => parseLdd(line)).toThrow(InternalError);
  });
});

describe('rootTar', () => {
  it.each(['/etc/passwd', '/var/log/dragonfly/x.so', '/tmp'])('refuses a library at %s, where the image keeps its own files', async (at) => {
    await expect(rootTar([{ path: at, content: Buffer.from('x'), mode: 0o755 }], new Date(0))).rejects.toThrow(ImageError);
  });

  it('refuses the same path twice', async () => {
    const lib = { path: '/lib/libc.so.6', content: Buffer.from('x'), mode: 0o755 };
    await expect(rootTar([lib, lib], new Date(0))).rejects.toThrow(/would hold \/lib\/libc\.so\.6 twice/);
  });
});
