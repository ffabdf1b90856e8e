/**
 * The Results view page's messages (src/webview/resultsProtocol.ts): the host acts only on
 * well-formed ones, and a page message names rows by position, never a path.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseResultsPageMessage } from '../../src/webview/resultsProtocol';

test('well-formed page messages pass, as copies', () => {
  assert.deepEqual(parseResultsPageMessage({ type: 'ready' }), { type: 'ready' });
  assert.deepEqual(parseResultsPageMessage({ type: 'query', filter: 'failed', search: 'x', sort: 'cost', desc: true, extra: 1 }), { type: 'query', filter: 'failed', search: 'x', sort: 'cost', desc: true });
  assert.deepEqual(parseResultsPageMessage({ type: 'page', start: 100, count: 100 }), { type: 'page', start: 100, count: 100 });
  assert.deepEqual(parseResultsPageMessage({ type: 'action', action: 'rerunRows', positions: [1, 2] }), { type: 'action', action: 'rerunRows', positions: [1, 2] });
});

test('anything else is dropped: unknown types and values, negative or fractional positions, paths', () => {
  for (const bad of [
    null,
    [],
    'ready',
    { type: 'nope' },
    { type: 'query', filter: 'everything', search: '', sort: 'line', desc: false },
    { type: 'query', filter: 'all', search: 'x'.repeat(1001), sort: 'line', desc: false },
    { type: 'query', filter: 'all', search: '', sort: 'line; rm -rf', desc: false },
    { type: 'page', start: -1, count: 10 },
    { type: 'page', start: 1.5, count: 10 },
    { type: 'detail', position: '3' },
    { type: 'action', action: 'delete', positions: [] },
    { type: 'action', action: 'exportCsv', positions: ['/etc/passwd'] },
    { type: 'action', action: 'copy' },
  ]) {
    assert.equal(parseResultsPageMessage(bad), undefined, JSON.stringify(bad));
  }
});
