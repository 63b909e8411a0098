import { describe, expect, it } from 'vitest';
import { checkListing, parsePluginOutput, type ExpectedPlugin, type PluginListing } from '../../src/validate/plugin-output';
import { unquoteGo } from '../../src/gostring';

// Lines exactly as upstream's cmd/dependency/plugin_cmd.go prints them.
const IN_TREE = 'source plugin: file, location: in-tree';
const LOADED = 'resource plugin: d7yfs, location: d7y-resource-plugin-d7yfs.so, attribute: {"name":"d7yfs","scheme":"d7yfs","type":"resource"}';
const LOADED_V201 = 'resource plugin d7yfs, location: d7y-resource-plugin-d7yfs.so, attribute: {"name":"d7yfs","scheme":"d7yfs","type":"resource"}';
const SEARCH = 'search plugin in /usr/local/dragonfly/plugins';
const OPEN_ERROR =
  'plugin.Open("/usr/local/dragonfly/plugins/d7y-resource-plugin-x"): plugin was built with a different version of package d7y.io/dragonfly/v2/pkg/source';
// fmt's %q of that error
const BAD_BINARY = `not valid plugin binary format d7y-resource-plugin-x.so: ${JSON.stringify(OPEN_ERROR)}`;
const BAD_NAME = 'not valid plugin name: README';
const BAD_DIR = 'not support directory: sub';
const NONE_FOUND = 'no out of tree plugin found';

const d7yfs: ExpectedPlugin = { type: 'resource', name: 'd7yfs', file: 'd7y-resource-plugin-d7yfs.so' };

describe('parsePluginOutput', () => {
  it('reads in-tree and loaded plugins from stdout', () => {
    const listing = parsePluginOutput(`${IN_TREE}\nsource plugin: http, location: in-tree\n${LOADED}\n`, `${SEARCH}\n`);
    expect(listing).toEqual({
      inTree: ['file', 'http'],
      loaded: [
        {
          type: 'resource',
          name: 'd7yfs',
          location: 'd7y-resource-plugin-d7yfs.so',
          attribute: { name: 'd7yfs', scheme: 'd7yfs', type: 'resource' },
        },
      ],
      rejected: [],
      searchedDir: '/usr/local/dragonfly/plugins',
      notes: [],
    });
  });

  it('reads the v2.0.1 form without the colon', () => {
    const listing = parsePluginOutput(`${LOADED_V201}\n`, '');
    expect(listing.loaded).toEqual([
      {
        type: 'resource',
        name: 'd7yfs',
        location: 'd7y-resource-plugin-d7yfs.so',
        attribute: { name: 'd7yfs', scheme: 'd7yfs', type: 'resource' },
      },
    ]);
    expect(listing.notes).toEqual([]);
  });

  it.each(['scheduler', 'manager'])('reads a %s plugin', (type) => {
    const listing = parsePluginOutput(`${type} plugin: p, location: d7y-${type}-plugin-p.so, attribute: {"type":"${type}","name":"p"}`, '');
    expect(listing.loaded).toEqual([{ type, name: 'p', location: `d7y-${type}-plugin-p.so`, attribute: { type, name: 'p' } }]);
  });

  it('keeps an attribute that is not a JSON object raw', () => {
    const listing = parsePluginOutput('resource plugin: p, location: d7y-resource-plugin-p.so, attribute: null', '');
    expect(listing.loaded[0]?.attribute).toEqual({ _raw: 'null' });
  });

  it('handles CRLF line ends', () => {
    const listing = parsePluginOutput(`${IN_TREE}\r\n${LOADED}\r\n`, `${SEARCH}\r\n`);
    expect(listing.inTree).toEqual(['file']);
    expect(listing.loaded).toHaveLength(1);
    expect(listing.searchedDir).toBe('/usr/local/dragonfly/plugins');
  });

  it('reads a rejected binary with the loader error unquoted', () => {
    const listing = parsePluginOutput(IN_TREE, `${SEARCH}\n${BAD_BINARY}\n`);
    expect(listing.rejected).toEqual([{ file: 'd7y-resource-plugin-x.so', line: BAD_BINARY, reason: OPEN_ERROR }]);
    expect(listing.rejected[0]?.reason).not.toContain('\\"');
    expect(listing.rejected[0]?.reason.startsWith('plugin.Open("/usr')).toBe(true);
  });

  it('reads a rejected attribute marshal', () => {
    const line = 'marshal attribute for d7y-resource-plugin-x.so error: "json: unsupported value"';
    expect(parsePluginOutput('', line).rejected).toEqual([{ file: 'd7y-resource-plugin-x.so', line, reason: 'json: unsupported value' }]);
  });

  it.each([
    [BAD_NAME, 'README'],
    [BAD_DIR, 'sub'],
  ])('reads %j as a rejected file', (line, file) => {
    const listing = parsePluginOutput('', `${SEARCH}\n${line}\n`);
    expect(listing.rejected).toEqual([{ file, line, reason: line }]);
    expect(listing.notes).toEqual([]);
  });

  it('keeps other stderr lines as notes', () => {
    const listing = parsePluginOutput(`${IN_TREE}\n`, `${SEARCH}\n${NONE_FOUND}\n`);
    expect(listing.notes).toEqual([NONE_FOUND]);
    expect(listing.rejected).toEqual([]);
    expect(listing.loaded).toEqual([]);
  });

  it('keeps unknown stdout lines as notes', () => {
    expect(parsePluginOutput('something else\n\n', '').notes).toEqual(['something else']);
  });
});

