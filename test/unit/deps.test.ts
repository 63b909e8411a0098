import { describe, expect, it } from 'vitest';
import { conflictFix, describeConflict, findConflicts, parseGoList, type ModuleConflict, type PackageOrigin } from '../../src/commands/build/deps';

/** go list output lines: "<import path>[ <module> <version>[ => <path> <version>]]". */
const list = (...lines: string[]): Map<string, PackageOrigin> => parseGoList(lines.join('\n'));

describe('parseGoList', () => {
  it('keeps module packages and skips standard library lines', () => {
    const packages = parseGoList(
      [
        'fmt',
        'net/http',
        'github.com/google/uuid github.com/google/uuid v1.6.0',
        'd7y.io/dragonfly/v2/pkg/source d7y.io/dragonfly/v2 ',
        'example.com/fork/x example.com/x v1.0.0 => example.com/fork/x v1.0.1',
        '',
        '   ',
      ].join('\n'),
    );
    expect([...packages.keys()]).toEqual(['github.com/google/uuid', 'd7y.io/dragonfly/v2/pkg/source', 'example.com/fork/x']);
    expect(packages.get('github.com/google/uuid')).toEqual({
      importPath: 'github.com/google/uuid',
      module: 'github.com/google/uuid',
      version: 'v1.6.0',
    });
    expect(packages.get('d7y.io/dragonfly/v2/pkg/source')?.version).toBe('');
    expect(packages.get('example.com/fork/x')).toEqual({
      importPath: 'example.com/fork/x',
      module: 'example.com/x',
      version: 'v1.0.0 => example.com/fork/x v1.0.1',
    });
  });

  it('handles CRLF output', () => {
    const packages = parseGoList('fmt\r\ngithub.com/a/b github.com/a/b v1.0.0\r\n');
    expect([...packages.keys()]).toEqual(['github.com/a/b']);
    expect(packages.get('github.com/a/b')?.version).toBe('v1.0.0');
  });
});

describe('findConflicts', () => {
  it('finds a shared package at another module version and groups the packages per module', () => {
    const host = list(
      'fmt',
      'github.com/google/uuid github.com/google/uuid v1.5.0',
      'golang.org/x/sys/unix golang.org/x/sys v0.20.0',
      'golang.org/x/sys/cpu golang.org/x/sys v0.20.0',
      'golang.org/x/sys/execabs golang.org/x/sys v0.20.0',
      'github.com/only/host github.com/only/host v1.0.0',
    );
    const plugin = list(
      'fmt',
      'github.com/google/uuid github.com/google/uuid v1.5.0',
      'golang.org/x/sys/unix golang.org/x/sys v0.21.0',
      'golang.org/x/sys/cpu golang.org/x/sys v0.21.0',
      'golang.org/x/sys/windows golang.org/x/sys v0.21.0',
      'github.com/only/plugin github.com/only/plugin v2.0.0',
    );
    expect(findConflicts(host, plugin)).toEqual([
      {
        module: 'golang.org/x/sys',
        hostModule: 'golang.org/x/sys',
        hostVersion: 'v0.20.0',
        pluginVersion: 'v0.21.0',
        packages: ['golang.org/x/sys/unix', 'golang.org/x/sys/cpu'],
      },
    ]);
  });

  it('reports each conflicting module separately', () => {
    const host = list('a.com/x a.com/x v1.0.0', 'b.com/y b.com/y v1.0.0');
    const plugin = list('a.com/x a.com/x v1.1.0', 'b.com/y b.com/y v1.2.0');
    const conflicts = findConflicts(host, plugin);
    expect(conflicts.map((c) => [c.module, c.hostVersion, c.pluginVersion])).toEqual([
      ['a.com/x', 'v1.0.0', 'v1.1.0'],
      ['b.com/y', 'v1.0.0', 'v1.2.0'],
    ]);
  });

  it.each([
    ['same versions', ['a.com/x a.com/x v1.0.0'], ['a.com/x a.com/x v1.0.0']],
    ['package only in the host', ['a.com/x a.com/x v1.0.0'], ['b.com/y b.com/y v9.0.0']],
    ['package only in the plugin', [] as string[], ['a.com/x a.com/x v2.0.0']],
    ['only standard library', ['fmt', 'os'], ['fmt', 'os']],
    ['same local (workspace) module', ['d7y.io/dragonfly/v2/pkg/source d7y.io/dragonfly/v2'], ['d7y.io/dragonfly/v2/pkg/source d7y.io/dragonfly/v2']],
    ['same replacement', ['a.com/x a.com/x v1.0.0 => ../x'], ['a.com/x a.com/x v1.0.0 => ../x']],
  ])('no conflict: %s', (_label, hostLines, pluginLines) => {
    expect(findConflicts(list(...hostLines), list(...pluginLines))).toEqual([]);
  });

  it('compares replaced modules as text', () => {
    const host = list('a.com/x a.com/x v1.0.0 => a.com/fork v1.0.1');
    const plugin = list('a.com/x a.com/x v1.0.0 => a.com/fork v1.0.2');
    expect(findConflicts(host, plugin)).toEqual([
      {
        module: 'a.com/x',
        hostModule: 'a.com/x',
        hostVersion: 'v1.0.0 => a.com/fork v1.0.1',
        pluginVersion: 'v1.0.0 => a.com/fork v1.0.2',
        packages: ['a.com/x'],
      },
    ]);
  });

  it('names the host module when the package moved to another module', () => {
    const host = list('a.com/x/sub a.com/x v1.0.0');
    const plugin = list('a.com/x/sub a.com/x/sub v0.1.0');
    const [conflict] = findConflicts(host, plugin);
    expect(conflict).toMatchObject({ module: 'a.com/x/sub', hostModule: 'a.com/x', hostVersion: 'v1.0.0' });
    expect(describeConflict(conflict!)).toContain('Dragonfly links a.com/x v1.0.0');
    expect(conflictFix(conflict!)).toBe("make the plugin's requirements take a.com/x/sub from a.com/x@v1.0.0, as Dragonfly does");
  });

  it('sees a replacement on one side only as a conflict', () => {
    const conflicts = findConflicts(list('a.com/x a.com/x v1.0.0'), list('a.com/x a.com/x v1.0.0 => ../x'));
    expect(conflicts).toHaveLength(1);
    expect(conflicts[0]).toMatchObject({ hostVersion: 'v1.0.0', pluginVersion: 'v1.0.0 => ../x' });
  });
});

