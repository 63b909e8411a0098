import { DEFAULT_TARGET } from '../../src/platform';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { builderImageTag, packageRoot, type ContextFile } from '../../src/session/image';
import { InternalError } from '../../src/errors';
import { builderBuildArgs } from '../../src/session/layout';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

describe('builderImageTag', () => {
  const file = (name: string, content: string): ContextFile => ({ name, content: Buffer.from(content) });
  const files = [file('Dockerfile.builder', 'FROM ${GO_IMAGE}\n'), file('builder/build.sh', '#!/bin/bash\n')];
  const buildArgs = builderBuildArgs('sha256:0123456789abcdef', DEFAULT_TARGET);
  const tag = builderImageTag(files, buildArgs);

  it('has the form d7y-build/builder:<16 hex digits>', () => {
    expect(tag).toMatch(/^d7y-build\/builder:[0-9a-f]{16}$/);
  });

  it('is the same for the same input, in any file order', () => {
    expect(builderImageTag(files, buildArgs)).toBe(tag);
    expect(builderImageTag([...files].reverse(), buildArgs)).toBe(tag);
    expect(builderImageTag(files, Object.fromEntries(Object.entries(buildArgs).reverse()))).toBe(tag);
  });

  it("does not reorder the caller's array", () => {
    const reversed = [...files].reverse();
    builderImageTag(reversed, buildArgs);
    expect(reversed.map((f) => f.name)).toEqual(['builder/build.sh', 'Dockerfile.builder']);
  });

  it.each<[string, ContextFile[], Record<string, string>]>([
    ['a file content changes', [files[0]!, file('builder/build.sh', '#!/bin/bash\nset -e\n')], buildArgs],
    ['a file is renamed', [files[0]!, file('builder/run.sh', '#!/bin/bash\n')], buildArgs],
    ['a file is added', [...files, file('builder/extra', '')], buildArgs],
    ['a file is removed', [files[0]!], buildArgs],
    ['the base image id changes', files, builderBuildArgs('sha256:fedcba9876543210', DEFAULT_TARGET)],
    ['content moves between files', [file('Dockerfile.builder', 'FROM ${GO_IMAGE}\n#'), file('builder/build.sh', '!/bin/bash\n')], buildArgs],
    ['a layout path changes', files, { ...buildArgs, D7Y_OUT: '/work/output' }],
    ['the build uid changes', files, { ...buildArgs, D7Y_UID: '10002' }],
    ['a build arg is added', files, { ...buildArgs, D7Y_EXTRA: '' }],
    ['a value moves between build args', files, { ...buildArgs, D7Y_USER: `${buildArgs.D7Y_USER}x`, D7Y_UID: buildArgs.D7Y_UID!.slice(1) }],
  ])('changes when %s', (_label, changedFiles, args) => {
    const changed = builderImageTag(changedFiles, args);
    expect(changed).toMatch(/^d7y-build\/builder:[0-9a-f]{16}$/);
    expect(changed).not.toBe(tag);
  });
});

describe('packageRoot', () => {
  let outside: string;

  beforeAll(async () => {
    outside = await mkdtemp(path.join(os.tmpdir(), 'd7y-root-test-'));
  });

  afterAll(async () => {
    await rm(outside, { recursive: true, force: true });
  });

  it('finds the directory holding Dockerfile.builder from src/session', () => {
    expect(packageRoot(path.join(REPO_ROOT, 'src', 'session'))).toBe(REPO_ROOT);
  });

  it('finds it from the directory itself', () => {
    expect(packageRoot(REPO_ROOT)).toBe(REPO_ROOT);
  });

  it('finds it from its own location by default', () => {
    expect(packageRoot()).toBe(REPO_ROOT);
  });

  it('throws InternalError where there is none above', () => {
    expect(() => packageRoot(outside)).toThrow(InternalError);
  });
});
