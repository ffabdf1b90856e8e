/**
 * `fastllm`: a thin command line over src/core, for scripts, CI and benchmarks.
 *
 *   fastllm run INPUT [options]      run a .txt / .jsonl / .csv batch, write INPUT.results.jsonl
 *   fastllm cache stats|list|show KEY|delete KEY|clear [--cache FILE|redis://…]
 *   fastllm cache reset [--cache FILE]
 *   fastllm batch submit|status|fetch|cancel …  OpenAI Batch API mode (src/cli/batch.ts)
 *   fastllm compare A.results.jsonl B.results.jsonl [--out DIFF.jsonl] [--json]
 *
 * Exit status: 0 every record succeeded; 1 some records failed (all still written); 2 a usage or
 * configuration error, with a one-line message saying what to fix.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { cmdCompare } from './cli/compare';
import { cmdBatch } from './cli/batch';
import { runBatch } from './core/batch/runBatch';
import { defaultResultsPath } from './core/batch/writer';
import type { CacheProvider } from './core/cache/cacheProvider';
import { describeCacheLocation, isRedisUrl, openCache as openCacheAt } from './core/cache/open';
import { removeCacheFiles } from './core/cache/files';
import { maskSecrets } from './core/log';
import { RequestManager, type CachePolicy } from './core/manager';
import type { PriceTable } from './core/pricing';
import { ProgressTracker, summaryText } from './core/progress';
import { createProvider } from './core/providers';
import type { ResultRecord } from './core/types';
import { apiKeyFromEnv, cacheLocation, number, openCache, positiveInt, redisOptions, resetAdvice, stderrLogger, UsageError } from './cli/args';

const VERSION = '0.1.0';

const USAGE = `fastllm ${VERSION} — run batches of LLM prompts against any OpenAI-compatible API

Usage:
  fastllm run INPUT [options]
  fastllm cache stats|list|show KEY|delete KEY|clear [--cache FILE|URL] [--filter TEXT]
  fastllm cache reset [--cache FILE]   (deletes a cache file that cannot be opened or read)
  fastllm batch submit|status|fetch|cancel INPUT|JOB_ID   (OpenAI Batch API: see fastllm batch --help)
  fastllm compare A.results.jsonl B.results.jsonl [--out DIFF.jsonl] [--json]   (see fastllm compare --help)

INPUT is a .txt (one prompt per line), .jsonl (prompts, chat bodies or OpenAI Batch API lines)
or .csv file (a "prompt" column, or --template "… {{column}} …").

Options for run:
  --out FILE            results file (default: INPUT.results.jsonl beside the input)
  --model M             model for rows that name none (default: $FASTLLM_MODEL or gpt-4o-mini)
  --base-url URL        API base URL (default: $OPENAI_BASE_URL or https://api.openai.com/v1)
  --embeddings          bare prompts become embeddings requests instead of chat
  --concurrency N       requests in flight at once (default 16)
  --rpm N               requests per minute limit
  --tpm N               tokens per minute limit
  --max-retries N       retries for 429/5xx/timeouts/resets (default 5)
  --timeout-ms N        per-attempt timeout (default 120000)
  --cache FILE|URL      SQLite cache file (default: .fastllm/cache.sqlite), or a team cache on
                        Redis: redis://[user@]host[:port][/db] (rediss:// for TLS); its password
                        from $FASTLLM_REDIS_PASSWORD, its namespace from --cache-namespace
  --cache-namespace NS  Redis namespace, one per project (default: $FASTLLM_CACHE_NAMESPACE or fastllm)
  --no-cache            neither read nor write the cache
  --refresh             ignore cached answers, call again and update the cache
  --cache-ttl SECONDS   cache entries expire after this long (default: never)
  --temperature T       temperature for rows that set none
  --max-tokens N        max_tokens for rows that set none
  --system TEXT         system message for rows that have none
  --template TEXT       CSV prompt template with {{column}} placeholders
  --prices FILE         JSON price table {"model": {"input": $/1M, "output": $/1M}}
  --json                print the summary as JSON on stdout
  --quiet               no progress output
  --help, --version

The API key is read from OPENAI_API_KEY (never from a flag, which would land in shell history).
Servers that need no key (Ollama, vLLM, LM Studio) accept any value: OPENAI_API_KEY=none.
Exit status: 0 all rows succeeded, 1 some rows failed, 2 usage or configuration error.`;

/** Failed rows shown on stderr at the end of a run; the rest are only counted (all are in the results). */
const MAX_ROW_MESSAGES = 20;

/** `<input>:<line>: <what went wrong>` for a failed row (input errors already start with file and line). */
function rowFailure(input: string, r: ResultRecord): string {
  const { code, message } = r.error!;
  return code === 'invalid_input' ? message : `${input}:${r.line}: ${r.custom_id}: ${message} (${code})`;
}

