/**
 * Failures through the bundled CLI: each gets its exit code and a message naming the problem and
 * the fix, leaves no container behind, and leaves --out and --plugins-dir exactly as they were.
 */
import { writeFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { examples, fixtureArgs, leftoverContainers, runCli, snapshot, tempDir, writePlugin } from './helpers';

afterEach(async () => {
  expect(await leftoverContainers()).toEqual([]);
});

const RESOURCE_PLUGIN = (name: string, meta: string) => `package main

import (
	"bytes"
	"io"

	"d7y.io/dragonfly/v2/pkg/source"
)

type client struct{}

func (c *client) GetContentLength(r *source.Request) (int64, error)              { return 0, nil }
func (c *client) IsSupportRange(r *source.Request) (bool, error)                 { return false, nil }
func (c *client) IsExpired(r *source.Request, i *source.ExpireInfo) (bool, error) { return false, nil }
func (c *client) GetLastModified(r *source.Request) (int64, error)               { return 0, nil }
func (c *client) Download(r *source.Request) (*source.Response, error) {
	return source.NewResponse(io.NopCloser(bytes.NewBufferString("${name}"))), nil
}

func DragonflyPluginInit(option map[string]string) (any, map[string]string, error) {
	return &client{}, ${meta}, nil
}
`;

interface Case {
  name: string;
  /** Plugin directories and extra flags, given the case's scratch dir. */
  args: (dir: string) => Promise<string[]>;
  commit?: string;
  /** Instead of the offline Go image. */
  goImage?: string;
  env?: Record<string, string>;
  exitCode: number;
  message: RegExp;
  hint: RegExp;
}

const cases: Case[] = [
  {
    name: 'unknown commit',
    commit: 'v9.9.9',
    args: async () => [path.join(examples, 'd7yfs')],
    exitCode: 4,
    message: /has no commit, branch or tag "v9\.9\.9"/,
    hint: /--commit/,
  },
  {
    name: 'missing plugin directory',
    args: async (dir) => [path.join(dir, 'nope')],
    exitCode: 2,
    message: /plugin directory .*nope does not exist/,
    hint: /\.go files/,
  },
  {
    name: 'bad plugin name',
    args: async () => ['--name', 'My-FS', path.join(examples, 'd7yfs')],
    exitCode: 2,
    message: /--name "My-FS" is not a valid plugin name/,
    hint: /\[a-z0-9\]\+/,
  },
  {
    name: 'bad plugin type',
    args: async () => ['--type', 'storage', path.join(examples, 'd7yfs')],
    exitCode: 2,
    message: /'storage' is invalid/,
    hint: /--help/,
  },
  {
    name: 'resource plugin for a Dragonfly without dfget (v2.4.0)',
    commit: 'v2.4.0',
    args: async () => [path.join(examples, 'd7yfs')],
    exitCode: 10,
    message: /has no cmd\/dfget/,
    hint: /v2\.4\.0/,
  },
  {
    name: 'plugin that does not compile',
    args: async (dir) => [await writePlugin(path.join(dir, 'broken'), { 'broken.go': 'package main\n\nfunc DragonflyPluginInit(option map[string]string) (any, map[string]string, error) {\n\treturn undefinedThing, nil, nil\n}\n' })],
    exitCode: 6,
    message: /plugin broken does not compile/,
    hint: /fix the errors/,
  },
  {
    name: 'plugin whose metadata names another plugin',
    args: async (dir) => [await writePlugin(path.join(dir, 'liar'), { 'liar.go': RESOURCE_PLUGIN('liar', 'map[string]string{"type": "resource", "name": "other", "scheme": "liar"}') })],
    exitCode: 8,
    message: /does not load d7y-resource-plugin-liar\.so: plugin name not match/,
    hint: /"name": "liar"/,
  },
  {
    name: "plugin whose go.mod moves a module the host links",
    args: async (dir) => [
      await writePlugin(path.join(dir, 'newuuid'), {
        'go.mod': 'module example.com/newuuid\n\ngo 1.23.0\n\nrequire (\n\td7y.io/dragonfly/v2 v2.1.0\n\tgithub.com/google/uuid v1.6.0\n)\n',
        'go.sum':
          'github.com/google/uuid v1.6.0 h1:NIvaJDMOsjHA8n1jAhLSgzrAzy1Hgr+hNrb57e+94F0=\ngithub.com/google/uuid v1.6.0/go.mod h1:TIyPZe4MgqvfeYDBFedMoGGpEw/LqOeaOT+nhxU+yHo=\n',
        'newuuid.go': RESOURCE_PLUGIN('newuuid', 'map[string]string{"type": "resource", "name": "newuuid", "scheme": "newuuid", "id": uuid.NewString()}').replace('"io"\n', '"io"\n\n\t"github.com/google/uuid"\n'),
      }),
    ],
    exitCode: 7,
    message: /plugin newuuid would link a module at another version than Dragonfly/,
    hint: /go mod edit -require=github\.com\/google\/uuid@v1\.5\.0/,
  },
  {
    name: 'Go image that is not here and cannot be pulled',
    goImage: 'golang:1.99.0-bookworm',
    args: async () => [path.join(examples, 'd7yfs')],
    exitCode: 5,
    message: /golang:1\.99\.0-bookworm is not here and can't be pulled/,
    hint: /scripts\/go-image\.sh/,
  },
  {
    name: 'no Docker engine',
    env: { DOCKER_HOST: 'unix:///nonexistent/docker.sock' },
    args: async () => [path.join(examples, 'd7yfs')],
    exitCode: 3,
    message: /no Docker engine answers at unix:\/\/\/nonexistent\/docker\.sock/,
    hint: /DOCKER_HOST/,
  },
];

describe('failures leave nothing behind', () => {
  it.each(cases)('$name → exit $exitCode', async (c) => {
    await using work = await tempDir();
    const out = path.join(work.path, 'out');
    const plugins = path.join(work.path, 'plugins');
    await mkdir(plugins);
    await writeFile(path.join(plugins, 'd7y-resource-plugin-existing.so'), 'an installed plugin');
    const before = { out: await snapshot(out), plugins: await snapshot(plugins) };

    const run = await runCli(
      [...fixtureArgs(c.commit ?? 'v2.1.0', c.goImage), '--out', out, '--plugins-dir', plugins, '--json', ...(await c.args(work.path))],
      { env: c.env },
    );

    expect(run.exitCode).toBe(c.exitCode);
    const outcome = JSON.parse(run.stdout);
    expect(outcome).toMatchObject({ schemaVersion: 1, ok: false, error: { exitCode: c.exitCode } });
    expect(outcome.error.message).toMatch(c.message);
    expect(outcome.error.hint).toMatch(c.hint);
    // Printed once on stderr, with its hint.
    expect(run.stderr.match(/^error: /gm)).toHaveLength(1);
    expect(run.stderr).toMatch(/^hint: /m);
    expect(run.stderr).not.toMatch(/^\s+at .*\.cjs:\d+/m); // no stack trace

    expect(await snapshot(out)).toEqual(before.out);
    expect(await snapshot(plugins)).toEqual(before.plugins);
  });

  it('shows the compiler errors of a plugin that does not compile', async () => {
    await using work = await tempDir();
    const dir = await writePlugin(path.join(work.path, 'typo'), {
      'typo.go': 'package main\n\nfunc DragonflyPluginInit(option map[string]string) (any, map[string]string, error) {\n\treturn nil, map[string]string{}, fmt.Errorf("x")\n}\n',
    });
    const run = await runCli([...fixtureArgs('v2.1.0'), '--out', path.join(work.path, 'out'), '--plugins-dir', path.join(work.path, 'p'), dir]);
    expect(run.exitCode).toBe(6);
    expect(run.stderr).toMatch(/typo\.go:4:\d+: undefined: fmt/);
  });

  it('SIGINT during compilation removes the container, installs nothing and exits 130', async () => {
    await using work = await tempDir();
    const out = path.join(work.path, 'out');
    const plugins = path.join(work.path, 'plugins');
    let sent = false;
    const run = await runCli(
      [...fixtureArgs('v2.1.0'), '--out', out, '--plugins-dir', plugins, '--gcflags', 'all=-N -l', path.join(examples, 'd7yfs')],
      {
        onStderr: (child, stderr) => {
          if (!sent && stderr.includes('compile-plugins')) {
            sent = true;
            child.kill('SIGINT');
          }
        },
      },
    );
    expect(sent).toBe(true);
    expect(run.exitCode).toBe(130);
    expect(run.stderr).toMatch(/interrupted by SIGINT/);
    expect(await snapshot(out)).toEqual({});
    expect(await snapshot(plugins)).toEqual({});
  });
});
