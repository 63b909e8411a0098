/**
 * The target platforms: the table and what each row gives the builder image, the go commands and the
 * runs of the built binaries; the --platform option as flag, variable and config-file key.
 */
import { describe, expect, it } from 'vitest';
import { hostCacheKey, type HostCacheInputs } from '../../src/commands/build/host-cache';
import { resolveSpec } from '../../src/config';
import type { ConfigFile } from '../../src/config-files';
import { UsageError } from '../../src/errors';
import { MACHINES } from '../../src/elf/elf';
import {
  crossPackages,
  DEFAULT_TARGET,
  ENGINE_PLATFORM,
  goTargetEnv,
  isTargetName,
  runPrefixEnv,
  TARGET_NAMES,
  TARGET_PLATFORMS,
  targetOfElfArch,
} from '../../src/platform';
import { builderImageTag } from '../../src/session/image';
import { builderBuildArgs } from '../../src/session/layout';

describe('the target platform table', () => {
  it('has the engine platform as the native default, and linux/arm64 cross-compiled', () => {
    expect(DEFAULT_TARGET).toBe(ENGINE_PLATFORM);
    expect(TARGET_NAMES).toEqual(['linux/amd64', 'linux/arm64']);
    expect(TARGET_PLATFORMS[DEFAULT_TARGET]).not.toHaveProperty('cross');
  });

  it.each(TARGET_NAMES)('names %s by its GOOS/GOARCH and an ELF machine the reader knows', (name) => {
    const p = TARGET_PLATFORMS[name];
    expect(`${p.goos}/${p.goarch}`).toBe(name);
    expect(Object.values(MACHINES)).toContain(p.elfArch);
    expect(targetOfElfArch(p.elfArch)).toBe(name);
  });

  it('knows only its rows', () => {
    expect(isTargetName('linux/arm64')).toBe(true);
    expect(isTargetName('linux/riscv64')).toBe(false);
    expect(isTargetName('toString')).toBe(false);
    expect(targetOfElfArch('riscv64')).toBeUndefined();
  });
});

describe('what a target gives the build', () => {
  it('compiles natively for the container platform: go defaults, no prefix, no packages', () => {
    expect(goTargetEnv('linux/amd64')).toEqual({});
    expect(runPrefixEnv('linux/amd64')).toEqual({ D7Y_RUN_PREFIX: '' });
    expect(crossPackages('linux/amd64')).toEqual([]);
  });

  it('cross-compiles linux/arm64 with cgo through the Debian cross compiler, and runs it under qemu-user', () => {
    expect(goTargetEnv('linux/arm64')).toEqual({ GOOS: 'linux', GOARCH: 'arm64', CC: 'aarch64-linux-gnu-gcc' });
    expect(runPrefixEnv('linux/arm64')).toEqual({ D7Y_RUN_PREFIX: 'qemu-aarch64-static -L /usr/aarch64-linux-gnu' });
    expect(crossPackages('linux/arm64')).toEqual(['gcc-aarch64-linux-gnu', 'libc6-dev-arm64-cross', 'qemu-user-static']);
  });

  it('gives each cross set a builder image tag of its own', () => {
    const files = [{ name: 'Dockerfile.builder', content: Buffer.from('FROM x\n') }];
    const native = builderImageTag(files, builderBuildArgs('sha256:go', 'linux/amd64'));
    const arm = builderImageTag(files, builderBuildArgs('sha256:go', 'linux/arm64'));
    expect(builderBuildArgs('sha256:go', 'linux/arm64').D7Y_CROSS_PACKAGES).toBe('gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user-static');
    expect(arm).not.toBe(native);
  });

  it('gives the host cache another key for another target, by the platform and by the go environment', () => {
    const base: HostCacheInputs = {
      commit: 'a'.repeat(40),
      goImageId: 'sha256:go',
      builderImageId: 'sha256:builder',
      platform: 'linux/amd64',
      goEnv: { GOFLAGS: '-buildvcs=false', ...goTargetEnv('linux/amd64') },
      goArgs: ['-trimpath'],
      toolchain: { trimpath: true, tags: [], gcflags: '', race: false },
      commands: ['dfget', 'd7y-loadcheck'],
      loaderProgram: 'package main\n',
    };
    const arm = { ...base, platform: 'linux/arm64', goEnv: { ...base.goEnv, ...goTargetEnv('linux/arm64') } };
    expect(hostCacheKey(arm)).not.toBe(hostCacheKey(base));
    expect(hostCacheKey({ ...arm, goEnv: base.goEnv })).not.toBe(hostCacheKey(base));
  });
});

describe('--platform', () => {
  const cwd = '/home/me/work';
  const resolve = (flags: { platform?: string; image?: string }, env: Record<string, string> = {}, file?: ConfigFile) =>
    resolveSpec(['./fs'], { commit: 'c', ...flags }, env, cwd, new Date(0), () => ({}), { readPluginConfig: () => file });
  const usageError = (fn: () => unknown): UsageError => {
    try {
      fn();
    } catch (err) {
      expect(err).toBeInstanceOf(UsageError);
      return err as UsageError;
    }
    throw new Error('expected a UsageError');
  };

  it('is the target only: images and containers stay on the engine platform', () => {
    expect(resolve({})).toMatchObject({ platform: ENGINE_PLATFORM, target: 'linux/amd64' });
    expect(resolve({ platform: 'linux/arm64' })).toMatchObject({ platform: ENGINE_PLATFORM, target: 'linux/arm64' });
  });

  it("comes from D7Y_PLATFORM and from a plugin's d7y-plugin.yaml, after the flag", () => {
    const file: ConfigFile = { path: '/home/me/work/fs/d7y-plugin.yaml', scope: 'plugin', values: { platform: 'linux/arm64' } };
    expect(resolve({}, { D7Y_PLATFORM: 'linux/arm64' }).target).toBe('linux/arm64');
    expect(resolve({}, {}, file).target).toBe('linux/arm64');
    expect(resolve({ platform: 'linux/amd64' }, { D7Y_PLATFORM: 'linux/arm64' }, file).target).toBe('linux/amd64');
  });

  it.each([
    [
      'an unknown platform',
      { platform: 'linux/riscv64' },
      {},
      'unknown platform "linux/riscv64" (--platform)',
      '--platform takes one of linux/amd64, linux/arm64, or a comma list of them',
    ],
    [
      'an os/arch spelled otherwise',
      {},
      { D7Y_PLATFORM: 'arm64' },
      'unknown platform "arm64" (D7Y_PLATFORM)',
      'D7Y_PLATFORM takes one of linux/amd64, linux/arm64, or a comma list of them',
    ],
  ])('refuses %s with exit 2, naming the supported ones', (_label, flags, env, message, hint) => {
    const err = usageError(() => resolve(flags, env));
    expect(err.exitCode).toBe(2);
    expect(err.message).toBe(message);
    expect(err.hint).toBe(hint);
  });

  it('takes --image for every target platform', () => {
    expect(resolve({ platform: 'linux/arm64', image: 'reg.example/d7y/dfget:v1' })).toMatchObject({ target: 'linux/arm64', image: 'reg.example/d7y/dfget:v1' });
    expect(resolve({ image: 'reg.example/d7y/dfget:v1' }).image).toBe('reg.example/d7y/dfget:v1');
  });
});