async function cmdRun(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      out: { type: 'string' },
      model: { type: 'string' },
      'base-url': { type: 'string' },
      embeddings: { type: 'boolean' },
      concurrency: { type: 'string' },
      rpm: { type: 'string' },
      tpm: { type: 'string' },
      'rate-window-ms': { type: 'string' },
      'max-retries': { type: 'string' },
      'timeout-ms': { type: 'string' },
      cache: { type: 'string' },
      'cache-namespace': { type: 'string' },
      'no-cache': { type: 'boolean' },
      refresh: { type: 'boolean' },
      'cache-ttl': { type: 'string' },
      temperature: { type: 'string' },
      'max-tokens': { type: 'string' },
      system: { type: 'string' },
      template: { type: 'string' },
      prices: { type: 'string' },
      json: { type: 'boolean' },
      quiet: { type: 'boolean' },
      verbose: { type: 'boolean' },
    },
  });
  if (positionals.length !== 1) throw new UsageError('run takes exactly one INPUT file (see fastllm --help)');
  const input = resolve(positionals[0]!);
  if (!existsSync(input) || !statSync(input).isFile()) throw new UsageError(`${positionals[0]}: no such file`);
  const apiKey = apiKeyFromEnv();
  const logger = stderrLogger([apiKey], !!values.verbose);

  let prices: PriceTable | undefined;
  if (values.prices) {
    try {
      prices = JSON.parse(readFileSync(values.prices, 'utf8')) as PriceTable;
    } catch (e) {
      throw new UsageError(`--prices ${values.prices}: ${(e as Error).message}`);
    }
  }
  const ttl = positiveInt('cache-ttl', values['cache-ttl']);
  const cachePolicy: CachePolicy = values.refresh ? 'refresh' : 'use';
  const cache = values['no-cache'] ? undefined : await openCache(cacheLocation(values.cache), logger, values['cache-namespace']);
  const provider = createProvider({ apiKey, baseURL: values['base-url'] ?? process.env.OPENAI_BASE_URL });
  const manager = new RequestManager({
    provider,
    cache,
    cachePolicy,
    concurrency: positiveInt('concurrency', values.concurrency),
    rpm: positiveInt('rpm', values.rpm),
    tpm: positiveInt('tpm', values.tpm),
    rateWindowMs: positiveInt('rate-window-ms', values['rate-window-ms']),
    maxRetries: positiveInt('max-retries', values['max-retries']),
    timeoutMs: positiveInt('timeout-ms', values['timeout-ms']),
    cacheTtlMs: ttl ? ttl * 1000 : null,
    prices,
    logger,
  });

  const out = resolve(values.out ?? defaultResultsPath(input));
  const abort = new AbortController();
  const onSignal = () => {
    process.stderr.write('\nCancelling: finished results are kept…\n');
    abort.abort();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const progress = new ProgressTracker(process.stderr, () => manager.stats.snapshot());
  // Rows that failed for a reason of their own; cancelled and stopped rows are summed up elsewhere.
  const failures: string[] = [];
  let unshownFailures = 0;
  const onRecord = (r: ResultRecord) => {
    if (!r.error || r.error.code === 'cancelled' || r.error.code === 'run_stopped') return;
    if (failures.length < MAX_ROW_MESSAGES) failures.push(rowFailure(input, r));
    else unshownFailures++;
  };
  if (!values.quiet) progress.start();
  try {
    const summary = await runBatch({
      input,
      out,
      manager,
      signal: abort.signal,
      onRecord,
      reader: {
        kind: values.embeddings ? 'embeddings' : 'chat',
        template: values.template,
        defaults: {
          model: values.model ?? process.env.FASTLLM_MODEL ?? 'gpt-4o-mini',
          system: values.system,
          temperature: number('temperature', values.temperature),
          max_tokens: positiveInt('max-tokens', values['max-tokens']),
        },
      },
    });
    progress.stop();
    for (const f of failures) process.stderr.write(`error: ${maskSecrets(f, [apiKey])}\n`);
    if (unshownFailures > 0) process.stderr.write(`error: ${unshownFailures} more rows failed; see ${out}\n`);
    if (values.json) process.stdout.write(`${JSON.stringify({ ...summary, stats: summary.stats })}\n`);
    if (!values.quiet) {
      process.stderr.write(`${summaryText(summary.stats)}\nresults   ${out}\n`);
      if (summary.cancelled) process.stderr.write('cancelled: rows not finished are marked "cancelled" in the results\n');
    }
    if (summary.records === 0) logger.warn(`no requests in ${input}`);
    if (summary.stopped) {
      process.stderr.write(`error: ${maskSecrets(summary.stopped.message, [apiKey])}\n`);
      return 2;
    }
    return summary.failed > 0 || summary.cancelled ? 1 : 0;
  } catch (e) {
    // Input errors that stop the whole file (binary file, unknown type, missing template columns).
    throw new UsageError(maskSecrets((e as Error).message, [apiKey]));
  } finally {
    progress.stop();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await cache?.close();
    provider.close?.();
  }
}

