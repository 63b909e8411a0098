// Benchmark: `d7y-build verify` (static: reads the ELF files) against the dynamic check
// (`d7y-build install`: the host's own `plugin` command in a container), interleaved in one run.
// Reports wall-time medians and their ratio, and verify's peak RSS.
//
//   node bench/verify.mjs --host <binary> --plugin <plugin.so> [--runs 15] [--go-image <image>]
//
// Needs the bundle (npm run build); the dynamic side needs a Docker engine (scripts/engine.sh start).
// Peak RSS comes from GNU time (/usr/bin/time) when it is installed.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    host: { type: 'string' },
    plugin: { type: 'string' },
    runs: { type: 'string', default: '15' },
    'go-image': { type: 'string' },
  },
});
if (!values.host || !values.plugin) {
  console.error('usage: node bench/verify.mjs --host <binary> --plugin <plugin.so> [--runs 15] [--go-image <image>]');
  process.exit(2);
}
const cli = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../dist/d7y-build.cjs');
const runs = Number(values.runs);
const gnuTime = existsSync('/usr/bin/time') ? '/usr/bin/time' : undefined;

function timed(args) {
  const started = process.hrtime.bigint();
  const result = gnuTime
    ? spawnSync(gnuTime, ['-f', '%M', process.execPath, cli, ...args], { encoding: 'utf8' })
    : spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  const rssKb = gnuTime ? Number(result.stderr.trim().split('\n').pop()) : undefined;
  return { ms, rssKb, status: result.status, stderr: result.stderr };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const verifyArgs = ['verify', '--json', '--host', values.host, values.plugin];
const scratch = mkdtempSync(path.join(os.tmpdir(), 'd7y-bench-'));
const installArgs = (i) => [
  'install',
  '--json',
  '--host',
  values.host,
  '--plugins-dir',
  path.join(scratch, String(i)),
  ...(values['go-image'] ? ['--go-image', values['go-image']] : []),
  values.plugin,
];

const a = [];
const b = [];
const rss = [];
try {
  // One warm-up of each: page cache, builder image.
  timed(verifyArgs);
  timed(installArgs('warm'));
  for (let i = 0; i < runs; i++) {
    const s = timed(verifyArgs);
    if (s.status !== 0 && s.status !== 11) throw new Error(`verify exited ${s.status}: ${s.stderr}`);
    a.push(s.ms);
    if (s.rssKb) rss.push(s.rssKb);
    const d = timed(installArgs(i));
    if (d.status !== 0 && d.status !== 8) throw new Error(`install exited ${d.status}: ${d.stderr}`);
    b.push(d.ms);
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}

const mb = (p) => (statSync(p).size / 1e6).toFixed(1);
console.log(`host ${values.host} (${mb(values.host)} MB), plugin ${values.plugin} (${mb(values.plugin)} MB), ${runs} runs each, interleaved`);
console.log(
  `A  verify (static, whole CLI process)      median ${median(a).toFixed(0)} ms   min ${Math.min(...a).toFixed(0)} ms   max ${Math.max(...a).toFixed(0)} ms`,
);
console.log(
  `B  install (host's plugin command, Docker)  median ${median(b).toFixed(0)} ms   min ${Math.min(...b).toFixed(0)} ms   max ${Math.max(...b).toFixed(0)} ms`,
);
console.log(`B/A  ${(median(b) / median(a)).toFixed(1)}x`);
if (rss.length > 0) console.log(`verify peak RSS  median ${(median(rss) / 1024).toFixed(1)} MB   max ${(Math.max(...rss) / 1024).toFixed(1)} MB`);
