/**
 * Reliability and security in the workbench (issue 5): a window reloaded in the middle of a batch,
 * a corrupt cache file, hostile cached content in the Cache Browser, crafted messages from a page,
 * and what the panels persist. Each test states what it injects.
 */
import * as assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import type { Dialog, Frame, Page } from 'playwright-core';
import { WriterLock } from '../../../src/core/cache/writerLock';
import { pendingFiles } from '../../../src/core/cache/sqliteJournal';
import { ui } from './context.mjs';
import { HOSTILE, HOSTILE_FILLER, HOSTILE_MARK, RELOAD_ROWS } from './fixtures.mjs';
import { cacheFileOf, EXTENSION_ID, extensionLog, probeFrames, rawLines, reloadWindow, results, until, waitForBatch, workbench, type ResultLine } from './helpers.mjs';

/** What an uninterrupted run and a resumed one must agree on (not ids, timing or `cached`). */
function essence(r: ResultLine & { line?: number }) {
  return { custom_id: r.custom_id, line: r.line, error: r.error, choices: r.response?.body.choices, usage: r.response?.body.usage };
}

/** The last user message of a recorded chat request. */
function promptOf(body: unknown): string {
  const messages = (body as { messages?: { role: string; content: string }[] }).messages ?? [];
  return messages.filter((m) => m.role === 'user').at(-1)?.content ?? '';
}

/**
 * Every string kept in the workbench's browser storage (IndexedDB, localStorage) of this origin.
 * The script is a string: tsx would otherwise wrap its inner functions in a helper the page lacks.
 */
async function browserStorage(page: Page): Promise<{ where: string; text: string }[]> {
  return page.evaluate(`(async () => {
    const out = [];
    const text = (v) => {
      if (typeof v === 'string') return v;
      if (v instanceof Uint8Array || v instanceof ArrayBuffer) return new TextDecoder().decode(v);
      try { return JSON.stringify(v); } catch { return String(v); }
    };
    for (const { name } of await indexedDB.databases()) {
      if (!name) continue;
      const db = await new Promise((resolve, reject) => {
        const r = indexedDB.open(name);
        r.onsuccess = () => resolve(r.result);
        r.onerror = () => reject(r.error);
      });
      for (const store of Array.from(db.objectStoreNames)) {
        const [keys, values] = await new Promise((resolve, reject) => {
          const s = db.transaction(store, 'readonly').objectStore(store);
          const k = s.getAllKeys();
          const v = s.getAll();
          v.onsuccess = () => resolve([k.result, v.result]);
          v.onerror = () => reject(v.error);
        });
        keys.forEach((key, i) => out.push({ where: 'indexedDB ' + name + '/' + store + '/' + String(key), text: text(values[i]) }));
      }
      db.close();
    }
    for (let i = 0; i < localStorage.length; i++) {
      const key = localStorage.key(i);
      out.push({ where: 'localStorage ' + key, text: localStorage.getItem(key) ?? '' });
    }
    return out;
  })()`);
}

async function total(frame: Frame): Promise<number> {
  return Number(await frame.locator('[data-testid="cache-total"]').getAttribute('data-value'));
}

async function search(frame: Frame, text: string): Promise<void> {
  await frame.locator('[data-testid="cache-search"]').fill(text);
  await frame.locator('[data-testid="cache-search"]').press('Enter');
}

async function countText(frame: Frame): Promise<string> {
  return frame.locator('[data-testid="cache-count"]').innerText();
}

