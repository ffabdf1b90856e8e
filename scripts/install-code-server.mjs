#!/usr/bin/env node
// Installs code-server (a real VS Code workbench and extension host, from the npm registry) into
// .vscode-test/code-server/, for the integration tests on machines where @vscode/test-electron
// cannot download VS Code. Idempotent: does nothing when the pinned version is already there.
//
// Why 4.100.3: it is VS Code 1.100, the minimum our engines.vscode claims, and it runs on the
// system Node 20 (code-server requires its Node major to equal its engines). It installs in about a
// minute and 300 MB, against two minutes and 600 MB for 4.139.x under an npm-installed Node 24.
// Its @vscode/ripgrep postinstall downloads rg from GitHub, which is unreachable here: we seed the
// package's download cache with Debian's /usr/bin/rg (apt-get install ripgrep) instead.
//
// Usage: node scripts/install-code-server.mjs [--force]
// Env:   CODE_SERVER_DIR overrides the install folder.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const CODE_SERVER_VERSION = '4.100.3';
/** The @vscode/ripgrep version pinned by code-server 4.100.3's lib/vscode/npm-shrinkwrap.json. */
const RIPGREP_PACKAGE_VERSION = '1.15.11';
/** The ripgrep release and target that package downloads on linux-x64. */
const RIPGREP_ASSET = 'ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const codeServerDir = resolve(process.env.CODE_SERVER_DIR ?? join(root, '.vscode-test', 'code-server'));
/** The code-server entry point, run with the same Node that installed it. */
export const codeServerBin = join(codeServerDir, 'node_modules', 'code-server', 'out', 'node', 'entry.js');
const stamp = join(codeServerDir, `.installed-${CODE_SERVER_VERSION}`);

export function isInstalled() {
  return existsSync(stamp) && existsSync(codeServerBin);
}

function run(cmd, args, options) {
  const r = spawnSync(cmd, args, { stdio: 'inherit', ...options });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed with ${r.status ?? r.signal}`);
}

function which(cmd) {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

export function install({ force = false } = {}) {
  if (!force && isInstalled()) {
    console.log(`code-server ${CODE_SERVER_VERSION} already in ${codeServerDir}`);
    return;
  }
  const major = Number(process.versions.node.split('.')[0]);
  if (major !== 20) {
    throw new Error(`code-server ${CODE_SERVER_VERSION} needs Node 20 (its engines); this is Node ${process.versions.node}`);
  }
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new Error('this installer seeds a linux-x64 ripgrep; on other platforms use `npm run test:electron`');
  }
  const rg = which('rg');
  if (!rg) throw new Error('ripgrep not found: apt-get install -y ripgrep');

  const started = Date.now();
  rmSync(codeServerDir, { recursive: true, force: true });
  mkdirSync(codeServerDir, { recursive: true });
  // Its own package.json keeps npm from walking up to the extension's project.
  writeFileSync(join(codeServerDir, 'package.json'), JSON.stringify({ name: 'code-server-cache', private: true, allowScripts: { 'code-server': true, argon2: true } }, null, 2));

  // Seed @vscode/ripgrep's cache in a private TMPDIR: its postinstall finds the tarball and skips GitHub.
  const tmp = mkdtempSync(join(codeServerDir, 'tmp-'));
  const cache = join(tmp, `vscode-ripgrep-cache-${RIPGREP_PACKAGE_VERSION}`);
  mkdirSync(cache);
  run('tar', ['czf', join(cache, RIPGREP_ASSET), '-C', dirname(rg), 'rg']);

  const env = {
    ...process.env,
    TMPDIR: tmp,
    // As root npm drops privileges for scripts unless told not to; code-server's postinstall checks this.
    npm_config_unsafe_perm: 'true',
    // node-pty's postinstall calls npx, which would otherwise stop at a prompt.
    npm_config_yes: 'true',
    npm_config_fund: 'false',
    npm_config_audit: 'false',
    npm_config_update_notifier: 'false',
  };
  try {
    run('npm', ['install', '--no-save', '--omit=dev', `code-server@${CODE_SERVER_VERSION}`], { cwd: codeServerDir, env });
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  const rgInstalled = join(codeServerDir, 'node_modules/code-server/lib/vscode/node_modules/@vscode/ripgrep/bin/rg');
  if (!existsSync(rgInstalled)) throw new Error(`ripgrep was not installed at ${rgInstalled}`);
  const version = JSON.parse(readFileSync(join(codeServerDir, 'node_modules/code-server/package.json'), 'utf8')).version;
  if (version !== CODE_SERVER_VERSION) throw new Error(`installed code-server ${version}, wanted ${CODE_SERVER_VERSION}`);
  writeFileSync(stamp, new Date().toISOString() + '\n');
  console.log(`code-server ${CODE_SERVER_VERSION} installed in ${codeServerDir} in ${((Date.now() - started) / 1000).toFixed(0)} s`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    install({ force: process.argv.includes('--force') });
  } catch (e) {
    console.error(`install-code-server: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
  }
}
