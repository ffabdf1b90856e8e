import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { startFakeServer, type FakeServer } from '../../support/fakeServer';
import { api, configure, useFakeServer, waitFor, wsFile } from './helpers';

/** The status bar tooltip as text: MarkdownString.appendText escapes punctuation and spaces. */
const tooltip = async () => (await api()).statusBarTooltip().replace(/&nbsp;/g, ' ').replace(/\\(.)/g, '$1');

/** Provider profiles in a real VS Code: Select Profile / Select Model (issue 13 items 5 and 6). */
describe('Provider profiles', () => {
  let plain: FakeServer;
  let other: FakeServer;
  const profileKey = 'sk-fastllm-it-PROFILE-5b0e2c11aa';

  before(async () => {
    plain = await useFakeServer();
    other = await startFakeServer({ requireKey: profileKey, models: ['m-one', 'm-two'] });
    await configure({
      profiles: {
        other: { baseUrl: other.url, model: 'm-one', extraHeaders: { 'x-profile': 'other' } },
        // The same server under another name: it has a key of its own, not other's.
        twin: { baseUrl: other.url, model: 'm-one' },
        lm: { kind: 'vscode-lm', vendor: 'no-such-vendor' },
      },
    });
  });
  after(async () => {
    const fastllm = await api();
    for (const name of ['other', 'twin']) {
      await vscode.commands.executeCommand('fastllm.selectProfile', name);
      await fastllm.setApiKey('');
    }
    await vscode.commands.executeCommand('fastllm.selectProfile', '');
    await configure({ profiles: undefined });
    await other.close();
    await plain.close();
  });

  it('Select Profile sends runs to the profile with its own key, model and headers; the tooltip names both', async () => {
    const fastllm = await api();
    assert.equal(await vscode.commands.executeCommand('fastllm.selectProfile', 'other'), 'other');
    assert.equal(vscode.workspace.getConfiguration('fastllm').get('profile'), 'other');
    await fastllm.setApiKey(profileKey);
    await waitFor(async () => /Profile\]\([^)]*\): other \(http:\/\/127\.0\.0\.1:\d+\/v1\) · \[Model\]\([^)]*\): m-one/.test(await tooltip()), 'the tooltip shows profile and model');
    await fastllm.clearCache();
    plain.reset();
    other.reset();
    const summary = await fastllm.runBatchFile(wsFile('prompts.txt'), { confirm: false });
    assert.equal(summary?.failed, 0);
    assert.equal(plain.count, 0, 'nothing went to the plain base URL');
    assert.ok(other.count > 0);
    for (const r of other.requests) {
      assert.equal(r.headers.authorization, `Bearer ${profileKey}`);
      assert.equal(r.headers['x-profile'], 'other');
      assert.equal((r.body as { model: string }).model, 'm-one');
    }
  });

  it('Select Model sets the active profile\'s model', async () => {
    const fastllm = await api();
    assert.equal(await vscode.commands.executeCommand('fastllm.selectModel', 'm-two'), 'm-two');
    const profiles = vscode.workspace.getConfiguration('fastllm').get<Record<string, { model?: string }>>('profiles');
    assert.equal(profiles?.other?.model, 'm-two');
    await waitFor(async () => (await tooltip()).includes('): m-two'), 'the tooltip shows the new model');
    other.reset();
    await fastllm.runBatchFile(wsFile('prompts.txt'), { confirm: false });
    assert.ok(other.requests.length > 0);
    for (const r of other.requests) assert.equal((r.body as { model: string }).model, 'm-two');
  });

  it("each profile has its own key: another profile on the same server does not get other's", async () => {
    const fastllm = await api();
    await vscode.commands.executeCommand('fastllm.selectProfile', 'twin');
    try {
      await fastllm.clearCache();
      other.reset();
      const refused = await fastllm.runBatchFile(wsFile('prompts.txt'), { confirm: false });
      assert.equal(refused?.stopped?.code, 'auth_failed');
      assert.ok(other.requests.length > 0);
      for (const r of other.requests) assert.notEqual(r.headers.authorization, `Bearer ${profileKey}`);
      await fastllm.setApiKey(profileKey);
      const summary = await fastllm.runBatchFile(wsFile('prompts.txt'), { confirm: false });
      assert.equal(summary?.failed, 0);
    } finally {
      await vscode.commands.executeCommand('fastllm.selectProfile', 'other');
    }
  });

  it('no profile: back to the plain settings and their key; the profile\'s key is not sent there', async () => {
    const fastllm = await api();
    assert.equal(await vscode.commands.executeCommand('fastllm.selectProfile', ''), '');
    plain.reset();
    other.reset();
    const summary = await fastllm.runBatchFile(wsFile('prompts.txt'), { confirm: false });
    assert.equal(summary?.failed, 0);
    assert.equal(other.count, 0);
    assert.ok(plain.count > 0);
    for (const r of plain.requests) assert.notEqual(r.headers.authorization, `Bearer ${profileKey}`);
  });

  it('a profile that does not exist stops runs instead of using the plain settings', async () => {
    const fastllm = await api();
    await configure({ profile: 'gone' });
    try {
      plain.reset();
      const summary = await fastllm.runBatchFile(wsFile('prompts.txt'), { confirm: false });
      assert.equal(summary, undefined);
      assert.equal(plain.count, 0);
    } finally {
      await configure({ profile: undefined });
    }
  });

  it('a vscode-lm profile with no matching language model stops with a message (VS Code 1.100 has no API to register one)', async () => {
    const fastllm = await api();
    await vscode.commands.executeCommand('fastllm.selectProfile', 'lm');
    try {
      plain.reset();
      const summary = await fastllm.runBatchFile(wsFile('prompts.txt'), { confirm: false });
      assert.equal(summary, undefined);
      assert.equal(plain.count + other.count, 0);
      await waitFor(async () => (await tooltip()).includes('No VS Code language model matches profile "lm" (vendor no-such-vendor)'), 'the problem in the tooltip');
    } finally {
      await vscode.commands.executeCommand('fastllm.selectProfile', '');
    }
  });
});
