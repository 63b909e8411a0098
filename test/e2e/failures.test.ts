/**
 * The bad-input catalogue, through the bundled CLI: each case gets its documented exit code and a
 * one-line error naming the problem, with a hint naming the fix; leaves no container, volume or
 * image besides the caches; and leaves --out and --plugins-dir byte for byte as they were.
 */
import { execFile, type ChildProcess } from 'node:child_process';
import { chmod, mkdir, symlink, writeFile } from 'node:fs/promises';
import net from 'node:net';
import http from 'node:http';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { cli, docker, examples, fixtureArgs, leftoverContainers, runCli, snapshot, tempDir, writePlugin } from './helpers';
import { CACHE_VOLUMES } from '../../src/session/cache';

const run = promisify(execFile);

/** Closes the servers a case started (stand-ins for DOCKER_HOST), after each test. */
const stopServers: Array<() => Promise<void>> = [];

afterEach(async () => {
  for (const stop of stopServers.splice(0)) await stop();
  expect(await leftoverContainers()).toEqual([]);
});

/** A TCP server on 127.0.0.1 that accepts connections and never answers: an engine that hangs. */
async function silentServer(): Promise<string> {
  return (await silentEngine()).address;
}

async function silentEngine(): Promise<{ address: string; connected: Promise<void> }> {
  let onConnection!: () => void;
  const connected = new Promise<void>((resolve) => (onConnection = resolve));
  const server = net.createServer(() => onConnection());
  return { address: await listen(server), connected };
}

/** An HTTP server that is not Docker: 404 for everything. */
async function webServer(): Promise<string> {
  return listen(http.createServer((_req, res) => res.writeHead(404, { 'content-type': 'text/html' }).end('<h1>Not Found</h1>')));
}

