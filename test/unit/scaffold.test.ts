import { describe, expect, it } from 'vitest';
import { DEFAULT_REPO, resolveInitSpec } from '../../src/config';
import { UsageError } from '../../src/errors';
import type { PluginType } from '../../src/plugin';
import { formatApi, moduleVersion, parseIfaceReport, pluginApi, scaffoldFiles, stubSignature, typeNameFor, type IfaceReport } from '../../src/scaffold/render';

const SHA = '0123456789abcdef0123456789abcdef01234567';

/** Sample `d7y-apicheck iface` output per type, as a Dragonfly package would declare them. */
const SAMPLES: Record<PluginType, { dir: string; iface: string; params: Array<'dir' | 'name'>; report: IfaceReport }> = {
  resource: {
    dir: 'pkg/source',
    iface: 'ResourceClient',
    params: ['dir', 'name'],
    report: {
      package: 'source',
      methods: [
        // Package-local types on both sides, and two results.
        {
          name: 'Download',
          source: 'Download(request *Request) (*Response, error)',
          doc: 'Download downloads from source',
          qualified: 'Download(request *source.Request) (*source.Response, error)',
        },
        // Variadic, and named results.
        {
          name: 'List',
          source: 'List(ctx context.Context, opts ...ListOption) (urls []string, err error)',
          doc: 'List lists.\n\nIt may be slow.',
          qualified: 'List(ctx context.Context, opts ...source.ListOption) (urls []string, err error)',
        },
      ],
      imports: { context: 'context' },
    },
  },
  scheduler: {
    dir: 'scheduler/scheduling/evaluator',
    iface: 'Evaluator',
    params: ['dir'],
    report: {
      package: 'evaluator',
      methods: [
        {
          name: 'EvaluateParents',
          source: '',
          qualified: 'EvaluateParents(parents []*resource.Peer, child *resource.Peer, taskPieceCount int32) []*resource.Peer',
        },
        { name: 'IsBadNode', source: '', doc: 'IsBadNode determine if peer is a failed node.', qualified: 'IsBadNode(peer *resource.Peer) bool' },
      ],
      imports: { resource: 'd7y.io/dragonfly/v2/scheduler/resource/standard' },
    },
  },
  manager: {
    dir: 'manager/searcher',
    iface: 'Searcher',
    params: ['dir'],
    report: {
      package: 'searcher',
      methods: [
        // A func-typed parameter with commas inside, three results, and no results at all.
        {
          name: 'Find',
          source: '',
          qualified:
            'Find(ctx context.Context, clusters []models.SchedulerCluster, ip, hostname string, score func(a, b int) error) (map[string]int, []models.SchedulerCluster, error)',
        },
        { name: 'Reset', source: '', qualified: 'Reset()' },
      ],
      imports: { context: 'context', models: 'd7y.io/dragonfly/v2/manager/models' },
    },
  },
};

function api(type: PluginType, ref = 'v2.1.0') {
  const s = SAMPLES[type];
  return pluginApi(
    {
      type,
      ref,
      repo: DEFAULT_REPO,
      commit: SHA,
      commitTime: '2024-01-02T03:04:05Z',
      goModGo: '1.23.0',
      loader: { dir: s.dir, importPath: `d7y.io/dragonfly/v2/${s.dir}`, iface: s.iface, params: s.params },
    },
    s.report,
  );
}