async function cmdCache(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      cache: { type: 'string' },
      'cache-namespace': { type: 'string' },
      filter: { type: 'string' },
      limit: { type: 'string' },
      offset: { type: 'string' },
      json: { type: 'boolean' },
    },
  });
  const [sub, key] = positionals;
  const path = cacheLocation(values.cache);
  const redis = isRedisUrl(path);
  if (!sub || !['stats', 'list', 'show', 'delete', 'clear', 'reset'].includes(sub)) {
    throw new UsageError('cache takes one of: stats, list, show KEY, delete KEY, clear, reset');
  }
  if (sub === 'reset') return await resetCache(path, redis);
  if ((sub === 'show' || sub === 'delete') && !key) throw new UsageError(`cache ${sub} takes a KEY (see fastllm cache list)`);
  if (!redis && !existsSync(path)) throw new UsageError(`no cache at ${path} (use --cache FILE)`);
  let cache: CacheProvider;
  try {
    cache = redis ? await openCacheAt(path, redisOptions(values['cache-namespace'])) : await openCacheAt(path);
  } catch (e) {
    if (redis) throw new UsageError((e as Error).message);
    throw new UsageError(`cannot open the cache ${path} (${(e as Error).message}); to reset the cache, ${resetAdvice(path)}`);
  }
  try {
    const filter = values.filter;
    switch (sub) {
      case 'stats': {
        const count = await cache.count(filter);
        if (redis) {
          const { namespace } = redisOptions(values['cache-namespace']);
          const location = describeCacheLocation(path);
          process.stdout.write(values.json ? `${JSON.stringify({ location, namespace, entries: count })}\n` : `${location} (namespace ${namespace})\nentries  ${count}\n`);
          return 0;
        }
        const bytes = statSync(path).size + (existsSync(`${path}-wal`) ? statSync(`${path}-wal`).size : 0);
        process.stdout.write(values.json ? `${JSON.stringify({ path, entries: count, bytes })}\n` : `${path}\nentries  ${count}\nsize     ${bytes} bytes\n`);
        return 0;
      }
      case 'list': {
        const page = await cache.list({ filter, limit: positiveInt('limit', values.limit) ?? 50, offset: positiveInt('offset', values.offset) ?? 0 });
        for (const { key: k, entry } of page.entries) {
          if (values.json) {
            process.stdout.write(`${JSON.stringify({ key: k, model: entry.model, created: entry.created, usage: entry.usage })}\n`);
          } else {
            const created = new Date(entry.created).toISOString().replace('T', ' ').slice(0, 19);
            process.stdout.write(`${k}  ${created}  ${entry.model}  ${entry.usage.total_tokens} tok\n`);
          }
        }
        if (!values.json) process.stderr.write(`${page.entries.length} of ${page.total} entries\n`);
        return 0;
      }
      case 'show': {
        const entry = await cache.get(key!);
        if (!entry) {
          process.stderr.write(`no entry ${key}\n`);
          return 1;
        }
        process.stdout.write(`${JSON.stringify({ key, ...entry }, null, 2)}\n`);
        return 0;
      }
      case 'delete': {
        const deleted = await cache.delete(key!);
        process.stderr.write(deleted ? `deleted ${key}\n` : `no entry ${key}\n`);
        return deleted ? 0 : 1;
      }
      default: {
        const n = await cache.clear(filter);
        process.stderr.write(`deleted ${n} entries\n`);
        return 0;
      }
    }
  } finally {
    await cache.close();
  }
}

/**
 * `fastllm cache reset`: deletes the SQLite file and its journals without opening them, so it works
 * on a file too damaged to open (which `clear` cannot). Never a Redis cache: that is a team's.
 */
async function resetCache(path: string, redis: boolean): Promise<number> {
  if (redis) throw new UsageError('cache reset deletes a local cache file; to empty a Redis cache, use fastllm cache clear --cache URL');
  let removed: string[];
  try {
    removed = await removeCacheFiles(path);
  } catch (e) {
    throw new UsageError(`cannot reset the cache: ${(e as Error).message}`);
  }
  if (removed.length === 0) {
    process.stderr.write(`no cache at ${path}\n`);
    return 1;
  }
  process.stderr.write(`deleted ${removed.join(', ')}\n`);
  return 0;
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    if (!cmd || cmd === '--help' || cmd === '-h' || cmd === 'help') {
      process.stdout.write(`${USAGE}\n`);
      return cmd ? 0 : 2;
    }
    if (cmd === '--version' || cmd === '-v') {
      process.stdout.write(`${VERSION}\n`);
      return 0;
    }
    if (cmd === 'run') return await cmdRun(rest);
    if (cmd === 'cache') return await cmdCache(rest);
    if (cmd === 'batch') return await cmdBatch(rest);
    if (cmd === 'compare') return await cmdCompare(rest);
    throw new UsageError(`unknown command "${cmd}" (try: fastllm run INPUT, fastllm cache stats)`);
  } catch (e) {
    if (e instanceof UsageError || (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`fastllm: ${(e as Error).message}\n`);
      return 2;
    }
    throw e;
  }
}

// Run when executed (dist/cli.js, or `node --import tsx src/cli.ts`), not when imported by tests.
if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`fastllm: unexpected error: ${maskSecrets(String((e as Error)?.stack ?? e), [process.env.OPENAI_API_KEY])}\n`);
      process.exitCode = 2;
    },
  );
}
