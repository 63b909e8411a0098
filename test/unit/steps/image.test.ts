/** --image and --push over the fake engine: the reference checked before anything runs, the context and labels, the check run, and what a failure leaves. */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import tarStream from 'tar-stream';
import { describe, expect, it } from 'vitest';
import { buildRuntimeImage, pushRuntimeImage, runtimeImageLabels } from '../../../src/commands/build/image';
import type { BuildContext } from '../../../src/commands/build/state';
import { buildSteps, BUILD_STEPS } from '../../../src/commands/build/steps';
import { type D7yError, ImageError, PushError, UsageError, ValidationError } from '../../../src/errors';
import { VERSION } from '../../../src/version';
import { BUILD_TIME, buildingEngine, cleanUp, contextOf, LOADED_LINE, PLUGIN, runBefore, specOf, useWorld } from './harness';
import type { FakeEngine } from '../fake-engine';
import { RegistryAuth } from '../../../src/docker/registry-auth';

const REF = '127.0.0.1:5000/d7y/dfget-plugins:test';

const world = useWorld();
let ctx: BuildContext | undefined;

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

function usage(run: () => unknown): UsageError {
  try {
    run();
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    return err as UsageError;
  }
  throw new Error('no UsageError');
}

/** What `ldd` answers in the build container for the host and a plugin. */
const LDD = [
  '/work/out/bin/dfget:',
  '\tlinux-vdso.so.1 (0x00007ffc1b9f5000)',
  '\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f4a1c000000)',
  '\t/lib64/ld-linux-x86-64.so.2 (0x00007f4a1c400000)',
  `/work/out/plugins/${PLUGIN.file}:`,
  '\tlinux-vdso.so.1 (0x00007ffc1b9f5000)',
  '\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f4a1c000000)',
  '\t/lib64/ld-linux-x86-64.so.2 (0x00007f4a1c400000)',
  '',
].join('\n');
/** Where the copy script puts the libraries, and what the archive of it holds. */
const COPIES = '/tmp/tmp.Qx1';
const LIBRARIES = {
  'tmp.Qx1/lib/x86_64-linux-gnu/libc.so.6': 'libc',
  'tmp.Qx1/lib64/ld-linux-x86-64.so.2': 'loader',
  'tmp.Qx1/etc/ssl/certs/ca-certificates.crt': 'certificates',
};

/** A context after verify, the engine answering ldd, the copy of the libraries, and the image's `dfget plugin` with the plugin loaded. */
async function readyForImage(flags: { image?: string; push?: boolean } = { image: REF }): Promise<{ engine: FakeEngine; ctx: BuildContext }> {
  const engine = buildingEngine();
  engine.runAnswer = { stdout: LOADED_LINE, stderr: 'search plugin in /usr/local/dragonfly/plugins\n' };
  const c = contextOf(engine, specOf(world, flags, { GIT_AUTH_TOKEN: '' }));
  await runBefore(c, 'install');
  answerLibraries(engine);
  return { engine, ctx: c };
}

/** The build container answers ldd and the copy of the libraries. */
function answerLibraries(engine: FakeEngine): void {
  engine.onExec(['ldd'], { stdout: LDD });
  engine.onExec(['sh', '-c'], { stdout: `${COPIES}\n` });
  engine.archives.set(COPIES, LIBRARIES);
}

/** The entries of the image's root.tar in the build context: name → mode, owner and content. */
async function rootEntries(context: Record<string, string>): Promise<Record<string, { mode: string; owner: string; content?: string }>> {
  const entries: Record<string, { mode: string; owner: string; content?: string }> = {};
  const extract = tarStream.extract();
  Readable.from([Buffer.from(context['root.tar']!, 'utf8')]).pipe(extract);
  for await (const entry of extract) {
    const chunks: Buffer[] = [];
    for await (const chunk of entry) chunks.push(chunk as Buffer);
    const { name, mode, uid, gid, type } = entry.header;
    entries[name] = { mode: (mode ?? 0).toString(8), owner: `${uid}:${gid}`, ...(type === 'file' ? { content: Buffer.concat(chunks).toString('utf8') } : {}) };
  }
  return entries;
}

