/**
 * Runs the integration suites in a real VS Code on a machine without internet: code-server (from
 * the npm registry, installed by scripts/install-code-server.mjs) serves the workbench and a real
 * Node extension host; headless Debian Chromium driven by playwright-core opens it.
 *
 * 1. installs the VSIX built by `npm run package` into throwaway user-data/extensions folders;
 * 2. starts code-server on loopback in its own session (so that `kill -- -PGID` stops it all);
 * 3. the host suite: opens the workbench with a `payload` that makes VS Code load the bundled
 *    mocha suite (out/test/integration/index.js) in the extension host; its exit code arrives
 *    through `codeAutomationExit`, its console through `codeAutomationLog`;
 * 4. the UI suite (test/integration/ui/*.test.mts): mocha in this process drives a second window
 *    through the command palette, the status bar and the webviews, against a loopback fake API;
 * 5. stops everything and exits with the number of failed tests (0: all passed).
 *
 * Never hangs: a global timeout (FASTLLM_IT_TIMEOUT_S, default 900) saves what it can and exits.
 * On failure, code-server's logs and screenshots go to .vscode-test/artifacts/.
 *
 * Environment:
 * - FASTLLM_VSIX: the VSIX to test (default: the newest *.vsix in the project folder).
 * - FASTLLM_IT_SUITES: `host`, `ui` or `host,ui` (default).
 * - FASTLLM_IT_GREP: only tests whose title matches this regular expression (both suites).
 * - FASTLLM_IT_KEEP=1: keep .vscode-test/run/ afterwards (it is always recreated at start).
 * - FASTLLM_IT_CONSOLE=1: print the workbench's browser console (UI window and host window).
 * - FASTLLM_IT_TIMEOUT_S: the global timeout, in seconds (default 900; a full run takes 6–8 min on a
 *   busy 2-core machine).
 * - FASTLLM_IT_SCREENSHOTS: where the UI suite saves the README screenshots (token-stats.png,
 *   cache-browser.png, status-bar-running.png). Default .vscode-test/screenshots, so that a test
 *   run leaves the working tree clean; `npm run test:screenshots` writes them to media/screenshots.
 * - CHROMIUM: the browser (default /usr/bin/chromium).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import * as path from 'node:path';
import { format } from 'node:util';
import Mocha from 'mocha';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { codeServerBin, CODE_SERVER_VERSION, install } from '../../../scripts/install-code-server.mjs';
import { startFakeServer, type FakeServer } from '../../support/fakeServer';
import { setUiContext, type LaunchedWindow, type WindowOptions } from '../ui/context.mjs';
import { writeUiFixtures } from '../ui/fixtures.mjs';
import { searchForKeys } from './keySearch.mjs';
import { HOST_SUITE, KEY_PREFIX, prepareWorkspace, ROOT, TEST_API_KEY, writeUserSettings } from './workspace.mjs';

const EXTENSION_ID = 'fastllm.fastllm-vscode';
const TIMEOUT_MS = Number(process.env.FASTLLM_IT_TIMEOUT_S ?? 900) * 1000;
const HOST_SUITE_TIMEOUT_MS = 360_000;
/** Loading the workbench page; playwright's 30 s default was seen to run out on a loaded 2-core machine. */
const GOTO_TIMEOUT_MS = 120_000;
const SUITES = new Set((process.env.FASTLLM_IT_SUITES ?? 'host,ui').split(',').map((s) => s.trim()).filter(Boolean));
const UNKNOWN_SUITES = [...SUITES].filter((s) => s !== 'host' && s !== 'ui');
const RUN_DIR = path.join(ROOT, '.vscode-test', 'run');
const ARTIFACTS = path.join(ROOT, '.vscode-test', 'artifacts');
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';

/** The workbench's own console chatter, left out of the host suite's output. */
const WORKBENCH_NOISE = /^(Resolving connection token|Resolved connection token|Creating a socket|\[Service Worker\]|Updating additional builtin extensions cache|ChatSessionStore)/;

const started = Date.now();
const log = (msg: string) => console.log(`[it ${((Date.now() - started) / 1000).toFixed(1).padStart(5)}s] ${msg}`);

/** Everything that must be stopped, whatever happens. */
const live: { servers: ChildProcess[]; browser?: Browser; fake?: FakeServer; pages: Page[] } = { servers: [], pages: [] };
let failedSomething = false;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

