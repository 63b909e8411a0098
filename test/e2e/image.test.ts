/**
 * --image and --push against the real engine and a real registry on loopback: the runtime image is
 * pushed, pulled back after the local copy is gone, runs its host with the plugin listed, and
 * carries every label; a registry that does not answer fails the push with its exit code and hint,
 * keeping the local image and installing nothing.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, describe, expect, inject, it } from 'vitest';
import { digest, docker, examples, fixtureArgs, fixtureSha, leftoverContainers, runCli, snapshot, tempDir } from './helpers';
import { freePort } from './registry';

const sh = async (cmd: string, args: string[]) => (await promisify(execFile)(cmd, args, { maxBuffer: 16 * 1024 * 1024 })).stdout.trim();
const SOURCE_DATE_EPOCH = '1704164645'; // 2024-01-02T03:04:05Z
const PLUGIN = 'd7y-resource-plugin-d7yfs.so';

const registry = inject('registry');
/** Every image reference a test made, removed at the end. */
const made: string[] = [];

afterAll(async () => {
  for (const ref of made) await docker('image', 'rm', '-f', ref).catch(() => '');
});

afterEach(async () => {
  expect(await leftoverContainers()).toEqual([]);
});

async function imageExists(ref: string): Promise<boolean> {
  return docker('image', 'inspect', ref).then(
    () => true,
    () => false,
  );
}

interface ImageOutcome {
  ok: boolean;
  installed: string[];
  image: { ref: string; id: string; digest?: string };
  steps: Array<{ name: string; status: string }>;
  error?: { code: string; exitCode: number; step: string; message: string; hint: string };
}