describe('scaffoldFiles', () => {
  it.each([
    {
      type: 'resource' as const,
      name: 'myfs',
      imports: ['import (', '\t"context"', '', '\tsource "d7y.io/dragonfly/v2/pkg/source"', ')'],
      methods: [
        '// Download downloads from source\nfunc (*myfs) Download(request *source.Request) (_ *source.Response, _ error) {\n\treturn\n}',
        '// List lists.\n//\n// It may be slow.\nfunc (*myfs) List(ctx context.Context, opts ...source.ListOption) (urls []string, err error) {\n\treturn\n}',
      ],
      meta: '\t\t"type":        "resource",\n\t\t"name":        "myfs",\n\t\t"scheme":      "myfs",\n\t\t"buildCommit": buildCommit,\n\t\t"buildTime":   buildTime,',
    },
    {
      type: 'scheduler' as const,
      name: 'evaluator',
      // The interface's own package is not used by the signatures: not imported (Go refuses unused imports).
      imports: ['import (', '\tresource "d7y.io/dragonfly/v2/scheduler/resource/standard"', ')'],
      methods: [
        'func (*evaluatorPlugin) EvaluateParents(parents []*resource.Peer, child *resource.Peer, taskPieceCount int32) (_ []*resource.Peer) {\n\treturn\n}',
        '// IsBadNode determine if peer is a failed node.\nfunc (*evaluatorPlugin) IsBadNode(peer *resource.Peer) (_ bool) {\n\treturn\n}',
      ],
      meta: '\t\t"type":        "scheduler",\n\t\t"name":        "evaluator",\n\t\t"buildCommit": buildCommit,\n\t\t"buildTime":   buildTime,',
    },
    {
      type: 'manager' as const,
      name: 'searcher',
      imports: ['import (', '\t"context"', '', '\tmodels "d7y.io/dragonfly/v2/manager/models"', ')'],
      methods: [
        'func (*searcherPlugin) Find(ctx context.Context, clusters []models.SchedulerCluster, ip, hostname string, score func(a, b int) error) (_ map[string]int, _ []models.SchedulerCluster, _ error) {\n\treturn\n}',
        'func (*searcherPlugin) Reset() {\n}',
      ],
      meta: '\t\t"type":        "manager",\n\t\t"name":        "searcher",\n\t\t"buildCommit": buildCommit,\n\t\t"buildTime":   buildTime,',
    },
  ])('$type: one stub per method of the interface, imports as the signatures use them, the loader metadata', ({ type, name, imports, methods, meta }) => {
    const files = scaffoldFiles(api(type), { name, dirName: name });
    expect(Object.keys(files)).toEqual([`${name}.go`, `${name}_test.go`, 'go.mod', 'd7y-plugin.yaml', 'README.md']);
    const main = files[`${name}.go`]!;
    expect(main).toMatch(/^\/\/ .*\npackage main\n/m);
    expect(main).toContain(`\n\n${imports.join('\n')}\n\n`);
    for (const m of methods) expect(main).toContain(`\n\n${m}\n\n`);
    expect(main).toContain('var (\n\tbuildCommit = "unknown"\n\tbuildTime   = "unknown"\n)');
    expect(main).toContain(`func DragonflyPluginInit(option map[string]string) (interface{}, map[string]string, error) {\n\treturn &`);
    expect(main).toContain(`map[string]string{\n${meta}\n\t}, nil\n}\n`);

    const test = files[`${name}_test.go`]!;
    const s = SAMPLES[type];
    expect(test).toContain(`\t${s.report.package} "d7y.io/dragonfly/v2/${s.dir}"`);
    expect(test).toContain(`value.(${s.report.package}.${s.iface})`);
    expect(test).toContain('func TestDragonflyPluginInit(t *testing.T) {');

    expect(files['go.mod']).toBe(`module example.com/${name}\n\ngo 1.23.0\n\nrequire d7y.io/dragonfly/v2 v2.1.0\n`);
    expect(files['README.md']).toContain(`\nd7y-build --type ${type} --commit v2.1.0 ./${name}\n`);
  });

  it('names --name and --repo in the README command when the build needs them; pins a branch to its SHA', () => {
    const files = scaffoldFiles(api('resource', 'main'), { name: 'myfs', dirName: 'my-fs', repo: '/srv/dragon fly' });
    expect(files['README.md']).toContain(`\nd7y-build --type resource --commit ${SHA} --repo '/srv/dragon fly' --name myfs ./my-fs\n`);
    expect(files['go.mod']).toContain(`require d7y.io/dragonfly/v2 v2.0.0-20240102030405-${SHA.slice(0, 12)}\n`);
    // Types fixed names never take --name: the build picks the fixed one.
    expect(scaffoldFiles(api('scheduler'), { name: 'evaluator', dirName: 'my-evaluator' })['README.md']).toContain('--commit v2.1.0 ./my-evaluator\n');
  });

  it('refuses an interface whose signatures use its own package and an import of the same name', () => {
    const a = api('resource');
    a.imports = { ...a.imports, source: 'example.com/other/source' };
    expect(() => scaffoldFiles(a, { name: 'myfs', dirName: 'myfs' })).toThrow(/package source and its import example.com\/other\/source have the same name/);
    // Without the interface's own types in the signatures, the two never meet in one file.
    const b = api('manager');
    b.imports = { ...b.imports, searcher: 'example.com/other/searcher' };
    expect(scaffoldFiles(b, { name: 'searcher', dirName: 'searcher' })['searcher.go']).toContain('\tsearcher "example.com/other/searcher"');
  });

  it("leaves the go line out when Dragonfly's go.mod has none", () => {
    const noGo = { ...api('manager'), goModGo: undefined };
    expect(scaffoldFiles(noGo, { name: 'searcher', dirName: 'searcher' })['go.mod']).toBe(
      'module example.com/searcher\n\nrequire d7y.io/dragonfly/v2 v2.1.0\n',
    );
  });
});

describe('stubSignature', () => {
  it.each([
    ['M()', { params: '', results: '' }],
    ['M(a int) error', { params: 'a int', results: '(_ error)' }],
    ['M(int, ...string) (int, error)', { params: 'int, ...string', results: '(_ int, _ error)' }],
    ['M() (a, b int, err error)', { params: '', results: '(a, b int, err error)' }],
    ['M() func(x, y int) (int, error)', { params: '', results: '(_ func(x, y int) (int, error))' }],
    ['M() (chan int, map[string]struct{}, interface{})', { params: '', results: '(_ chan int, _ map[string]struct{}, _ interface{})' }],
  ])('%s', (qualified, want) => {
    expect(stubSignature({ name: 'M', qualified })).toEqual(want);
  });
});