function newestVsix(): string {
  if (process.env.FASTLLM_VSIX) return path.resolve(process.env.FASTLLM_VSIX);
  const found = readdirSync(ROOT)
    .filter((f) => f.endsWith('.vsix'))
    .map((f) => path.join(ROOT, f))
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
  if (!found[0]) throw new Error('no .vsix in the project folder: run `npm run package` first (or set FASTLLM_VSIX)');
  return found[0];
}

/**
 * Environment of code-server and so of the extension host: everything kept out of $HOME. `extra`
 * overrides it (a value of undefined removes a variable).
 */
function codeServerEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const xdg = path.join(RUN_DIR, 'xdg');
  return {
    ...process.env,
    XDG_CONFIG_HOME: path.join(xdg, 'config'),
    XDG_DATA_HOME: path.join(xdg, 'data'),
    XDG_CACHE_HOME: path.join(xdg, 'cache'),
    TMPDIR: path.join(RUN_DIR, 'tmp'),
    // The extension falls back to this key when secret storage has none.
    OPENAI_API_KEY: TEST_API_KEY,
    FASTLLM_IT_RESULT: path.join(RUN_DIR, 'host-result.json'),
    FASTLLM_IT_USER_SETTINGS: path.join(RUN_DIR, 'user-data', 'User', 'settings.json'),
    // code-server's own variables that would change its behaviour.
    PASSWORD: undefined,
    HASHED_PASSWORD: undefined,
    PORT: undefined,
    ...extra,
  };
}

function installVsix(vsix: string, userData: string, extensions: string): string {
  const t = Date.now();
  const r = spawnSync(process.execPath, [codeServerBin, '--user-data-dir', userData, '--extensions-dir', extensions, '--install-extension', vsix, '--force'], {
    env: codeServerEnv(),
    encoding: 'utf8',
    timeout: 120_000,
  });
  const out = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  if (r.status !== 0 || !/successfully installed/i.test(out)) throw new Error(`installing ${vsix} failed (${r.status ?? r.signal}):\n${out}`);
  const dir = readdirSync(extensions).find((d) => d.toLowerCase().startsWith(`${EXTENSION_ID}-`));
  if (!dir) throw new Error(`${EXTENSION_ID} not found in ${extensions} after installing ${vsix}:\n${out}`);
  log(`installed ${path.basename(vsix)} in ${Date.now() - t} ms`);
  return path.join(extensions, dir);
}

/**
 * Starts code-server on loopback. `workspaceTrust: true` leaves VS Code's workspace trust on (for
 * the tests of untrusted workspaces); every other window runs with it off.
 */
