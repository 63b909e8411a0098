/**
 * Registry credentials against real registries on loopback, one of them wanting a user (htpasswd):
 * --push and the pull of a missing --go-image use the credentials of DOCKER_CONFIG's config.json,
 * or of --registry-auth ahead of it; without them the push (exit 17) and the pull (exit 5) fail with
 * a hint that says how to log in; the password appears in no output. Then an image index over two
 * platform images, put through the registry API with the same credentials, pulled per platform.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { DOCKER_LIST, DOCKER_MANIFEST, OCI_INDEX, pushImageIndex } from '../../src/docker/image-index';
import { nodeAuthIo, RegistryAuth } from '../../src/docker/registry-auth';
import { PushError } from '../../src/errors';
import { docker, examples, fixtureArgs, leftoverContainers, runCli, tempDir, type CliRun } from './helpers';
import { SEEDED_GO_IMAGE, seedGoImage, startRegistry, type Registry, type RegistryUser } from './registry';

const user: RegistryUser = { username: 'd7y', password: `pw-${randomBytes(12).toString('hex')}` };
const basic = (u: RegistryUser) => Buffer.from(`${u.username}:${u.password}`).toString('base64');

/** The registry every e2e file shares, and one with the same storage that wants a user. */
let plain: Pick<Registry, 'address' | 'storage'>;
let authed: Registry;
/** DOCKER_CONFIG directories: logged in to the authenticated registry, logged in with a wrong password, and empty. */
let home: string;
let loggedIn: string;
let wrong: string;
let nobody: string;
/** Image references the tests made, removed at the end (never a d7y-build/golang tag). */
const made: string[] = [];

async function dockerConfig(dir: string, auths: Record<string, RegistryUser>): Promise<string> {
  await mkdir(dir, { recursive: true });
  const config = { auths: Object.fromEntries(Object.entries(auths).map(([registry, u]) => [registry, { auth: basic(u) }])) };
  await writeFile(path.join(dir, 'config.json'), JSON.stringify(config));
  return dir;
}

beforeAll(async () => {
  // The shared registry's storage behind the one that wants a user: the Go image the pull tests
  // take from both (1.2 GB) is pushed once.
  plain = inject('registry');
  await seedGoImage(plain, inject('goImage'));
  authed = await startRegistry(user, plain.storage);
  home = await mkdtemp(path.join(os.tmpdir(), 'd7y-docker-config-'));
  loggedIn = await dockerConfig(path.join(home, 'logged-in'), { [authed.address]: user });
  wrong = await dockerConfig(path.join(home, 'wrong'), { [authed.address]: { ...user, password: 'not-the-password' } });
  nobody = path.join(home, 'nobody');
  await mkdir(nobody);
});

afterAll(async () => {
  for (const ref of made) await docker('image', 'rm', '-f', ref).catch(() => '');
  await authed?.stop();
  await rm(home, { recursive: true, force: true });
});

afterEach(async () => {
  expect(await leftoverContainers()).toEqual([]);
});

/** stdout, stderr and every file below dir, as one text: where a password must not be. */
async function everything(run: CliRun, dir: string): Promise<string> {
  const files = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  const contents = await Promise.all(files.filter((f) => f.isFile()).map((f) => readFile(path.join(f.parentPath, f.name), 'latin1')));
  return [run.stdout, run.stderr, ...contents].join('\n');
}

async function imageExists(ref: string): Promise<boolean> {
  return docker('image', 'inspect', ref).then(
    () => true,
    () => false,
  );
}

interface Outcome {
  ok: boolean;
  image?: { ref: string; id: string; digest?: string };
  error?: { code: string; exitCode: number; step: string; message: string; hint: string };
}

/** A build into dir/out and dir/plugins. */
function buildArgs(dir: string, goImage?: string): string[] {
  return [...fixtureArgs('v2.1.0', goImage), '--out', path.join(dir, 'out'), '--plugins-dir', path.join(dir, 'plugins')];
}

function pushBuild(ref: string, dir: string, extra: string[], env: Record<string, string>): Promise<CliRun> {
  return runCli([...buildArgs(dir), '--image', ref, '--push', '--json', ...extra, path.join(examples, 'd7yfs')], { env });
}