describe('--image and --push on the command line', () => {
  it.each([
    ['Registry.example/D7y/dfget:v1', `--image "Registry.example/D7y/dfget:v1" is not an image reference`],
    ['d7y/dfget-plugins', '--image "d7y/dfget-plugins" has no tag'],
    [`d7y/dfget@sha256:${'a'.repeat(64)}`, `--image "d7y/dfget@sha256:${'a'.repeat(64)}" names a digest, not a tag`],
    ['127.0.0.1:5000/d7y/dfget', '--image "127.0.0.1:5000/d7y/dfget" has no tag'],
  ])('refuses --image %s before any build starts', (image, message) => {
    const err = usage(() => specOf(world, { image }));
    expect(err.message).toBe(message);
    expect(err.hint).toMatch(/^pass an image name with a tag \(lower-case name, no digest\) like --image registry\.example:5000\/d7y\/dfget-plugins:v2\.1\.0/);
  });

  it('--registry-auth and D7Y_REGISTRY_AUTH name a file, relative to the working directory', () => {
    expect(specOf(world, { registryAuth: 'auth.json' }).registryAuthFile).toBe(`${world.root}/auth.json`);
    expect(specOf(world, {}, { D7Y_REGISTRY_AUTH: '/run/auth.json' }).registryAuthFile).toBe('/run/auth.json');
    expect(specOf(world).registryAuthFile).toBeUndefined();
  });

  it('takes a registry with a port, a path and a tag; D7Y_IMAGE and D7Y_PUSH too', () => {
    expect(specOf(world, { image: REF, push: true })).toMatchObject({ image: REF, push: true });
    expect(specOf(world, {}, { D7Y_IMAGE: REF, D7Y_PUSH: '1' })).toMatchObject({ image: REF, push: true });
    expect(specOf(world)).toMatchObject({ image: undefined, push: false });
  });

  it('refuses --push without --image', () => {
    const err = usage(() => specOf(world, { push: true }));
    expect(err.message).toBe('--push pushes the runtime image, but no --image names it');
    expect(err.hint).toMatch(/^pass --image <name:tag> too/);
  });

  it("puts the image steps before install, which stays last; without --image the table's names are unchanged", () => {
    const names = (spec: { image?: string; push: boolean }) => buildSteps({ image: spec.image, push: spec.push }).map((s) => s.name);
    expect(names({ image: undefined, push: false })).toEqual(BUILD_STEPS.map((s) => s.name));
    expect(names({ image: REF, push: false }).slice(-3)).toEqual(['verify', 'build-image', 'install']);
    expect(names({ image: REF, push: true }).slice(-4)).toEqual(['verify', 'build-image', 'push-image', 'install']);
  });
});

