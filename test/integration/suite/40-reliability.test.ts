/**
 * Reliability and security of the extension host side (issue 5): the CLI and VS Code sharing one
 * cache file at once, and the host's validation of messages from the webview pages. The UI suite
 * (ui/40-reliability.test.mts, ui/50-trust.test.mts) covers window reloads, a corrupt cache,
 * hostile content in the webviews and workspace trust.
 */
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { FakeServer } from '../../support/fakeServer';
import { MAX_PAGE_SIZE, parseCachePageMessage, parseCachePageState, parseStatsPageMessage } from '../../../src/webview/protocol';
import { MAX_GROUP, parseCompareState } from '../../../src/webview/compareProtocol';
import { mediaRoot, pageHtml, webviewOptions } from '../../../src/vscode/panels/html';
import { answerOf, api, readResults, useFakeServer, workspaceDir, wsFile } from './helpers';

/** The project folder: this file runs from out/test/integration/suite/. */
const ROOT = path.resolve(__dirname, '../../../..');
const CLI = path.join(ROOT, 'dist', 'cli.js');

/**
 * The text of every FastLLM log file of this user-data folder (the launcher says where it is).
 * Throws when there is none, or none with the activation line: the checks that something is not
 * in the log must not pass because there was no log to look at.
 */
function extensionLogs(): string {
  const settings = process.env.FASTLLM_IT_USER_SETTINGS;
  if (!settings) throw new Error('FASTLLM_IT_USER_SETTINGS is not set: run the suite through a launcher in test/integration/launcher/');
  const logs = path.join(path.dirname(settings), '..', 'logs');
  const files = existsSync(logs)
    ? readdirSync(logs, { withFileTypes: true, recursive: true }).filter((e) => e.isFile() && e.name === 'FastLLM.log').map((e) => path.join(e.parentPath, e.name))
    : [];
  if (files.length === 0) throw new Error(`no FastLLM.log under ${logs}`);
  const text = files.map((f) => readFileSync(f, 'utf8')).join('\n');
  if (!text.includes('FastLLM activated')) throw new Error(`no activation line in ${files.join(', ')}`);
  return text;
}

function runCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string; startedAt: number; endedAt: number }> {
  return new Promise((resolve, reject) => {
    const startedAt = Date.now();
    const child = spawn(process.execPath, [CLI, ...args], { cwd: workspaceDir(), env: { ...process.env, ELECTRON_RUN_AS_NODE: '1' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr, startedAt, endedAt: Date.now() }));
  });
}

/** `PRAGMA integrity_check` of a SQLite file, with the sqlite3 addon the extension ships. */
async function integrityCheck(file: string): Promise<string> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const sqlite3 = require(path.join(ROOT, 'node_modules', 'sqlite3')) as typeof import('sqlite3');
  const db = await new Promise<import('sqlite3').Database>((resolve, reject) => {
    const d = new sqlite3.Database(file, sqlite3.OPEN_READONLY, (e) => (e ? reject(e) : resolve(d)));
  });
  try {
    return await new Promise<string>((resolve, reject) =>
      db.all<{ integrity_check: string }>('PRAGMA integrity_check', (e, rows) => (e ? reject(e) : resolve(rows.map((r) => r.integrity_check).join('; ')))),
    );
  } finally {
    await new Promise<void>((resolve) => db.close(() => resolve()));
  }
}