describe('--push to a registry that wants a user', () => {
  it("pushes with the credentials of DOCKER_CONFIG's config.json, and the image pulls back with them", async () => {
    await using work = await tempDir('auth-push-');
    const ref = `${authed.address}/d7y/dfget-plugins:logged-in`;
    made.push(ref);
    const run = await pushBuild(ref, work.path, [], { DOCKER_CONFIG: loggedIn });
    expect(run.stderr).not.toMatch(/error:/);
    expect(run.exitCode).toBe(0);
    expect(run.stderr).toContain(`pushing ${ref} to ${authed.address} with the credentials from ${loggedIn}/config.json`);
    const outcome = JSON.parse(run.stdout) as Outcome;
    expect(outcome.image!.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(await everything(run, work.path)).not.toContain(user.password);

    await docker('image', 'rm', ref);
    await docker('--config', loggedIn, 'pull', ref);
    expect(await docker('image', 'inspect', '--format', '{{.Id}}', ref)).toBe(outcome.image!.id);
  });

  it('with no credentials: exit 17, the hint says how to log in and which file was read, the image kept', async () => {
    await using work = await tempDir('auth-push-none-');
    const ref = `${authed.address}/d7y/dfget-plugins:nobody`;
    made.push(ref);
    const run = await pushBuild(ref, work.path, [], { DOCKER_CONFIG: nobody });
    expect(run.exitCode).toBe(17);
    const outcome = JSON.parse(run.stdout) as Outcome;
    expect(outcome.error).toMatchObject({ code: 'push', exitCode: 17, step: 'push-image' });
    expect(outcome.error!.message).toMatch(/no basic auth credentials|unauthorized|authentication required/);
    expect(outcome.error!.hint).toContain(`docker login ${authed.address}`);
    expect(outcome.error!.hint).toContain(`${nobody}/config.json (not there)`);
    expect(outcome.error!.hint).toContain('--registry-auth');
    expect(outcome.error!.hint).not.toMatch(/bug/);
    expect(await imageExists(ref)).toBe(true);
  });

  it("--registry-auth goes ahead of DOCKER_CONFIG's (wrong) password; neither password is printed or written", async () => {
    await using work = await tempDir('auth-push-file-');
    const ref = `${authed.address}/d7y/dfget-plugins:file`;
    made.push(ref);
    const file = path.join(await dockerConfig(path.join(work.path, 'auth'), { [authed.address]: user }), 'config.json');
    const run = await pushBuild(ref, work.path, ['--registry-auth', file], { DOCKER_CONFIG: wrong });
    expect(run.stderr).not.toMatch(/error:/);
    expect(run.exitCode).toBe(0);
    expect(run.stderr).toContain(`with the credentials from ${file}`);
    const seen = await everything(run, path.join(work.path, 'out'));
    expect(seen).not.toContain(user.password);
    expect(seen).not.toContain(basic(user));
    expect(seen).not.toContain('not-the-password');
  });

  it('the wrong password alone: exit 17, the hint names the file whose credentials were refused', async () => {
    await using work = await tempDir('auth-push-wrong-');
    const ref = `${authed.address}/d7y/dfget-plugins:wrong`;
    made.push(ref);
    const run = await pushBuild(ref, work.path, [], { DOCKER_CONFIG: wrong });
    expect(run.exitCode).toBe(17);
    const outcome = JSON.parse(run.stdout) as Outcome;
    expect(outcome.error!.hint).toContain(`refused the credentials from ${wrong}/config.json`);
    expect(await everything(run, work.path)).not.toContain('not-the-password');
  });
});

describe('a missing --go-image pulled from a registry', () => {
  let plainRef: string;
  let authedRef: string;

  beforeAll(() => {
    // The copy seedGoImage pushed, not here under these names.
    plainRef = `${plain.address}/${SEEDED_GO_IMAGE}`;
    authedRef = `${authed.address}/${SEEDED_GO_IMAGE}`;
    made.push(plainRef, authedRef);
  });

  it('from a registry that wants no user: prepare-image pulls it and the build succeeds', async () => {
    await using work = await tempDir('pull-plain-');
    expect(await imageExists(plainRef)).toBe(false);
    const run = await runCli([...buildArgs(work.path, plainRef), path.join(examples, 'd7yfs')], {
      env: { DOCKER_CONFIG: nobody },
    });
    expect(run.stderr).not.toMatch(/error:/);
    expect(run.exitCode).toBe(0);
    expect(run.stderr).toMatch(new RegExp(`pulling ${plainRef.replace(/[.]/g, '\\.')}\\n`));
    expect(await docker('image', 'inspect', '--format', '{{.Id}}', plainRef)).toBe(await docker('image', 'inspect', '--format', '{{.Id}}', inject('goImage')));
  });

  it('from the registry that wants a user, without credentials: exit 5, the hint says how to log in', async () => {
    await using work = await tempDir('pull-none-');
    const run = await runCli([...buildArgs(work.path, authedRef), '--json', path.join(examples, 'd7yfs')], { env: { DOCKER_CONFIG: nobody } });
    expect(run.exitCode).toBe(5);
    const outcome = JSON.parse(run.stdout) as Outcome;
    expect(outcome.error).toMatchObject({ code: 'go-image', exitCode: 5, step: 'prepare-image' });
    expect(outcome.error!.message).toContain(`the Go image ${authedRef} is not here and can't be pulled`);
    expect(outcome.error!.hint).toContain(`docker login ${authed.address}`);
    expect(outcome.error!.hint).toContain(`${nobody}/config.json (not there)`);
    expect(await imageExists(authedRef)).toBe(false);
  });

  it('from the registry that wants a user, with the credentials of DOCKER_CONFIG: pulled, built, the password nowhere', async () => {
    await using work = await tempDir('pull-auth-');
    const run = await runCli([...buildArgs(work.path, authedRef), path.join(examples, 'd7yfs')], {
      env: { DOCKER_CONFIG: loggedIn },
    });
    expect(run.stderr).not.toMatch(/error:/);
    expect(run.exitCode).toBe(0);
    expect(run.stderr).toContain(`pulling ${authedRef} with the credentials from ${loggedIn}/config.json`);
    expect(await imageExists(authedRef)).toBe(true);
    expect(await everything(run, work.path)).not.toContain(user.password);
  });
});

describe('pushImageIndex: one tag for two platforms', () => {
  /** A tiny image for a platform (FROM scratch, built by the classic builder for that platform), pushed: its manifest digest and image id. */
  async function platformImage(ref: string, platform: string, config: string[]): Promise<{ digest: string; id: string }> {
    await using ctx = await tempDir('platform-');
    await writeFile(path.join(ctx.path, 'platform'), `${platform}\n`);
    await writeFile(path.join(ctx.path, 'Dockerfile'), 'FROM scratch\nCOPY platform /platform\n');
    made.push(ref);
    await docker('build', '-q', '--platform', platform, '-t', ref, ctx.path);
    expect(await docker('image', 'inspect', '--format', '{{.Os}}/{{.Architecture}}', ref)).toBe(platform);
    const pushed = await docker(...config, 'push', ref);
    return { digest: /digest: (sha256:[0-9a-f]{64})/.exec(pushed)![1]!, id: await docker('image', 'inspect', '--format', '{{.Id}}', ref) };
  }

  for (const kind of ['plain', 'authenticated'] as const) {
    it(`${kind}: the tag's manifest is an index of both, and docker pull --platform gets each`, async () => {
      const registry = kind === 'plain' ? plain : authed;
      const config = kind === 'plain' ? [] : ['--config', loggedIn];
      // The two registries share a storage: a repository each.
      const repository = `${registry.address}/d7y/multi-${kind}`;
      const arm64 = await platformImage(`${repository}:arm64`, 'linux/arm64', config);
      const amd64 = await platformImage(`${repository}:amd64`, 'linux/amd64', config);
      const images = [
        { digest: arm64.digest, os: 'linux', architecture: 'arm64' },
        { digest: amd64.digest, os: 'linux', architecture: 'amd64' },
      ];

      const auth = new RegistryAuth({ userFile: path.join(kind === 'plain' ? nobody : loggedIn, 'config.json'), io: nodeAuthIo, redact: () => {} });
      const found = await auth.credentialsFor(registry.address, (message) => new PushError(message));
      expect(found.credential !== undefined).toBe(kind === 'authenticated');
      if (kind === 'authenticated') {
        // Without the credentials the registry's challenge can't be answered.
        await expect(pushImageIndex(repository, 'multi', images)).rejects.toThrow(PushError);
      }
      const index = await pushImageIndex(repository, 'multi', images, found.credential === undefined ? {} : { credential: found.credential });
      expect(index.mediaType).toBe(DOCKER_LIST);

      const got = await fetch(`http://${registry.address}/v2/d7y/multi-${kind}/manifests/multi`, {
        headers: { Accept: `${DOCKER_LIST}, ${OCI_INDEX}`, ...(kind === 'authenticated' ? { Authorization: `Basic ${basic(user)}` } : {}) },
      });
      expect(got.status).toBe(200);
      expect(got.headers.get('docker-content-digest')).toBe(index.digest);
      const body = (await got.json()) as { mediaType: string; manifests: Array<{ mediaType: string; digest: string; size: number; platform: object }> };
      expect(body.mediaType).toBe(DOCKER_LIST);
      expect(body.manifests).toEqual([
        { mediaType: DOCKER_MANIFEST, digest: amd64.digest, size: expect.any(Number), platform: { os: 'linux', architecture: 'amd64' } },
        { mediaType: DOCKER_MANIFEST, digest: arm64.digest, size: expect.any(Number), platform: { os: 'linux', architecture: 'arm64' } },
      ]);

      const ref = `${repository}:multi`;
      made.push(ref);
      for (const [platform, image] of [
        ['linux/arm64', arm64],
        ['linux/amd64', amd64],
      ] as const) {
        await docker('image', 'rm', ref).catch(() => '');
        await docker(...config, 'pull', '--platform', platform, ref);
        // The very image pushed for that platform, reached through the index.
        expect(await docker('image', 'inspect', '--format', '{{.Id}} {{.Os}}/{{.Architecture}}', ref)).toBe(`${image.id} ${platform}`);
      }
    });
  }
});