async function startCodeServer(
  port: number,
  userData: string,
  extensions: string,
  workspace: string,
  options: { workspaceTrust?: boolean; logFile?: string; env?: Record<string, string | undefined> } = {},
): Promise<ChildProcess> {
  const logFile = options.logFile ?? path.join(RUN_DIR, 'code-server.log');
  const fd = openSync(logFile, 'a');
  const args = [
    codeServerBin,
    '--bind-addr', `127.0.0.1:${port}`,
    '--auth', 'none',
    '--user-data-dir', userData,
    '--extensions-dir', extensions,
    '--disable-telemetry',
    '--disable-update-check',
    '--disable-getting-started-override',
    ...(options.workspaceTrust ? [] : ['--disable-workspace-trust']),
    '--disable-proxy',
    '--ignore-last-opened',
    workspace,
  ];
  // A test still running when the global timeout stops everything must not start a server that
  // the cleanup, already past the list, would leave behind.
  if (stopping) throw new Error('the launcher is stopping: no new code-server');
  // detached: the child calls setsid(), so it leads a new process group that we kill as a whole
  // (killing only the main process leaves file watchers and extension hosts behind).
  const server = spawn(process.execPath, args, { env: codeServerEnv(options.env), detached: true, stdio: ['ignore', fd, fd] });
  live.servers.push(server);
  let exited: string | undefined;
  server.once('exit', (code, signal) => (exited = `code-server exited (${code ?? signal}); see ${logFile}`));
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (exited) throw new Error(exited);
    try {
      const res = await fetch(`http://127.0.0.1:${port}/healthz`);
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`code-server did not answer /healthz within 30 s; see ${logFile}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  log(`code-server ${CODE_SERVER_VERSION} up on 127.0.0.1:${port} (pgid ${server.pid}${options.workspaceTrust ? ', workspace trust on' : ''})`);
  return server;
}

async function stopCodeServer(server: ChildProcess | undefined): Promise<void> {
  if (!server) return;
  live.servers = live.servers.filter((s) => s !== server);
  if (!server.pid || server.exitCode !== null || server.signalCode !== null) return;
  const gone = new Promise<void>((resolve) => server.once('exit', () => resolve()));
  const kill = (signal: NodeJS.Signals) => {
    try {
      process.kill(-server.pid!, signal);
    } catch {
      // already gone
    }
  };
  kill('SIGTERM');
  const timer = setTimeout(() => kill('SIGKILL'), 5000);
  await gone;
  clearTimeout(timer);
  // Children (extension hosts, watchers) may outlive the leader for a moment: make sure.
  kill('SIGKILL');
}

async function newPage(context: BrowserContext): Promise<Page> {
  const page = await context.newPage();
  live.pages.push(page);
  page.on('pageerror', (e) => log(`page error: ${e.message}`));
  if (process.env.FASTLLM_IT_CONSOLE === '1') page.on('console', (m) => log(`console.${m.type()}: ${m.text()}`));
  return page;
}

/** The host suite: VS Code loads out/test/integration/index.js in the extension host and runs it. */
async function runHostSuite(context: BrowserContext, port: number, extensionDir: string, workspace: string): Promise<number> {
  if (!existsSync(HOST_SUITE)) throw new Error(`${HOST_SUITE} is missing: run \`node scripts/build-tests.mjs\``);
  const page = await newPage(context);
  let exit!: (code: number) => void;
  const exited = new Promise<number>((resolve) => (exit = resolve));
  await page.exposeFunction('codeAutomationExit', (code: number) => exit(code));
  await page.exposeFunction('codeAutomationLog', (_type: string, args: unknown[]) => {
    const text = format(...args);
    if (WORKBENCH_NOISE.test(text)) return;
    for (const line of text.split('\n')) console.log(`  [host] ${line}`);
  });
  const remote = (p: string) => `vscode-remote://127.0.0.1:${port}${p}`;
  // The extension under test is the folder the VSIX was installed into: what users get.
  const payload = [
    ['extensionDevelopmentPath', remote(extensionDir)],
    ['extensionTestsPath', remote(HOST_SUITE)],
  ];
  const url = `http://127.0.0.1:${port}/?folder=${encodeURIComponent(workspace)}&payload=${encodeURIComponent(JSON.stringify(payload))}`;
  const resultFile = codeServerEnv().FASTLLM_IT_RESULT!;
  rmSync(resultFile, { force: true });
  log('host suite: opening the workbench with the test payload');
  await page.goto(url, { timeout: GOTO_TIMEOUT_MS });
  let timer: NodeJS.Timeout | undefined;
  const code = await Promise.race([
    exited,
    new Promise<number>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`the host suite did not finish within ${HOST_SUITE_TIMEOUT_MS / 1000} s`)), HOST_SUITE_TIMEOUT_MS);
    }),
  ]).finally(() => clearTimeout(timer));
  let failures = code === 0 ? 0 : 1;
  if (existsSync(resultFile)) {
    const result = JSON.parse(readFileSync(resultFile, 'utf8')) as { passes: number; failures: number; pending: number };
    log(`host suite: ${result.passes} passed, ${result.failures} failed, ${result.pending} pending`);
    failures = Math.max(failures, result.failures);
    if (result.passes + result.failures === 0) {
      log(`FAIL: the host suite ran no test${process.env.FASTLLM_IT_GREP ? ` (FASTLLM_IT_GREP=${process.env.FASTLLM_IT_GREP} matched none)` : ''}`);
      failures = Math.max(failures, 1);
    }
  } else {
    log(`host suite: exit code ${code}, no result file (the suite did not run to its end)`);
    failures = Math.max(failures, 1);
  }
  if (failures > 0) await saveScreenshot(page, 'host-suite');
  await page.close();
  return failures;
}

/**
 * Another window on its own code-server (own user data, own workspace, shared extensions folder),
 * for the UI tests that need other user settings or workspace trust on: see
 * {@link UiContext.launchWindow}. Its folders are under `.vscode-test/run/windows/<name>/`.
 */
