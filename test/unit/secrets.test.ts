import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/errors';
import { loadSecrets, maskSecrets, netrcForToken, netrcValues, privateHosts } from '../../src/secrets';

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
