/**
 * Bounds every Buffer allocation while `run` runs: an allocation above `cap` bytes throws (an
 * Error, not one of the reader's typed errors, so the test sees it), and the largest one asked for
 * is returned. Not a test file.
 */
import { vi } from 'vitest';

export class AllocationCapExceeded extends Error {}

export async function withAllocationCap<T>(cap: number, run: () => Promise<T>): Promise<{ result: T | undefined; error: unknown; largest: number }> {
  let largest = 0;
  const guard = <A extends unknown[], B>(name: string, real: (size: number, ...rest: A) => B) =>
    function (size: number, ...rest: A): B {
      largest = Math.max(largest, size);
      if (size > cap) throw new AllocationCapExceeded(`Buffer.${name}(${size}) is above the cap of ${cap} bytes`);
      return real(size, ...rest);
    };
  const real = { alloc: Buffer.alloc.bind(Buffer), allocUnsafe: Buffer.allocUnsafe.bind(Buffer), allocUnsafeSlow: Buffer.allocUnsafeSlow.bind(Buffer) };
  const spies = [
    vi.spyOn(Buffer, 'alloc').mockImplementation(guard('alloc', real.alloc)),
    vi.spyOn(Buffer, 'allocUnsafe').mockImplementation(guard('allocUnsafe', real.allocUnsafe)),
    vi.spyOn(Buffer, 'allocUnsafeSlow').mockImplementation(guard('allocUnsafeSlow', real.allocUnsafeSlow)),
  ];
  try {
    const result = await run();
    return { result, error: undefined, largest };
  } catch (error) {
    return { result: undefined, error, largest };
  } finally {
    for (const s of spies) s.mockRestore();
  }
}
