import { describe, expect, it } from 'vitest';
import { hintFor } from '../../src/validate/diagnose';

describe('hintFor', () => {
  const expected = { type: 'resource', name: 'd7yfs' };

  it.each([
    [
      'plugin.Open("/p/d7y-resource-plugin-d7yfs"): plugin was built with a different version of package d7y.io/dragonfly/v2/pkg/source',
      /not built from the same sources and settings/,
    ],
    ['plugin type not match, want resource, got scheduler', /"type": "resource"/],
    ['plugin name not match, want d7yfs, got other', /"name": "d7yfs", the name in the file name/],
    ['empty plugin metadata', /non-nil metadata map/],
    ['invalid plugin init function signature', /declare it exactly as func DragonflyPluginInit/],
    ['plugin.Open: symbol DragonflyPluginInit not found in plugin', /export func DragonflyPluginInit/],
    ['panic: runtime error: invalid memory address', /panicked while loading/],
    ['something else entirely', /see the host output below/],
  ])('%s', (reason, hint) => {
    expect(hintFor(reason, expected)).toMatch(hint);
  });

  it('names the expected type and name', () => {
    expect(hintFor('plugin type not match', { type: 'scheduler', name: 'x' })).toContain('"type": "scheduler"');
    expect(hintFor('plugin name not match', { type: 'scheduler', name: 'xyz' })).toContain('"name": "xyz"');
  });
});