describe('describeConflict', () => {
  const conflict: ModuleConflict = {
    module: 'github.com/google/uuid',
    hostModule: 'github.com/google/uuid',
    hostVersion: 'v1.5.0',
    pluginVersion: 'v1.6.0',
    packages: ['github.com/google/uuid'],
  };

  it('names the module, both versions and the shared packages', () => {
    const text = describeConflict(conflict);
    expect(text).toContain('github.com/google/uuid');
    expect(text).toContain('v1.5.0');
    expect(text).toContain('v1.6.0');
    expect(text.indexOf('v1.5.0')).toBeLessThan(text.indexOf('v1.6.0'));
    expect(text).toMatch(/shared: github\.com\/google\/uuid\)$/);
  });

  it('shows at most three packages', () => {
    const text = describeConflict({ ...conflict, packages: ['p/1', 'p/2', 'p/3', 'p/4'] });
    expect(text).toContain('p/1, p/2, p/3, …');
    expect(text).not.toContain('p/4');
  });

  it('shows an empty version as local source', () => {
    expect(describeConflict({ ...conflict, hostVersion: '' })).toContain('(local source)');
  });
});

describe('conflictFix', () => {
  const conflict: ModuleConflict = {
    module: 'golang.org/x/sys',
    hostModule: 'golang.org/x/sys',
    hostVersion: 'v0.20.0',
    pluginVersion: 'v0.21.0',
    packages: ['golang.org/x/sys/unix'],
  };

  it('suggests requiring the host version', () => {
    const fix = conflictFix(conflict);
    expect(fix).toContain('go mod edit -require=golang.org/x/sys@v0.20.0');
    expect(fix).toContain('v0.21.0');
  });

  it('uses the required version of a replaced host module', () => {
    expect(conflictFix({ ...conflict, hostVersion: 'v0.20.0 => example.com/sys v0.20.1' })).toContain('go mod edit -require=golang.org/x/sys@v0.20.0 ');
  });

  it('suggests dropping the requirement when the host has the module as local source', () => {
    const fix = conflictFix({ ...conflict, hostVersion: '' });
    expect(fix).toContain('golang.org/x/sys');
    expect(fix).not.toContain('go mod edit');
  });
});
