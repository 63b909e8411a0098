import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/errors';
import { gitRemote, loadSecrets, maskSecrets, netrcForToken, netrcValues, privateHosts, redactUrl, urlSecrets } from '../../src/secrets';

describe('secrets', () => {
  it('finds the hosts private module patterns name, without wildcards', () => {
    expect(privateHosts({ GOPRIVATE: 'github.com/acme/*,corp.example', GONOSUMDB: 'corp.example/x, *.internal', GONOPROXY: '' })).toEqual([
      'github.com',
      'corp.example',
    ]);
  });

  it('turns a token into a netrc entry per host', () => {
    expect(netrcForToken('t0ken', ['github.com', 'corp.example'])).toBe(
      'machine github.com login x-access-token password t0ken\nmachine corp.example login x-access-token password t0ken\n',
    );
  });

  it('takes the passwords of a netrc', () => {
    expect(netrcValues('machine a login u password p1\nmachine b\n  login v\n  password p2\n')).toEqual(['p1', 'p2']);
  });

  it('masks every value of four characters or more', () => {
    expect(maskSecrets('get https://x/secret-1?t=secret-1 abc', ['secret-1', 'abc'])).toBe('get https://x/***?t=*** abc');
  });

  it('combines a netrc file and GIT_AUTH_TOKEN', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'd7y-secrets-'));
    try {
      await writeFile(path.join(dir, 'netrc'), 'machine proxy.corp login ci password file-secret\n');
      const secrets = await loadSecrets(path.join(dir, 'netrc'), { GIT_AUTH_TOKEN: 'env-secret', GOPRIVATE: 'github.com/acme' });
      expect(secrets.netrc).toBe('machine proxy.corp login ci password file-secret\nmachine github.com login x-access-token password env-secret\n');
      expect(secrets.values.sort()).toEqual(['env-secret', 'file-secret']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses a token with nowhere private to send it, and an unreadable netrc', async () => {
    await expect(loadSecrets(undefined, { GIT_AUTH_TOKEN: 'x' })).rejects.toThrow(UsageError);
    await expect(loadSecrets(undefined, { GIT_AUTH_TOKEN: 'x' })).rejects.toThrow(/no GOPRIVATE, GONOPROXY or GONOSUMDB host/);
    await expect(loadSecrets('/nonexistent/netrc', {})).rejects.toThrow(/the netrc file \/nonexistent\/netrc does not exist/);
    await expect(loadSecrets(undefined, {})).resolves.toEqual({ netrc: '', values: [] });
  });
});

describe('redactUrl', () => {
  it.each([
    ['https://user:token@github.com/x.git', 'https://github.com/x.git'],
    ['https://token@github.com/dragonflyoss/dragonfly.git', 'https://github.com/dragonflyoss/dragonfly.git'],
    ['HTTP://u:p@example.com:8080/a/b', 'HTTP://example.com:8080/a/b'],
    ['https://u:p@ss@example.com/x', 'https://example.com/x'],
    ['https://github.com/dragonflyoss/dragonfly.git', 'https://github.com/dragonflyoss/dragonfly.git'],
    ['https://github.com/x/y@v2', 'https://github.com/x/y@v2'],
    ['https://host?next=a@b', 'https://host?next=a@b'],
    ['git@github.com:dragonflyoss/dragonfly.git', 'git@github.com:dragonflyoss/dragonfly.git'],
    ['/srv/git/dragonfly', '/srv/git/dragonfly'],
    ['../dragonfly', '../dragonfly'],
    // Any URL in a text, as git and the CLI print them
    ["fatal: unable to access 'https://u:t0k3n@host/x.git/': Failed to connect", "fatal: unable to access 'https://host/x.git/': Failed to connect"],
    ['cannot clone http://a:b@h1/x and ssh://git@h2/y', 'cannot clone http://h1/x and ssh://h2/y'],
    ['{"repo":"https://tok@h/x"}', '{"repo":"https://h/x"}'],
  ])('%s → %s', (url, want) => {
    expect(redactUrl(url)).toBe(want);
  });
});

describe('urlSecrets', () => {
  it.each([
    ['https://user:t0ken@host/x.git', ['t0ken']],
    ['https://user:t%40ken@host/x.git', ['t%40ken', 't@ken']],
    ['https://ghp_abcdef@github.com/x.git', ['ghp_abcdef']],
    ['ssh://git@host/x.git', []],
    ['ssh://git:pw12@host/x.git', ['pw12']],
    ['https://host/x.git', []],
    ['/srv/git/dragonfly', []],
    ['--repo=https://u:secret1@a/x https://u:secret2@b/y', ['secret1', 'secret2']],
  ])('%s → %j', (text, want) => {
    expect(urlSecrets(text)).toEqual(want);
  });

  it('feeds maskSecrets, which masks the decoded password wherever a tool prints it', () => {
    const values = urlSecrets('https://user:t%40ken-1@host/x.git');
    expect(maskSecrets('fatal: Authentication failed for user:t@ken-1 at https://user:t%40ken-1@host/x.git', values)).toBe(
      'fatal: Authentication failed for user:*** at https://host/x.git',
    );
  });
});

describe('gitRemote', () => {
  it('moves an http(s) password from the URL into an Authorization header for git', () => {
    const remote = gitRemote('https://x-access-token:s%40cret@git.example.com:8443/org/dragonfly.git');
    expect(remote.url).toBe('https://git.example.com:8443/org/dragonfly.git');
    expect(remote.env).toEqual({
      GIT_CONFIG_COUNT: '1',
      GIT_CONFIG_KEY_0: 'http.extraHeader',
      GIT_CONFIG_VALUE_0: `Authorization: Basic ${Buffer.from('x-access-token:s@cret').toString('base64')}`,
    });
  });

  it.each([
    'https://git.example.com/dragonfly.git',
    'ssh://git@git.example.com/dragonfly.git',
    'git@git.example.com:dragonfly.git',
    '/srv/dragonfly',
    'https://user@git.example.com/x.git',
  ])('leaves %s as it is', (repo) => {
    expect(gitRemote(repo)).toEqual({ url: repo, env: {} });
  });
});
