/**
 * Today's API in the real workbench (issue 13): *FastLLM: Select Profile…* and *FastLLM: Select
 * Model…* (the models listed by the profile's own `/v1/models`, the pick used by the next run and
 * shown in the status bar tooltip), runs against the Responses API (Responses-form rows, and the
 * `fastllm.api` setting), and the Results view's marks: answers cut short by the token limit, and
 * the parsed fields of a run with a JSON schema, schema-invalid rows with the validator's message.
 *
 * Independent of the files before it: the shared fake wants no key here (restored after), and every
 * setting changed is put back.
 */
import * as assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import type { Frame } from 'playwright-core';
import { startFakeServer, type FakeServer } from '../../support/fakeServer';
import { ui } from './context.mjs';
import { XSS } from './fixtures.mjs';
import { EXTENSION_ID, setWorkspaceSettings, extensionLog, probeFrames, results, until, waitForBatch, workbench } from './helpers.mjs';


/** The workspace settings file as it is now. */
function workspaceSettings(): Record<string, unknown> {
  const file = path.join(ui().workspace, '.vscode', 'settings.json');
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>) : {};
}

async function rowTexts(view: Frame, col: string): Promise<string[]> {
  return view.locator(`[data-testid="results-row"] [data-col="${col}"]`).allTextContents();
}

/** The tooltip of the FastLLM status bar item, as shown on hover (non-breaking spaces made plain). */
async function tooltip(): Promise<string> {
  const { page } = ui();
  await page.mouse.move(640, 300);
  await workbench().statusItems(EXTENSION_ID).first().hover();
  // Only the hover shown now: one closed earlier may linger in the DOM with the text it had then.
  const text = await until(page, async () => (await page.locator('.workbench-hover:visible').allInnerTexts()).map((t) => t.replace(/\u00a0/g, ' ')).find((t) => t.includes('Profile')), 'the tooltip');
  await page.keyboard.press('Escape');
  return text;
}

describe('profiles and models in the workbench (issue 13)', () => {
  /** The profile's own endpoint: another loopback fake, with a model list of its own. */
  let own: FakeServer;
  const MODELS = ['fake-alpha', 'fake-beta', 'fake-gamma'];
  const INPUT = 'profile-run.txt';
  const PROMPTS = ['Profile row one.', 'Profile row two.'];

  before(async () => {
    await workbench().ready(EXTENSION_ID);
    ui().fake.setBehavior({ requireKey: undefined, latencyMs: 0, plan: undefined });
    own = await startFakeServer({ models: MODELS });
    writeFileSync(path.join(ui().workspace, INPUT), PROMPTS.join('\n') + '\n');
    // An empty workspace value of fastllm.profile: Select Profile writes its pick here, where after() removes it.
    await setWorkspaceSettings({ 'fastllm.profiles': { 'it-local': { baseUrl: own.url, model: 'fake-alpha' } }, 'fastllm.profile': '' }, '"profiles":["it-local"]');
  });
  after(async () => {
    await setWorkspaceSettings({ 'fastllm.profiles': undefined, 'fastllm.profile': undefined }, '"profiles":[]');
    ui().fake.setBehavior({ requireKey: ui().apiKey });
    await own?.close();
  });

  it('Select Profile… lists the profiles; the pick is the active profile, shown in the status bar tooltip', async function () {
    this.timeout(120_000); // several hovers, each shown after the workbench's hover delay
    const { page } = ui();
    const wb = workbench();
    assert.match(await tooltip(), /Profile: none/);
    await wb.runCommand('FastLLM: Select Profile…');
    await until(page, async () => (await wb.quickInput.innerText().catch(() => '')).includes('it-local'), 'the profile in the quick pick');
    assert.match(await wb.quickInput.innerText(), /No profile/);
    await wb.pick('it-local');
    await until(page, () => extensionLog().includes('Profile: it-local.'), 'the profile chosen');
    assert.equal(workspaceSettings()['fastllm.profile'], 'it-local');
    await until(page, async () => /Profile: it-local/.test(await tooltip()), 'the tooltip names the profile');
    const shown = await tooltip();
    assert.ok(shown.includes(own.url.replace(/\/+$/, '')), `the tooltip shows the profile's endpoint: ${shown}`);
    assert.match(shown, /Model: fake-alpha/);
  });

  it("Select Model… lists the profile's /v1/models; the pick is the model of the next run and of the tooltip", async function () {
    this.timeout(120_000);
    const { page } = ui();
    const wb = workbench();
    const listed = own.requests.filter((r) => r.method === 'GET').length;
    await wb.runCommand('FastLLM: Select Model…');
    const rows = page.locator('.quick-input-list .monaco-list-row');
    await until(page, async () => (await rows.count()) === MODELS.length, 'the models in the quick pick');
    const labels = (await rows.evaluateAll((els) => els.map((e) => e.getAttribute('aria-label') ?? ''))).map((l) => l.split(',')[0]!.trim());
    assert.deepEqual(labels, MODELS, "the quick pick lists the profile's models, not the plain endpoint's");
    assert.ok(own.requests.filter((r) => r.method === 'GET' && r.path.endsWith('/models')).length > listed, "the list came from the profile's /v1/models");
    await wb.pick('fake-beta');
    await until(page, () => extensionLog().includes('Model of profile it-local: fake-beta.'), 'the model chosen');
    const profiles = workspaceSettings()['fastllm.profiles'] as Record<string, { model?: string }>;
    assert.equal(profiles['it-local']!.model, 'fake-beta');
    await until(page, async () => /Model: fake-beta/.test(await tooltip()), 'the tooltip names the model');
    assert.match(await tooltip(), /Profile: it-local/);

    // The next run goes to the profile's endpoint with the model picked.
    const sharedBefore = ui().fake.count;
    await wb.openFile(INPUT);
    await wb.runCommand('FastLLM: Run Batch from File…');
    const records = await waitForBatch('profile-run.results.jsonl', PROMPTS.length);
    assert.deepEqual(records.map((r) => r.error), [null, null]);
    const sent = own.requests.filter((r) => r.path.endsWith('/chat/completions'));
    assert.equal(sent.length, PROMPTS.length);
    assert.deepEqual(sent.map((r) => (r.body as { model: string }).model), ['fake-beta', 'fake-beta']);
    assert.equal(ui().fake.count, sharedBefore, 'nothing went to the plain fastllm.baseUrl');
  });
});

