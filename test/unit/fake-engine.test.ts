/** The in-memory engine the step tests run on: what it records and answers must be what a test reads. */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { packDirectory } from '../../src/artifacts/archive';
import { FakeEngine, readTar, tarOf } from './fake-engine';

const spec = { image: 'img', labels: { 'io.d7y-build.run': 'r1' }, volumes: [], env: {}, workdir: '/work', platform: 'linux/amd64' };

describe('FakeEngine', () => {
  it('answers an exec by the latest script whose argv prefix matches, and records it', async () => {
    const engine = new FakeEngine().onExec(['go'], { stdout: 'any go' }).onExec(['go', 'version'], { stdout: 'go version go1.23.5 linux/amd64\n' });
    const container = await engine.createContainer(spec);
    expect((await container.exec(['go', 'version'])).stdout).toBe('go version go1.23.5 linux/amd64\n');
    expect((await container.exec(['go', 'env'])).stdout).toBe('any go');
    expect(await container.exec(['true'], { env: { A: '1' } })).toEqual({ exitCode: 0, stdout: '', stderr: '' });
    expect(engine.execs.map((e) => e.cmd.join(' '))).toEqual(['go version', 'go env', 'true']);
    expect(engine.execsOf(['true'])[0]!.env).toEqual({ A: '1' });
  });

  it('records an archive put as its files, and hands out the archives it was given', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'd7y-fake-'));
    try {
      await mkdir(path.join(dir, 'sub'));
      await writeFile(path.join(dir, 'sub', 'a.go'), 'package main\n');
      const engine = new FakeEngine();
      const container = await engine.createContainer(spec);
      await container.putArchive(packDirectory(dir, { prefix: 'plugins/x' }), '/work');
      expect(engine.puts).toEqual([{ container: container.id, dir: '/work', files: { 'plugins/x/sub/a.go': 'package main\n' } }]);

      engine.archives.set('/work/out', { 'out/bin/dfget': 'host' });
      expect(await readTar(await container.getArchive('/work/out'))).toEqual({ 'out/bin/dfget': 'host' });
      await expect(container.getArchive('/work/missing')).rejects.toThrow(/no such file/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('reads the links of an archive apart from its files, and hands out links', async () => {
    const links: Record<string, string> = {};
    expect(await readTar(tarOf({ a: 'x', l: { link: 'a' } }), links)).toEqual({ a: 'x' });
    expect(links).toEqual({ l: 'a' });
  });

  it('lists the containers that carry the labels and are not removed', async () => {
    const engine = new FakeEngine();
    const a = await engine.createContainer(spec);
    const b = await engine.createContainer({ ...spec, labels: { other: 'x' } });
    expect((await engine.listContainers({ 'io.d7y-build.run': '' })).map((c) => c.id)).toEqual([a.id]);
    await a.remove();
    expect(await engine.listContainers({ 'io.d7y-build.run': '' })).toEqual([]);
    expect(engine.removed).toEqual([a.id]);
    expect(b.id).not.toBe(a.id);
  });
});