describe('typeNameFor', () => {
  it.each([
    ['myfs', [], 'myfs'],
    ['source', ['source'], 'sourcePlugin'],
    ['string', [], 'stringPlugin'],
    ['testing', [], 'testingPlugin'],
    ['option', [], 'optionPlugin'],
    ['3fs', [], 'plugin3fs'],
  ])('%s (taken: %j) → %s', (name, taken, want) => {
    expect(typeNameFor(name, taken)).toBe(want);
  });
});

describe('moduleVersion', () => {
  it.each([
    ['v2.1.0', 'v2.1.0'],
    ['v2.2.0-rc.1', 'v2.2.0-rc.1'],
    ['main', `v2.0.0-20240102030405-${SHA.slice(0, 12)}`],
    ['v1.0.0', `v2.0.0-20240102030405-${SHA.slice(0, 12)}`],
    [SHA.slice(0, 7), `v2.0.0-20240102030405-${SHA.slice(0, 12)}`],
  ])('%s → %s', (ref, want) => {
    expect(moduleVersion(ref, SHA, '2024-01-02T03:04:05Z')).toBe(want);
  });
});

describe('formatApi', () => {
  it('lists the loader, the interface, the metadata and each method under its doc, control characters escaped', () => {
    const a = api('resource');
    a.methods = [{ ...a.methods[0]!, doc: 'Download \u001b[31mred' }];
    expect(formatApi(a)).toEqual([
      `Dragonfly v2.1.0 (${SHA}): resource plugins`,
      'loader:    source.LoadPlugin(dir, name) in d7y.io/dragonfly/v2/pkg/source',
      'interface: d7y.io/dragonfly/v2/pkg/source.ResourceClient',
      'file:      d7y-resource-plugin-<name>.so (<name>: ^[a-z0-9]+$)',
      'metadata:  type=resource name=<name> scheme=<name>',
      'methods (1):',
      '  // Download \\u001b[31mred',
      '  Download(request *source.Request) (*source.Response, error)',
      'imports:',
      '  "context"',
    ]);
  });
});

describe('parseIfaceReport', () => {
  it.each([
    ['not JSON', 'd7y-apicheck: no type X'],
    ['no methods', '{"package":"p","imports":{}}'],
    ['a method without its signature', '{"package":"p","methods":[{"name":"M","source":"M()"}],"imports":{}}'],
  ])('refuses %s', (_, text) => {
    expect(parseIfaceReport(text)).toBeUndefined();
  });

  it('takes the report as d7y-apicheck prints it', () => {
    const text = JSON.stringify(SAMPLES.scheduler.report);
    expect(parseIfaceReport(text)).toEqual(SAMPLES.scheduler.report);
  });
});

describe('resolveInitSpec', () => {
  const cwd = '/home/me';
  it.each([
    ['resource', './myfs', {}, 'myfs'],
    ['resource', './my-fs', { name: 'myfs' }, 'myfs'],
    ['scheduler', './my-evaluator', {}, 'evaluator'],
    ['manager', './x', {}, 'searcher'],
  ])('%s %s %j → %s', (type, dir, flags, name) => {
    expect(resolveInitSpec(dir, { type, commit: 'v2.1.0', ...flags }, {}, cwd)).toMatchObject({
      type,
      name,
      dir: `/home/me/${dir.slice(2)}`,
      ref: 'v2.1.0',
      keep: false,
    });
  });

  it('takes D7Y_COMMIT and D7Y_REPO, and refuses what the build refuses', () => {
    expect(resolveInitSpec('./myfs', { type: 'resource' }, { D7Y_COMMIT: 'v2.1.1', D7Y_REPO: './df' }, cwd)).toMatchObject({
      ref: 'v2.1.1',
      repo: '/home/me/df',
    });
    const cases: Array<[() => unknown, RegExp]> = [
      [() => resolveInitSpec('./myfs', { type: 'resource' }, {}, cwd), /no Dragonfly commit given/],
      [() => resolveInitSpec('./my-fs', { type: 'resource', commit: 'v2.1.0' }, {}, cwd), /directory name "my-fs" is not a valid plugin name/],
      [() => resolveInitSpec('./x', { type: 'scheduler', commit: 'v2.1.0', name: 'mine' }, {}, cwd), /must be named "evaluator"/],
      [() => resolveInitSpec('./x', { commit: 'v2.1.0' }, {}, cwd), /no plugin type given/],
    ];
    for (const [fn, message] of cases) {
      expect(fn).toThrow(UsageError);
      expect(fn).toThrow(message);
    }
  });
});
