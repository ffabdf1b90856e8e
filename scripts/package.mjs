// `npm run package [-- --target T]`: builds the VSIX with vsce.
//
// Without --target: fastllm-vscode.vsix, for this machine (the integration tests install it). With
// --target T (linux-x64, linux-arm64, alpine-x64, darwin-x64, darwin-arm64, win32-x64):
// fastllm-vscode-T.vsix, a platform-specific VSIX that the Marketplace serves to T only, holding the
// sqlite3 native module built for T, taken from
//   1. this machine's build (node_modules/sqlite3/build/Release), when it is T's;
//   2. else sqlite3's prebuilt binary for T, when one is at hand: in $FASTLLM_SQLITE_PREBUILDS or in
//      npm's cache (<cache>/_prebuilds, where sqlite3's installer keeps what it downloaded);
//   3. else none: the VSIX leaves the module out, and the extension runs its cache on node:sqlite
//      (a VS Code whose Node.js has it) or in memory, and says so (src/core/cache/sqliteDriver.ts).
//      This script says so too. The release workflow (.github/workflows/release.yml) builds each
//      target on its own OS, where case 1 applies.
// Every native module in the finished VSIX is then read back and checked to be T's: a VSIX that
// would carry another platform's binary is deleted and the script fails.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync, createWriteStream, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import yazl from 'yazl';
import { mismatch, targetOf, TARGETS } from './nativeBinary.mjs';
import { readZip } from './zip.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const VSCE = join(root, 'node_modules', '@vscode', 'vsce', 'vsce');
const BASE = ['package', '--allow-missing-repository', '--skip-license', '--no-rewrite-relative-links'];
const ADDON = 'node_modules/sqlite3/build/Release/node_sqlite3.node';

const args = process.argv.slice(2);
const at = args.indexOf('--target');
const target = at >= 0 ? args[at + 1] : undefined;
const rest = at >= 0 ? [...args.slice(0, at), ...args.slice(at + 2)] : args;
const vsce = (extra) => execFileSync(process.execPath, [VSCE, ...BASE, ...extra], { cwd: root, stdio: 'inherit' });

if (!target) {
  vsce(rest.includes('--out') ? rest : ['--out', 'fastllm-vscode.vsix', ...rest]);
  process.exit(0);
}
if (!TARGETS[target]) {
  console.error(`package: unknown --target ${target}; one of ${Object.keys(TARGETS).join(', ')}`);
  process.exit(2);
}
const outAt = rest.indexOf('--out');
const out = resolve(root, outAt >= 0 ? rest[outAt + 1] : `fastllm-vscode-${target}.vsix`);
const passThrough = outAt >= 0 ? [...rest.slice(0, outAt), ...rest.slice(outAt + 2)] : rest;

// Which node_sqlite3.node goes in.
const sqliteVersion = JSON.parse(readFileSync(join(root, 'node_modules/sqlite3/package.json'), 'utf8')).version;
const host = join(root, ADDON);
const hostBytes = existsSync(host) ? readFileSync(host) : null;
const hostTarget = hostBytes ? targetOf(hostBytes) : null;
let addon = null; // { bytes, from }
if (hostBytes && mismatch(hostBytes, target) === null) addon = { bytes: null, from: `this machine's build (${ADDON})` };
else addon = findPrebuilt(target);

// vsce packs from an allowlist (.vscodeignore); without T's module at hand, the host's is left out.
let ignore = readFileSync(join(root, '.vscodeignore'), 'utf8');
if (!addon || addon.bytes) ignore = ignore.split('\n').filter((l) => l.trim() !== `!${ADDON}`).join('\n');
const ignoreFile = join(root, 'dist', `.vscodeignore-${target}`);
mkdirSync(dirname(ignoreFile), { recursive: true });
writeFileSync(ignoreFile, ignore);
vsce(['--target', target, '--ignoreFile', ignoreFile, '--out', out, ...passThrough]);
if (addon?.bytes) await addToZip(out, `extension/${ADDON}`, addon.bytes);

// Read back: every native module in the VSIX must be T's.
const natives = (await readZip(out)).filter((e) => e.name.endsWith('.node'));
const wrong = natives.map((e) => [e.name, mismatch(e.bytes, target)]).filter(([, why]) => why);
if (wrong.length > 0) {
  rmSync(out, { force: true });
  console.error(`package: refused to build ${out}: ${wrong.map(([name, why]) => `${name}: ${why}`).join('; ')}`);
  process.exit(1);
}
if (addon) {
  console.log(`package: ${out} holds node_sqlite3.node for ${target}, from ${addon.from}.`);
} else {
  console.log(
    `package: ${out} holds no node_sqlite3.node: none for ${target} is at hand (this machine's build is for ${hostTarget ?? 'no known target'}, ` +
      `and no sqlite3-v${sqliteVersion} prebuilt for ${TARGETS[target].prebuilt} is in $FASTLLM_SQLITE_PREBUILDS or npm's cache). ` +
      'The extension then keeps its cache with node:sqlite where VS Code\'s Node.js has it, else in memory, and says so once. ' +
      `To ship the module, package on a ${target} machine (the release workflow does).`,
  );
}

/** sqlite3's prebuilt module for `t` from a downloaded tarball, checked to be `t`'s; null when none. */
function findPrebuilt(t) {
  const dirs = [process.env.FASTLLM_SQLITE_PREBUILDS];
  try {
    const cache = execFileSync(process.platform === 'win32' ? 'npm.cmd' : 'npm', ['config', 'get', 'cache'], { encoding: 'utf8', shell: process.platform === 'win32' }).trim();
    dirs.push(join(cache, '_prebuilds'));
  } catch {
    // no npm: only the environment's folder
  }
  const name = new RegExp(`sqlite3-v${sqliteVersion.replace(/\./g, '\\.')}-napi-v\\d+-${TARGETS[t].prebuilt}\\.tar\\.gz$`);
  for (const dir of dirs.filter(Boolean)) {
    if (!existsSync(dir)) continue;
    for (const f of readdirSync(dir).filter((n) => name.test(n))) {
      try {
        const bytes = execFileSync('tar', ['-xzOf', join(dir, f), 'build/Release/node_sqlite3.node'], { maxBuffer: 64 * 1024 * 1024 });
        if (mismatch(bytes, t) === null) return { bytes, from: join(dir, f) };
      } catch {
        // not a tarball holding the module: next
      }
    }
  }
  return null;
}

/** Rewrites the zip with one more file (a VSIX lists no files in its manifest, so nothing else changes). */
async function addToZip(file, name, bytes) {
  const entries = await readZip(file);
  const zip = new yazl.ZipFile();
  for (const e of entries) if (e.name !== name) zip.addBuffer(e.bytes, e.name, { mtime: e.mtime });
  zip.addBuffer(bytes, name);
  zip.end();
  const tmp = `${file}.tmp`;
  await new Promise((done, fail) => zip.outputStream.pipe(createWriteStream(tmp)).on('close', done).on('error', fail));
  renameSync(tmp, file);
}