describe('a Responses API run in the workbench (issue 13)', () => {
  const INPUT = 'modern.jsonl';
  const RESULTS = 'modern.results.jsonl';
  const SCHEMA = {
    type: 'object',
    properties: { name: { type: 'string' }, letters: { type: 'integer' } },
    required: ['name', 'letters'],
    additionalProperties: false,
  };
  const format = { format: { type: 'json_schema', name: 'person', schema: SCHEMA, strict: true } };
  const BREAK = 'BREAK-SCHEMA';
  /** The answer the fake gives the {@link BREAK} row: hostile text in a field, and a field of the wrong type. */
  const BROKEN = JSON.stringify({ name: XSS, letters: 'many' });
  const ROWS = [
    { custom_id: 'r-plain', input: 'Say hello to the Responses API.', instructions: 'Answer briefly.' },
    { custom_id: 'r-cut', input: 'A prompt whose echo is longer than the two tokens allowed.', max_output_tokens: 2 },
    { custom_id: 'r-schema', input: 'Ada Lovelace', text: format },
    { custom_id: 'r-bad', input: `${BREAK} Grace Hopper`, text: format },
  ];
  let view: Frame;

  before(async () => {
    await workbench().ready(EXTENSION_ID);
    ui().fake.setBehavior({ requireKey: undefined, latencyMs: 0, plan: undefined });
    writeFileSync(path.join(ui().workspace, INPUT), ROWS.map((r) => JSON.stringify(r)).join('\n') + '\n');
    writeFileSync(path.join(ui().workspace, 'responses-setting.txt'), 'Setting row one.\nSetting row two.\n');
  });
  after(() => ui().fake.setBehavior({ requireKey: ui().apiKey, answerText: undefined }));

  it('Responses-form rows go to /v1/responses, and the Results view shows their output_text', async () => {
    const { page, fake } = ui();
    const wb = workbench();
    fake.reset();
    fake.setBehavior({ answerText: (body) => (JSON.stringify(body.input).includes(BREAK) ? BROKEN : undefined) });
    try {
      await wb.openFile(INPUT);
      await wb.runCommand('FastLLM: Run Batch from File…');
      await waitForBatch(RESULTS, ROWS.length);
    } finally {
      fake.setBehavior({ answerText: undefined });
    }
    assert.deepEqual(
      fake.requests.map((r) => r.path),
      ROWS.map(() => '/v1/responses'),
    );
    const records = results(RESULTS);
    // The raw Responses body has no output_text (an SDK convenience): the view computes it from output[].
    const body = records[0]!.response!.body as unknown as Record<string, unknown>;
    assert.equal(body.object, 'response');
    assert.equal(body.output_text, undefined);
    await wb.tab(RESULTS).first().click();
    // Other Results views (earlier files') stay in the DOM, hidden: take this file's.
    view = await wb.webview(`[data-testid="results-title"]:has-text("${RESULTS}")`);
    await until(page, async () => (await view.locator('[data-testid="results-row"]').count()) === ROWS.length, 'every row in the grid');
    const answers = await rowTexts(view, 'answer');
    assert.equal(answers[0], `echo: ${ROWS[0]!.input}`);
    assert.equal(answers[2], JSON.stringify({ name: 'Ada Lovelace', letters: 12 }));
  });

  it('the Results view flags the answer cut short by the token limit, in the grid and in the detail', async () => {
    const { page } = ui();
    const records = results(RESULTS);
    assert.deepEqual(
      records.map((r) => (r as { truncated?: boolean }).truncated ?? false),
      [false, true, false, false],
    );
    const marks = view.locator('[data-testid="results-row"] [data-testid="results-truncated"]');
    await until(page, async () => (await marks.count()) === 1, 'one truncated mark');
    assert.equal(await view.locator('[data-testid="results-row"][data-position="1"] [data-testid="results-truncated"]').textContent(), 'truncated');
    await view.locator('[data-testid="results-row"][data-position="1"]').click();
    await until(page, async () => (await view.locator('[data-testid="results-detail-title"]').textContent())?.includes('r-cut'), 'the detail of the cut row');
    assert.match((await view.locator('[data-testid="results-detail-facts"]').textContent())!, /truncated: cut short by the token limit/);
    await view.locator('[data-testid="results-row"][data-position="0"]').click();
    await until(page, async () => (await view.locator('[data-testid="results-detail-title"]').textContent())?.includes('r-plain'), 'the detail of the whole row');
    assert.doesNotMatch((await view.locator('[data-testid="results-detail-facts"]').textContent())!, /truncated/);
    assert.match(await view.locator('[data-testid="results-shown"]').textContent() ?? '', /1 truncated by the token limit/);
  });

  it('a run with a JSON schema gets a Fields column; the invalid row carries the validator message, as text', async () => {
    const { page } = ui();
    const records = results(RESULTS) as unknown as { schema_valid?: boolean; error: { code: string; message: string } | null }[];
    assert.deepEqual(
      records.map((r) => r.schema_valid),
      [undefined, undefined, true, false],
    );
    assert.equal(records[3]!.error!.code, 'schema_invalid');
    assert.match(records[3]!.error!.message, /\/letters must be integer/);
    const fields = await rowTexts(view, 'fields');
    assert.deepEqual(fields.slice(0, 3), ['', '', 'name: Ada Lovelace · letters: 12']);
    assert.equal(fields[3], `schema invalid${`name: ${XSS} · letters: many`}`);
    assert.equal(await view.locator('[data-testid="results-row"] [data-testid="results-schema-invalid"]').count(), 1);
    assert.match((await view.locator('[data-testid="results-row"][data-position="3"] [data-col="fields"]').getAttribute('title'))!, /\/letters must be integer/);
    await view.locator('[data-testid="results-row"][data-position="3"]').click();
    await until(page, async () => (await view.locator('[data-testid="results-detail-title"]').textContent())?.includes('r-bad'), 'the detail of the invalid row');
    assert.equal(await view.locator('[data-testid="results-detail-fields"]').textContent(), `name: ${XSS}\nletters: many`);
    assert.match((await view.locator('[data-testid="results-detail-error"]').textContent())!, /^schema_invalid: the answer does not match the JSON schema: \/letters must be integer/);
    assert.match((await view.locator('[data-testid="results-detail-facts"]').textContent())!, /does not match the JSON schema/);
    // The hostile field is text: nothing ran, no image was made.
    for (const probed of await probeFrames(page, [view], () => document.body?.dataset.pwned ?? null)) assert.equal(probed.value, null, `script ran in ${probed.url}`);
    assert.equal(await view.locator('img').count(), 0);
  });

  it('with fastllm.api set to "responses", the prompts of a .txt file go to /v1/responses', async () => {
    const { page, fake } = ui();
    const wb = workbench();
    fake.reset();
    await setWorkspaceSettings({ 'fastllm.api': 'responses' }, '"api":"responses"');
    try {
      await wb.openFile('responses-setting.txt');
      await wb.runCommand('FastLLM: Run Batch from File…');
      await waitForBatch('responses-setting.results.jsonl', 2);
    } finally {
      await setWorkspaceSettings({ 'fastllm.api': undefined }, '"api":"chat"');
    }
    assert.deepEqual(
      fake.requests.map((r) => [r.path, (r.body as { input?: unknown }).input]).sort((a, b) => String(a[1]).localeCompare(String(b[1]))),
      [
        ['/v1/responses', 'Setting row one.'],
        ['/v1/responses', 'Setting row two.'],
      ],
    );
    await wb.tab('responses-setting.results.jsonl').first().click();
    const shown = await wb.webview('[data-testid="results-title"]:has-text("responses-setting.results.jsonl")');
    await until(page, async () => (await rowTexts(shown, 'answer')).join('|') === 'echo: Setting row one.|echo: Setting row two.', 'the output_text of both rows');
  });
});
