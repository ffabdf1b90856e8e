/**
 * The command line as an npm package (issue 14 item 3): `npm run pack:cli` (scripts/pack-cli.mjs)
 * packs the bundled dist/cli.js with only its runtime dependency (sqlite3, optional); the tarball
 * installs with `npm install -g --prefix` into an empty folder, offline, and the `fastllm` it puts
 * on the PATH answers --version and runs a batch against the loopback fake server.
 *
 * The install leaves out optional dependencies (--omit=optional): building sqlite3 from source
 * takes minutes and a compiler, and a machine where it fails to install is the case to prove.
 * There the installed fastllm must still run, with the cache in memory and one line saying so.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runProcess, type CliResult } from '../support/cli';
import { startFakeServer, type FakeServer } from '../support/fakeServer';

const ROOT = resolve(__dirname, '../..');
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

function run(cmd: string, args: string[], cwd: string, env: Record<string, string | undefined> = {}): Promise<CliResult> {
  return runProcess(cmd, args, cwd, { OPENAI_BASE_URL: undefined, ...env }, process.platform === 'win32');
}

describe('fastllm as an npm package', { timeout: 180_000 }, () => {
  let server: FakeServer;
  let work: string;
  let tarball: string;
  let bin: string;
  before(async () => {
    assert.ok(existsSync(join(ROOT, 'dist/cli.js')), 'dist/cli.js is missing: run `npm run build` first (npm test does)');
    server = await startFakeServer();
    work = mkdtempSync(join(tmpdir(), 'fastllm-npm-pack-'));
  });
  after(async () => {
    await server.close();
  });

  test('npm run pack:cli packs dist/cli.js, the demo sample, a README and a package.json: nothing else, no dependency but optional sqlite3', () => {
    const out = join(work, 'out');
    tarball = execFileSync(process.execPath, [join(ROOT, 'scripts/pack-cli.mjs'), '--no-build', '--out', out], { cwd: ROOT, encoding: 'utf8' }).trim().split('\n').at(-1)!;
    assert.equal(tarball, join(out, `fastllm-${VERSION}.tgz`));
    const files = execFileSync('tar', ['tzf', tarball], { encoding: 'utf8' }).trim().split('\n').sort();
    assert.deepEqual(files, ['package/README.md', 'package/cli.js', 'package/package.json', 'package/samples/demo-prompts.txt']);
    const pkg = JSON.parse(execFileSync('tar', ['xzOf', tarball, 'package/package.json'], { encoding: 'utf8' })) as Record<string, unknown>;
    assert.equal(pkg.name, 'fastllm');
    assert.equal(pkg.version, VERSION);
    assert.deepEqual(pkg.bin, { fastllm: 'cli.js' });
    assert.deepEqual(pkg.engines, { node: '>=20' });
    assert.equal(pkg.dependencies, undefined, 'everything but sqlite3 is bundled into cli.js');
    assert.deepEqual(Object.keys(pkg.optionalDependencies as object), ['sqlite3']);
    assert.equal(pkg.private, undefined);
    const cli = execFileSync('tar', ['xzOf', tarball, 'package/cli.js'], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
    assert.ok(cli.startsWith('#!/usr/bin/env node\n'));
  });

  test('npm install -g --prefix EMPTY --offline: `fastllm --version` answers, and a run against a loopback server writes its results', async () => {
    assert.ok(tarball, 'packed by the test before');
    const prefix = join(work, 'prefix');
    const install = await run(NPM, ['install', '-g', '--prefix', prefix, '--offline', '--omit=optional', '--no-audit', '--no-fund', tarball], work);
    assert.equal(install.code, 0, install.stderr);
    bin = process.platform === 'win32' ? join(prefix, 'fastllm.cmd') : join(prefix, 'bin', 'fastllm');
    assert.ok(existsSync(bin), `${bin} is missing`);
    // Installed alone: no node_modules of this repository can be reached from there.
    assert.deepEqual(readdirSync(join(prefix, 'lib', 'node_modules')), ['fastllm']);

    const version = await run(bin, ['--version'], work);
    assert.equal(version.code, 0, version.stderr);
    assert.equal(version.stdout.trim(), VERSION);

    const dir = mkdtempSync(join(work, 'run-'));
    writeFileSync(join(dir, 'prompts.txt'), 'What is 2+2?\nName a colour.\n');
    server.reset();
    const r = await run(bin, ['run', 'prompts.txt', '--base-url', server.url, '--quiet'], dir, { OPENAI_API_KEY: 'sk-test-npm-pack' });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(server.count, 2);
    const records = readFileSync(join(dir, 'prompts.results.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { custom_id: string; error?: unknown });
    assert.equal(records.length, 2);
    assert.ok(records.every((rec) => !rec.error), JSON.stringify(records));
    // Without sqlite3 (left out above) this Node has either node:sqlite (no word) or not (one line).
    const hasNodeSqlite = Number(process.versions.node.split('.')[0]) >= 23 || /^22\.(1[3-9]|[2-9]\d)/.test(process.versions.node);
    if (hasNodeSqlite) assert.equal(r.stderr, '');
    else assert.match(r.stderr, /^warning: the cache is in memory for this run only: .*\n$/);

    // The demo finds its sample in the package, and its rerun makes no call even with the cache in memory.
    const demo = await run(bin, ['demo', '--dir', join(dir, 'demo'), '--quiet', '--max-latency-ms', '0'], dir);
    assert.equal(demo.code, 0, demo.stderr);
    assert.match(demo.stderr, /The first run made 24 calls; the second made 0\./);
  });
});
