import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ProviderError } from '../../src/core/providers/provider';
import { backoffMs, classifyFailure, parseResetDuration, parseRetryAfter } from '../../src/core/retry';

describe('retry policy', () => {
  test('classifies failures', () => {
    const c = (status: number | undefined, code = 'x') => classifyFailure(new ProviderError('m', status, code));
    for (const s of [408, 409, 500, 502, 503, 504]) assert.equal(c(s), 'retry', String(s));
    for (const s of [400, 404, 422]) assert.equal(c(s), 'final', String(s));
    assert.equal(c(429, 'rate_limit_exceeded'), 'rateLimited');
    assert.equal(c(429, 'http_429'), 'rateLimited');
    assert.equal(c(429, 'insufficient_quota'), 'quota');
    assert.equal(c(401), 'auth');
    // A 403 stops the run only when it is about the key; otherwise it is one row's answer.
    assert.equal(c(403, 'invalid_api_key'), 'auth');
    assert.equal(c(403, 'unsupported_country_region_territory'), 'auth');
    assert.equal(classifyFailure(new ProviderError('Your API key does not have access to this project', 403, 'http_403')), 'auth');
    assert.equal(classifyFailure(new ProviderError('Your input was flagged by moderation: harassment', 403, 'http_403')), 'forbidden');
    assert.equal(c(undefined, 'timeout'), 'retry');
    assert.equal(c(undefined, 'connection_error'), 'retry');
    assert.equal(c(undefined, 'aborted'), 'cancelled');
  });

  test('parses retry-after-ms, retry-after seconds and dates', () => {
    assert.equal(parseRetryAfter({ 'retry-after-ms': '1500', 'retry-after': '9' }), 1500);
    assert.equal(parseRetryAfter({ 'retry-after': '2' }), 2000);
    const now = Date.parse('2026-01-01T00:00:00Z');
    assert.equal(parseRetryAfter({ 'retry-after': 'Thu, 01 Jan 2026 00:00:03 GMT' }, now), 3000);
    assert.equal(parseRetryAfter({}), undefined);
    assert.equal(parseRetryAfter({ 'retry-after': 'soon' }), undefined);
  });

  test('parses OpenAI reset durations', () => {
    assert.equal(parseResetDuration('1s'), 1000);
    assert.equal(parseResetDuration('6m0s'), 360_000);
    assert.equal(parseResetDuration('120ms'), 120);
    assert.equal(parseResetDuration('1h2m3.5s'), 3_723_500);
    assert.equal(parseResetDuration('0.5'), 500);
    assert.equal(parseResetDuration('later'), undefined);
  });

  test('backoff grows exponentially, is jittered, capped, and never below half its ceiling', () => {
    assert.equal(backoffMs(1, { baseMs: 100 }, () => 0.999), 99);
    assert.equal(backoffMs(4, { baseMs: 100 }, () => 0.999), 799);
    assert.equal(backoffMs(20, { baseMs: 100, maxMs: 1000 }, () => 0.999), 999);
    assert.equal(backoffMs(3, { baseMs: 100 }, () => 0), 200);
    const draws = new Set(Array.from({ length: 20 }, () => backoffMs(5, { baseMs: 100 })));
    assert.ok(draws.size > 5, 'jittered');
    const sure = [1, 2, 3, 4, 5].reduce((s, a) => s + backoffMs(a, {}, () => 0), 0);
    assert.equal(sure, 7750, 'the default budget waits at least 7.75 s in all');
  });
});