describe('reliability and security in the workbench', () => {
  before(async () => {
    await workbench().ready(EXTENSION_ID);
    // Secret storage of a browser window lives in memory: after a reload the extension falls back
    // to OPENAI_API_KEY, while a key typed earlier (30-api-key) was in use before. Any key will do
    // here; the launcher still searches every written file for all of them.
    ui().fake.setBehavior({ requireKey: undefined, latencyMs: 0, plan: undefined });
  });
  after(() => ui().fake.setBehavior({ requireKey: ui().apiKey, latencyMs: 0, plan: undefined }));

  it('a window reloaded mid-run loses nothing: the run ends cancelled, a record per row, and a rerun from the cache equals an uninterrupted run', async function () {
    this.timeout(120_000);
    const { page, fake } = ui();
    const wb = workbench();
    // The uninterrupted run, for reference; then an empty cache.
    await wb.openFile('reload-ref.txt');
    await wb.runCommand('FastLLM: Run Batch from File…');
    const reference = (await waitForBatch('reload-ref.results.jsonl', RELOAD_ROWS)).map(essence);
    assert.deepEqual(reference.map((r) => r.error), reference.map(() => null));
    await wb.runCommand('FastLLM: Clear Cache');
    await wb.confirmDialog('Clear Cache');
    await until(page, async () => (await wb.notifications()).some((n) => /deleted [\d,]+ cache entries/.test(n)), 'the cache cleared');
    // Both panels open, so that the reload persists their state (checked below).
    await wb.runCommand('FastLLM: Show Token Stats');
    await wb.webview('[data-testid="stats-root"]');
    await wb.runCommand('FastLLM: Open Cache Browser');
    await wb.webview('[data-testid="cache-rows"]');

    // Injected: Developer: Reload Window once a third of the rows are written (latency 40 ms, concurrency 2),
    // over the results of an earlier run, which a run replaces only once it has ended.
    const resultsFile = path.join(ui().workspace, 'reload.results.jsonl');
    const partialFile = path.join(ui().workspace, 'reload.results.partial.jsonl');
    const previous = '{"custom_id":"line-1","from":"an earlier run"}\n';
    writeFileSync(resultsFile, previous);
    fake.reset();
    fake.setBehavior({ latencyMs: 40 });
    await wb.openFile('reload.txt');
    await wb.runCommand('FastLLM: Run Batch from File…');
    await until(page, () => rawLines('reload.results.partial.jsonl').length > RELOAD_ROWS / 3, `${RELOAD_ROWS / 3} records`, 30_000);
    await reloadWindow(page);
    // The old extension host is gone: nothing more reaches the server or the partial file.
    const settled = async () => {
      const before = [fake.count, readFileSync(partialFile, 'utf8')] as const;
      await page.waitForTimeout(700);
      return fake.inFlight === 0 && fake.count === before[0] && readFileSync(partialFile, 'utf8') === before[1];
    };
    await until(page, settled, 'the interrupted run to stop', 15_000);
    // ... and the old extension host to be gone: while it lives (code-server may keep a closing
    // host a while), it holds its cache journal's lock, and the answers it journaled but did not
    // write are its own until it ends; the guarantee below is about a run whose process has ended.
    const journalsFree = async () => {
      for (const lockFile of pendingFiles(cacheFileOf()).filter((f) => f.endsWith('.lock'))) {
        const lock = await WriterLock.acquire(lockFile).catch(() => undefined);
        if (!lock) return false;
        await lock.release();
      }
      return true;
    };
    await until(page, journalsFree, 'the old extension host to release its cache journal', 60_000);
    const sentBefore = new Set(fake.requests.map((r) => promptOf(r.body)));
    assert.equal(readFileSync(resultsFile, 'utf8'), previous, 'the interrupted run left the previous results file whole');

    // The interrupted run's results, in its partial file. VS Code calls deactivate as the old host
    // stops, and waits for it: the run is cancelled, and ends as a cancelled run over a previous
    // results file does: a whole line per row, in input order, the rows it did not answer
    // `cancelled`, and the previous file kept. (A host killed outright would leave a prefix of
    // whole lines; that is the CLI's kill test, in test/reliability.) Its log is not read: the
    // host's file logger writes every 100 ms, and the host exits as soon as deactivate resolves.
    const text = readFileSync(partialFile, 'utf8');
    assert.ok(text.endsWith('\n'), 'the results file ends with a torn line');
    const records = text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as ResultLine & { line: number });
    assert.deepEqual(records.map((r) => r.custom_id), reference.map((r) => r.custom_id), 'a record per row, in input order');
    const answered = new Set<number>();
    records.forEach((r, i) => {
      if (r.error === null) {
        assert.deepEqual(essence(r), reference[i], `${r.custom_id} differs from the uninterrupted run`);
        answered.add(i);
      } else assert.equal(r.error?.code, 'cancelled', `${r.custom_id}: ${JSON.stringify(r.error)}`);
    });
    assert.ok(answered.size >= RELOAD_ROWS / 3 && answered.size < RELOAD_ROWS, `${answered.size} rows answered before the reload`);

    // The same batch again: everything answered before comes from the cache.
    fake.reset();
    fake.setBehavior({ latencyMs: 0 });
    await workbench().openFile('reload.txt');
    await workbench().runCommand('FastLLM: Run Batch from File…');
    const final = await waitForBatch('reload.results.jsonl', RELOAD_ROWS);
    assert.deepEqual(final.map(essence), reference, 'the final results equal the uninterrupted run');
    assert.equal(existsSync(partialFile), false, 'the finished run moved its partial file over the results file');
    for (const i of answered) assert.ok(final[i]!.cached, `${final[i]!.custom_id} was answered before the reload but not served from the cache`);
    const sentAgain = fake.requests.map((r) => promptOf(r.body));
    assert.equal(new Set(sentAgain).size, sentAgain.length, 'a prompt was sent twice in the rerun');
    const resent = sentAgain.filter((p) => sentBefore.has(p));
    // At most the requests in flight when the window went (fastllm.concurrency is 2 here).
    assert.ok(resent.length <= 2, `${resent.length} prompts sent before the reload were sent again: ${resent.join(' | ')}`);
    assert.equal(sentAgain.length + final.filter((r) => r.cached).length, RELOAD_ROWS);
    console.log(`      (reload after ${answered.size} rows answered; rerun: ${sentAgain.length} requests, ${resent.length} sent again)`);
  });

  it('the state the panels persist across the reload holds no API key', async () => {
    const { page, apiKey } = ui();
    const storage = await browserStorage(page);
    const keyPrefix = apiKey.slice(0, 14);
    const panels = storage.filter((s) => s.text.includes('fastllm.stats') || s.text.includes('fastllm.cacheBrowser'));
    assert.ok(panels.length > 0, `no persisted webview state found in ${storage.length} storage entries`);
    // The serializer's state is there (Token Stats keeps its last view, the Cache Browser its page).
    assert.ok(panels.some((s) => s.text.includes('hitRatio') || s.text.includes('session')), 'the Token Stats state was not persisted');
    for (const s of storage) assert.ok(!s.text.includes(keyPrefix), `an API key is in ${s.where}`);
  });

  it('a corrupt cache file: a clear message, the run works without it, Reset Cache makes it work again', async function () {
    this.timeout(90_000);
    const { page, fake } = ui();
    // The cache must be closed when it is damaged: no panel may open it after the reload.
    await workbench().runCommand('View: Close All Editors');
    await reloadWindow(page);
    const file = cacheFileOf();
    // Injected: 64 KiB of random bytes at the cache path, journals removed, before the extension opens it.
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, randomBytes(64 * 1024));
    for (const suffix of ['-wal', '-shm', '-journal']) rmSync(file + suffix, { force: true });

    const rows = readFileSync(path.join(ui().workspace, 'prompts.txt'), 'utf8').split('\n').filter((l) => l.trim()).length;
    const wb = workbench();
    const runPrompts = async () => {
      fake.reset();
      await wb.openFile('prompts.txt');
      await wb.runCommand('FastLLM: Run Batch from File…');
      await until(page, () => results('prompts.results.jsonl').length === rows && fake.inFlight === 0, 'the run');
      return waitForBatch('prompts.results.jsonl', rows);
    };
    rmSync(path.join(ui().workspace, 'prompts.results.jsonl'), { force: true });
    const first = await runPrompts();
    assert.deepEqual(first.map((r) => r.error), first.map(() => null), 'the run failed without its cache');
    assert.equal(fake.count, rows);
    const toast = page.locator('.notifications-toasts .notification-list-item', { hasText: 'without the cache' });
    await toast.first().waitFor({ timeout: 10_000 });
    const message = await toast.first().locator('.notification-list-item-message').innerText();
    assert.ok(message.includes(file) || message.includes(path.basename(file)), `the message names the file: ${message}`);
    assert.match(message, /cannot open the cache .*Running without the cache.*Reset Cache/s);
    console.log(`      (the warning: ${message.replace(/\s+/g, ' ')})`);
    await toast.first().locator('.monaco-button', { hasText: 'Reset Cache' }).click();
    await until(page, () => !existsSync(file), 'the damaged file removed');
    await until(page, () => extensionLog().includes('Cache reset:'), 'the reset in the log');

    const second = await runPrompts();
    assert.deepEqual(second.map((r) => r.error), second.map(() => null));
    assert.equal(fake.count, rows, 'the first run after the reset fills the new cache');
    assert.ok(readFileSync(file).subarray(0, 16).toString('latin1').startsWith('SQLite format 3'), 'a new SQLite file');
    const third = await runPrompts();
    assert.equal(fake.count, 0, 'the cache works again');
    assert.ok(third.every((r) => r.cached));
  });

  describe('the Cache Browser with hostile cached content', () => {
    let cache: Frame;
    const dialogs: string[] = [];
    const onDialog = (d: Dialog) => {
      dialogs.push(d.message());
      void d.dismiss().catch(() => undefined);
    };
    const ids = Object.keys(HOSTILE);
    const hostileRows = ids.length + HOSTILE_FILLER;

    before(async function () {
      this.timeout(60_000);
      ui().page.on('dialog', onDialog);
      // Injected: rows whose prompts (and so the fake's answers) are markup, CSS, links, control
      // and bidi characters, and a 1 MiB line; the answers go into the cache.
      await workbench().openFile('hostile.jsonl');
      await workbench().runCommand('FastLLM: Run Batch from File…');
      const records = await waitForBatch('hostile.results.jsonl', hostileRows, 60_000);
      assert.deepEqual(records.map((r) => r.error), records.map(() => null));
      await workbench().runCommand('FastLLM: Open Cache Browser');
      cache = await workbench().webview('[data-testid="cache-rows"]');
    });
    after(() => ui().page.off('dialog', onDialog));

    it('the page has a strict CSP: nonce scripts only, nothing inline runs, nothing loads from outside dist/media', async () => {
      const csp = (await cache.locator('meta[http-equiv="Content-Security-Policy"]').getAttribute('content')) ?? '';
      const directives = new Map(csp.split(';').map((d) => d.trim().split(/\s+/)).map(([name, ...values]) => [name, values]));
      assert.deepEqual(directives.get('default-src'), ["'none'"]);
      const nonce = /^'nonce-(.+)'$/.exec(directives.get('script-src')?.join(' ') ?? '')?.[1];
      assert.ok(nonce, `script-src is one nonce: ${csp}`);
      assert.doesNotMatch(csp, /unsafe-|'strict-dynamic'/);
      // Sources are 'none', 'self', the nonce, data: images, and VS Code's own resource origin.
      for (const [name, values] of directives) {
        for (const v of values) assert.match(v, /^('none'|'self'|'nonce-[^']+'|https:\/\/\*\.vscode-cdn\.net|data:)$/, `${name} ${v}`);
      }
      assert.ok(!directives.get('script-src')?.includes('data:') && !directives.get('script-src')?.includes("'self'"), 'scripts by nonce only');
      // Our one script carries the nonce; VS Code's own (acquireVsCodeApi) comes before the CSP.
      assert.deepEqual(await cache.evaluate(() => Array.from(document.scripts).filter((s) => !s.textContent?.includes('acquireVsCodeApi')).map((s) => s.nonce)), [nonce]);
      // A script element added at run time, without the nonce, does not run.
      const ran = await cache.evaluate(async () => {
        const s = document.createElement('script');
        s.textContent = 'window.__fastllmInline = 1';
        document.body.append(s);
        await new Promise((r) => setTimeout(r, 50));
        s.remove();
        return (window as { __fastllmInline?: number }).__fastllmInline;
      });
      assert.equal(ran, undefined);
      // localResourceRoots: the stylesheet loads; files of the extension outside dist/media do not.
      // (A string: tsx would wrap the inner functions in a helper the page lacks.)
      const loads = await cache.evaluate<{ css: string; inside: string; packageJson: string; extension: string }>(`(async () => {
        const css = document.querySelector('link[rel="stylesheet"]').href;
        const load = (href) => new Promise((resolve) => {
          const l = document.createElement('link');
          const done = (outcome) => { l.remove(); resolve(outcome); };
          l.rel = 'stylesheet';
          l.href = href;
          l.onload = () => done('load');
          l.onerror = () => done('error');
          setTimeout(() => done('timeout'), 5000);
          document.head.append(l);
        });
        return {
          css,
          inside: await load(css + (css.includes('?') ? '&' : '?') + 'again'),
          packageJson: await load(css.replace('dist/media/webview.css', 'package.json')),
          extension: await load(css.replace('dist/media/webview.css', 'dist/extension.js')),
        };
      })()`);
      console.log(`      (stylesheet from dist/media: ${loads.inside}; package.json: ${loads.packageJson}; dist/extension.js: ${loads.extension})`);
      assert.equal(loads.inside, 'load', JSON.stringify(loads));
      assert.notEqual(loads.packageJson, 'load', JSON.stringify(loads));
      assert.notEqual(loads.extension, 'load', JSON.stringify(loads));
    });

    it('lists every hostile row as text, in the list and in the detail', async function () {
      this.timeout(60_000);
      const { page } = ui();
      await search(cache, HOSTILE_MARK);
      await until(page, async () => (await cache.locator('[data-testid="cache-count"]').getAttribute('data-total')) === String(hostileRows), `${hostileRows} matching rows`);
      // Search once more for each payload's own row, open it, and read it back.
      for (const id of ids) {
        const prompt = HOSTILE[id]!;
        // A word of the prompt's own: the search matches the stored JSON, where quotes are escaped.
        const needle = `${HOSTILE_MARK}-${id}:`;
        const collapsed = prompt.replace(/\s+/g, ' ');
        await search(cache, needle);
        await until(
          page,
          async () =>
            (await cache.locator('[data-testid="cache-count"]').getAttribute('data-total')) === '1' &&
            ((await cache.locator('[data-testid="cache-row-preview"]').first().textContent()) ?? '').startsWith(collapsed.slice(0, 60)),
          `the ${id} row alone, its preview the prompt's text`,
        );
        await cache.locator('[data-testid="cache-row"]').first().click();
        const answer = JSON.stringify(`echo: ${prompt}`).slice(1, -1);
        const tail = answer.slice(-40);
        await until(page, async () => ((await cache.locator('[data-testid="cache-detail-response"]').textContent()) ?? '').includes(tail), `the ${id} answer in the detail`, 20_000);
        const response = (await cache.locator('[data-testid="cache-detail-response"]').textContent()) ?? '';
        assert.ok(response.includes(answer), `${id}: the whole answer shows as text`);
        if (id === 'huge') assert.ok(response.length > 1_000_000);
      }
    });

    it('runs nothing and creates no element from the content', async () => {
      const { page } = ui();
      assert.deepEqual(dialogs, [], 'a dialog opened');
      const probe = () => ((window as { __fastllmPwned?: unknown }).__fastllmPwned ?? document.body?.dataset.pwned ?? null) as unknown;
      for (const probed of await probeFrames(page, [cache], probe)) assert.equal(probed.value, null, `a payload ran in ${probed.url}`);
      const tags = await cache.evaluate(() => [...new Set(Array.from(document.querySelectorAll('*')).map((e) => e.tagName.toLowerCase()))].sort());
      const page_ = ['style', 'html', 'head', 'meta', 'link', 'title', 'body', 'header', 'input', 'span', 'button', 'div', 'table', 'thead', 'tbody', 'tr', 'th', 'td', 'section', 'h2', 'h3', 'dl', 'dt', 'dd', 'pre', 'code', 'footer', 'script'];
      assert.deepEqual(tags.filter((t) => !page_.includes(t)), [], 'elements made from cached content');
      // VS Code adds its default styles to every page; nothing else may add one.
      assert.deepEqual(await cache.evaluate(() => Array.from(document.querySelectorAll('style')).map((e) => e.id)), ['_defaultStyles']);
      assert.equal(await cache.evaluate(() => Array.from(document.scripts).filter((s) => !s.textContent?.includes('acquireVsCodeApi')).length), 1);
      assert.equal(await cache.locator('link').count(), 1);
      assert.equal(await cache.locator('meta[http-equiv="refresh"]').count(), 0);
      // No CSS got in: the page is still laid out and visible.
      assert.equal(await cache.evaluate(() => getComputedStyle(document.body).display), 'block');
      assert.ok(await cache.locator('[data-testid="cache-search"]').isVisible());
    });

    it('stays usable: search and paging still work', async () => {
      const { page } = ui();
      await search(cache, HOSTILE_MARK);
      await until(page, async () => /^1–50 of 62 matching$/.test(await countText(cache)), 'the first page', 10_000);
      await cache.locator('[data-testid="cache-next"]').click();
      await until(page, async () => /^51–62 of 62 matching$/.test(await countText(cache)), 'the second page');
      assert.equal(await cache.locator('[data-testid="cache-row"]').count(), hostileRows - 50);
      await cache.locator('[data-testid="cache-prev"]').click();
      await until(page, async () => /^1–50 of 62 matching$/.test(await countText(cache)), 'the first page again');
      await search(cache, '');
      await until(page, async () => (await cache.locator('[data-testid="cache-count"]').getAttribute('data-total')) === String(await total(cache)), 'the full list');
      assert.ok((await total(cache)) >= hostileRows);
    });

    it('crafted messages posted through the page are ignored with a log line; nothing is deleted or read', async () => {
      const { page, workspace } = ui();
      const victim = path.join(workspace, 'victim.txt');
      writeFileSync(victim, 'do not delete\n');
      const before = await total(cache);
      const warningsBefore = extensionLog().split('ignored a malformed message').length;
      const realKey = (await cache.locator('[data-testid="cache-row"]').first().getAttribute('data-key'))!;
      const crafted: unknown[] = [
        { type: 'delete', key: '../victim.txt' },
        { type: 'delete', key: victim },
        { type: 'delete', key: `${realKey}/../../victim.txt` },
        { type: 'show', key: '../../../../etc/passwd' },
        { type: 'show', key: 'file:///etc/passwd' },
        { type: 'list', offset: 1e300, limit: 50, filter: '' },
        { type: 'list', offset: 0, limit: 1e9, filter: '' },
        { type: 'list', offset: '0', limit: '50', filter: '' },
        { type: 'deleteFiltered', filter: '' },
        { type: 'readFile', path: '/etc/passwd' },
        { type: 'command', command: 'fastllm.clearCache' },
        null,
        'clearAll',
      ];
      // The page's own channel to the host: `acquireVsCodeApi().postMessage` calls this function of
      // the outer webview frame. The page already holds its one API object, so we post beside it.
      const outer = cache.parentFrame();
      assert.ok(outer);
      const post = (message: unknown) => outer.evaluate((m) => (window as unknown as { __vscode_post_message__(c: string, d: unknown): void }).__vscode_post_message__('onmessage', { message: m }), message);
      for (const m of crafted) await post(m);
      // A well-formed message through the same channel works: the channel is the real one.
      await post({ type: 'show', key: realKey });
      await until(page, async () => (await cache.locator('[data-testid="cache-detail-meta"]').innerText()).includes(realKey), 'the entry asked for by a posted message');
      await until(page, () => extensionLog().split('ignored a malformed message').length - warningsBefore >= crafted.length, `${crafted.length} log lines`, 10_000);
      assert.ok(existsSync(victim), 'the victim file was deleted');
      assert.equal(await total(cache), before, 'cache entries were deleted');
      assert.equal(await page.locator('.monaco-dialog-box').count(), 0, 'a dialog opened');
      assert.ok(!(await cache.locator('body').innerText()).includes('root:'), 'a file outside the cache was read');
      rmSync(victim, { force: true });
    });

    it('the Token Stats page cannot run other commands', async () => {
      const { page } = ui();
      const before = await total(cache);
      await workbench().runCommand('FastLLM: Show Token Stats');
      const stats = await workbench().webview('[data-testid="stats-root"]');
      const outer = stats.parentFrame();
      assert.ok(outer);
      const warningsBefore = extensionLog().split('Token Stats: ignored').length;
      const crafted = [
        { type: 'command', command: 'clearCache' },
        { type: 'command', command: 'fastllm.clearCache' },
        { type: 'command', command: 'workbench.action.closeWindow' },
        { type: 'command', command: ['cancelRun'] },
        { type: 'openCacheBrowser' },
      ];
      for (const m of crafted) {
        await outer.evaluate((msg) => (window as unknown as { __vscode_post_message__(c: string, d: unknown): void }).__vscode_post_message__('onmessage', { message: msg }), m);
      }
      await until(page, () => extensionLog().split('Token Stats: ignored').length - warningsBefore >= crafted.length, `${crafted.length} log lines`, 10_000);
      assert.equal(await page.locator('.monaco-dialog-box').count(), 0, 'a dialog opened');
      await workbench().runCommand('FastLLM: Open Cache Browser');
      cache = await workbench().webview('[data-testid="cache-rows"]');
      await until(page, async () => (await total(cache)) === before, 'the same entries');
    });
  });
});
