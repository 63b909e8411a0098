/**
 * provenance.intoto.json and sbom.cdx.json beside the artifacts of real builds: their digests against
 * the files, the commit against the fixture, the modules against the binaries' own build information
 * (as `d7y-build inspect` reads it), and the same documents from two builds with SOURCE_DATE_EPOCH;
 * then `verify --provenance` on a real out directory, as built and tampered with.
 */
import { execFileSync } from 'node:child_process';
import { cp, open, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { digest, docker, examples, fixtureArgs, fixtureSha, leftoverContainers, runCli, tempDir } from './helpers';

const SOURCE_DATE_EPOCH = '1704164645'; // 2024-01-02T03:04:05Z
const PLUGINS = ['d7yfs', 'humanfs'];
const FILES = ['bin/d7y-loadcheck', 'bin/dfget', 'plugins/d7y-resource-plugin-d7yfs.so', 'plugins/d7y-resource-plugin-humanfs.so'];

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

afterEach(async () => {
  expect(await leftoverContainers()).toEqual([]);
});

/** Builds d7yfs and humanfs at v2.1.0 into <dir>/out: the run, and the two documents as text. */
async function buildInto(dir: string, json: boolean) {
  const out = path.join(dir, 'out');
  const run = await runCli(
    [
      ...fixtureArgs('v2.1.0'),
      '--out',
      out,
      '--plugins-dir',
      path.join(dir, 'plugins'),
      ...(json ? ['--json'] : []),
      ...PLUGINS.map((p) => path.join(examples, p)),
    ],
    { env: { SOURCE_DATE_EPOCH } },
  );
  expect(run.stderr).not.toMatch(/error:/);
  expect(run.exitCode).toBe(0);
  const provenance = await readFile(path.join(out, 'provenance.intoto.json'), 'utf8');
  const sbom = await readFile(path.join(out, 'sbom.cdx.json'), 'utf8');
  return { out, run, provenance, sbom };
}

/** The files below out/bin and out/plugins, relative to out. */
async function builtFiles(out: string): Promise<string[]> {
  const names = await Promise.all(['bin', 'plugins'].map(async (d) => (await readdir(path.join(out, d))).map((f) => `${d}/${f}`)));
  return names.flat().sort();
}

/** The fields in-toto Statement v1 and SLSA Provenance v1 require, and the types they must have. */
function expectStatementShape(s: Json): void {
  expect(s._type).toBe('https://in-toto.io/Statement/v1');
  expect(s.predicateType).toBe('https://slsa.dev/provenance/v1');
  expect(Array.isArray(s.subject) && s.subject.length > 0).toBe(true);
  for (const sub of s.subject) {
    expect(typeof sub.name).toBe('string');
    expect(sub.digest.sha256).toMatch(/^[0-9a-f]{64}$/);
  }
  const { buildDefinition, runDetails } = s.predicate;
  expect(buildDefinition.buildType).toBe('https://d7y.io/d7y-build/build/v1');
  expect(typeof buildDefinition.externalParameters).toBe('object');
  for (const d of buildDefinition.resolvedDependencies) {
    expect(d.uri !== undefined || d.digest !== undefined).toBe(true);
    for (const value of Object.values(d.digest ?? {})) expect(value).toMatch(/^[0-9a-f]+$/);
  }
  expect(runDetails.builder.id).toMatch(/^https:\/\/d7y\.io\/d7y-build@\d+\.\d+\.\d+/);
  const { startedOn, finishedOn, invocationId } = runDetails.metadata;
  expect(invocationId).toMatch(/^[0-9a-f-]{36}$/);
  for (const t of [startedOn, finishedOn]) expect(t).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  expect(Date.parse(startedOn)).toBeLessThanOrEqual(Date.parse(finishedOn));
}

/** The fields CycloneDX 1.5 requires of the document, its components, hashes and dependencies. */
function expectBomShape(bom: Json): void {
  expect(bom).toMatchObject({ bomFormat: 'CycloneDX', specVersion: '1.5', version: 1 });
  expect(bom.serialNumber).toMatch(/^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  const refs = new Set<string>();
  for (const c of bom.components) {
    expect(['application', 'library']).toContain(c.type);
    expect(typeof c.name).toBe('string');
    expect(refs.has(c['bom-ref'])).toBe(false);
    refs.add(c['bom-ref']);
    for (const h of c.hashes ?? []) expect(h).toMatchObject({ alg: 'SHA-256', content: expect.stringMatching(/^[0-9a-f]{64}$/) });
    if (c.purl !== undefined) expect(c.purl).toMatch(/^pkg:golang\/[^@]+@[^@]+$/);
  }
  for (const d of bom.dependencies) for (const r of [d.ref, ...d.dependsOn]) expect(refs.has(r)).toBe(true);
}

/** The purls `d7y-build inspect` says a binary was built with: its main module, its dependencies and the standard library. */
async function inspectedPurls(file: string): Promise<string[]> {
  const run = await runCli(['inspect', '--json', file]);
  expect(run.exitCode).toBe(0);
  const report = JSON.parse(run.stdout) as Json;
  const mods = [...(report.main ? [report.main] : []), ...report.deps].map((m: Json) =>
    m.replace === undefined ? m : m.replace.version !== '' ? m.replace : { path: m.path, version: '(devel)' },
  );
  const purl = (p: string, v: string) => `pkg:golang/${p}@${encodeURIComponent(v).replace(/[()]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)}`;
  return [...new Set([...mods.map((m: Json) => purl(m.path, m.version)), purl('stdlib', report.goVersion)])].sort();
}

describe('provenance and SBOM beside the artifacts', () => {
  it('name every file by its sha256, the commit, the image and the sources; list the modules of each binary; and repeat byte for byte', async () => {
    await using work = await tempDir();
    const first = await buildInto(path.join(work.path, 'first'), true);
    const sha = await fixtureSha('v2.1.0');

    // --json names both files; the out directory holds them beside the manifest.
    const outcome = JSON.parse(first.run.stdout) as Json;
    expect(outcome.attestations).toEqual({ provenance: path.join(first.out, 'provenance.intoto.json'), sbom: path.join(first.out, 'sbom.cdx.json') });
    expect((await readdir(first.out)).sort()).toEqual(['bin', 'manifest.json', 'plugins', 'provenance.intoto.json', 'sbom.cdx.json']);

    // The statement: every file written, with its real sha256.
    const statement = JSON.parse(first.provenance) as Json;
    expectStatementShape(statement);
    expect(statement.subject.map((s: Json) => s.name).sort()).toEqual(await builtFiles(first.out));
    expect(statement.subject.map((s: Json) => s.name).sort()).toEqual(FILES);
    for (const s of statement.subject) expect(s.digest.sha256).toBe(await digest(path.join(first.out, s.name)));
    // sha256sum checks them from --out, as the README says.
    const check = 'jq -r \'.subject[] | "\\(.digest.sha256)  \\(.name)"\' provenance.intoto.json | sha256sum -c -';
    expect(execFileSync('sh', ['-c', check], { cwd: first.out, encoding: 'utf8' }).trim().split('\n')).toHaveLength(FILES.length);

    const { externalParameters, internalParameters, resolvedDependencies } = statement.predicate.buildDefinition;
    expect(externalParameters).toMatchObject({
      repository: inject('fixtureRepo'),
      ref: 'v2.1.0',
      plugins: [
        { type: 'resource', name: 'd7yfs' },
        { type: 'resource', name: 'humanfs' },
      ],
      platform: 'linux/amd64',
      flags: { cgoEnabled: true, trimpath: true, tags: [], gcflags: '', race: false },
      buildCommit: sha.slice(0, 7),
      buildTime: '2024-01-02T03:04:05Z',
      buildTimeReason: `SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH}`,
    });
    expect(externalParameters.flags.ldflags.plugins).toBe(`-X main.buildCommit=${sha.slice(0, 7)} -X main.buildTime=2024-01-02T03:04:05Z`);
    expect(externalParameters.flags.ldflags.host).toContain(`-X d7y.io/dragonfly/v2/version.GitCommit=${sha.slice(0, 7)}`);
    expect(internalParameters.goImage).toEqual({ reference: inject('goImage'), reason: '--go-image' });
    expect(internalParameters.builderImage.reference).toBe(outcome.builderImage);

    const [dragonfly, goImage, ...plugins] = resolvedDependencies;
    expect(dragonfly).toEqual({ name: 'dragonfly', uri: `git+file://${inject('fixtureRepo')}`, digest: { gitCommit: sha }, annotations: { ref: 'v2.1.0' } });
    const imageId = await docker('image', 'inspect', '--format', '{{.Id}}', inject('goImage'));
    expect(goImage).toEqual({ name: inject('goImage'), digest: { sha256: imageId.replace(/^sha256:/, '') } });
    // Each plugin's sources: what sha256sum says of sha256sum over its files.
    const sourcesSum = "find . -type f -printf '%P\\n' | LC_ALL=C sort | xargs -d '\\n' sha256sum | sha256sum | cut -d' ' -f1";
    expect(plugins).toEqual(
      PLUGINS.map((p) => ({
        name: `plugin/${p}`,
        uri: `file://${path.join(examples, p)}`,
        digest: { sha256: execFileSync('sh', ['-c', sourcesSum], { cwd: path.join(examples, p), encoding: 'utf8' }).trim() },
      })),
    );
    expect(statement.predicate.runDetails.metadata.invocationId).toBe(outcome.runId);

    // The SBOM: one component per binary with its sha256, related to the modules its build information names.
    const bom = JSON.parse(first.sbom) as Json;
    expectBomShape(bom);
    expect(bom.metadata.timestamp).toBe('2024-01-02T03:04:05Z');
    const binaries = bom.components.filter((c: Json) => c.hashes !== undefined);
    expect(binaries.map((c: Json) => [c.name, c.type])).toEqual([
      ['dfget', 'application'],
      ['d7y-loadcheck', 'application'],
      ['d7yfs', 'library'],
      ['humanfs', 'library'],
    ]);
    for (const c of binaries) {
      const file = c.properties.find((p: Json) => p.name === 'd7y-build:path').value as string;
      expect(c.hashes[0].content).toBe(await digest(path.join(first.out, file)));
      const dependsOn = bom.dependencies.find((d: Json) => d.ref === c['bom-ref']).dependsOn as string[];
      expect(dependsOn).toEqual(await inspectedPurls(path.join(first.out, file)));
    }
    const dependsOnOf = (name: string): string[] =>
      bom.dependencies.find((d: Json) => d.ref === binaries.find((c: Json) => c.name === name)['bom-ref']).dependsOn;
    expect(dependsOnOf('dfget')).toContain('pkg:golang/d7y.io/dragonfly/v2@%28devel%29');
    expect(dependsOnOf('dfget')).toContain('pkg:golang/stdlib@go1.23.5');
    expect(dependsOnOf('humanfs')).toContain('pkg:golang/github.com/dustin/go-humanize@v1.0.1');
    expect(dependsOnOf('humanfs').some((p) => p.startsWith('pkg:golang/d7y.io/dragonfly/v2@'))).toBe(true);
    expect(dependsOnOf('humanfs').some((p) => p.startsWith('pkg:golang/example.com/d7y-plugins/humanfs@'))).toBe(true);

    // A second build with the same SOURCE_DATE_EPOCH, without --json: its summary names both files,
    // its SBOM is the same bytes, and so is its provenance but for runDetails.metadata.
    const second = await buildInto(path.join(work.path, 'second'), false);
    expect(second.run.stderr).toContain(`provenance ${path.join(second.out, 'provenance.intoto.json')}, SBOM ${path.join(second.out, 'sbom.cdx.json')}`);
    expect(second.sbom).toBe(first.sbom);
    const withoutMetadata = (text: string) => text.replace(/"metadata": \{[^}]*\}/, '"metadata": {}');
    expect(second.provenance).not.toBe(first.provenance);
    expect(withoutMetadata(second.provenance)).toBe(withoutMetadata(first.provenance));
    expect(JSON.parse(second.provenance).predicate.runDetails.metadata.invocationId).not.toBe(statement.predicate.runDetails.metadata.invocationId);
  });
});

describe('verify --provenance', () => {
  it('passes the set a build wrote, and names the file of each tampering: a flipped byte, a subject removed, an extra plugin, another commit', async () => {
    await using work = await tempDir();
    const { out } = await buildInto(work.path, false);
    const sha = await fixtureSha('v2.1.0');
    const verify = (...args: string[]) => runCli(['verify', ...args]);

    // As built: every file matches, and the load verdict follows, from the out directory alone.
    const good = await verify('--provenance', out);
    expect(good.stderr).toBe('');
    expect(good.exitCode).toBe(0);
    expect(good.stdout.split('\n')[0]).toBe(
      `${out} matches ${path.join(out, 'provenance.intoto.json')} and ${path.join(out, 'sbom.cdx.json')}: ${FILES.length} files by sha256 and build information`,
    );
    expect(good.stdout).toContain('d7y-resource-plugin-humanfs.so (go1.23.5, built against');
    // The same from --host and the plugins with the provenance beside them, and as JSON.
    const plugins = PLUGINS.map((p) => path.join(out, 'plugins', `d7y-resource-plugin-${p}.so`));
    const json = await verify('--json', '--host', path.join(out, 'bin/dfget'), '--provenance', '--', ...plugins);
    expect(json.exitCode).toBe(0);
    const report = JSON.parse(json.stdout) as Json;
    expect(report).toMatchObject({ matches: true, provenance: { matches: true, mismatches: [], subjects: FILES.length }, load: { loads: true } });
    expect(report.load.plugins.map((p: Json) => p.file)).toEqual(plugins.map((p) => path.relative(out, p)));

    /** A copy of the set, changed by change, and what verify --provenance says of it. */
    const tampered = async (name: string, change: (dir: string) => Promise<void>, count = 1) => {
      const dir = path.join(work.path, name);
      await cp(out, dir, { recursive: true });
      await change(dir);
      const run = await verify('--provenance', dir);
      expect(run.stderr).toBe('');
      expect(run.exitCode).toBe(19);
      const lines = run.stdout.trimEnd().split('\n');
      expect(lines[0]).toMatch(new RegExp(`^${dir} does NOT match .*: ${count} mismatch${count === 1 ? '' : 'es'}$`));
      expect(lines).toHaveLength(count + 1);
      return count === 1 ? lines[1] : lines.slice(1).join('\n');
    };
    const plugin = 'plugins/d7y-resource-plugin-d7yfs.so';
    const wanted = Object.fromEntries(
      (JSON.parse(await readFile(path.join(out, 'provenance.intoto.json'), 'utf8')) as Json).subject.map((s: Json) => [s.name, s.digest.sha256]),
    );

    // One byte flipped, in the middle of the plugin.
    const flipped = await tampered('flipped', async (dir) => {
      const handle = await open(path.join(dir, plugin), 'r+');
      const { size } = await handle.stat();
      const byte = Buffer.alloc(1);
      await handle.read(byte, 0, 1, Math.floor(size / 2));
      await handle.write(Buffer.from([byte[0]! ^ 0xff]), 0, 1, Math.floor(size / 2));
      await handle.close();
    });
    expect(flipped).toBe(`  - ${plugin}: sha256 ${await digest(path.join(work.path, 'flipped', plugin))}, but the provenance says ${wanted[plugin]}`);

    // A subject removed.
    expect(await tampered('removed', (dir) => rm(path.join(dir, 'bin/d7y-loadcheck')))).toBe(
      `  - bin/d7y-loadcheck: does not exist, but the provenance names it (sha256 ${wanted['bin/d7y-loadcheck']})`,
    );

    // An extra plugin that Dragonfly would load with the others.
    const extra = 'plugins/d7y-resource-plugin-extra.so';
    expect(await tampered('extra', (dir) => cp(path.join(dir, plugin), path.join(dir, extra)))).toBe(
      `  - ${extra}: not named in the provenance (sha256 ${wanted[plugin]})`,
    );

    // The predicate names another Dragonfly commit than the one the host and the plugins were stamped with.
    const other = 'f'.repeat(40);
    const edited = await tampered(
      'commit',
      async (dir) => {
        const file = path.join(dir, 'provenance.intoto.json');
        await writeFile(file, (await readFile(file, 'utf8')).replace(`"gitCommit": "${sha}"`, `"gitCommit": "${other}"`));
      },
      3,
    );
    expect(edited).toBe(
      ['bin/dfget', ...FILES.filter((f) => f.startsWith('plugins/'))]
        .map((f) => `  - ${f}: Dragonfly commit is "${sha.slice(0, 7)}", but the provenance says "${other}"`)
        .join('\n'),
    );

    // A subject that is a link out of the set is not read: it is named, as missing.
    const linked = path.join(work.path, 'linked');
    await cp(out, linked, { recursive: true });
    await rm(path.join(linked, plugin));
    await symlink(path.join(out, plugin), path.join(linked, plugin));
    const outside = await verify('--provenance', linked);
    expect(outside.exitCode).toBe(19);
    expect(outside.stdout).toContain(`  - ${plugin}: is a symbolic link out of the set's directory, to ${path.join(out, plugin)}`);

    // A hostile statement: a typed error with its hint, and nothing read outside the set.
    const hostile = path.join(work.path, 'hostile');
    await cp(out, hostile, { recursive: true });
    const statement = JSON.parse(await readFile(path.join(hostile, 'provenance.intoto.json'), 'utf8')) as Json;
    statement.subject.push({ name: '../../etc/passwd', digest: { sha256: 'a'.repeat(64) } });
    await writeFile(path.join(hostile, 'provenance.intoto.json'), JSON.stringify(statement));
    const refused = await verify('--provenance', path.join(hostile, 'provenance.intoto.json'));
    expect(refused.exitCode).toBe(12);
    expect(refused.stderr).toMatch(
      /^error: cannot tell from .*provenance\.intoto\.json: subject "\.\.\/\.\.\/etc\/passwd" is not bin\/<file> or plugins\/<file>/m,
    );
    expect(refused.stderr).toMatch(/^hint: /m);
  });
});
