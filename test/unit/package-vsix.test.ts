/**
 * Per-platform VSIXs (issue 14 item 1): `npm run package -- --target T` (scripts/package.mjs)
 * ships the sqlite3 native module built for T, or none, and never another platform's. On this
 * machine: the VSIX for this machine's target holds its build; the VSIX for another OS holds no
 * native module at all, even when a prebuilt labelled for that OS but built for this one is offered.
 * Packaging is slow (vsce and a production build, ~30 s each), so every packaging test is here.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, test } from 'node:test';
import { describeBinary, mismatch, targetOf, TARGETS } from '../../scripts/nativeBinary.mjs';
import { readZip } from '../../scripts/zip.mjs';

const ROOT = resolve(__dirname, '../..');
const ADDON = 'node_modules/sqlite3/build/Release/node_sqlite3.node';
const host = readFileSync(join(ROOT, ADDON));
const HOST_TARGET = targetOf(host);
const ELF = Buffer.from([0x7f, 0x45, 0x4c, 0x46]);

function pe(machine: number): Buffer {
  const b = Buffer.alloc(0x100);
  b.write('MZ', 0, 'latin1');
  b.writeUInt32LE(0x80, 0x3c);
  b.write('PE\0\0', 0x80, 'latin1');
  b.writeUInt16LE(machine, 0x84);
  return b;
}
function macho(cpu: number): Buffer {
  const b = Buffer.alloc(32);
  b.writeUInt32LE(0xfeedfacf, 0);
  b.writeUInt32LE(cpu, 4);
  return b;
}
function elf(machine: number, needed = 'libc.so.6'): Buffer {
  const b = Buffer.alloc(64 + needed.length);
  ELF.copy(b, 0);
  b[4] = 2; // 64-bit
  b[5] = 1; // little-endian
  b.writeUInt16LE(machine, 18);
  b.write(needed, 64, 'latin1');
  return b;
}

function npmPackage(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; output: string }> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [join(ROOT, 'scripts/package.mjs'), ...args], { cwd: ROOT, env: { ...process.env, ...env } });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d));
    child.stderr.on('data', (d: Buffer) => (output += d));
    child.on('error', fail);
    child.on('close', (code) => done({ code, output }));
  });
}

describe('native module headers', () => {
  test('tell each target apart: ELF glibc/musl and arch, PE, Mach-O', () => {
    assert.equal(targetOf(elf(0x3e)), 'linux-x64');
    assert.equal(targetOf(elf(0xb7)), 'linux-arm64');
    assert.equal(targetOf(elf(0x3e, 'libc.musl-x86_64.so.1')), 'alpine-x64');
    assert.equal(targetOf(pe(0x8664)), 'win32-x64');
    assert.equal(targetOf(macho(0x01000007)), 'darwin-x64');
    assert.equal(targetOf(macho(0x0100000c)), 'darwin-arm64');
    assert.equal(describeBinary(Buffer.from('not a binary at all, just text')), null);
    assert.match(mismatch(elf(0x3e), 'win32-x64')!, /built for elf x64 glibc, not win32-x64/);
    assert.match(mismatch(elf(0x3e), 'alpine-x64')!, /not alpine-x64/);
    assert.match(mismatch(pe(0xaa64), 'win32-x64')!, /pe arm64/);
    assert.equal(mismatch(pe(0x8664), 'win32-x64'), null);
  });

  test("this machine's sqlite3 build is recognised", () => {
    assert.ok(HOST_TARGET, `${ADDON} is for no known target: ${JSON.stringify(describeBinary(host))}`);
    assert.ok(HOST_TARGET in TARGETS);
  });
});

describe('npm run package -- --target', { timeout: 300_000 }, () => {
  const work = mkdtempSync(join(tmpdir(), 'fastllm-vsix-'));
  const foreign = HOST_TARGET === 'win32-x64' ? 'linux-x64' : 'win32-x64';

  test(`for this machine (${HOST_TARGET}): the VSIX holds this machine's node_sqlite3.node, and says it is for ${HOST_TARGET}`, async () => {
    const out = join(work, `host.vsix`);
    const r = await npmPackage(['--target', HOST_TARGET!, '--out', out]);
    assert.equal(r.code, 0, r.output);
    assert.match(r.output, new RegExp(`holds node_sqlite3.node for ${HOST_TARGET}, from this machine's build`));
    const entries = await readZip(out);
    const addon = entries.find((e) => e.name === `extension/${ADDON}`);
    assert.ok(addon, 'node_sqlite3.node is in the VSIX');
    assert.ok(addon.bytes.equals(host));
    const manifest = entries.find((e) => e.name === 'extension.vsixmanifest')!.bytes.toString('utf8');
    assert.match(manifest, new RegExp(`TargetPlatform="${HOST_TARGET}"`));
    assert.ok(entries.some((e) => e.name === 'extension/media/samples/demo-prompts.txt'), 'the demo sample ships');
    // Every page the walkthrough names ships (a missing one shows an empty pane in VS Code).
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { contributes: { walkthroughs: { steps: { media: { markdown: string } }[] }[] } };
    const pages = pkg.contributes.walkthroughs.flatMap((w) => w.steps.map((st) => st.media.markdown));
    assert.ok(pages.length >= 4);
    for (const page of pages) assert.ok(entries.some((e) => e.name === `extension/${page}`), `${page} is not in the VSIX`);
  });

  test(`for ${foreign}: no native module for another OS, even one offered as ${foreign}'s prebuilt; the output says what is left out`, async () => {
    // A "prebuilt" named for the foreign target that holds this machine's build: it must be refused.
    const prebuilds = join(work, 'prebuilds');
    mkdirSync(join(prebuilds, 'stage', 'build', 'Release'), { recursive: true });
    execFileSync('cp', [join(ROOT, ADDON), join(prebuilds, 'stage', 'build', 'Release', 'node_sqlite3.node')]);
    const version = (JSON.parse(readFileSync(join(ROOT, 'node_modules/sqlite3/package.json'), 'utf8')) as { version: string }).version;
    const tarball = join(prebuilds, `0123abcd-sqlite3-v${version}-napi-v6-${TARGETS[foreign].prebuilt}.tar.gz`);
    execFileSync('tar', ['-czf', tarball, '-C', join(prebuilds, 'stage'), 'build/Release/node_sqlite3.node']);

    const out = join(work, `foreign.vsix`);
    const r = await npmPackage(['--target', foreign, '--out', out], { FASTLLM_SQLITE_PREBUILDS: prebuilds });
    assert.equal(r.code, 0, r.output);
    assert.match(r.output, new RegExp(`holds no node_sqlite3.node: none for ${foreign} is at hand`));
    assert.match(r.output, /node:sqlite .* in memory/);
    const entries = await readZip(out);
    assert.deepEqual(entries.filter((e) => e.name.endsWith('.node')).map((e) => e.name), []);
    const binaries = entries.filter((e) => describeBinary(e.bytes) !== null).map((e) => e.name);
    assert.deepEqual(binaries, [], 'no ELF, PE or Mach-O file at all');
    assert.ok(entries.some((e) => e.name === 'extension/node_modules/sqlite3/lib/sqlite3.js'), "sqlite3's JavaScript still ships (it fails to load, and the cache falls back)");
    assert.match(entries.find((e) => e.name === 'extension.vsixmanifest')!.bytes.toString('utf8'), new RegExp(`TargetPlatform="${foreign}"`));
  });

  test('an unknown target is refused', async () => {
    const r = await npmPackage(['--target', 'sunos-sparc']);
    assert.equal(r.code, 2);
    assert.match(r.output, /unknown --target sunos-sparc; one of linux-x64, linux-arm64, alpine-x64, darwin-x64, darwin-arm64, win32-x64/);
  });
});