async function listen(server: net.Server): Promise<string> {
  const sockets = new Set<net.Socket>();
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  stopServers.push(async () => {
    sockets.forEach((s) => s.destroy());
    await new Promise((resolve) => server.close(resolve));
  });
  return `tcp://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
}

const mkfifo = (file: string) => run('mkfifo', [file]);

const INIT = 'func DragonflyPluginInit(option map[string]string) (any, map[string]string, error)';

const RESOURCE_PLUGIN = (name: string, meta: string, extra = '') => `package main

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
${extra}
func DragonflyPluginInit(option map[string]string) (any, map[string]string, error) {
	return &client{}, ${meta}, nil
}
`;
const META = (name: string, type = 'resource') => `map[string]string{"type": "${type}", "name": "${name}", "scheme": "${name}"}`;

/** A plugin directory in the case's scratch dir. */
const plugin = (name: string, files: Record<string, string>) => (dir: string) => writePlugin(path.join(dir, name), files);
const d7yfs = async () => path.join(examples, 'd7yfs');

interface Case {
  name: string;
  /** Builds the plugin directory (or another argument) in the case's scratch dir; returns the CLI arguments after the common ones. */
  args: (dir: string) => Promise<string | string[]>;
  commit?: string;
  goImage?: string;
  repo?: (dir: string) => Promise<string>;
  /** Environment for the run (undefined unsets a variable); a function may prepare what it names. */
  env?: Record<string, string | undefined> | ((dir: string) => Promise<Record<string, string | undefined>>);
  /** Replaces --out / --plugins-dir with paths the case prepares. */
  out?: (dir: string) => Promise<string>;
  pluginsDir?: (dir: string) => Promise<string>;
  /** Runs the CLI as another user (nobody), for permission cases. */
  asNobody?: boolean;
  /** Hung the run before: held to a bound. */
  hung?: true;
  exitCode: number;
  message: RegExp;
  hint: RegExp;
}

const cases: Case[] = [
  // The plugin source
  {
    name: 'missing plugin directory',
    args: async (dir) => path.join(dir, 'nope'),
    exitCode: 2,
    message: /plugin directory .*nope does not exist/,
    hint: /\.go files/,
  },
  {
    name: 'empty plugin directory',
    args: async (dir) => (await mkdir(path.join(dir, 'empty')), path.join(dir, 'empty')),
    exitCode: 2,
    message: /empty has no \.go files/,
    hint: /package main/,
  },
  {
    name: 'plugin "directory" that is a file',
    args: async (dir) => (await writeFile(path.join(dir, 'file'), 'x'), path.join(dir, 'file')),
    exitCode: 2,
    message: /is not a directory/,
    hint: /not a file in it/,
  },
  { name: 'only test files', args: plugin('onlytests', { 'x_test.go': 'package main\n' }), exitCode: 2, message: /has no \.go files/, hint: /package main/ },
  {
    name: 'wrong package name',
    args: plugin('wrongpkg', { 'x.go': 'package source\n' }),
    exitCode: 2,
    message: /x\.go is package source, not main/,
    hint: /package main/,
  },
  {
    name: 'no DragonflyPluginInit',
    args: plugin('noinit', { 'x.go': 'package main\n\nfunc Init() {}\n' }),
    exitCode: 2,
    message: /does not define DragonflyPluginInit/,
    hint: /func DragonflyPluginInit\(option map\[string\]string\)/,
  },
  {
    name: 'DragonflyPluginInit with the wrong signature',
    args: plugin('badsig', { 'x.go': 'package main\n\nfunc DragonflyPluginInit(option map[string]string) (any, error) { return nil, nil }\n' }),
    exitCode: 8,
    message: /does not load d7y-resource-plugin-badsig\.so: invalid plugin init function signature/,
    hint: /declare it exactly as func DragonflyPluginInit/,
  },
  // Metadata the sources do not spell out as literals (a package variable here) is only known when
  // the host loads the plugin.
  {
    name: 'metadata with another type, not a literal',
    args: plugin('othertype', { 'x.go': RESOURCE_PLUGIN('othertype', 'pluginMeta', `var pluginMeta = ${META('othertype', 'scheduler')}`) }),
    exitCode: 8,
    message: /plugin type not match/,
    hint: /"type": "resource"/,
  },
  {
    name: 'metadata with another name, not a literal',
    args: plugin('liar', { 'x.go': RESOURCE_PLUGIN('liar', 'pluginMeta', `var pluginMeta = ${META('other')}`) }),
    exitCode: 8,
    message: /does not load d7y-resource-plugin-liar\.so: plugin name not match/,
    hint: /"name": "liar"/,
  },
  {
    name: 'plugin that panics while loading',
    args: plugin('panics', { 'x.go': RESOURCE_PLUGIN('panics', META('panics'), 'func init() { panic("boom at load time") }\n') }),
    exitCode: 8,
    message: /`dfget plugin` exited with 2 while loading the plugins/,
    hint: /panicked/,
  },
  {
    name: 'plugin that does not compile',
    args: plugin('broken', { 'x.go': `package main\n\n${INIT} {\n\treturn undefinedThing, nil, nil\n}\n` }),
    exitCode: 6,
    message: /plugin broken does not compile/,
    hint: /fix the errors/,
  },
  {
    name: 'plugin importing a package Dragonfly does not have',
    args: plugin('missingpkg', { 'x.go': `package main\n\nimport _ "d7y.io/dragonfly/v2/pkg/nosuchpackage"\n\n${INIT} { return nil, nil, nil }\n` }),
    exitCode: 6,
    message: /plugin missingpkg does not compile/,
    hint: /fix the errors/,
  },
  {
    name: 'plugin go.mod that does not parse',
    args: plugin('badmod', { 'go.mod': 'module example.com/badmod\n\ngo one point twenty\n', 'x.go': RESOURCE_PLUGIN('badmod', META('badmod')) }),
    exitCode: 6,
    message: /cannot resolve the dependencies of plugin badmod/,
    hint: /go\.mod/,
  },
  {
    name: 'plugin go.mod that moves a module the host links',
    args: plugin('newuuid', {
      'go.mod': 'module example.com/newuuid\n\ngo 1.23.0\n\nrequire (\n\td7y.io/dragonfly/v2 v2.1.0\n\tgithub.com/google/uuid v1.6.0\n)\n',
      'go.sum':
        'github.com/google/uuid v1.6.0 h1:NIvaJDMOsjHA8n1jAhLSgzrAzy1Hgr+hNrb57e+94F0=\ngithub.com/google/uuid v1.6.0/go.mod h1:TIyPZe4MgqvfeYDBFedMoGGpEw/LqOeaOT+nhxU+yHo=\n',
      'x.go': RESOURCE_PLUGIN('newuuid', 'map[string]string{"type": "resource", "name": "newuuid", "scheme": "newuuid", "id": uuid.NewString()}').replace(
        '"io"\n',
        '"io"\n\n\t"github.com/google/uuid"\n',
      ),
    }),
    exitCode: 7,
    message: /plugin newuuid would link a module at another version than Dragonfly/,
    hint: /go mod edit -require=github\.com\/google\/uuid@v1\.5\.0/,
  },
  {
    name: 'plugin context over the size limit',
    args: async (dir) => {
      await writePlugin(path.join(dir, 'huge'), { 'x.go': RESOURCE_PLUGIN('huge', META('huge')), 'dataset.bin': 'x'.repeat(2 * 1024 * 1024) });
      return ['--max-context', '1m', path.join(dir, 'huge')];
    },
    exitCode: 2,
    message: /holds more than 1 MiB to send to the build \(reached at dataset\.bin\)/,
    hint: /\.dockerignore/,
  },
  // Files that are not regular files, and links: refused by type before a byte is read
  {
    name: 'FIFO named x.go in the plugin directory',
    hung: true,
    args: async (dir) => (
      await writePlugin(path.join(dir, 'fifo'), { 'y.go': RESOURCE_PLUGIN('fifo', META('fifo')) }),
      await mkfifo(path.join(dir, 'fifo', 'x.go')),
      path.join(dir, 'fifo')
    ),
    exitCode: 2,
    message: /x\.go in the plugin directory is a FIFO/,
    hint: /\.dockerignore/,
  },
  {
    name: '.go file that is a symbolic link to /dev/zero',
    hung: true,
    args: async (dir) => (
      await writePlugin(path.join(dir, 'zero'), { 'y.go': RESOURCE_PLUGIN('zero', META('zero')) }),
      await symlink('/dev/zero', path.join(dir, 'zero', 'x.go')),
      path.join(dir, 'zero')
    ),
    exitCode: 2,
    message: /x\.go in the plugin directory is a symbolic link to the absolute path \/dev\/zero/,
    hint: /relative link/,
  },
  {
    name: '.go file that is a relative link out to /dev/zero',
    hung: true,
    args: async (dir) => (
      await writePlugin(path.join(dir, 'zerorel'), { 'y.go': RESOURCE_PLUGIN('zerorel', META('zerorel')) }),
      await symlink('../'.repeat(20) + 'dev/zero', path.join(dir, 'zerorel', 'x.go')),
      path.join(dir, 'zerorel')
    ),
    exitCode: 2,
    message: /x\.go in the plugin directory is a symbolic link to \/dev\/zero, outside the plugin directory/,
    hint: /copy what it points to/,
  },
  {
    name: 'symbolic link out of the plugin directory',
    args: async (dir) => (
      await writePlugin(path.join(dir, 'escape'), { 'x.go': RESOURCE_PLUGIN('escape', META('escape')) }),
      await symlink('../../../../../../../../etc', path.join(dir, 'escape', 'etc')),
      path.join(dir, 'escape')
    ),
    exitCode: 2,
    message: /etc in the plugin directory is a symbolic link to \/etc, outside the plugin directory/,
    hint: /\.dockerignore/,
  },
  {
    name: '.gitignore that is a FIFO',
    hung: true,
    args: async (dir) => (
      await writePlugin(path.join(dir, 'gifo'), { 'x.go': RESOURCE_PLUGIN('gifo', META('gifo')) }),
      await mkfifo(path.join(dir, 'gifo', '.gitignore')),
      path.join(dir, 'gifo')
    ),
    exitCode: 2,
    message: /the ignore file .*\.gitignore is a FIFO \(named pipe\), not a regular file/,
    hint: /regular text file/,
  },
  {
    name: 'directory named go.mod',
    args: async (dir) => (
      await writePlugin(path.join(dir, 'moddir'), { 'x.go': RESOURCE_PLUGIN('moddir', META('moddir')) }),
      await mkdir(path.join(dir, 'moddir', 'go.mod')),
      path.join(dir, 'moddir')
    ),
    exitCode: 2,
    message: /moddir\/go\.mod is a directory/,
    hint: /must be a file/,
  },
  {
    name: 'directory named sub.go and no .go file',
    args: async (dir) => (await mkdir(path.join(dir, 'subgo', 'sub.go'), { recursive: true }), path.join(dir, 'subgo')),
    exitCode: 2,
    message: /subgo has no \.go files to send/,
    hint: /package main/,
  },
  {
    name: 'file name that is not UTF-8',
    args: async (dir) => {
      await writePlugin(path.join(dir, 'latin'), { 'x.go': RESOURCE_PLUGIN('latin', META('latin')) });
      await writeFile(Buffer.from(`${dir}/latin/caf\xe9.txt`, 'latin1'), 'x');
      return path.join(dir, 'latin');
    },
    exitCode: 2,
    message: /caf\\xe9\.txt in the plugin directory has a name that is not UTF-8/,
    hint: /rename it/,
  },
  {
    name: '.dockerignore that leaves out every .go file',
    args: plugin('allignored', { 'x.go': RESOURCE_PLUGIN('allignored', META('allignored')), '.dockerignore': '*.go\n' }),
    exitCode: 2,
    message: /allignored has no \.go files to send/,
    hint: /\.dockerignore/,
  },
  {
    name: '--netrc that is a FIFO',
    hung: true,
    args: async (dir) => (await mkfifo(path.join(dir, 'netrc')), ['--netrc', path.join(dir, 'netrc'), path.join(examples, 'd7yfs')]),
    exitCode: 2,
    message: /the netrc file .*netrc is a FIFO \(named pipe\), not a regular file/,
    hint: /--netrc/,
  },
  {
    name: '--netrc /dev/zero',
    hung: true,
    args: async () => ['--netrc', '/dev/zero', path.join(examples, 'd7yfs')],
    exitCode: 2,
    message: /the netrc file \/dev\/zero is a character device/,
    hint: /--netrc/,
  },
  {
    name: '--netrc too large to be one',
    args: async (dir) => (await writeFile(path.join(dir, 'netrc'), 'x'.repeat(100_000)), ['--netrc', path.join(dir, 'netrc'), path.join(examples, 'd7yfs')]),
    exitCode: 2,
    message: /the netrc file .*netrc is larger than 32 KiB/,
    hint: /--netrc/,
  },
  // Numbers out of range
  {
    name: '--timeout beyond what a timer holds',
    args: async () => ['--timeout', '600h', path.join(examples, 'd7yfs')],
    exitCode: 2,
    message: /--timeout 600h is not between 1s and 168h/,
    hint: /--timeout 24h/,
  },
  {
    name: '--cpus 1e-10',
    args: async () => ['--cpus', '1e-10', path.join(examples, 'd7yfs')],
    exitCode: 2,
    message: /--cpus 1e-10 is not a number of CPUs between 0\.01 and 1024/,
    hint: /--cpus 2/,
  },
  {
    name: '--cpus beyond the engine',
    args: async () => ['--cpus', '64', path.join(examples, 'd7yfs')],
    exitCode: 2,
    message: /--cpus 64 is more than the \d+ CPUs the Docker engine at .* has/,
    hint: /--cpus \d+ or less/,
  },
  {
    name: '--memory beyond int64',
    args: async () => ['--memory', '9999999t', path.join(examples, 'd7yfs')],
    exitCode: 2,
    message: /--memory 9999999t is not a memory size between 6m and 1024t/,
    hint: /--memory 2g/,
  },
  {
    name: '--memory beyond the engine',
    args: async () => ['--memory', '1000t', path.join(examples, 'd7yfs')],
    exitCode: 2,
    message: /--memory [\d.]+ GiB is more than the [\d.]+ GiB the Docker engine at .* has/,
    hint: /smaller --memory/,
  },
  {
    name: '--max-context 0',
    args: async () => ['--max-context', '0', path.join(examples, 'd7yfs')],
    exitCode: 2,
    message: /--max-context 0 is not a size between 1 and 1t/,
    hint: /--max-context 200m/,
  },
  {
    name: 'SOURCE_DATE_EPOCH past year 9999',
    env: { SOURCE_DATE_EPOCH: '253402300800' },
    args: d7yfs,
    exitCode: 2,
    message: /SOURCE_DATE_EPOCH="253402300800" is not a number of seconds between 0 and 253402300799/,
    hint: /Unix time/,
  },
  {
    name: 'SOURCE_DATE_EPOCH beyond any date',
    env: { SOURCE_DATE_EPOCH: '99999999999999999999' },
    args: d7yfs,
    exitCode: 2,
    message: /SOURCE_DATE_EPOCH="99999999999999999999" is not a number of seconds/,
    hint: /Unix time/,
  },
  // Image references
  {
    name: '--go-image that is no reference',
    goImage: 'Bad Image!',
    args: d7yfs,
    exitCode: 2,
    message: /--go-image "Bad Image!" is not an image reference/,
    hint: /golang:1\.23\.5-bookworm/,
  },
  {
    name: '--go-image with a path for a tag',
    goImage: 'golang:../../etc',
    args: d7yfs,
    exitCode: 2,
    message: /--go-image "golang:\.\.\/\.\.\/etc" is not an image reference/,
    hint: /lower-case name/,
  },
  // Names, types and flags
  {
    name: 'unknown plugin type',
    args: async () => ['--type', 'storage', path.join(examples, 'd7yfs')],
    exitCode: 2,
    message: /'storage' is invalid/,
    hint: /--help/,
  },
  {
    name: 'bad --name',
    args: async () => ['--name', 'My-FS', path.join(examples, 'd7yfs')],
    exitCode: 2,
    message: /--name "My-FS" is not a valid plugin name/,
    hint: /\[a-z0-9\]\+/,
  },
  // The metadata is not a literal in DragonflyPluginInit, so the directory's name is the default.
  {
    name: 'directory name that is no plugin name',
    args: plugin('My_FS', { 'x.go': RESOURCE_PLUGIN('x', 'pluginMeta', `var pluginMeta = ${META('x')}`) }),
    exitCode: 2,
    message: /directory name "My_FS" is not a valid plugin name/,
    hint: /--name/,
  },
  {
    name: 'sources that name the plugin otherwise than --name',
    args: async (dir) => ['--name', 'hello2', await plugin('hello2', { 'x.go': RESOURCE_PLUGIN('hello', META('hello')) })(dir)],
    exitCode: 2,
    message: /--name hello2 disagrees with the plugin's own name \(DragonflyPluginInit says "name": "hello"\)/,
    hint: /drop --name/,
  },
  {
    name: 'sources that declare another type',
    args: plugin('xfs', { 'x.go': RESOURCE_PLUGIN('xfs', META('xfs', 'scheduler')) }),
    exitCode: 2,
    message: /declares "type": "scheduler" in DragonflyPluginInit, but is built as a resource plugin/,
    hint: /--type scheduler/,
  },
  {
    name: 'a resource plugin whose scheme is not its name',
    args: plugin('ab', { 'x.go': RESOURCE_PLUGIN('ab', 'map[string]string{"type": "resource", "name": "ab", "scheme": "cd"}') }),
    exitCode: 2,
    message: /resource plugin ab declares "scheme": "cd"/,
    hint: /"scheme": "ab"/,
  },
  {
    name: 'scheduler plugin not named evaluator',
    args: async () => ['--type', 'scheduler', '--name', 'ranker', path.join(examples, 'evaluator')],
    exitCode: 2,
    message: /must be named "evaluator", not "ranker"/,
    hint: /--name evaluator/,
  },
  {
    name: '--name with several directories',
    args: async () => ['--name', 'x', path.join(examples, 'd7yfs'), path.join(examples, 'humanfs')],
    exitCode: 2,
    message: /--name applies to one plugin/,
    hint: /drop --name/,
  },
  {
    name: 'the same plugin twice',
    args: async () => [path.join(examples, 'd7yfs'), path.join(examples, 'd7yfs')],
    exitCode: 2,
    message: /would both be d7y-resource-plugin-d7yfs\.so/,
    hint: /its own name/,
  },
  {
    name: 'bad --tags',
    args: async () => ['--tags', 'a;rm -rf', path.join(examples, 'd7yfs')],
    exitCode: 2,
    message: /is not a build tag/,
    hint: /--tags netgo/,
  },
  { name: 'bad --memory', args: async () => ['--memory', 'lots', path.join(examples, 'd7yfs')], exitCode: 2, message: /--memory lots/, hint: /--memory 2g/ },
  {
    name: 'bad --timeout',
    args: async () => ['--timeout', 'soon', path.join(examples, 'd7yfs')],
    exitCode: 2,
    message: /--timeout soon is not a duration/,
    hint: /--timeout 30m/,
  },
  {
    name: 'SOURCE_DATE_EPOCH that is not seconds',
    env: { SOURCE_DATE_EPOCH: 'yesterday' },
    args: d7yfs,
    exitCode: 2,
    message: /SOURCE_DATE_EPOCH="yesterday"/,
    hint: /Unix time/,
  },
  { name: 'unknown option', args: async () => ['--colour', path.join(examples, 'd7yfs')], exitCode: 2, message: /unknown option '--colour'/, hint: /--help/ },
  // The Dragonfly source
  { name: 'commit that does not exist', commit: 'v9.9.9', args: d7yfs, exitCode: 4, message: /has no commit, branch or tag "v9\.9\.9"/, hint: /--commit/ },
  {
    name: 'commit that looks like an option',
    commit: '--upload-pack=touch',
    args: d7yfs,
    exitCode: 4,
    message: /is not a branch, tag or commit name/,
    hint: /--commit/,
  },
  {
    name: 'repository that is not git',
    repo: async (dir) => (await mkdir(path.join(dir, 'notgit')), path.join(dir, 'notgit')),
    args: d7yfs,
    exitCode: 4,
    message: /cannot clone .*notgit/,
    hint: /--repo/,
  },
  {
    name: 'repository that cannot be reached',
    repo: async () => 'http://127.0.0.1:9/dragonfly.git',
    args: d7yfs,
    exitCode: 4,
    message: /cannot clone http:\/\/127\.0\.0\.1:9\/dragonfly\.git/,
    hint: /reachable/,
  },
  {
    name: 'repository that is not Dragonfly',
    repo: async (dir) => {
      const repo = path.join(dir, 'other');
      await writePlugin(repo, { 'go.mod': 'module example.com/other\n\ngo 1.23.0\n' });
      for (const args of [
        ['init', '-q', '-b', 'main'],
        ['add', '.'],
        ['-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '-qm', 'x'],
        ['tag', 'v2.1.0'],
      ])
        await run('git', ['-C', repo, ...args]);
      return repo;
    },
    args: d7yfs,
    exitCode: 4,
    message: /is not Dragonfly: its go\.mod declares example\.com\/other/,
    hint: /d7y\.io\/dragonfly\/v2/,
  },
  {
    name: 'repository whose go.mod is megabytes',
    repo: async (dir) => {
      const repo = path.join(dir, 'huge');
      await writePlugin(repo, { 'go.mod': `module d7y.io/dragonfly/v2\n\ngo 1.23.0\n${'// padding\n'.repeat(200_000)}` });
      for (const args of [
        ['init', '-q', '-b', 'main'],
        ['add', '.'],
        ['-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '-qm', 'x'],
        ['tag', 'v2.1.0'],
      ])
        await run('git', ['-C', repo, ...args]);
      return repo;
    },
    args: d7yfs,
    exitCode: 4,
    message: /has a go\.mod of 2200038 bytes, more than the 1048576 d7y-build reads/,
    hint: /a clone of Dragonfly/,
  },
  {
    name: 'a scheduler plugin for a Dragonfly whose scheduler has no LoadPlugin',
    repo: async (dir) => {
      const repo = path.join(dir, 'noloader');
      await run('git', ['clone', '-q', '--branch', 'v2.1.0', inject('fixtureRepo'), repo]);
      await run('git', ['-C', repo, 'rm', '-q', 'scheduler/scheduling/evaluator/plugin.go']);
      for (const args of [
        ['-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '-qm', 'no loader'],
        ['tag', 'v2.0.0'],
      ])
        await run('git', ['-C', repo, ...args]);
      return repo;
    },
    commit: 'v2.0.0',
    args: async () => ['--type', 'scheduler', path.join(examples, 'evaluator')],
    exitCode: 10,
    message:
      /has no LoadPlugin for scheduler plugins \(looked in scheduler\/scheduling\/evaluator\/plugin\.go, scheduler\/core\/evaluator\/plugin\.go\), so its scheduler never loads one/,
    hint: /whose scheduler loads scheduler plugins/,
  },
  {
    name: 'resource plugin for a Dragonfly without dfget (v2.4.0)',
    commit: 'v2.4.0',
    args: d7yfs,
    exitCode: 10,
    message: /has no cmd\/dfget/,
    hint: /v2\.4\.0/,
  },
  // The Go image and the engine
  {
    name: 'Go image that is not here and cannot be pulled',
    goImage: 'golang:1.99.0-bookworm',
    args: d7yfs,
    exitCode: 5,
    message: /golang:1\.99\.0-bookworm is not here and can't be pulled/,
    hint: /scripts\/go-image\.sh/,
  },
  { name: 'image without Go', goImage: 'd7y-build/debian:bookworm', args: d7yfs, exitCode: 5, message: /has no working Go/, hint: /--go-image/ },
  {
    name: 'no Docker engine',
    env: { DOCKER_HOST: 'unix:///nonexistent/docker.sock' },
    args: d7yfs,
    exitCode: 3,
    message: /no Docker engine answers at unix:\/\/\/nonexistent\/docker\.sock/,
    hint: /DOCKER_HOST/,
  },
  {
    name: 'DOCKER_HOST that accepts and never answers',
    hung: true,
    env: async () => ({ DOCKER_HOST: await silentServer(), D7Y_PING_TIMEOUT: '2s' }),
    args: d7yfs,
    exitCode: 3,
    message: /no Docker engine answers at http:\/\/127\.0\.0\.1:\d+: it took more than 2 s to answer/,
    hint: /D7Y_PING_TIMEOUT/,
  },
  {
    name: 'DOCKER_HOST that is a web server, not Docker',
    env: async () => ({ DOCKER_HOST: await webServer() }),
    args: d7yfs,
    exitCode: 3,
    message: /http:\/\/127\.0\.0\.1:\d+ answers HTTP 404, but is not a Docker engine/,
    hint: /DOCKER_HOST/,
  },
  {
    name: 'DOCKER_TLS_VERIFY against an engine address without TLS',
    env: async () => ({ DOCKER_HOST: await webServer(), DOCKER_TLS_VERIFY: '1' }),
    args: d7yfs,
    exitCode: 3,
    message: /no Docker engine answers at https:\/\/127\.0\.0\.1:\d+ over TLS \(EPROTO\)/,
    hint: /DOCKER_TLS_VERIFY and DOCKER_CERT_PATH/,
  },
  {
    name: 'DOCKER_HOST with a port out of range',
    env: { DOCKER_HOST: 'tcp://localhost:99999' },
    args: d7yfs,
    exitCode: 2,
    message: /DOCKER_HOST="tcp:\/\/localhost:99999" is not a Docker engine address/,
    hint: /tcp:\/\/host:2375/,
  },
  {
    name: 'DOCKER_HOST with a path',
    env: { DOCKER_HOST: 'docker.example:2375/v1.41' },
    args: d7yfs,
    exitCode: 2,
    message: /DOCKER_HOST="docker\.example:2375\/v1\.41" is not a Docker engine address/,
    hint: /unset it/,
  },
  {
    name: 'DOCKER_HOST with a scheme no client speaks',
    env: { DOCKER_HOST: 'fd://3' },
    args: d7yfs,
    exitCode: 2,
    message: /DOCKER_HOST="fd:\/\/3" is not a Docker engine address/,
    hint: /unix:\/\/\/var\/run\/docker\.sock/,
  },
  {
    name: 'DOCKER_CERT_PATH without certificates',
    env: async (dir) => (
      await mkdir(path.join(dir, 'certs')),
      { DOCKER_HOST: 'tcp://127.0.0.1:2376', DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: path.join(dir, 'certs') }
    ),
    args: d7yfs,
    exitCode: 2,
    message: /DOCKER_CERT_PATH=.*certs: .*ca\.pem cannot be read \(ENOENT\)/,
    hint: /ca\.pem, cert\.pem and key\.pem/,
  },
  {
    name: 'DOCKER_CERT_PATH whose key is a FIFO',
    hung: true,
    env: async (dir) => {
      const certs = path.join(dir, 'certs');
      await writePlugin(certs, { 'ca.pem': 'x', 'cert.pem': 'x' });
      await mkfifo(path.join(certs, 'key.pem'));
      return { DOCKER_HOST: 'tcp://127.0.0.1:2376', DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: certs };
    },
    args: d7yfs,
    exitCode: 2,
    message: /key\.pem is not a regular file/,
    hint: /DOCKER_CERT_PATH/,
  },
  // Where the results go
  {
    name: '--out inside the plugin directory',
    args: async () => ['--out', path.join(examples, 'd7yfs', 'out'), path.join(examples, 'd7yfs')],
    exitCode: 2,
    message: /is inside the plugin directory/,
    hint: /put the output elsewhere/,
  },
  {
    name: '--out that is a file',
    out: async (dir) => (await writeFile(path.join(dir, 'outfile'), 'x'), path.join(dir, 'outfile')),
    args: d7yfs,
    exitCode: 9,
    message: /--out .*outfile: .*outfile is not a directory/,
    hint: /point --out at a directory/,
  },
  {
    name: '--plugins-dir that is a file',
    pluginsDir: async (dir) => (await writeFile(path.join(dir, 'pfile'), 'x'), path.join(dir, 'pfile')),
    args: d7yfs,
    exitCode: 9,
    message: /is not a directory/,
    hint: /--plugins-dir/,
  },
  {
    name: '--plugins-dir on a read-only file system',
    pluginsDir: async (dir) => {
      const ro = path.join(dir, 'ro');
      await mkdir(ro);
      await run('mount', ['-t', 'tmpfs', '-o', 'ro,size=1m', 'tmpfs', ro]);
      return ro;
    },
    args: d7yfs,
    exitCode: 9,
    message: /--plugins-dir .*ro is not writable/,
    hint: /--plugins-dir <a writable directory>/,
  },
  {
    name: '--plugins-dir the user may not write',
    asNobody: true,
    out: async (dir) => {
      await chmod(path.dirname(dir), 0o711); // nobody may pass through the scratch directory
      const open = path.join(dir, 'open');
      await mkdir(open);
      await chmod(open, 0o777);
      return open;
    },
    pluginsDir: async (dir) => {
      const closed = path.join(dir, 'closed');
      await mkdir(closed, { mode: 0o700 });
      return closed;
    },
    args: d7yfs,
    exitCode: 9,
    message: /--plugins-dir .*closed is not writable/,
    hint: /run with permission to write there/,
  },
  {
    name: '--out that is --plugins-dir',
    out: async (dir) => path.join(dir, 'plugins'),
    args: d7yfs,
    exitCode: 2,
    message: /--out and --plugins-dir are the same directory/,
    hint: /keep --out and --plugins-dir apart/,
  },
  {
    name: '--out inside --plugins-dir',
    out: async (dir) => path.join(dir, 'plugins', 'out'),
    args: d7yfs,
    exitCode: 2,
    message: /--out .* is inside --plugins-dir/,
    hint: /keep --out and --plugins-dir apart/,
  },
  {
    name: '--plugins-dir inside --out',
    pluginsDir: async (dir) => path.join(dir, 'out', 'plugins'),
    args: d7yfs,
    exitCode: 2,
    message: /--plugins-dir .* is inside --out/,
    hint: /keep --out and --plugins-dir apart/,
  },
  {
    name: '--out inside a symlinked plugin directory',
    args: async (dir) => {
      await writePlugin(path.join(dir, 'real'), { 'x.go': RESOURCE_PLUGIN('linked', META('linked')) });
      await symlink(path.join(dir, 'real'), path.join(dir, 'linked'));
      return ['--out', path.join(dir, 'real', 'out'), path.join(dir, 'linked')];
    },
    exitCode: 2,
    message: /--out .*real\/out is inside the plugin directory .*real/,
    hint: /put the output elsewhere/,
  },
  {
    name: '--plugins-dir that is a symbolic link to nothing',
    pluginsDir: async (dir) => (await symlink(path.join(dir, 'gone'), path.join(dir, 'dangling')), path.join(dir, 'dangling')),
    args: d7yfs,
    exitCode: 9,
    message: /--plugins-dir .*dangling: .*dangling is a symbolic link to nothing/,
    hint: /create the directory the link points to/,
  },
  {
    name: '--out under /proc',
    hung: true,
    out: async () => '/proc/d7y-build-out',
    args: d7yfs,
    exitCode: 9,
    message: /--out \/proc\/d7y-build-out can't be created in \/proc \(ENOENT\)/,
    hint: /choose another one/,
  },
  {
    name: '--plugins-dir under /sys',
    pluginsDir: async () => '/sys/d7y-build/plugins',
    args: d7yfs,
    exitCode: 9,
    message: /--plugins-dir \/sys\/d7y-build\/plugins can't be created in \/sys/,
    hint: /choose another one/,
  },
  {
    name: 'plugin name too long for a file name',
    args: plugin('a'.repeat(240), { 'x.go': RESOURCE_PLUGIN('long', 'pluginMeta', `var pluginMeta = ${META('long')}`) }),
    exitCode: 2,
    message: /plugin name a{16}… \(240 characters\) is too long/,
    hint: /shorter --name, of at most \d+ characters/,
  },
  // The cache directory
  {
    name: 'cache directory under /proc',
    hung: true,
    env: { D7Y_CACHE_DIR: '/proc/d7y-build-cache' },
    args: d7yfs,
    exitCode: 2,
    message: /the cache directory \/proc\/d7y-build-cache \(from D7Y_CACHE_DIR\) is not a writable directory/,
    hint: /set D7Y_CACHE_DIR/,
  },
  {
    name: 'cache directory that is a file',
    env: async (dir) => (await writeFile(path.join(dir, 'cachefile'), 'x'), { D7Y_CACHE_DIR: path.join(dir, 'cachefile') }),
    args: d7yfs,
    exitCode: 2,
    message: /the cache directory .*cachefile \(from D7Y_CACHE_DIR\) is not a writable directory \(ENOTDIR\)/,
    hint: /set D7Y_CACHE_DIR/,
  },
  {
    name: 'cache directory on a read-only file system',
    env: async (dir) => {
      const ro = path.join(dir, 'ro-cache');
      await mkdir(ro);
      await run('mount', ['-t', 'tmpfs', '-o', 'ro,size=1m', 'tmpfs', ro]);
      return { D7Y_CACHE_DIR: ro };
    },
    args: d7yfs,
    exitCode: 2,
    message: /the cache directory .*ro-cache \(from D7Y_CACHE_DIR\) is not a writable directory \(EROFS\)/,
    hint: /set D7Y_CACHE_DIR/,
  },
  {
    name: 'relative D7Y_CACHE_DIR',
    env: { D7Y_CACHE_DIR: 'cache' },
    args: d7yfs,
    exitCode: 2,
    message: /D7Y_CACHE_DIR="cache" is not an absolute path/,
    hint: /absolute path/,
  },
  {
    name: 'empty HOME and no cache variable',
    env: { D7Y_CACHE_DIR: undefined, XDG_CACHE_HOME: undefined, HOME: '' },
    args: d7yfs,
    exitCode: 2,
    message: /HOME="" is not an absolute path/,
    hint: /D7Y_CACHE_DIR/,
  },
  {
    name: 'relative XDG_CACHE_HOME and HOME',
    env: { D7Y_CACHE_DIR: undefined, XDG_CACHE_HOME: 'cache', HOME: 'home' },
    args: d7yfs,
    exitCode: 2,
    message: /HOME="home" is not an absolute path/,
    hint: /set HOME/,
  },
];

describe('bad inputs', () => {
  it('the catalogue has at least 75 cases', () => {
    expect(cases.length).toBeGreaterThanOrEqual(75);
  });

  it.each(cases.filter((c) => !c.hung))('$name → exit $exitCode', check);
  // Inputs that used to hang the run (or read without end): each must end well within a minute.
  it.each(cases.filter((c) => c.hung))('$name → exit $exitCode, within a minute', check, 60_000);
});

async function check(c: Case): Promise<void> {
  await using work = await tempDir();
  await chmod(work.path, 0o755);
  const out = (await c.out?.(work.path)) ?? path.join(work.path, 'out');
  const plugins = (await c.pluginsDir?.(work.path)) ?? path.join(work.path, 'plugins');
  if (c.pluginsDir === undefined) {
    await mkdir(plugins);
    await writeFile(path.join(plugins, 'd7y-resource-plugin-existing.so'), 'an installed plugin');
  }
  const before = { out: await snapshot(out), plugins: await snapshot(plugins), ...(await engineState()) };

  const extra = await c.args(work.path);
  const repo = (await c.repo?.(work.path)) ?? inject('fixtureRepo');
  const args = [
    ...fixtureArgs(c.commit ?? 'v2.1.0', c.goImage).map((a, i, all) => (all[i - 1] === '--repo' ? repo : a)),
    '--out',
    out,
    '--plugins-dir',
    plugins,
    '--json',
    ...(Array.isArray(extra) ? extra : [extra]),
  ];
  try {
    const env = typeof c.env === 'function' ? await c.env(work.path) : c.env;
    const result = c.asNobody ? await runAsNobody(args, work.path) : await runCli(args, { env, cwd: work.path });

    expect(result.exitCode, result.stderr).toBe(c.exitCode);
    const outcome = JSON.parse(result.stdout);
    expect(outcome).toMatchObject({ schemaVersion: 1, ok: false, error: { exitCode: c.exitCode } });
    expect(outcome.error.message).toMatch(c.message);
    expect(outcome.error.message).not.toContain('\n'); // a one-line error
    expect(outcome.error.hint).toMatch(c.hint);
    // Printed once on stderr, with its hint, and no stack trace.
    expect(result.stderr.match(/^error: /gm)).toHaveLength(1);
    expect(result.stderr).toMatch(/^hint: /m);
    expect(result.stderr).not.toMatch(/^\s+at .*:\d+:\d+\)?$/m);

    expect(await snapshot(out)).toEqual(before.out);
    expect(await snapshot(plugins)).toEqual(before.plugins);
    const after = await engineState();
    expect(after.volumes.filter((v) => !before.volumes.includes(v) && !CACHE_VOLUMES.some((c) => c.name === v) && !v.startsWith('d7y-build-src-'))).toEqual([]);
    expect(after.images.filter((i) => !before.images.includes(i) && !i.startsWith('d7y-build/builder:'))).toEqual([]);
  } finally {
    if (c.name.includes('read-only')) await run('umount', c.name.includes('cache') ? [path.join(work.path, 'ro-cache')] : [plugins]);
  }
}

/** Volumes and image tags on the engine: besides caches, a failed build must add none. */
async function engineState(): Promise<{ volumes: string[]; images: string[] }> {
  const volumes = (await docker('volume', 'ls', '-q')).split('\n').filter(Boolean);
  const images = (await docker('images', '--format', '{{.Repository}}:{{.Tag}}')).split('\n').filter(Boolean);
  return { volumes, images };
}

async function runAsNobody(args: string[], cwd: string): Promise<{ exitCode: number | null; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, cli, ...args], {
      cwd,
      env: { ...process.env, HOME: cwd, D7Y_CACHE_DIR: path.join(cwd, 'nobody-cache'), NO_COLOR: '1' },
    });
    return { exitCode: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { exitCode: e.code ?? null, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

describe('a run that waits ends on SIGTERM', () => {
  it('while the engine accepts the connection and never answers: exit 143 at once, nothing left', { timeout: 60_000 }, async () => {
    await using work = await tempDir();
    const engine = await silentEngine();
    const out = path.join(work.path, 'out');
    const plugins = path.join(work.path, 'plugins');
    let child: ChildProcess | undefined;
    const running = runCli([...fixtureArgs('v2.1.0'), '--out', out, '--plugins-dir', plugins, '--json', path.join(examples, 'd7yfs')], {
      env: { DOCKER_HOST: engine.address, D7Y_PING_TIMEOUT: '1h' },
      onStderr: (c) => (child = c),
    });
    await engine.connected; // the ping is waiting for an answer
    await new Promise((r) => setTimeout(r, 300));
    child!.kill('SIGTERM');
    const result = await running;
    expect(result.exitCode, result.stderr).toBe(143);
    expect(JSON.parse(result.stdout).error).toMatchObject({ code: 'interrupted', exitCode: 143, step: 'check-inputs' });
    expect(await snapshot(out)).toEqual({});
    expect(await snapshot(plugins)).toEqual({});
  });
});

describe('failures show their evidence', () => {
  it('the compiler errors of a plugin that does not compile', async () => {
    await using work = await tempDir();
    const dir = await writePlugin(path.join(work.path, 'typo'), {
      'typo.go': `package main\n\n${INIT} {\n\treturn nil, map[string]string{}, fmt.Errorf("x")\n}\n`,
    });
    const result = await runCli([...fixtureArgs('v2.1.0'), '--out', path.join(work.path, 'out'), '--plugins-dir', path.join(work.path, 'p'), dir]);
    expect(result.exitCode).toBe(6);
    expect(result.stderr).toMatch(/typo\.go:4:\d+: undefined: fmt/);
  });

  it('the panic of a plugin that panics while loading', async () => {
    await using work = await tempDir();
    const dir = await writePlugin(path.join(work.path, 'panics'), {
      'x.go': RESOURCE_PLUGIN('panics', META('panics'), 'func init() { panic("boom at load time") }\n'),
    });
    const result = await runCli([...fixtureArgs('v2.1.0'), '--out', path.join(work.path, 'out'), '--plugins-dir', path.join(work.path, 'p'), dir]);
    expect(result.exitCode).toBe(8);
    expect(result.stderr).toMatch(/panic: boom at load time/);
  });
});
