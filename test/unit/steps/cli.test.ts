/** The CLI over the fake engine: argv in, exit code, stdout and stderr out, for build and install. */
import { createHash } from 'node:crypto';
import { cp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { main } from '../../../src/cli';
import { BUILD_STEPS } from '../../../src/commands/build/steps';
import { DockerUnavailableError } from '../../../src/errors';
import { CONTAINER } from '../../../src/session/layout';
import type { FakeEngine } from '../fake-engine';
import { BUILD_TIME, buildArgs, buildingEngine, envOf, EPOCH, GO_IMAGE, PLUGIN, useWorld } from './harness';

const BUILD_SH = CONTAINER.tools.buildSh;

const world = useWorld({ clearTargets: true });

class Sink extends Writable {
  text = '';
  override _write(chunk: Buffer, _encoding: string, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

/** A terminal: the live view draws on it. */
class TtySink extends Sink {
  readonly isTTY = true;
  readonly columns = 100;
}

async function cli(
  argv: string[],
  engine: FakeEngine,
  { tty = false, env = {} }: { tty?: boolean; env?: Record<string, string> } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = new Sink();
  const stderr = tty ? new TtySink() : new Sink();
  const code = await main(argv, { stdout, stderr, env: { ...envOf(world), ...env }, cwd: world.root, signal: new AbortController().signal, engine });
  return { code, stdout: stdout.text, stderr: stderr.text };
}

/** The start of a sha256, as the summary shows it. */
const shortSha = (content: string) => createHash('sha256').update(content).digest('hex').slice(0, 12);

describe('d7y-build <plugin-dir>', () => {
  it('builds, installs, and prints one JSON outcome with --json', async () => {
    const engine = buildingEngine();
    const { code, stdout, stderr } = await cli([...buildArgs(world), '--json'], engine);
    expect(stderr).not.toMatch(/^error:/m);
    expect(code).toBe(0);
    const lines = stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    const outcome = JSON.parse(lines[0]!);
    expect(outcome).toMatchObject({
      ok: true,
      commit: world.sha['v2.1.0'],
      ref: 'v2.1.0',
      goVersion: 'go1.23.5',
      platform: 'linux/amd64',
      installed: [path.join(world.plugins, PLUGIN.file)],
    });
    expect(outcome).toMatchObject({
      buildTime: BUILD_TIME,
      buildTimeReason: `SOURCE_DATE_EPOCH=${EPOCH}`,
      cache: { host: 'miss', hostKey: expect.stringMatching(/^[0-9a-f]{64}$/) },
    });
    expect(outcome.steps.map((s: { name: string }) => s.name)).toContain('install');
    expect(await readFile(path.join(world.plugins, PLUGIN.file), 'utf8')).toBe('plugin binary');
    expect(engine.removed).toEqual([engine.containers[0]!.id]);
  });

  it.each<[string, string[], number]>([
    // With two CPUs or more the host's compile starts beside the plugins' (overlap.ts): it ran, but
    // the host is neither validated nor installed.
    ['the host compiled beside the plugins', [], 1],
    ['one CPU: the host not compiled at all', ['--cpus', '1'], 0],
  ])('exits 6 with one error block naming the step when the plugin does not compile (%s)', async (_label, flags, hostBuilds) => {
    const engine = buildingEngine().onExec([BUILD_SH, 'plugin'], { exitCode: 1, stderr: './main.go:3:1: syntax error\n' });
    const { code, stdout, stderr } = await cli([...buildArgs(world), ...flags], engine);
    expect(code).toBe(6);
    expect(stdout).toBe('');
    expect(stderr).toContain(
      `error: plugin myfs does not compile against Dragonfly v2.1.0 (${world.sha['v2.1.0'].slice(0, 7)}) [compile-plugins]\n  ./main.go:3:1: syntax error\nhint: `,
    );
    expect(engine.execsOf([BUILD_SH, 'host'])).toHaveLength(hostBuilds);
    expect(engine.execsOf([BUILD_SH, 'validate'])).toEqual([]);
    expect(engine.removed).toEqual([engine.containers[0]!.id]);
    await expect(readFile(path.join(world.plugins, PLUGIN.file))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('takes the commit, repository and image from d7y-plugin.yaml and the user config file: no flags needed', async () => {
    const dir = path.join(world.root, 'configured', 'myfs');
    await cp(world.pluginDir, dir, { recursive: true });
    await writeFile(path.join(dir, 'd7y-plugin.yaml'), `type: resource\ncommit: v2.1.0\nrepo: ${JSON.stringify(world.repo)}\n`);
    const xdg = path.join(world.root, 'configured', 'xdg');
    await mkdir(path.join(xdg, 'd7y-build'), { recursive: true });
    await writeFile(path.join(xdg, 'd7y-build', 'config.yaml'), `goImage: ${GO_IMAGE}\nout: ${world.out}\npluginsDir: ${world.plugins}\n`);
    try {
      const engine = buildingEngine();
      const { code, stdout, stderr } = await cli(['--json', dir], engine, { env: { XDG_CONFIG_HOME: xdg } });
      expect(stderr).not.toMatch(/^error:/m);
      expect(code).toBe(0);
      expect(JSON.parse(stdout)).toMatchObject({
        ok: true,
        commit: world.sha['v2.1.0'],
        ref: 'v2.1.0',
        goImage: GO_IMAGE,
        installed: [path.join(world.plugins, PLUGIN.file)],
      });
    } finally {
      await rm(path.join(world.root, 'configured'), { recursive: true, force: true });
    }
  });

  it('without a terminal: timestamped lines, then the summary', async () => {
    const { code, stdout, stderr } = await cli(buildArgs(world), buildingEngine());
    expect(code).toBe(0);
    const lines = stderr.trimEnd().split('\n');
    expect(lines.every((l) => /^\d\d:\d\d:\d\d /.test(l))).toBe(true);
    expect(lines).toContainEqual(expect.stringMatching(/^\d\d:\d\d:\d\d \[13\/13\] install done in \d+ms$/));
    const summary = lines.slice(lines.findIndex((l) => / built in /.test(l))).map((l) => l.slice(9));
    expect(summary).toEqual([
      expect.stringMatching(/^built in [\d.]+m?s \(13 steps\):$/),
      `  host          11 bytes  sha256:${shortSha('host binary')}  ${path.join(world.out, 'bin/dfget')}`,
      `  loader check  16 bytes  sha256:${shortSha('loadcheck binary')}  ${path.join(world.out, 'bin/d7y-loadcheck')}`,
      `  plugin        13 bytes  sha256:${shortSha('plugin binary')}  ${path.join(world.out, 'plugins', PLUGIN.file)}`,
      `provenance ${path.join(world.out, 'provenance.intoto.json')}, SBOM ${path.join(world.out, 'sbom.cdx.json')}`,
      `installed into ${world.plugins}: ${PLUGIN.file}`,
      expect.stringMatching(/^host cache: miss, the host built and stored \(key [0-9a-f]{12}\)$/),
    ]);
    expect(stdout).toBe(`${path.join(world.plugins, PLUGIN.file)}\n`);
  });

  it.each([['--json'], ['--quiet']])('%s: no summary', async (flag) => {
    const { code, stderr } = await cli([...buildArgs(world), flag], buildingEngine(), { tty: true });
    expect(code).toBe(0);
    expect(stderr).not.toMatch(/built in/);
  });

  it('on a terminal: each step once with ✔, the summary below, the result on stdout', async () => {
    const { code, stdout, stderr } = await cli(buildArgs(world), buildingEngine(), { tty: true, env: { NO_COLOR: '1' } });
    expect(code).toBe(0);
    expect(stderr).not.toMatch(/\x1b\[\d*m/); // NO_COLOR: cursor movement, no colour
    // The lines that stay: what follows the last cursor movement of each write.
    const kept = stderr
      .split(/\x1b\[\d+A\r\x1b\[J/)
      .flatMap((chunk) => chunk.split('\n'))
      .filter((l) => l !== '' && !/^[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] /.test(l) && !l.startsWith('  '));
    expect(kept.filter((l) => l.startsWith('✔')).map((l) => /^✔ \[ *\d+\/13\] (\S+) +\d/.exec(l)?.[1])).toEqual(BUILD_STEPS.map((s) => s.name));
    // The summary follows the last step, with nothing drawn after it.
    expect(stderr.slice(stderr.lastIndexOf('✔'))).toMatch(
      new RegExp(
        `^✔ \\[13/13\\] install +\\d+ms\\nbuilt in .*\\n  host .*\\n  loader check .*\\n  plugin .*\\nprovenance .*, SBOM .*\\ninstalled into ${world.plugins}: ${PLUGIN.file}\\nhost cache: miss, the host built and stored \\(key [0-9a-f]{12}\\)\\n$`,
      ),
    );
    expect(stdout).toBe(`${path.join(world.plugins, PLUGIN.file)}\n`);
  });

  it('on a terminal, a failure: ✖ on its step, then the error once', async () => {
    // The host from the host cache: no host compile beside the plugin's, whose lines could come between.
    const engine = buildingEngine()
      .onExec([BUILD_SH, 'host-cache', 'get'], { exitCode: 0 })
      .onExec([BUILD_SH, 'plugin'], { exitCode: 1, stderr: './main.go:3:1: syntax error\n' });
    const { code, stderr } = await cli(buildArgs(world), engine, { tty: true, env: { NO_COLOR: '1' } });
    expect(code).toBe(6);
    expect(stderr).toMatch(/✖ \[ 8\/13\] compile-plugins +failed after \d+ms\nerror: plugin myfs does not compile/);
    expect(stderr.match(/^error: /gm)).toHaveLength(1);
    expect(stderr).not.toMatch(/built in/);
  });

  it('exits 3 when no engine answers, and --json says so', async () => {
    const engine = buildingEngine();
    engine.ping = async () => {
      throw new DockerUnavailableError('no Docker engine answers at unix:///fake.sock (ECONNREFUSED)');
    };
    const { code, stdout } = await cli([...buildArgs(world), '--json'], engine);
    expect(code).toBe(3);
    expect(JSON.parse(stdout)).toMatchObject({ ok: false, error: { code: 'docker-unavailable', step: 'check-inputs' } });
    expect(engine.containers).toEqual([]);
  });
});

describe('d7y-build install', () => {
  it('uploads the host, its loader check and the plugins, and installs what the host loads', async () => {
    const bin = path.join(world.root, 'prebuilt', 'bin');
    await mkdir(bin, { recursive: true });
    await writeFile(path.join(bin, 'dfget'), 'host binary');
    await writeFile(path.join(bin, 'd7y-loadcheck'), 'loadcheck binary');
    const so = path.join(world.root, 'prebuilt', PLUGIN.file);
    await writeFile(so, 'prebuilt plugin');
    const engine = buildingEngine();

    const { code, stdout } = await cli(['install', '--host', path.join(bin, 'dfget'), '--go-image', GO_IMAGE, '--plugins-dir', world.plugins, so], engine);
    expect(code).toBe(0);
    expect(stdout).toBe(`${path.join(world.plugins, PLUGIN.file)}\n`);
    expect(await readFile(path.join(world.plugins, PLUGIN.file), 'utf8')).toBe('prebuilt plugin');
    expect(engine.puts).toEqual([
      {
        container: engine.containers[0]!.id,
        dir: '/work',
        files: { 'out/bin/dfget': 'host binary', 'out/bin/d7y-loadcheck': 'loadcheck binary', [`out/plugins/${PLUGIN.file}`]: 'prebuilt plugin' },
      },
    ]);
    expect(engine.containers[0]!.spec.platform).toBe('linux/amd64');
    expect(engine.execsOf([BUILD_SH, 'validate'])[0]!.cmd).toEqual([BUILD_SH, 'validate', 'dfget', PLUGIN.file]);
    expect(engine.execsOf([BUILD_SH, 'loadcheck'])[0]!.cmd).toEqual([BUILD_SH, 'loadcheck', 'resource', 'myfs']);
  });

  it('installs nothing when the host does not load the plugin', async () => {
    const bin = path.join(world.root, 'prebuilt2', 'bin');
    await mkdir(bin, { recursive: true });
    await writeFile(path.join(bin, 'dfget'), 'host binary');
    const so = path.join(world.root, 'prebuilt2', PLUGIN.file);
    await writeFile(so, 'prebuilt plugin');
    const engine = buildingEngine().onExec([BUILD_SH, 'validate'], {
      stderr: `not valid plugin binary format ${PLUGIN.file}: "plugin.Open: plugin was built with a different version of package d7y.io/dragonfly/v2/pkg/source"\n`,
    });

    const { code, stdout, stderr } = await cli(
      ['install', '--host', path.join(bin, 'dfget'), '--go-image', GO_IMAGE, '--plugins-dir', world.plugins, so],
      engine,
    );
    expect(code).toBe(8);
    expect(stdout).toBe('');
    expect(stderr).toMatch(
      /^error: .* does not load d7y-resource-plugin-myfs\.so: plugin\.Open: plugin was built with a different version of package d7y\.io\/dragonfly\/v2\/pkg\/source \[validate\]$/m,
    );
    await expect(readFile(path.join(world.plugins, PLUGIN.file))).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

describe('d7y-build cache', () => {
  it('lists the cache volumes a build made, as one JSON document, and refuses an export that is not there', async () => {
    const engine = buildingEngine();
    expect((await cli(buildArgs(world), engine)).code).toBe(0);
    for (const name of engine.volumes.keys()) engine.volumeSizes.set(name, 1024);
    const { code, stdout } = await cli(['cache', 'ls', '--json'], engine);
    expect(code).toBe(0);
    const listing = JSON.parse(stdout);
    expect(listing).toMatchObject({ ok: true, cacheDir: world.cache, volumeBytes: 4 * 1024 });
    expect(listing.volumes.map((v: { role: string }) => v.role).sort()).toEqual(['dragonfly-source', 'go-build-cache', 'go-mod-cache', 'host-cache']);
    // The build removed its container, so nothing has them.
    expect(listing.volumes.every((v: { usedBy: string[] }) => v.usedBy.length === 0)).toBe(true);

    const missing = path.join(world.root, 'no-such-export.tar');
    const refused = await cli(['cache', 'import', missing], engine);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toBe(`error: cannot read the cache export ${missing}: ENOENT\nhint: pass the file or directory \`d7y-build cache export\` wrote\n`);
  });
});
