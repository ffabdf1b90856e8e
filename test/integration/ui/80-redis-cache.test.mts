/**
 * The team cache on Redis in the workbench (issue 6): `fastllm.cache.redisUrl` points at a real
 * redis-server (Debian package, loopback) that requires a password. The first run asks for it in
 * an input box; a wrong one leaves the run going without the cache and is asked for again next
 * time; the right one is kept in secret storage and the answers land in Redis, so the next run
 * makes no request. The password is never written to settings, logs or results.
 *
 * A window of its own (`ui().launchWindow`), so that no other UI test sees this cache setting.
 */
import * as assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import * as path from 'node:path';
import type { Page } from 'playwright-core';
import { RedisCache } from '../../../src/core/cache/redis';
import { startFakeServer, type FakeServer } from '../../support/fakeServer';
import { startRedisServer, type RedisServer } from '../../support/redisServer';
import { ui, type LaunchedWindow } from './context.mjs';
import { EXTENSION_ID, extensionLog, until } from './helpers.mjs';
import { Workbench } from './workbench.mjs';

const NAMESPACE = 'ui-team';

describe('team cache on Redis', () => {
  const password = `team-${randomBytes(9).toString('hex')}`;
  let redis: RedisServer;
  let api: FakeServer;
  let win: LaunchedWindow | undefined;
  let wb: Workbench;
  let rows: number;

  before(async function () {
    this.timeout(90_000);
    redis = await startRedisServer({ password });
    api = await startFakeServer({ requireKey: ui().apiKey });
    win = await ui().launchWindow({
      name: 'redis-cache',
      workspaceSettings: {
        'fastllm.baseUrl': api.url,
        'fastllm.cache.redisUrl': redis.url,
        'fastllm.cache.namespace': NAMESPACE,
        'fastllm.concurrency': 2,
        'fastllm.results.openWhenDone': false,
      },
    });
    wb = new Workbench(win.page);
    await wb.ready(EXTENSION_ID);
    rows = readFileSync(path.join(win.workspace, 'prompts.txt'), 'utf8').split('\n').filter((l) => l.trim()).length;
  });
  after(async () => {
    await win?.close();
    await api?.close();
    await redis?.close();
  });

  const resultsFile = () => path.join(win!.workspace, 'prompts.results.jsonl');
  const records = (): { cached: boolean; error: unknown }[] => {
    if (!existsSync(resultsFile())) return [];
    return readFileSync(resultsFile(), 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l));
  };
  const passwordBox = (page: Page) => page.locator('.quick-input-widget', { hasText: 'Redis Cache Password' });

  /** Runs prompts.txt from the palette; `answer` is typed into the password box if one is given. */
  async function runBatch(answer?: string): Promise<{ cached: boolean; error: unknown }[]> {
    const page = win!.page;
    rmSync(resultsFile(), { force: true });
    api.reset();
    await wb.openFile('prompts.txt');
    await wb.runCommand('FastLLM: Run Batch from File…');
    if (answer !== undefined) {
      await passwordBox(page).waitFor({ state: 'visible', timeout: 30_000 });
      await wb.answerInput(answer);
    }
    await until(page, () => records().length === rows && api.inFlight === 0, 'the run', 30_000);
    return records();
  }

  async function entriesInRedis(): Promise<number> {
    const cache = await RedisCache.open(redis.url, { password, namespace: NAMESPACE });
    try {
      return await cache.count();
    } finally {
      await cache.close();
    }
  }

  it('a wrong password: the run goes on without the cache and says so', async function () {
    this.timeout(90_000);
    const first = await runBatch('not-the-password');
    assert.deepEqual(first.map((r) => r.error), first.map(() => null), 'the run failed without its cache');
    assert.equal(api.count, rows, 'every row was sent');
    const toast = win!.page.locator('.notifications-toasts .notification-list-item', { hasText: 'without the team cache' });
    await toast.first().waitFor({ timeout: 10_000 });
    assert.equal(await entriesInRedis(), 0);
  });

  it('asked again, the right password: answers go to Redis, and the next run is served from it with no prompt', async function () {
    this.timeout(120_000);
    const second = await runBatch(password);
    assert.equal(api.count, rows);
    assert.ok(second.every((r) => r.error === null && !r.cached));
    await until(win!.page, async () => (await entriesInRedis()) === rows, `${rows} entries in Redis`, 10_000);

    // The password is now in secret storage: no prompt, no request.
    const third = await runBatch();
    assert.equal(await passwordBox(win!.page).isVisible(), false, 'asked for the password again');
    assert.equal(api.count, 0, 'the rerun sent requests');
    assert.ok(third.every((r) => r.cached && r.error === null));
    assert.match(extensionLog(win!.userData), new RegExp(`Cache: redis://127\\.0\\.0\\.1:${redis.port}.*namespace ${NAMESPACE}`));
  });

  it('the password is in no settings, log or results file', () => {
    const files: string[] = [];
    const walk = (dir: string) => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) walk(p);
        else if (e.isFile() && statSync(p).size < 20_000_000) files.push(p);
      }
    };
    walk(win!.workspace);
    walk(path.join(win!.userData, 'User'));
    walk(path.join(win!.userData, 'logs'));
    assert.ok(files.some((f) => f.endsWith('FastLLM.log')), 'the extension log was searched');
    assert.ok(files.some((f) => f.endsWith('prompts.results.jsonl')), 'the results were searched');
    for (const f of files) assert.ok(!readFileSync(f).includes(password), `the Redis password is in ${f}`);
  });
});