describe('unquoteGo', () => {
  it.each([
    ['escaped double quote', String.raw`"say \"hi\""`, 'say "hi"'],
    ['escaped backslash', String.raw`"a\\b"`, 'a\\b'],
    ['newline', String.raw`"a\nb"`, 'a\nb'],
    ['tab', String.raw`"a\tb"`, 'a\tb'],
    ['\\x', String.raw`"\x41"`, 'A'],
    ['\\u', String.raw`"caf\u00e9"`, 'café'],
    ['\\U', String.raw`"\U0001F600"`, '😀'],
    ['octal', String.raw`"\101"`, 'A'],
    ['several escapes together', String.raw`"\\\"\n"`, '\\"\n'],
    ['empty quoted string', '""', ''],
    ['surrounding whitespace', '  "x"  ', 'x'],
    ['not quoted', 'plain text', 'plain text'],
    ['not quoted, with escapes left alone', String.raw`a\nb`, String.raw`a\nb`],
    ['only an opening quote', '"abc', '"abc'],
    ['a single quote character', '"', '"'],
  ])('%s', (_label, input, want) => {
    expect(unquoteGo(input)).toBe(want);
  });
});

describe('checkListing', () => {
  const listing = (partial: Partial<PluginListing>): PluginListing => ({
    inTree: [],
    loaded: [],
    rejected: [],
    notes: [],
    ...partial,
  });

  it('is ok when every expected plugin is loaded', () => {
    const parsed = parsePluginOutput(`${IN_TREE}\n${LOADED}\n`, `${SEARCH}\n`);
    const verdict = checkListing(parsed, [d7yfs]);
    expect(verdict).toEqual({ ok: true, plugins: parsed.loaded });
  });

  it('is ok with nothing expected and nothing rejected', () => {
    expect(checkListing(listing({}), [])).toEqual({ ok: true, plugins: [] });
  });

  it('reports a rejected file with its reason', () => {
    const parsed = parsePluginOutput(`${IN_TREE}\n${LOADED}\n`, `${SEARCH}\n${BAD_BINARY}\n`);
    const verdict = checkListing(parsed, [d7yfs, { type: 'resource', name: 'x', file: 'd7y-resource-plugin-x.so' }]);
    expect(verdict).toEqual({ ok: false, problems: [{ file: 'd7y-resource-plugin-x.so', reason: OPEN_ERROR }] });
  });

  it('reports a rejected file even when it was not expected', () => {
    const parsed = parsePluginOutput(`${LOADED}\n`, `${SEARCH}\n${BAD_NAME}\n`);
    expect(checkListing(parsed, [d7yfs])).toEqual({ ok: false, problems: [{ file: 'README', reason: BAD_NAME }] });
  });

  it('reports an expected file the host does not list, with the notes', () => {
    const parsed = parsePluginOutput(`${IN_TREE}\n`, `${SEARCH}\n${NONE_FOUND}\n`);
    const verdict = checkListing(parsed, [d7yfs]);
    expect(verdict.ok).toBe(false);
    if (verdict.ok) return;
    expect(verdict.problems).toHaveLength(1);
    expect(verdict.problems[0]?.file).toBe('d7y-resource-plugin-d7yfs.so');
    expect(verdict.problems[0]?.reason).toContain('does not list it');
    expect(verdict.problems[0]?.reason).toContain(NONE_FOUND);
  });

  it('reports an expected file the host does not list, without notes', () => {
    const verdict = checkListing(listing({}), [d7yfs]);
    expect(verdict).toEqual({ ok: false, problems: [{ file: d7yfs.file, reason: 'the host does not list it' }] });
  });

  it.each([
    ['type', { ...d7yfs, type: 'scheduler' }],
    ['name', { ...d7yfs, name: 'other' }],
  ])('reports a %s mismatch', (_label, expected) => {
    const parsed = parsePluginOutput(`${LOADED}\n`, `${SEARCH}\n`);
    expect(checkListing(parsed, [expected])).toEqual({
      ok: false,
      problems: [{ file: d7yfs.file, reason: 'the host lists it as resource plugin d7yfs' }],
    });
  });
});
