import { describe, expect, it } from 'vitest';
import { describeMethods, loaderProblems, loaderProgram, parseLoaderParams, parseLoaderReport, summarize } from '../../src/validate/loader';

describe('parseLoaderParams', () => {
  it.each([
    ['v2.0.9 on, resource', 'func LoadPlugin(dir, scheme string) (ResourceClient, error) {', ['dir', 'name']],
    ['v2.0.9 on, evaluator', 'func LoadPlugin(dir string) (Evaluator, error) {', ['dir']],
    ['v2.0.1, resource', 'func LoadPlugin(schema string) (ResourceClient, error) {', ['name']],
    ['v2.0.1, evaluator', 'func LoadPlugin() (Evaluator, error) {', []],
    ['each typed', 'func LoadPlugin(pluginDir string, name string) (X, error) {', ['dir', 'name']],
    ['a parameter of another type', 'func LoadPlugin(dir string, opts Options) (X, error) {', undefined],
    ['no LoadPlugin', 'func Load(dir string) {}', undefined],
  ] as const)('%s', (_, source, want) => {
    expect(parseLoaderParams(`package x\n\n${source}\n}\n`)).toEqual(want);
  });
});

describe('loaderProgram', () => {
  it.each([
    [['dir', 'name'], 'loader.LoadPlugin(dir, name)'],
    [['dir'], 'loader.LoadPlugin(dir)'],
    [[], 'loader.LoadPlugin()'],
  ] as const)('calls LoadPlugin(%j)', (params, call) => {
    const program = loaderProgram({ dir: 'pkg/source', importPath: 'd7y.io/dragonfly/v2/pkg/source', iface: 'ResourceClient', params: [...params] });
    expect(program).toContain(`if _, err := ${call}; err != nil {`);
    expect(program).toContain('loader "d7y.io/dragonfly/v2/pkg/source"');
    expect(program).toContain('reflect.TypeOf((*loader.ResourceClient)(nil)).Elem()');
    // Go 1.17 has no `any`.
    expect(program).not.toMatch(/\bany\b/);
  });
});

describe('the loader report', () => {
  const refused = {
    ok: false,
    error: 'invalid evaluator plugin',
    interface: 'd7y.io/dragonfly/v2/scheduler/scheduling/evaluator.Evaluator',
    valueType: '*main.evaluator',
    missing: [{ name: 'EvaluateParents', want: 'func([]*standard.Peer, *standard.Peer, int32) []*standard.Peer' }],
    differing: [{ name: 'IsBadNode', want: 'func(*standard.Peer) bool', got: 'func(*standard.Peer) string' }],
  };

  it('reads the last line and refuses what is not a report', () => {
    expect(parseLoaderReport(`noise\n${JSON.stringify(refused)}\n`)).toEqual(refused);
    expect(parseLoaderReport('panic: boom\n')).toBeUndefined();
    expect(parseLoaderReport('{"ok": "yes"}')).toBeUndefined();
  });

  it('names each missing and differing method, as methods are declared', () => {
    expect(describeMethods(loaderProblems(refused))).toEqual([
      'missing method EvaluateParents([]*standard.Peer, *standard.Peer, int32) []*standard.Peer',
      'method IsBadNode has the wrong signature: want IsBadNode(*standard.Peer) bool, have IsBadNode(*standard.Peer) string',
    ]);
    expect(summarize(refused)).toMatch(
      /^\*main\.evaluator does not implement d7y\.io\/dragonfly\/v2\/scheduler\/scheduling\/evaluator\.Evaluator \(missing method EvaluateParents/,
    );
  });

  it("gives the loader's own words when the methods are all there", () => {
    expect(summarize({ ok: false, error: 'support schema not match', interface: 'x.ResourceClient', meta: { scheme: 'b' } })).toBe(
      'support schema not match (metadata {"scheme":"b"})',
    );
  });
});