describe('build-image', () => {
  it('labels: OCI revision, source, version, created, a sha256 per plugin, and the tool', () => {
    expect(
      runtimeImageLabels({
        commit: 'c'.repeat(40),
        source: 'https://git.example/dragonfly.git',
        ref: 'v2.1.0',
        created: BUILD_TIME,
        plugins: [
          { type: 'resource', name: 'myfs', sha256: 'a'.repeat(64) },
          { type: 'resource', name: 'otherfs', sha256: 'b'.repeat(64) },
        ],
      }),
    ).toEqual({
      'io.d7y-build': 'true',
      'io.d7y-build.version': VERSION,
      'io.d7y-build.role': 'runtime',
      'org.opencontainers.image.revision': 'c'.repeat(40),
      'org.opencontainers.image.source': 'https://git.example/dragonfly.git',
      'org.opencontainers.image.version': 'v2.1.0',
      'org.opencontainers.image.created': BUILD_TIME,
      'io.d7y-build.plugin.resource.myfs.sha256': 'a'.repeat(64),
      'io.d7y-build.plugin.resource.otherfs.sha256': 'b'.repeat(64),
    });
  });

  it('builds the staged host and plugins with the libraries ldd names in the build container, non-root, the host as entrypoint, then runs `dfget plugin` in it', async () => {
    const ready = await readyForImage();
    ctx = ready.ctx;
    await buildRuntimeImage(ctx);
    const build = ready.engine.builds.at(-1)!;
    expect(build).toMatchObject({ tag: REF, dockerfile: 'Dockerfile', buildArgs: {} });
    expect(build.labels).toMatchObject({
      'org.opencontainers.image.revision': world.sha['v2.1.0'],
      'org.opencontainers.image.source': world.repo,
      'org.opencontainers.image.version': 'v2.1.0',
      'org.opencontainers.image.created': BUILD_TIME,
      'io.d7y-build.plugin.resource.myfs.sha256': sha256('plugin binary'),
    });
    expect(build.files.Dockerfile).toBe(['FROM scratch', 'ADD root.tar /', 'USER 10001:10001', 'ENTRYPOINT ["/usr/local/bin/dfget"]', ''].join('\n'));
    // ldd ran on the host and the plugin where the build put them; each library copied once, the CA bundle asked for too.
    expect(ready.engine.execsOf(['ldd']).map((e) => e.cmd)).toEqual([['ldd', '/work/out/bin/dfget', `/work/out/plugins/${PLUGIN.file}`]]);
    expect(ready.engine.execsOf(['sh', '-c'])[0]!.cmd.slice(3)).toEqual([
      'sh',
      '',
      '/lib/x86_64-linux-gnu/libc.so.6',
      '/lib64/ld-linux-x86-64.so.2',
      '/etc/ssl/certs/ca-certificates.crt',
    ]);
    expect(ready.engine.execsOf(['rm', '-rf', COPIES])).toHaveLength(1);

    const root = await rootEntries(build.files);
    // The very bytes collect-artifacts took out of the build container, and the libraries', by root.
    expect(root['usr/local/bin/dfget']).toEqual({ mode: '755', owner: '0:0', content: 'host binary' });
    expect(root[`usr/local/dragonfly/plugins/${PLUGIN.file}`]).toEqual({ mode: '755', owner: '0:0', content: 'plugin binary' });
    expect(root['lib/x86_64-linux-gnu/libc.so.6']).toEqual({ mode: '755', owner: '0:0', content: 'libc' });
    expect(root['lib64/ld-linux-x86-64.so.2']).toEqual({ mode: '755', owner: '0:0', content: 'loader' });
    expect(root['etc/ssl/certs/ca-certificates.crt']).toEqual({ mode: '644', owner: '0:0', content: 'certificates' });
    expect(root['etc/passwd']!.content).toBe('root:x:0:0:root:/root:/sbin/nologin\nd7y:x:10001:10001:d7y:/var/lib/dragonfly:/sbin/nologin\n');
    expect(root['tmp/']).toEqual({ mode: '1777', owner: '0:0' });
    for (const dir of ['var/cache/dragonfly/', 'var/log/dragonfly/', 'var/lib/dragonfly/', 'etc/dragonfly/'])
      expect(root[dir], dir).toEqual({ mode: '755', owner: '10001:10001' });
    expect(root['usr/local/dragonfly/plugins/']).toEqual({ mode: '755', owner: '0:0' });
    // Nothing else: no toolchain, no shell.
    expect(Object.keys(root).filter((n) => !n.endsWith('/'))).toEqual([
      'etc/group',
      'etc/nsswitch.conf',
      'etc/passwd',
      'etc/ssl/certs/ca-certificates.crt',
      'lib/x86_64-linux-gnu/libc.so.6',
      'lib64/ld-linux-x86-64.so.2',
      'usr/local/bin/dfget',
      `usr/local/dragonfly/plugins/${PLUGIN.file}`,
    ]);

    const id = ready.engine.images.get(REF)!.id;
    expect(ready.engine.runs).toEqual([expect.objectContaining({ image: id, cmd: ['plugin'], labels: ctx.runLabels, volumes: [] })]);
    expect(ctx.state.runtimeImage).toEqual({ ref: REF, id });
    await cleanUp(ctx);
    expect(ready.engine.removedImages).toEqual([]);
  });

  it('for linux/arm64: the libraries from the target loader under qemu and its sysroot, built for arm64, checked under qemu over the image root', async () => {
    const ready = await readyForImage();
    ctx = ready.ctx;
    // The steps before ran for the container's platform (their files are no ELF); the image step for arm64.
    ctx.target = 'linux/arm64';
    ready.engine.onExec(['sh', '-c'], (call) =>
      call.cmd[2]!.includes('--list')
        ? // The loader names itself by the path it ran by, below the sysroot.
          {
            stdout:
              '/work/out/bin/dfget:\n\t (0x0000005502850000)\n\tlibc.so.6 => /lib/libc.so.6 (0x0000550000a00000)\n\t/usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1 (0x0000550000800000)\n',
          }
        : { stdout: `${COPIES}\n` },
    );
    ready.engine.archives.set(COPIES, { 'tmp.Qx1/lib/libc.so.6': 'arm64 libc', 'tmp.Qx1/lib/ld-linux-aarch64.so.1': 'arm64 loader' });
    ready.engine.onExec(['mktemp', '-d'], { stdout: '/tmp/tmp.root\n' });
    ready.engine.onExec(['timeout'], { stdout: LOADED_LINE });
    await buildRuntimeImage(ctx);

    const [list, copy] = ready.engine.execsOf(['sh', '-c']).map((e) => e.cmd);
    expect(list!.slice(3)).toEqual([
      'sh',
      'qemu-aarch64-static',
      '/usr/aarch64-linux-gnu',
      '/lib/ld-linux-aarch64.so.1',
      '/work/out/bin/dfget',
      `/work/out/plugins/${PLUGIN.file}`,
    ]);
    // Copied from the sysroot, placed where the target's loader looks and where the binaries name the loader.
    expect(copy!.slice(3)).toEqual(['sh', '/usr/aarch64-linux-gnu', '/lib/ld-linux-aarch64.so.1', '/lib/libc.so.6', '/etc/ssl/certs/ca-certificates.crt']);
    const build = ready.engine.builds.at(-1)!;
    expect(build.platform).toBe('linux/arm64');
    const root = await rootEntries(build.files);
    expect(root['lib/ld-linux-aarch64.so.1']).toEqual({ mode: '755', owner: '0:0', content: 'arm64 loader' });
    expect(root['lib/libc.so.6']).toEqual({ mode: '755', owner: '0:0', content: 'arm64 libc' });

    // The engine runs no arm64 container: the root went into the build container and ran under qemu there.
    expect(ready.engine.runs).toEqual([]);
    const put = ready.engine.puts.find((p) => p.dir === '/tmp/tmp.root')!;
    expect(put.files['usr/local/bin/dfget']).toBe('host binary');
    expect(ready.engine.execsOf(['timeout']).map((e) => e.cmd)).toEqual([
      ['timeout', '-k', '5', '120', 'qemu-aarch64-static', '-L', '/tmp/tmp.root', '/tmp/tmp.root/usr/local/bin/dfget', 'plugin'],
    ]);
    expect(ctx.state.runtimeImage?.ref).toBe(REF);
  });

  it('the same files make the same root.tar, byte for byte', async () => {
    const contexts: string[] = [];
    for (let i = 0; i < 2; i++) {
      const ready = await readyForImage();
      ctx = ready.ctx;
      await buildRuntimeImage(ctx);
      contexts.push(ready.engine.builds.at(-1)!.files['root.tar']!);
      await cleanUp(ctx);
    }
    expect(contexts[1]).toBe(contexts[0]);
  });

  it.each([
    [
      'a library ldd can not find',
      { stdout: '\tlibfoo.so.1 => not found\n\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f4a1c000000)\n' },
      /needs libfoo\.so\.1, which the Go image does not have/,
    ],
    ['no ldd in the Go image', { exitCode: 127, stderr: 'sh: ldd: not found\n' }, /^ldd in the build container named no library of the host \(exit 127\)$/],
  ])('%s: an ImageError before anything is built', async (_what, answer, message) => {
    const ready = await readyForImage();
    ctx = ready.ctx;
    ready.engine.onExec(['ldd'], answer);
    const err = await buildRuntimeImage(ctx).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ImageError);
    expect((err as D7yError).message).toMatch(message);
    expect(ready.engine.builds.filter((b) => b.tag === REF)).toEqual([]);
  });

  it('masks credentials of the repository URL in the source label', async () => {
    const engine = buildingEngine();
    engine.runAnswer = { stdout: LOADED_LINE };
    ctx = contextOf(engine, specOf(world, { image: REF }));
    await runBefore(ctx, 'install');
    answerLibraries(engine);
    ctx.spec = { ...ctx.spec, repo: 'https://user:s3cret@git.example/dragonfly.git' };
    await buildRuntimeImage(ctx);
    expect(engine.builds.at(-1)!.labels['org.opencontainers.image.source']).not.toContain('s3cret');
  });

  it.each([
    [
      'lists nothing',
      { stdout: '', stderr: 'no plugin found\n' },
      /^the image .* does not load d7y-resource-plugin-myfs\.so: the host does not list it \(no plugin found\); the image was removed$/,
    ],
    ['crashes', { exitCode: 2, stdout: '', stderr: 'panic: boom\n' }, /^`dfget plugin` in the image .* exited with 2; the image was removed$/],
    ['never finishes', { exitCode: 137, timedOut: true }, /^`dfget plugin` in the image .* did not finish within 120 s; the image was removed$/],
  ])('fails validation when the image %s, and untags the image', async (_what, answer, message) => {
    const ready = await readyForImage();
    ctx = ready.ctx;
    ready.engine.runAnswer = answer;
    const err = await buildRuntimeImage(ctx).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as D7yError).message).toMatch(message);
    await cleanUp(ctx);
    expect(ready.engine.removedImages).toEqual([REF]);
    expect(ready.engine.images.has(REF)).toBe(false);
  });

  it('a failed image build is an ImageError with the build output, and nothing stays tagged', async () => {
    const ready = await readyForImage();
    ctx = ready.ctx;
    ready.engine.buildError = new Error('no space left on device');
    const err = await buildRuntimeImage(ctx).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ImageError);
    expect(err).toMatchObject({ exitCode: 16, code: 'image', message: `cannot build the image ${REF}: no space left on device` });
    expect(ready.engine.runs).toEqual([]);
    await cleanUp(ctx);
    expect(ready.engine.removedImages).toEqual([REF]);
  });
});

