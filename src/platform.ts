/**
 * The platforms d7y-build builds hosts and plugins for, and the one the build container runs on.
 * The container is always the engine's linux/amd64; a target of another architecture is
 * cross-compiled there with Debian's cross toolchain and run under qemu-user for validation. Adding
 * a platform is one row of TARGET_PLATFORMS. Pure.
 */

/**
 * The os/arch of the images pulled and the containers created: the Go image, the builder image and
 * the build container are amd64, whatever the target is.
 */
export const ENGINE_PLATFORM = 'linux/amd64';

/** What compiling for and running on a target of another architecture than the container's takes. */
export interface CrossToolchain {
  /** The C cross compiler cgo runs (CC). */
  cc: string;
  /** Debian packages the builder image gains: the compiler, the target's libc and the emulator. */
  packages: readonly string[];
  /** The user-mode emulator that runs the target's binaries in the container (no binfmt needed). */
  qemu: string;
  /** The target's root for the emulator's dynamic loader and libraries (qemu -L). */
  sysroot: string;
  /** The target's dynamic loader, as its binaries name it (PT_INTERP), below the sysroot: `--list` there is the target's ldd. */
  loader: string;
}

export interface TargetPlatform {
  goos: string;
  goarch: string;
  /** The architecture as the ELF reader names the e_machine (src/elf/elf.ts MACHINES). */
  elfArch: string;
  /** undefined: the container's own architecture, built and run natively. */
  cross?: CrossToolchain;
}

export const TARGET_PLATFORMS = {
  'linux/amd64': { goos: 'linux', goarch: 'amd64', elfArch: 'amd64' },
  'linux/arm64': {
    goos: 'linux',
    goarch: 'arm64',
    elfArch: 'arm64',
    cross: {
      cc: 'aarch64-linux-gnu-gcc',
      packages: ['gcc-aarch64-linux-gnu', 'libc6-dev-arm64-cross', 'qemu-user-static'],
      qemu: 'qemu-aarch64-static',
      sysroot: '/usr/aarch64-linux-gnu',
      loader: '/lib/ld-linux-aarch64.so.1',
    },
  },
} as const satisfies Record<string, TargetPlatform>;

export type TargetName = keyof typeof TARGET_PLATFORMS;
export const TARGET_NAMES = Object.keys(TARGET_PLATFORMS) as TargetName[];
export const DEFAULT_TARGET: TargetName = 'linux/amd64';

export function isTargetName(value: string): value is TargetName {
  return Object.hasOwn(TARGET_PLATFORMS, value);
}

export function targetPlatform(name: TargetName): TargetPlatform {
  return TARGET_PLATFORMS[name];
}

/** The target's name for an ELF architecture (amd64 → linux/amd64); undefined when no target has it. */
export function targetOfElfArch(arch: string): TargetName | undefined {
  return TARGET_NAMES.find((name) => TARGET_PLATFORMS[name].elfArch === arch);
}

/**
 * The environment of the go commands that compile for the target: nothing for the container's own
 * platform (go's default), else GOOS, GOARCH and the cross compiler for cgo (the host and plugins are
 * cgo binaries: plugin.Open needs cgo).
 */
export function goTargetEnv(target: TargetName): Record<string, string> {
  const p = targetPlatform(target);
  return p.cross === undefined ? {} : { GOOS: p.goos, GOARCH: p.goarch, CC: p.cross.cc };
}

/**
 * The environment builder/build.sh runs the target's binaries with: D7Y_RUN_PREFIX, the emulator
 * and its sysroot as one space-separated command prefix; empty for a native target.
 */
export function runPrefixEnv(target: TargetName): Record<string, string> {
  const cross = targetPlatform(target).cross;
  return { D7Y_RUN_PREFIX: cross === undefined ? '' : `${cross.qemu} -L ${cross.sysroot}` };
}

/** The Debian packages the builder image needs for the target; none for a native target. */
export function crossPackages(target: TargetName): readonly string[] {
  return targetPlatform(target).cross?.packages ?? [];
}
