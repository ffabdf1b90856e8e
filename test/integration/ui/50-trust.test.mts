/**
 * Workspace trust (issue 5): a cloned repository must not be able to send the API key elsewhere.
 * A second window, on a code-server with workspace trust ON, opens a workspace whose
 * .vscode/settings.json points `fastllm.baseUrl` at an "attacker" server and sets headers, an
 * organization, a project and a results folder; the user settings point at the real server.
 */
import * as assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import * as path from 'node:path';
import { startFakeServer, type FakeServer } from '../../support/fakeServer';
import { ui, type LaunchedWindow } from './context.mjs';
import { extensionLog, extensionLogSoFar, until } from './helpers.mjs';
import { Workbench } from './workbench.mjs';

describe('workspace trust', () => {
  let legit: FakeServer;
  let attacker: FakeServer;
  let win: LaunchedWindow | undefined;

  before(async function () {
    this.timeout(90_000);
    legit = await startFakeServer({ requireKey: ui().apiKey });
    attacker = await startFakeServer({});
    win = await ui().launchWindow({
      name: 'untrusted',
      workspaceTrust: true,
      userSettings: {
        'security.workspace.trust.enabled': true,
        // Opened without the trust dialog: the folder stays untrusted (Restricted Mode).
        'security.workspace.trust.startupPrompt': 'never',
        'security.workspace.trust.banner': 'never',
        'fastllm.baseUrl': legit.url,
        'fastllm.concurrency': 2,
      },
      workspaceSettings: {
        'fastllm.baseUrl': attacker.url,
        'fastllm.extraHeaders': { 'x-exfiltrate': 'yes', authorization: 'Bearer attacker' },
        'fastllm.organization': 'org-attacker',
        'fastllm.project': 'proj-attacker',
        'fastllm.results.location': '../exfil',
        // Would switch off the question before a costly run, or make a model look free (issue 11 item 16).
        'fastllm.confirm.rowThreshold': 0,
        'fastllm.confirm.costThreshold': 0,
        'fastllm.prices': { 'gpt-4o': { input: 0, output: 0 } },
        'fastllm.results.openWhenDone': true,
        // Not restricted: proves that the window reads this settings file at all.
        'fastllm.model': 'model-from-the-workspace',
      },
    });
  });
  after(async () => {
    await win?.close();
    await legit?.close();
    await attacker?.close();
  });

  it('an untrusted workspace cannot redirect the key: the run goes to the user-level base URL', async function () {
    this.timeout(90_000);
    assert.ok(win);
    const wb = new Workbench(win.page);
    // Untrusted, its workspace settings are not read: FastLLM's status item waits for a first use.
    await wb.ready();
    await until(win.page, () => extensionLogSoFar(win!.userData).includes('FastLLM activated'), 'the extension activated', 60_000);
    // The extension saw an untrusted workspace and the user's base URL.
    const activated = extensionLog(win.userData).split('\n').find((l) => l.includes('FastLLM activated'));
    assert.ok(activated, 'the activation line');
    assert.match(activated, /"trusted":false/);
    assert.ok(activated.includes(`"baseUrl":"${legit.url}"`), activated);
    assert.doesNotMatch(activated, /attacker|x-exfiltrate/);
    // The thresholds and prices are the user's (here the defaults), not the workspace's.
    assert.ok(activated.includes('"confirm":{"rows":1000,"cost":1,"firstRun":false}'), activated);
    assert.ok(activated.includes('"prices":[]'), activated);

    await wb.openFile('prompts.jsonl');
    await wb.runCommand('FastLLM: Run Batch from File…');
    const out = path.join(win.workspace, 'prompts.results.jsonl');
    await until(win.page, () => existsSync(out) && legit.count >= 4 && legit.inFlight === 0, 'the run', 30_000);
    await wb.tab('prompts.results.jsonl').first().waitFor({ timeout: 20_000 });

    assert.equal(attacker.count, 0, `the attacker's server got ${attacker.count} requests`);
    assert.equal(legit.countByPath['/v1/chat/completions'], 4);
    for (const r of legit.requests) {
      assert.equal((r.body as { model?: string }).model, 'model-from-the-workspace', 'the workspace settings file was not read');
      assert.equal(r.headers.authorization, `Bearer ${ui().apiKey}`);
      assert.equal(r.headers['x-exfiltrate'], undefined);
      assert.equal(r.headers['openai-organization'], undefined);
      assert.equal(r.headers['openai-project'], undefined);
    }
    // Results beside the input, not in the workspace's results folder.
    assert.ok(!existsSync(path.join(win.workspace, '..', 'exfil')), `results went to ${readdirSync(path.join(win.workspace, '..'))}`);
  });
});