describe('push-image', () => {
  it('pushes repository and tag apart and records the digest', async () => {
    const ready = await readyForImage({ image: REF, push: true });
    ctx = ready.ctx;
    await buildRuntimeImage(ctx);
    await pushRuntimeImage(ctx);
    expect(ready.engine.pushes).toEqual([{ repository: '127.0.0.1:5000/d7y/dfget-plugins', tag: 'test' }]);
    expect(ctx.state.runtimeImage!.digest).toBe(`sha256:${'d'.repeat(64)}`);
  });

  it('a refused push is a PushError naming the registry, and the local image is kept', async () => {
    const ready = await readyForImage({ image: REF, push: true });
    ctx = ready.ctx;
    await buildRuntimeImage(ctx);
    ready.engine.pushError = new Error('Get "http://127.0.0.1:5000/v2/": dial tcp 127.0.0.1:5000: connect: connection refused');
    const err = await pushRuntimeImage(ctx).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PushError);
    expect(err).toMatchObject({
      exitCode: 17,
      message: `cannot push ${REF} to 127.0.0.1:5000: Get "http://127.0.0.1:5000/v2/": dial tcp 127.0.0.1:5000: connect: connection refused`,
    });
    expect((err as PushError).hint).toContain(`the image is kept here as ${REF}`);
    await cleanUp(ctx);
    expect(ready.engine.removedImages).toEqual([]);
    expect(ready.engine.images.has(REF)).toBe(true);
  });

  it('pushes with the registry credentials of the config, which the masking takes; a 401 hints at docker login', async () => {
    const ready = await readyForImage({ image: REF, push: true });
    ctx = ready.ctx;
    const redacted: string[] = [];
    const file = '/ci/docker/config.json';
    const config = JSON.stringify({ auths: { '127.0.0.1:5000': { auth: Buffer.from('ci:s3cret-pw').toString('base64') } } });
    ctx.registryAuth = new RegistryAuth({
      userFile: file,
      io: { readConfig: async (f) => (f === file ? config : undefined), runHelper: async () => ({ kind: 'missing' }) },
      redact: (v) => redacted.push(...v),
    });
    await buildRuntimeImage(ctx);
    await pushRuntimeImage(ctx);
    expect(ready.engine.pushes).toEqual([
      { repository: '127.0.0.1:5000/d7y/dfget-plugins', tag: 'test', auth: { username: 'ci', password: 's3cret-pw', serveraddress: '127.0.0.1:5000' } },
    ]);
    expect(redacted).toContain('s3cret-pw');

    ready.engine.pushError = new Error('unauthorized: authentication required');
    const err = await pushRuntimeImage(ctx).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PushError);
    expect((err as PushError).hint).toMatch(
      new RegExp(
        `^127\\.0\\.0\\.1:5000 refused the credentials from ${file}: log in again with docker login 127\\.0\\.0\\.1:5000.*; the image is kept here as ${REF}`,
      ),
    );
  });
});
