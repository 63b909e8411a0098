/** What the plugin type table yields: file names both ways, and the per-type words of messages. */
import { describe, expect, it } from 'vitest';
import { renderHint } from '../../src/errors';
import {
  FIXED_NAMES,
  fixedName,
  HOST_LIST,
  hostFor,
  hostGoneHint,
  isPluginType,
  loaderFunction,
  loaderMetadata,
  nameKeyHint,
  parsePluginFileName,
  PLUGIN_FILE_FORMAT,
  PLUGIN_FILE_PATTERN,
  PLUGIN_TYPES,
  pluginFileName,
  refusalEffect,
} from '../../src/plugin';

describe('the plugin type table', () => {
  it('lists the types in order, each with its host and loader', () => {
    expect(PLUGIN_TYPES).toEqual(['resource', 'scheduler', 'manager']);
    expect(PLUGIN_TYPES.map((t) => [hostFor(t), fixedName(t), loaderFunction(t)])).toEqual([
      ['dfget', undefined, 'source.LoadPlugin'],
      ['scheduler', 'evaluator', 'evaluator.LoadPlugin'],
      ['manager', 'searcher', 'searcher.LoadPlugin'],
    ]);
  });

  it.each(['resource', 'scheduler', 'manager'])('knows %s as a type', (type) => {
    expect(isPluginType(type)).toBe(true);
  });

  it.each(['storage', 'Resource', 'toString', 'constructor', ''])('knows no type %j', (value) => {
    expect(isPluginType(value)).toBe(false);
  });

  it('words the lists of messages and help', () => {
    expect(HOST_LIST).toBe('dfget, scheduler or manager');
    expect(FIXED_NAMES).toBe('evaluator/searcher for scheduler/manager');
    expect(PLUGIN_FILE_PATTERN).toBe('d7y-<resource|scheduler|manager>-plugin-<[a-z0-9]+>.so');
    expect(PLUGIN_FILE_FORMAT).toBe('d7y-%s-plugin-%s.so');
  });

  it('gives the metadata each loader demands', () => {
    expect(loaderMetadata('resource', 'myfs')).toEqual({ type: 'resource', name: 'myfs', scheme: 'myfs' });
    expect(loaderMetadata('scheduler', 'evaluator')).toEqual({ type: 'scheduler', name: 'evaluator' });
  });

  it('says what a refused plugin means for its host', () => {
    expect(refusalEffect('resource')).toBe('dfget does not know the scheme');
    expect(refusalEffect('scheduler')).toBe('Dragonfly silently falls back to its default evaluator');
    expect(refusalEffect('manager')).toBe('Dragonfly silently falls back to its default searcher');
  });

  it('points a resource plugin at a release that still has dfget, and the others nowhere', () => {
    expect(renderHint(hostGoneHint('resource')!, 'cli')).toBe(
      'dfget left the Go tree in v2.4.0: build resource plugins against an earlier commit (e.g. --commit v2.3.4), or build a scheduler or manager plugin',
    );
    expect(hostGoneHint('scheduler')).toBeUndefined();
    expect(hostGoneHint('manager')).toBeUndefined();
  });

  it('adds the scheme rule to a loader error about the scheme, for resource plugins only', () => {
    expect(nameKeyHint('resource', 'myfs', 'support schema not match')).toBe('; a resource plugin\'s metadata "scheme" must equal its name, "myfs"');
    expect(nameKeyHint('resource', 'myfs', 'plugin name not match')).toBe('');
    expect(nameKeyHint('scheduler', 'evaluator', 'support schema not match')).toBe('');
  });
});

describe('plugin file names', () => {
  it.each(PLUGIN_TYPES)('reads back what it writes for %s plugins', (type) => {
    expect(parsePluginFileName(pluginFileName(type, 'abc123'))).toEqual({ type, name: 'abc123' });
  });

  it.each([
    'd7y-storage-plugin-x.so',
    'd7y-resource-plugin-My.so',
    'd7y-resource-plugin-.so',
    'd7y-resource-plugin-x.so.bak',
    'd7y-resource-plugin-x_so',
    'xd7y-resource-plugin-x.so',
    'd7y-resourceXplugin-x.so',
    'd7y-resource|scheduler-plugin-x.so',
  ])('refuses %s', (file) => {
    expect(parsePluginFileName(file)).toBeUndefined();
  });
});
