// Listing a profile's models (src/core/providers/models.ts) against the loopback fake server.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { parseProfiles } from '../../src/core/profiles';
import { listModels, ListModelsError, modelsUrl } from '../../src/core/providers/models';
import { startFakeServer, type FakeServer } from '../support/fakeServer';

const KEY = 'sk-test-models-0123456789abcdef';

void describe('listModels', () => {
  let server: FakeServer;
  before(async () => {
    server = await startFakeServer({ models: ['zeta', 'alpha', 'alpha'], requireKey: KEY });
  });
  after(() => server.close());

  it('openai-compatible: GET {baseUrl}/models with the key as a bearer token, ids sorted and unique', async () => {
    const [p] = parseProfiles({ local: { baseUrl: server.url, extraHeaders: { 'x-team': 't1' } } }, 's');
    server.reset();
    assert.deepEqual(await listModels(p!, { apiKey: KEY, headers: p!.extraHeaders }), ['alpha', 'zeta']);
    const r = server.requests[0]!;
    assert.equal(r.method, 'GET');
    assert.equal(r.path, '/v1/models');
    assert.equal(r.headers.authorization, `Bearer ${KEY}`);
    assert.equal(r.headers['x-team'], 't1');
  });

  it('azure: the resource\'s deployments, with the key as api-key', async () => {
    const origin = server.url.replace(/\/v1$/, '');
    const [p] = parseProfiles({ az: { kind: 'azure', baseUrl: origin, deployment: 'd' } }, 's');
    assert.equal(modelsUrl(p!), `${origin}/openai/deployments?api-version=2023-03-15-preview`);
    server.reset();
    assert.deepEqual(await listModels(p!, { apiKey: KEY }), ['alpha', 'zeta']);
    assert.equal(server.requests[0]!.headers['api-key'], KEY);
    assert.equal(server.requests[0]!.headers.authorization, undefined);
  });

  it('a refused key: ListModelsError with the status and the server\'s message, the key redacted', async () => {
    const [p] = parseProfiles({ local: { baseUrl: server.url } }, 's');
    const wrong = 'sk-wrong-key-abcdefghijklmnop';
    await assert.rejects(listModels(p!, { apiKey: wrong }), (e: unknown) => {
      assert.ok(e instanceof ListModelsError);
      assert.equal(e.status, 401);
      assert.match(e.message, /answered HTTP 401: Incorrect API key/);
      assert.ok(!e.message.includes(wrong.slice(3, 15)), e.message);
      return true;
    });
  });

  it('an unreachable server: status undefined', async () => {
    const [p] = parseProfiles({ local: { baseUrl: 'http://127.0.0.1:9/v1' } }, 's');
    await assert.rejects(listModels(p!, { apiKey: '' }), (e: unknown) => e instanceof ListModelsError && e.status === undefined && /could not reach/.test(e.message));
  });
});
