/** builder/build.sh run on this machine: the container layout's variables, each moved under a temp root. */
import path from 'node:path';
import { layoutEnv } from '../../src/session/layout';

export const BUILD_SH_SCRIPT = path.resolve(__dirname, '../../builder/build.sh');

/** Every variable build.sh reads, pointing below root as it points below / in the container; then the overrides. */
export function buildShEnv(root: string, overrides: Record<string, string> = {}): Record<string, string> {
  const moved = Object.fromEntries(Object.entries(layoutEnv()).map(([name, value]) => [name, value.startsWith('/') ? path.join(root, value) : value]));
  return { PATH: process.env.PATH ?? '/usr/bin:/bin', ...moved, ...overrides };
}
