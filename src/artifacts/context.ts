/**
 * What of a plugin directory is sent to the build container: everything but .git and what its
 * .gitignore and .dockerignore (at the plugin's root) leave out, and no more than a size limit, so a
 * stray dataset or build output is refused before anything is uploaded.
 */
import { lstat, readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import ignore from 'ignore';
import { UsageError } from '../errors';

export interface PluginContext {
  /** Relative paths ("/"-separated) of the files and directories to send; "" is the root. */
  entries: Set<string>;
  bytes: number;
}

function formatBytes(n: number): string {
  if (n >= 1024 ** 3) return `${(n / 1024 ** 3).toFixed(1)} GiB`;
  if (n >= 1024 ** 2) return `${(n / 1024 ** 2).toFixed(0)} MiB`;
  return `${n} bytes`;
}

async function ignoreFile(dir: string, name: string): Promise<string> {
  return readFile(path.join(dir, name), 'utf8').catch(() => '');
}

export async function pluginContext(dir: string, maxBytes: number): Promise<PluginContext> {
  const rules = ignore().add(['.git']).add(await ignoreFile(dir, '.gitignore')).add(await ignoreFile(dir, '.dockerignore'));
  const entries = new Set<string>(['']);
  let bytes = 0;
  const walk = async (rel: string): Promise<void> => {
    for (const name of (await readdir(path.join(dir, rel))).sort()) {
      const child = rel === '' ? name : `${rel}/${name}`;
      const info = await lstat(path.join(dir, child));
      if (rules.ignores(info.isDirectory() ? `${child}/` : child)) continue;
      entries.add(child);
      if (info.isDirectory()) {
        await walk(child);
      } else {
        bytes += info.size;
        if (bytes > maxBytes) {
          throw new UsageError(`${dir} holds more than ${formatBytes(maxBytes)} to send to the build (reached at ${child})`, {
            hint: 'list what the build does not need in the plugin\'s .dockerignore or .gitignore, or raise --max-context',
          });
        }
      }
    }
  };
  await walk('');
  return { entries, bytes };
}
