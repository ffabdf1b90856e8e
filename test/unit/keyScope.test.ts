import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { canonicalBaseUrl, environmentKeyApplies, hostOf, isLoopbackUrl } from '../../src/core/providers/keyScope';

describe('where OPENAI_API_KEY may go (issue 11 item 14)', () => {
  test("OpenAI's own host, over https only", () => {
    assert.equal(environmentKeyApplies('https://api.openai.com/v1', {}), true);
    assert.equal(environmentKeyApplies('https://API.OpenAI.com/v1/', {}), true);
    assert.equal(environmentKeyApplies('http://api.openai.com/v1', {}), false);
  });

  test('loopback servers: localhost, 127.0.0.0/8, [::1]', () => {
    for (const url of ['http://localhost:11434/v1', 'http://127.0.0.1:8000/v1', 'http://127.1.2.3/v1', 'http://[::1]:1234/v1', 'http://ollama.localhost/v1']) {
      assert.equal(environmentKeyApplies(url, {}), true, url);
      assert.equal(isLoopbackUrl(url), true, url);
    }
  });

  test('any other server gets the key only when it is the one in OPENAI_BASE_URL', () => {
    const others = ['https://openrouter.ai/api/v1', 'https://api.openai.com.evil.example/v1', 'https://localhost.evil.example/v1', 'http://10.0.0.5:8000/v1', 'https://128.0.0.1/v1'];
    for (const url of others) {
      assert.equal(environmentKeyApplies(url, {}), false, url);
      assert.equal(isLoopbackUrl(url), false, url);
    }
    assert.equal(environmentKeyApplies('https://openrouter.ai/api/v1', { OPENAI_BASE_URL: 'https://OpenRouter.ai/api/v1/' }), true);
    // Another path on the same host is another base URL.
    assert.equal(environmentKeyApplies('https://openrouter.ai/other/v1', { OPENAI_BASE_URL: 'https://openrouter.ai/api/v1' }), false);
    assert.equal(environmentKeyApplies('not a url', {}), false);
  });

  test('one spelling per base URL, and its host for messages', () => {
    assert.equal(canonicalBaseUrl('HTTPS://Api.OpenAI.com/v1/'), 'https://api.openai.com/v1');
    assert.equal(canonicalBaseUrl('http://127.0.0.1:8000/V1'), 'http://127.0.0.1:8000/V1');
    assert.equal(hostOf('http://127.0.0.1:8000/v1'), '127.0.0.1:8000');
    assert.equal(hostOf('https://api.openai.com/v1'), 'api.openai.com');
  });
});