async function launchWindow(context: BrowserContext, extensions: string, options: WindowOptions): Promise<LaunchedWindow> {
  const dir = path.join(RUN_DIR, 'windows', options.name);
  rmSync(dir, { recursive: true, force: true });
  const userData = path.join(dir, 'user-data');
  writeUserSettings(userData, options.userSettings ?? {});
  const workspace = prepareWorkspace(path.join(dir, 'ws'), options.workspaceSettings ?? {});
  const port = await freePort();
  const server = await startCodeServer(port, userData, extensions, workspace, {
    workspaceTrust: options.workspaceTrust,
    logFile: path.join(dir, 'code-server.log'),
    env: options.env,
  });
  const page = await newPage(context);
  log(`window ${options.name}: opening the workbench`);
  await page.goto(`http://127.0.0.1:${port}/?folder=${encodeURIComponent(workspace)}`, { timeout: GOTO_TIMEOUT_MS });
  await page.locator('.monaco-workbench').waitFor({ timeout: 60_000 });
  return {
    page,
    workspace,
    userData,
    close: async () => {
      if (!page.isClosed()) await page.close();
      await stopCodeServer(server);
    },
  };
}

/** The UI suite: mocha in this process, the tests drive a workbench window through playwright. */
async function runUiSuite(context: BrowserContext, port: number, workspace: string, fake: FakeServer, extensions: string): Promise<number> {
  const page = await newPage(context);
  log('ui suite: opening the workbench');
  await page.goto(`http://127.0.0.1:${port}/?folder=${encodeURIComponent(workspace)}`, { timeout: GOTO_TIMEOUT_MS });
  await page.locator('.monaco-workbench').waitFor({ timeout: 60_000 });
  setUiContext({
    page,
    fake,
    workspace,
    userData: path.join(RUN_DIR, 'user-data'),
    apiKey: TEST_API_KEY,
    launchWindow: (options) => launchWindow(context, extensions, options),
    screenshots: path.resolve(ROOT, process.env.FASTLLM_IT_SCREENSHOTS ?? path.join('.vscode-test', 'screenshots')),
    artifacts: ARTIFACTS,
  });
  const mocha = new Mocha({ ui: 'bdd', timeout: 60_000, color: false, reporter: 'spec' });
  if (process.env.FASTLLM_IT_GREP) mocha.grep(new RegExp(process.env.FASTLLM_IT_GREP));
  const uiDir = path.join(ROOT, 'test/integration/ui');
  for (const f of readdirSync(uiDir).filter((f) => f.endsWith('.test.mts')).sort()) mocha.addFile(path.join(uiDir, f));
  await mocha.loadFilesAsync();
  // A screenshot of the workbench as it was when a test failed.
  mocha.suite.afterEach(async function () {
    const test = this.currentTest;
    if (test?.state === 'failed') await saveScreenshot(page, `ui-${test.fullTitle().replace(/[^a-z0-9]+/gi, '-').slice(0, 80)}`);
  });
  const { failures, ran } = await new Promise<{ failures: number; ran: number }>((resolve) => {
    const runner = mocha.run((n) => resolve({ failures: n, ran: (runner.stats?.passes ?? 0) + (runner.stats?.failures ?? 0) }));
  });
  await page.close();
  if (ran === 0) {
    // A run that matched no test proves nothing: a wrong FASTLLM_IT_GREP, or test files that failed to load.
    log(`FAIL: the UI suite ran no test${process.env.FASTLLM_IT_GREP ? ` (FASTLLM_IT_GREP=${process.env.FASTLLM_IT_GREP} matched none)` : ''}`);
    return Math.max(failures, 1);
  }
  return failures;
}

async function saveScreenshot(page: Page, name: string): Promise<void> {
  failedSomething = true;
  try {
    mkdirSync(ARTIFACTS, { recursive: true });
    const file = path.join(ARTIFACTS, `${name}.png`);
    await page.screenshot({ path: file, timeout: 5000 });
    log(`screenshot: ${path.relative(ROOT, file)}`);
  } catch (e) {
    log(`no screenshot (${(e as Error).message.split('\n')[0]})`);
  }
}

/** Copies code-server's output and VS Code's logs (extension host, renderer) into the artifacts. */
function saveLogs(): void {
  try {
    const dest = path.join(ARTIFACTS, 'logs');
    rmSync(dest, { recursive: true, force: true });
    mkdirSync(dest, { recursive: true });
    const cs = path.join(RUN_DIR, 'code-server.log');
    if (existsSync(cs)) cpSync(cs, path.join(dest, 'code-server.log'));
    const vsLogs = path.join(RUN_DIR, 'user-data', 'logs');
    if (existsSync(vsLogs)) cpSync(vsLogs, path.join(dest, 'vscode'), { recursive: true });
    const hostResult = path.join(RUN_DIR, 'host-result.json');
    if (existsSync(hostResult)) cpSync(hostResult, path.join(dest, 'host-result.json'));
    log(`logs saved in ${path.relative(ROOT, dest)}/`);
  } catch (e) {
    log(`could not save logs: ${(e as Error).message}`);
  }
}

