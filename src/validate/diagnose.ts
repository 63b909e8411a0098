/** From a loader error to the fix, for the errors Go's plugin package and Dragonfly's loader give. Pure. */

export function hintFor(reason: string, expected: { type: string; name: string }): string {
  if (/failed to get plugin path|permission denied/.test(reason)) {
    return "the host could not create Dragonfly's directories (pkg/dfpath) as the container's build user: a d7y-build bug or an unusual Dragonfly; see the host output below";
  }
  if (/different version of package/.test(reason)) {
    return 'host and plugin were not built from the same sources and settings: rebuild both with d7y-build at the commit the host runs';
  }
  if (/plugin type not match/.test(reason)) {
    return `DragonflyPluginInit must return metadata with "type": "${expected.type}"`;
  }
  if (/plugin name not match/.test(reason)) {
    return `DragonflyPluginInit must return metadata with "name": "${expected.name}", the name in the file name`;
  }
  if (/empty plugin metadata/.test(reason)) {
    return `DragonflyPluginInit must return a non-nil metadata map with "type" and "name"`;
  }
  if (/invalid plugin init function signature/.test(reason)) {
    return 'declare it exactly as func DragonflyPluginInit(option map[string]string) (any, map[string]string, error)';
  }
  if (/symbol DragonflyPluginInit not found/.test(reason)) {
    return 'export func DragonflyPluginInit(option map[string]string) (any, map[string]string, error) from package main';
  }
  if (/panic/.test(reason)) {
    return 'the plugin panicked while loading: check its init functions and DragonflyPluginInit';
  }
  return 'DragonflyPluginInit returned an error or the loader refused the file: see the host output below';
}
