// createHttpFetch against a loopback node:http server: the parts of fetch's contract the SDK uses.
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, afterEach, before, describe, it } from 'node:test';
import { brotliCompressSync, gzipSync } from 'node:zlib';
import { bufferedText, createHttpFetch } from '../../src/core/providers/httpFetch';

type Handler = (req: IncomingMessage, res: ServerResponse, body: string) => void;

const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

/** The error a promise rejects with (fails the test if it resolves). */
async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof Error, `expected an Error, got ${String(err)}`);
    return err;
  }
  assert.fail('expected a rejection');
}

void describe('createHttpFetch', () => {
  let server: Server;
  let url: string;
  let handler: Handler;
  let connections = 0;
  const fetchFn = createHttpFetch();
  before(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (chunk: string) => (body += chunk));
      req.on('end', () => handler(req, res, body));
    });
    server.on('connection', () => connections++);
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterEach(() => {
    connections = 0;
  });
  after(async () => {
    fetchFn.close();
    server.closeAllConnections();
    await new Promise((done) => server.close(done));
  });

  void it('posts a string body with its headers and resolves with a real Response', async () => {
    let seen: { method?: string; url?: string; headers?: IncomingMessage['headers']; body?: string } = {};
    handler = (req, res, body) => {
      seen = { method: req.method, url: req.url, headers: req.headers, body };
      res.writeHead(201, 'Made', [['Content-Type', 'application/json'], ['X-Multi', 'a'], ['X-Multi', 'b']]);
      res.end('{"ok":true}');
    };
    const headers = new Headers({ 'Content-Type': 'application/json', Authorization: 'Bearer k' });
    const res = await fetchFn(`${url}/v1/x?y=1`, { method: 'POST', headers, body: '{"a":1}' });
    assert.ok(res instanceof Response);
    assert.equal(res.status, 201);
    assert.equal(res.statusText, 'Made');
    assert.equal(res.ok, true);
    assert.equal(res.headers.get('content-type'), 'application/json');
    assert.equal(res.headers.get('x-multi'), 'a, b');
    assert.equal(bufferedText(res), '{"ok":true}');
    assert.deepEqual(await res.json(), { ok: true });
    assert.equal(bufferedText(res), undefined, 'not offered once the body is used');
    assert.equal(seen.method, 'POST');
    assert.equal(seen.url, '/v1/x?y=1');
    assert.equal(seen.body, '{"a":1}');
    assert.equal(seen.headers?.authorization, 'Bearer k');
    assert.equal(seen.headers?.['accept-encoding'], 'gzip, deflate, br');
  });

  void it('keeps connections alive between requests', async () => {
    handler = (_req, res) => res.end('{}');
    await (await fetchFn(`${url}/a`, { method: 'POST', body: '{}' })).text();
    connections = 0;
    for (let i = 0; i < 5; i++) await (await fetchFn(`${url}/a`, { method: 'POST', body: '{}' })).text();
    assert.equal(connections, 0, "the first request's connection served the rest");
  });

  void it('decompresses gzip and brotli bodies', async () => {
    const json = JSON.stringify({ text: 'x'.repeat(5000) });
    handler = (req, res) => {
      const br = req.url === '/br';
      res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': br ? 'br' : 'gzip' });
      res.end(br ? brotliCompressSync(json) : gzipSync(json));
    };
    assert.equal(await (await fetchFn(`${url}/gz`)).text(), json);
    const res = await fetchFn(`${url}/br`);
    assert.equal(bufferedText(res), json);
  });

  void it('streams an event stream as it arrives, and ends it on abort', async () => {
    handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: one\n\n');
      // The second event only after the client has read the first.
      setTimeout(() => res.write('data: two\n\n'), 50);
    };
    const ac = new AbortController();
    const res = await fetchFn(`${url}/sse`, { signal: ac.signal });
    assert.equal(bufferedText(res), undefined);
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    assert.equal(decoder.decode((await reader.read()).value), 'data: one\n\n');
    assert.equal(decoder.decode((await reader.read()).value), 'data: two\n\n');
    ac.abort();
    const err = await rejection(reader.read());
    assert.equal(err.name, 'AbortError');
  });

  void it('fails a stream cut off by the server with TypeError terminated', async () => {
    handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: one\n\n');
      setTimeout(() => res.socket?.destroy(), 20);
    };
    const res = await fetchFn(`${url}/sse`);
    const reader = res.body!.getReader();
    await reader.read();
    const err = await rejection(reader.read());
    assert.equal(err.name, 'TypeError');
    assert.equal(err.message, 'terminated');
  });

  void it('rejects with fetch failed when the connection fails, before or during the body', async () => {
    handler = (req) => req.socket.destroy();
    const reset = await rejection(fetchFn(`${url}/reset`, { method: 'POST', body: '{}' }));
    assert.equal(reset.name, 'TypeError');
    assert.equal(reset.message, 'fetch failed');
    assert.ok(reset.cause instanceof Error);

    handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' });
      res.write('{"partial":');
      setTimeout(() => res.socket?.destroy(), 20);
    };
    const cut = await rejection(fetchFn(`${url}/cut`));
    assert.equal(cut.message, 'fetch failed');

    const refused = await rejection(fetchFn('http://127.0.0.1:1/'));
    assert.equal(refused.message, 'fetch failed');
  });

  void it('rejects with the abort reason: before the call, waiting for headers, and reading the body', async () => {
    const pre = new AbortController();
    pre.abort();
    assert.equal((await rejection(fetchFn(`${url}/a`, { signal: pre.signal }))).name, 'AbortError');

    handler = () => undefined; // never answers
    const headersWait = new AbortController();
    setTimeout(() => headersWait.abort(), 30);
    assert.equal((await rejection(fetchFn(`${url}/a`, { signal: headersWait.signal }))).name, 'AbortError');

    handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"slow":'); // and never the rest
    };
    const bodyWait = new AbortController();
    setTimeout(() => bodyWait.abort(new Error('deadline')), 30);
    assert.equal((await rejection(fetchFn(`${url}/a`, { signal: bodyWait.signal }))).message, 'deadline');
  });

  void it('gives statuses without a body a null body', async () => {
    handler = (_req, res) => {
      res.writeHead(204);
      res.end();
    };
    const res = await fetchFn(`${url}/none`, { method: 'DELETE' });
    assert.equal(res.status, 204);
    assert.equal(res.body, null);
  });

  void it('leaves redirects and other body types to the global fetch', async () => {
    handler = (req, res, body) => {
      if (req.url === '/old') {
        res.writeHead(307, { location: '/new' });
        res.end();
        return;
      }
      res.end(JSON.stringify({ url: req.url, body, type: req.headers['content-type'] }));
    };
    assert.deepEqual(await (await fetchFn(`${url}/old`, { method: 'POST', body: 'x' })).json(), {
      url: '/new',
      body: 'x',
      type: 'text/plain;charset=UTF-8',
    });
    const form = await (await fetchFn(`${url}/form`, { method: 'POST', body: new URLSearchParams({ a: '1' }) })).json();
    assert.deepEqual(form, { url: '/form', body: 'a=1', type: 'application/x-www-form-urlencoded;charset=UTF-8' });
  });

  void it('lets the process exit with idle connections open', async () => {
    handler = (_req, res) => res.end('{}');
    await (await fetchFn(`${url}/a`)).text();
    await sleep(10);
    // Idle keep-alive sockets are unref'd by node's Agent: nothing here holds the event loop.
    const handles = (process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles();
    const refed = handles.filter((h) => (h as { constructor: { name: string } }).constructor.name === 'Socket' && (h as { hasRef?(): boolean }).hasRef?.() && (h as { remotePort?: number }).remotePort === (server.address() as AddressInfo).port);
    assert.equal(refed.length, 0);
  });
});