/** Set once cleanup starts: no code-server may start after it (see startCodeServer). */
let stopping = false;

// Last resort at exit (a timeout's process.exit included): no code-server group outlives us.
process.once('exit', () => {
  for (const server of live.servers) {
    try {
      if (server.pid && server.exitCode === null && server.signalCode === null) process.kill(-server.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
});

async function cleanup(): Promise<void> {
  stopping = true;
  await Promise.race([
    (async () => {
      await live.browser?.close().catch(() => undefined);
      live.browser = undefined;
    })(),
    new Promise((r) => setTimeout(r, 5000)),
  ]);
  for (const server of [...live.servers].reverse()) await stopCodeServer(server);
  await live.fake?.close();
  live.fake = undefined;
  if (process.env.FASTLLM_IT_KEEP !== '1') rmSync(RUN_DIR, { recursive: true, force: true });
}

async function main(): Promise<number> {
  if (UNKNOWN_SUITES.length > 0 || SUITES.size === 0) {
    throw new Error(`FASTLLM_IT_SUITES=${process.env.FASTLLM_IT_SUITES ?? ''}: expected host, ui or host,ui (unknown: ${UNKNOWN_SUITES.join(', ') || 'none given'})`);
  }
  const vsix = newestVsix();
  rmSync(RUN_DIR, { recursive: true, force: true });
  rmSync(ARTIFACTS, { recursive: true, force: true });
  for (const d of ['user-data', 'extensions', 'tmp', 'xdg/config', 'xdg/data', 'xdg/cache']) mkdirSync(path.join(RUN_DIR, d), { recursive: true });
  const userData = path.join(RUN_DIR, 'user-data');
  const extensions = path.join(RUN_DIR, 'extensions');

  // The UI window's fake API. The host suite starts its own inside the extension host.
  const fake = await startFakeServer({ requireKey: TEST_API_KEY });
  live.fake = fake;
  writeUserSettings(userData);
  const wsHost = prepareWorkspace(path.join(RUN_DIR, 'ws-host'), { 'fastllm.results.openWhenDone': false });
  const wsUi = prepareWorkspace(path.join(RUN_DIR, 'ws-ui'), {
    'fastllm.baseUrl': fake.url,
    'fastllm.concurrency': 2,
  });
  writeUiFixtures(wsUi);

  const extensionDir = installVsix(vsix, userData, extensions);
  const port = await freePort();
  await startCodeServer(port, userData, extensions, wsHost);

  live.browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
  });
  const context = await live.browser.newContext({ viewport: { width: 1280, height: 800 } });

  let failures = 0;
  if (SUITES.has('host')) failures += await runHostSuite(context, port, extensionDir, wsHost);
  if (SUITES.has('ui')) failures += await runUiSuite(context, port, wsUi, fake, extensions);
  const keys = searchForKeys(RUN_DIR, KEY_PREFIX, { filtered: !!process.env.FASTLLM_IT_GREP });
  log(keys.message);
  if (!keys.ok) failures++;
  return failures;
}

// Before the global timer starts: a cold install takes a minute or two. A no-op when the pinned
// code-server is already in .vscode-test/code-server.
try {
  install();
} catch (e) {
  log(`cannot install code-server: ${(e as Error).message}`);
  process.exit(1);
}

const globalTimer = setTimeout(() => {
  log(`global timeout (${TIMEOUT_MS / 1000} s): stopping`);
  void (async () => {
    for (const page of live.pages) if (!page.isClosed()) await saveScreenshot(page, 'timeout');
    saveLogs();
    await cleanup();
    process.exit(124);
  })();
}, TIMEOUT_MS);

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    log(`${signal}: stopping`);
    void cleanup().finally(() => process.exit(130));
  });
}

let exitCode: number;
try {
  const failures = await main();
  exitCode = Math.min(failures, 100);
  log(failures === 0 ? 'all integration tests passed' : `${failures} integration test(s) failed`);
} catch (e) {
  log(`error: ${(e as Error).stack ?? String(e)}`);
  for (const page of live.pages) if (!page.isClosed()) await saveScreenshot(page, 'error');
  failedSomething = true;
  exitCode = 1;
}
if (failedSomething || exitCode !== 0) saveLogs();
await cleanup();
clearTimeout(globalTimer);
log(`done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
process.exit(exitCode);