describe('reliability: the CLI and VS Code on one cache file at once', () => {
  let fake: FakeServer;
  const ROWS = 600;
  const SHARED = 200;
  // File a: rows 0..599; file b: rows 400..999. Rows 400..599 are in both.
  const prompt = (i: number) => `shared-run prompt ${i}: one fact about ${i % 7 === 0 ? 'SQLite' : 'caches'}`;
  const aRows = Array.from({ length: ROWS }, (_, i) => prompt(i));
  const bRows = Array.from({ length: ROWS }, (_, i) => prompt(i + ROWS - SHARED));

  before(async () => {
    fake = await useFakeServer({ latencyMs: 8 });
    writeFileSync(path.join(workspaceDir(), 'shared-a.txt'), aRows.join('\n') + '\n');
    writeFileSync(path.join(workspaceDir(), 'shared-b.txt'), bRows.join('\n') + '\n');
  });
  after(() => fake.close());

  it('both finish, no "database is locked", every entry holds its own answer, integrity ok', async function () {
    this.timeout(60_000);
    assert.ok(existsSync(CLI), `${CLI} is missing: run npm run build`);
    const fastllm = await api();
    const cacheFile = fastllm.cachePath();
    // The extension has the file open (earlier suites used it): the CLI opens it beside.
    await fastllm.cacheCount();
    fake.reset();
    const bOut = path.join(workspaceDir(), 'shared-b.results.jsonl');
    // Injected: a second writer (the CLI, concurrency 4) on the extension's cache file, started first.
    const cli = runCli(['run', path.join(workspaceDir(), 'shared-b.txt'), '--out', bOut, '--base-url', fake.url, '--cache', cacheFile, '--concurrency', '4', '--quiet']);
    const deadline = Date.now() + 15_000;
    while (fake.count < 20 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.ok(fake.count >= 20, 'the CLI run did not start');
    const extStart = Date.now();
    const summary = await fastllm.runBatchFile(wsFile('shared-a.txt'), { confirm: false });
    const extEnd = Date.now();
    const cliResult = await cli;
    assert.equal(cliResult.code, 0, `the CLI failed:\n${cliResult.stderr}`);
    assert.ok(cliResult.endedAt > extStart && cliResult.startedAt < extEnd, 'the two runs did not overlap');
    assert.ok(summary);
    assert.equal(summary.failed, 0);
    for (const text of [cliResult.stderr, cliResult.stdout, extensionLogs()]) {
      assert.doesNotMatch(text, /database is locked|SQLITE_BUSY|SQLITE_LOCKED|SQLITE_CORRUPT|cannot (open|read|write) the cache/i);
    }
    const aRecords = readResults(summary.out);
    const bRecords = readResults(bOut);
    assert.deepEqual(aRecords.map(answerOf), aRows.map((p) => `echo: ${p}`));
    assert.deepEqual(bRecords.map(answerOf), bRows.map((p) => `echo: ${p}`));
    // Each distinct prompt reached the server at least once and, shared ones aside, at most once.
    const sent = fake.requests.length;
    assert.ok(sent >= ROWS * 2 - SHARED && sent <= ROWS * 2, `${sent} requests for ${ROWS * 2 - SHARED} distinct prompts`);
    assert.equal(await fastllm.cacheCount('shared-run'), ROWS * 2 - SHARED);
    assert.equal(await integrityCheck(cacheFile), 'ok');

    // Every entry is readable by both and holds the answer to its own request.
    fake.reset();
    const again = await fastllm.runBatchFile(wsFile('shared-b.txt'), { confirm: false });
    assert.ok(again);
    assert.equal(fake.count, 0, `the extension sent ${fake.count} requests for entries the CLI wrote`);
    assert.deepEqual(readResults(again.out).map(answerOf), bRows.map((p) => `echo: ${p}`));
    const cliAgain = await runCli(['run', path.join(workspaceDir(), 'shared-a.txt'), '--out', path.join(workspaceDir(), 'shared-a.cli.results.jsonl'), '--base-url', fake.url, '--cache', cacheFile, '--quiet']);
    assert.equal(cliAgain.code, 0, cliAgain.stderr);
    assert.equal(fake.count, 0, `the CLI sent ${fake.count} requests for entries VS Code wrote`);
    assert.deepEqual(readResults(path.join(workspaceDir(), 'shared-a.cli.results.jsonl')).map(answerOf), aRows.map((p) => `echo: ${p}`));
  });
});

describe('security: what the host accepts from a webview page', () => {
  /** Crafted cache-page messages: none may pass. */
  const craftedCache: [string, unknown][] = [
    ['not an object', 'clearAll'],
    ['null', null],
    ['an array', [{ type: 'clearAll' }]],
    ['an unknown type', { type: 'readFile', path: '/etc/passwd' }],
    ['a type that is an Object.prototype name', { type: 'constructor' }],
    ['a type of the wrong type', { type: ['delete'], key: 'v1:abc' }],
    ['delete: a relative path as key', { type: 'delete', key: '../victim.txt' }],
    ['delete: an absolute path as key', { type: 'delete', key: '/etc/passwd' }],
    ['delete: a Windows path as key', { type: 'delete', key: 'C:\\Windows\\win.ini' }],
    ['delete: a key followed by ../', { type: 'delete', key: `v1:${'a'.repeat(64)}/../../x` }],
    ['delete: a key with a NUL', { type: 'delete', key: `v1:${'a'.repeat(64)}\u0000` }],
    ['delete: a key that is not a string', { type: 'delete', key: { toString: 'v1:abc' } }],
    ['delete: a huge key', { type: 'delete', key: 'a'.repeat(100_000) }],
    ['delete: no key', { type: 'delete' }],
    ['show: a path as key', { type: 'show', key: '../../../../etc/passwd' }],
    ['show: a file URI as key', { type: 'show', key: 'file:///etc/passwd' }],
    ['show: a number as key', { type: 'show', key: 42 }],
    ['list: a huge offset', { type: 'list', offset: 1e300, limit: 50, filter: '' }],
    ['list: an infinite offset', { type: 'list', offset: Infinity, limit: 50, filter: '' }],
    ['list: a negative offset', { type: 'list', offset: -50, limit: 50, filter: '' }],
    ['list: a fractional offset', { type: 'list', offset: 0.5, limit: 50, filter: '' }],
    ['list: offsets as strings', { type: 'list', offset: '0', limit: '50', filter: '' }],
    ['list: a page too large', { type: 'list', offset: 0, limit: MAX_PAGE_SIZE + 1, filter: '' }],
    ['list: an empty page', { type: 'list', offset: 0, limit: 0, filter: '' }],
    ['list: a 1 MB filter', { type: 'list', offset: 0, limit: 50, filter: 'x'.repeat(1_000_000) }],
    ['list: a filter that is not a string', { type: 'list', offset: 0, limit: 50, filter: { $regex: '.*' } }],
    ['deleteFiltered: an empty filter (everything)', { type: 'deleteFiltered', filter: '' }],
    ['deleteFiltered: a blank filter', { type: 'deleteFiltered', filter: ' \t ' }],
    ['deleteFiltered: a filter that is not a string', { type: 'deleteFiltered', filter: 5 }],
  ];

  for (const [what, message] of craftedCache) {
    it(`the Cache Browser's validator refuses ${what}`, () => {
      assert.equal(parseCachePageMessage(message), undefined);
    });
  }

  it('what passes is a fresh object with the known fields only', () => {
    const key = `v1:${'0123456789abcdef'.repeat(4)}`;
    const parsed = parseCachePageMessage({ type: 'delete', key, path: '/etc/passwd', __proto__: { evil: true } });
    assert.deepEqual(parsed, { type: 'delete', key });
    assert.deepEqual(Object.keys(parsed ?? {}).sort(), ['key', 'type']);
    assert.deepEqual(parseCachePageMessage({ type: 'list', offset: 100, limit: 50, filter: 'a', extra: 1 }), { type: 'list', offset: 100, limit: 50, filter: 'a' });
  });

  it("the Token Stats validator lets through only the page's three commands", () => {
    for (const command of ['clearCache', 'setApiKey', 'workbench.action.closeWindow', 'fastllm.clearCache', '__proto__', 'toString']) {
      assert.equal(parseStatsPageMessage({ type: 'command', command }), undefined, command);
    }
    assert.equal(parseStatsPageMessage({ type: 'command', command: ['cancelRun'] }), undefined);
    assert.deepEqual(parseStatsPageMessage({ type: 'command', command: 'cancelRun', args: ['x'] }), { type: 'command', command: 'cancelRun' });
  });

  it('restored page state is parsed, not trusted', () => {
    const fallback = { filter: '', offset: 0, limit: 50 };
    assert.deepEqual(parseCachePageState({ filter: 5, offset: -1, limit: 1e9 }), fallback);
    assert.deepEqual(parseCachePageState('{"filter":"x"}'), fallback);
    assert.deepEqual(parseCachePageState({ filter: 'a', offset: 50, limit: 25, apiKey: 'sk-x' }), { filter: 'a', offset: 50, limit: 25 });
    // The Compare page's kept view: only two file paths are taken from it, and only if well formed.
    assert.equal(parseCompareState({ fileA: '/w/a.jsonl' }), undefined);
    assert.equal(parseCompareState({ fileA: '/w/a.jsonl', fileB: 7 }), undefined);
    assert.equal(parseCompareState({ fileA: '/w/a\0.jsonl', fileB: '/w/b.jsonl' }), undefined);
    assert.equal(parseCompareState({ fileA: 'x'.repeat(5000), fileB: '/w/b.jsonl' }), undefined);
    assert.equal(parseCompareState(['/w/a.jsonl', '/w/b.jsonl']), undefined);
    assert.deepEqual(parseCompareState({ fileA: '/w/a.jsonl', fileB: '/w/b.jsonl', rows: [], apiKey: 'sk-x' }), { fileA: '/w/a.jsonl', fileB: '/w/b.jsonl', group: ['/w/b.jsonl'] });
    // A comparison of more than two files: only well-formed paths of the group are kept, at most MAX_GROUP.
    const group = [{ file: '/w/b.jsonl' }, { file: 7 }, null, { file: '/w/c\0.jsonl' }, { file: '/w/c.jsonl', name: '<img>' }];
    assert.deepEqual(parseCompareState({ fileA: '/w/a.jsonl', fileB: '/w/c.jsonl', group }), { fileA: '/w/a.jsonl', fileB: '/w/c.jsonl', group: ['/w/b.jsonl', '/w/c.jsonl'] });
    const many = Array.from({ length: 50 }, (_, i) => ({ file: `/w/${i}.jsonl` }));
    assert.equal(parseCompareState({ fileA: '/w/a.jsonl', fileB: '/w/0.jsonl', group: many })!.group.length, MAX_GROUP);
    // A group that does not hold the B shown is not trusted: B alone.
    assert.deepEqual(parseCompareState({ fileA: '/w/a.jsonl', fileB: '/w/b.jsonl', group: [{ file: '/w/x.jsonl' }] })!.group, ['/w/b.jsonl']);
  });

  it('pages get a strict CSP and load resources from dist/media only', () => {
    const ext = vscode.extensions.getExtension('fastllm.fastllm-vscode');
    assert.ok(ext);
    const options = webviewOptions(ext.extensionUri);
    assert.equal(options.enableScripts, true);
    assert.deepEqual(options.localResourceRoots?.map((u) => u.toString()), [mediaRoot(ext.extensionUri).toString()]);
    assert.ok(!options.enableCommandUris, 'command: links are off');
    // A webview stand-in, enough for pageHtml.
    const webview = { cspSource: 'https://fastllm.test', asWebviewUri: (u: vscode.Uri) => u.with({ scheme: 'https', authority: 'fastllm.test' }) } as unknown as vscode.Webview;
    const html = pageHtml(webview, ext.extensionUri, { title: 't', script: 'cacheBrowser.js', body: '<main></main>' });
    const csp = /http-equiv="Content-Security-Policy" content="([^"]*)"/.exec(html)?.[1] ?? '';
    const directives = new Map(csp.split(';').map((d) => d.trim().split(/\s+/)).map(([name, ...values]) => [name, values]));
    assert.deepEqual(directives.get('default-src'), ["'none'"]);
    const nonce = /^'nonce-([A-Za-z0-9+/=]{16,})'$/.exec(directives.get('script-src')?.join(' ') ?? '')?.[1];
    assert.ok(nonce, `script-src is a nonce only: ${csp}`);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|\*|http:/);
    const scripts = [...html.matchAll(/<script\b([^>]*)>/g)].map((m) => m[1]);
    assert.equal(scripts.length, 1);
    assert.ok(scripts[0]?.includes(`nonce="${nonce}"`));
    // A new nonce every time.
    assert.notEqual(/nonce-([^']+)/.exec(pageHtml(webview, ext.extensionUri, { title: 't', script: 'x.js', body: '' }))?.[1], nonce);
  });
});
