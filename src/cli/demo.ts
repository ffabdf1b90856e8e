/**
 * `fastllm demo`: the whole job in under a minute, without a key or a network. Starts the demo
 * server (src/core/demo/server.ts) on 127.0.0.1, copies the sample batch into a folder, runs it
 * with `fastllm run` (the real engine: progress, stats, results, cache), runs it again (every
 * answer from the cache, 0 calls), and says where the results are and what to do next.
 */
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { removeCacheFiles } from '../core/cache/files';
import { DEMO_MODEL, startDemoServer } from '../core/demo/server';
import { DEMO_SAMPLE, demoSamplePath } from '../core/demo/sample';
import { UsageError } from './args';

/** The key the demo sends: not a secret, accepted by the demo server, never stored. */
const DEMO_KEY = 'fastllm-demo-no-key-needed';

export const DEMO_USAGE = `fastllm demo [--dir DIR] [--quiet]

Runs a sample batch of ${DEMO_SAMPLE.replace('.txt', '')} through the real engine against a demo server on
127.0.0.1 that answers instead of a model (its answers say so): no API key, no network. Then runs
it again: every answer comes from the cache, with 0 calls.

  --dir DIR   where the sample, its results and the demo's cache go (default: ./fastllm-demo)
  --quiet     no progress output`;

/** `fastllm demo`; `run` is `fastllm run` (passed in, so that this module does not import cli.ts). */
export async function cmdDemo(argv: string[], run: (argv: string[]) => Promise<number>): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { dir: { type: 'string' }, quiet: { type: 'boolean' }, help: { type: 'boolean' }, 'max-latency-ms': { type: 'string' } },
  });
  if (values.help) {
    process.stdout.write(`${DEMO_USAGE}\n`);
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`demo takes no file (see fastllm demo --help)`);
  const latency = values['max-latency-ms'] === undefined ? undefined : Number(values['max-latency-ms']);
  if (latency !== undefined && !(Number.isInteger(latency) && latency >= 0)) throw new UsageError(`--max-latency-ms takes a whole number, not "${values['max-latency-ms']}"`);

  const dir = resolve(values.dir ?? 'fastllm-demo');
  mkdirSync(dir, { recursive: true });
  const input = join(dir, DEMO_SAMPLE);
  copyFileSync(demoSamplePath(__dirname), input);
  // A fresh cache each time, so that the first run shows calls and the second none.
  const cache = join(dir, '.fastllm', 'demo-cache.sqlite');
  await removeCacheFiles(cache);

  const server = await startDemoServer({ maxLatencyMs: latency });
  const say = (text: string) => process.stderr.write(`${text}\n`);
  // The user's own key and base URL must not reach the demo server, nor leak into the demo run.
  const saved = { key: process.env.OPENAI_API_KEY, base: process.env.OPENAI_BASE_URL };
  process.env.OPENAI_API_KEY = DEMO_KEY;
  delete process.env.OPENAI_BASE_URL;
  try {
    const shown = relative(process.cwd(), input) || input;
    const prompts = readFileSync(input, 'utf8').split('\n').filter((l) => l.trim()).length;
    say(`FastLLM demo: ${shown} (${prompts} prompts) against the demo server at ${server.url}.`);
    say('The demo server runs on this machine and answers instead of a model: its answers say they are not from one. No API key, no network.\n');
    const args = [input, '--base-url', server.url, '--model', DEMO_MODEL, '--cache', cache, ...(values.quiet ? ['--quiet'] : [])];
    say('1. First run: every prompt is a call to the server.');
    const first = await run(args);
    const firstCalls = server.calls;
    if (first !== 0) return first;
    say('\n2. The same file again: every answer comes from the cache.');
    const second = await run(args);
    const secondCalls = server.calls - firstCalls;
    say(`\nThe first run made ${firstCalls} calls; the second made ${secondCalls}.`);
    say(`Results:  ${join(dir, DEMO_SAMPLE.replace(/\.txt$/, '.results.jsonl'))}`);
    say(`Cache:    ${cache}`);
    say('\nNext, point it at your provider:');
    say('  export OPENAI_API_KEY=sk-…');
    say('  fastllm run prompts.txt --model gpt-4o-mini                               # OpenAI');
    say('  fastllm run prompts.txt --base-url http://localhost:11434/v1 --model llama3.2   # Ollama, any key');
    return second;
  } finally {
    if (saved.key === undefined) delete process.env.OPENAI_API_KEY;
    else process.env.OPENAI_API_KEY = saved.key;
    if (saved.base !== undefined) process.env.OPENAI_BASE_URL = saved.base;
    await server.close();
  }
}