describe('--image and --push', () => {
  it('pushes a runtime image that, pulled back, lists the plugin and carries every label', async () => {
    await using work = await tempDir('image-');
    const ref = `${registry.address}/d7y/dfget-plugins:test`;
    made.push(ref);
    const out = path.join(work.path, 'out');
    const plugins = path.join(work.path, 'plugins');
    const run = await runCli(
      [...fixtureArgs('v2.1.0'), '--out', out, '--plugins-dir', plugins, '--image', ref, '--push', '--json', path.join(examples, 'd7yfs')],
      { env: { SOURCE_DATE_EPOCH } },
    );
    expect(run.stderr).not.toMatch(/error:/);
    expect(run.exitCode).toBe(0);
    const outcome = JSON.parse(run.stdout) as ImageOutcome;
    expect(outcome.steps.map((s) => s.name).slice(-4)).toEqual(['verify', 'build-image', 'push-image', 'install']);
    expect(outcome.installed).toEqual([path.join(plugins, PLUGIN)]);
    expect(outcome.image).toEqual({ ref, id: expect.stringMatching(/^sha256:[0-9a-f]{64}$/), digest: expect.stringMatching(/^sha256:[0-9a-f]{64}$/) });

    // The registry holds the manifest under that digest.
    const manifest = await fetch(`http://${registry.address}/v2/d7y/dfget-plugins/manifests/test`, {
      method: 'HEAD',
      headers: { Accept: 'application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json' },
    });
    expect(manifest.status).toBe(200);
    expect(manifest.headers.get('docker-content-digest')).toBe(outcome.image.digest);

    // Gone here, pulled back from the registry.
    await docker('image', 'rm', ref);
    expect(await imageExists(ref)).toBe(false);
    await docker('pull', ref);
    expect(await docker('image', 'inspect', '--format', '{{.Id}}', ref)).toBe(outcome.image.id);

    const listed = await docker('run', '--rm', ref, 'plugin');
    expect(listed).toContain(`resource plugin: d7yfs, location: ${PLUGIN}, attribute: `);

    const config = JSON.parse(await docker('image', 'inspect', '--format', '{{json .Config}}', ref)) as {
      Labels: Record<string, string>;
      User: string;
      Entrypoint: string[];
    };
    expect(config.User).toBe('10001:10001');
    expect(config.Entrypoint).toEqual(['/usr/local/bin/dfget']);
    expect(config.Labels).toMatchObject({
      'org.opencontainers.image.revision': await fixtureSha('v2.1.0'),
      'org.opencontainers.image.source': inject('fixtureRepo'),
      'org.opencontainers.image.version': 'v2.1.0',
      'org.opencontainers.image.created': '2024-01-02T03:04:05Z',
      'io.d7y-build.plugin.resource.d7yfs.sha256': await digest(path.join(out, 'plugins', PLUGIN)),
      'io.d7y-build': 'true',
      'io.d7y-build.role': 'runtime',
    });
    // The host in the image is the one written to --out, byte for byte; beside it the libraries it
    // loads and little else: no Go toolchain, no shell.
    await using files = await tempDir('image-files-');
    const container = await docker('create', ref);
    try {
      await docker('export', '-o', path.join(files.path, 'root.tar'), container);
      await docker('cp', `${container}:/usr/local/bin/dfget`, path.join(files.path, 'dfget'));
    } finally {
      await docker('rm', container);
    }
    expect(await digest(path.join(files.path, 'dfget'))).toBe(await digest(path.join(out, 'bin', 'dfget')));
    const listing = (await sh('tar', ['-tf', path.join(files.path, 'root.tar')])).split('\n');
    expect(listing).toEqual(expect.arrayContaining(['usr/local/bin/dfget', `usr/local/dragonfly/plugins/${PLUGIN}`, 'etc/passwd', 'tmp/']));
    expect(listing.some((f) => /(^|\/)libc\.so\.6$/.test(f))).toBe(true);
    expect(listing.filter((f) => /^(usr\/local\/go|bin\/sh|usr\/bin\/)/.test(f))).toEqual([]);
    expect(Number(await docker('image', 'inspect', '--format', '{{.Size}}', ref))).toBeLessThan(100 * 1024 * 1024);
  });

  it('a registry that does not answer: exit 17 with a hint, the local image kept, nothing installed', async () => {
    await using work = await tempDir('image-closed-');
    const ref = `127.0.0.1:${await freePort()}/d7y/dfget-plugins:closed`;
    made.push(ref);
    const out = path.join(work.path, 'out');
    const plugins = path.join(work.path, 'plugins');
    const run = await runCli([
      ...fixtureArgs('v2.1.0'),
      '--out',
      out,
      '--plugins-dir',
      plugins,
      '--image',
      ref,
      '--push',
      '--json',
      path.join(examples, 'd7yfs'),
    ]);
    expect(run.exitCode).toBe(17);
    const outcome = JSON.parse(run.stdout) as ImageOutcome;
    expect(outcome.ok).toBe(false);
    expect(outcome.error).toMatchObject({ code: 'push', exitCode: 17, step: 'push-image' });
    expect(outcome.error!.message).toMatch(new RegExp(`^cannot push ${ref.replace(/[.]/g, '\\.')} to 127\\.0\\.0\\.1:\\d+: .*connection refused`));
    expect(outcome.error!.hint).toContain(`the image is kept here as ${ref}`);
    expect(await imageExists(ref)).toBe(true);
    expect(await snapshot(plugins)).toEqual({});
    expect(await snapshot(out)).toEqual({});
  });

  it('SIGINT during build-image: exit 130, no image tagged, no container, nothing installed', async () => {
    await using work = await tempDir('image-sigint-');
    const ref = `${registry.address}/d7y/dfget-plugins:interrupted`;
    made.push(ref);
    const out = path.join(work.path, 'out');
    const plugins = path.join(work.path, 'plugins');
    let sent = false;
    const run = await runCli([...fixtureArgs('v2.1.0'), '--out', out, '--plugins-dir', plugins, '--image', ref, path.join(examples, 'd7yfs')], {
      onStderr: (child, stderr) => {
        if (!sent && /\] build-image\n/.test(stderr)) {
          sent = true;
          child.kill('SIGINT');
        }
      },
    });
    expect(sent).toBe(true);
    expect(run.exitCode).toBe(130);
    expect(run.stderr).toContain('interrupted by SIGINT');
    expect(await imageExists(ref)).toBe(false);
    expect(await snapshot(plugins)).toEqual({});
    expect(await snapshot(out)).toEqual({});
  });
});
